"""Tracing is configured by the OpenTelemetry specification's OTEL_* variables, and only they."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, ParentBasedTraceIdRatio

from app.platform.tracing import (
    DEFAULT_SERVICE_NAME,
    endpoint_configured,
    provider_from,
    sampler_from,
)

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("environ", "configured"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False),
        (ENDPOINT, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        (ENDPOINT | {"OTEL_SDK_DISABLED": "true"}, False),
        (ENDPOINT | {"OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_tracing_is_on_only_with_an_endpoint_and_the_sdk_enabled(
    environ: dict[str, str], configured: bool
) -> None:
    assert endpoint_configured(environ) is configured
    provider = provider_from(environ)
    assert (provider is not None) is configured
    if provider is not None:
        provider.shutdown()


def test_the_default_is_parent_based_sampling_by_trace_id_at_the_given_ratio() -> None:
    sampler = sampler_from({"OTEL_TRACES_SAMPLER_ARG": "0.01"})
    assert isinstance(sampler, ParentBasedTraceIdRatio)
    assert "TraceIdRatioBased{0.01}" in sampler.get_description()
    assert "TraceIdRatioBased{1.0}" in sampler_from({}).get_description()


def test_a_named_sampler_and_the_service_name_are_taken_from_the_environment() -> None:
    sampler = sampler_from({"OTEL_TRACES_SAMPLER": "parentbased_always_off"})
    assert (
        isinstance(sampler, ParentBased)
        and ALWAYS_OFF.get_description() in sampler.get_description()
    )
    provider = provider_from(ENDPOINT | {"OTEL_SERVICE_NAME": "bff-eu"})
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "bff-eu"
    provider.shutdown()
    provider = provider_from(ENDPOINT)
    assert provider is not None
    assert provider.resource.attributes["service.name"] == DEFAULT_SERVICE_NAME
    provider.shutdown()


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_SAMPLER": "sometimes"},
        {"OTEL_TRACES_SAMPLER_ARG": "one percent"},
        {"OTEL_TRACES_SAMPLER_ARG": "1.5"},
    ],
)
def test_a_wrong_sampler_setting_stops_the_start(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER"):
        sampler_from(environ)
