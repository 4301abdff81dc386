"""Parsing both upstream error envelopes, and what errors keep and leave out."""

from __future__ import annotations

import httpx
import orjson
import pytest

from app.instacart import (
    CircuitOpenError,
    FindStoresRequest,
    InstacartAuthError,
    InstacartBadRequest,
    InstacartClient,
    InstacartCredentialsRejected,
    InstacartError,
    InstacartForbidden,
    InstacartInvalidResponse,
    InstacartNotFound,
    InstacartRateLimited,
    InstacartServerError,
    InstacartTimeout,
    InstacartUnavailable,
)
from app.instacart.errors import error_from_response, parse_error_body
from app.orders.vocabulary import is_terminal

ADDRESS = "1 Secret Lane"


def test_spec_envelope_gives_message() -> None:
    assert parse_error_body(b'{"error": "slot full", "status": 400}') == ("slot full", None, None)


def test_real_api_envelope_gives_message_code_and_meta_key() -> None:
    body = b'{"error": {"message": "Invalid postal code", "code": 1001}, "meta": {"key": "zip"}}'
    assert parse_error_body(body) == ("Invalid postal code", 1001, "zip")


@pytest.mark.parametrize(
    "body", [b"", b"<html>Bad Gateway</html>", b"[1, 2]", b'"oops"', b'{"error": 12}', b"\xff"]
)
def test_unparseable_bodies_give_nothing(body: bytes) -> None:
    assert parse_error_body(body) == (None, None, None)


def test_long_messages_are_cut() -> None:
    message, _, _ = parse_error_body(b'{"error": "' + b"x" * 1000 + b'"}')
    assert message is not None and len(message) < 310


@pytest.mark.parametrize(
    ("status", "error_class", "retryable"),
    [
        (400, InstacartBadRequest, False),
        (401, InstacartAuthError, False),
        (403, InstacartForbidden, False),
        (404, InstacartNotFound, False),
        (408, InstacartTimeout, True),
        (409, InstacartError, False),
        (422, InstacartError, False),
        (429, InstacartRateLimited, True),
        (500, InstacartServerError, True),
        (501, InstacartServerError, False),
        (502, InstacartServerError, True),
        (503, InstacartServerError, True),
        (504, InstacartServerError, True),
    ],
)
def test_status_maps_to_error_class_and_retryability(
    status: int, error_class: type, retryable: bool
) -> None:
    err = error_from_response("getOrder", status, b'{"error": "nope", "status": 1}')
    assert type(err) is error_class
    assert err.status == status and err.operation == "getOrder"
    assert err.retryable is retryable


def test_second_401_and_token_endpoint_401_mean_credentials_rejected() -> None:
    assert isinstance(
        error_from_response("getOrder", 401, b"", token_refreshed=True),
        InstacartCredentialsRejected,
    )
    err = error_from_response("generateAccessToken", 401, b'{"error": "invalid client"}')
    assert isinstance(err, InstacartCredentialsRejected) and isinstance(err, InstacartAuthError)
    assert "rejected" in str(err)


def test_transport_errors_are_retryable_and_ambiguous_only_when_sent() -> None:
    assert InstacartUnavailable("x").retryable and not InstacartUnavailable("x").ambiguous
    assert InstacartUnavailable("x", request_sent=True).ambiguous
    assert InstacartTimeout("x").ambiguous
    assert not InstacartTimeout("x", request_sent=False).ambiguous
    assert InstacartServerError("x", status=503).ambiguous
    assert not InstacartBadRequest("x", status=400).ambiguous


def test_circuit_open_is_distinct_and_not_retryable() -> None:
    err = CircuitOpenError("getOrder", operation_class="read", retry_after=3.2)
    assert not isinstance(err, InstacartUnavailable | InstacartServerError)
    assert not err.retryable and err.retry_after == 3.2 and "read" in str(err)


def _client(handler: httpx.MockTransport) -> InstacartClient:
    return InstacartClient(
        base_url="http://instacart.test", client_id="id", client_secret="s", transport=handler
    )


def _upstream(status: int, body: bytes, content_type: str = "application/json"):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 86400})
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return httpx.MockTransport(handler)


async def test_client_understands_the_real_api_envelope() -> None:
    body = orjson.dumps(
        {"error": {"message": "Invalid postal code", "code": 1001}, "meta": {"key": "postal_code"}}
    )
    async with _client(_upstream(400, body)) as client:
        with pytest.raises(InstacartBadRequest) as caught:
            await client.find_delivery_stores(FindStoresRequest(postal_code="00000"))
    err = caught.value
    assert (err.upstream_message, err.upstream_code, err.meta_key) == (
        "Invalid postal code",
        1001,
        "postal_code",
    )
    assert "field=postal_code" in str(err) and "code=1001" in str(err)


async def test_client_survives_a_non_json_error_body() -> None:
    async with _client(_upstream(502, b"<html>bad gateway</html>", "text/html")) as client:
        with pytest.raises(InstacartServerError) as caught:
            await client.find_delivery_stores(FindStoresRequest(postal_code="94105"))
    assert caught.value.status == 502 and caught.value.upstream_message is None


async def test_invalid_success_body_raises_without_quoting_the_body() -> None:
    body = orjson.dumps(
        {"id": 12, "status": None, "store": {"address": {"address_line_1": ADDRESS}}}
    )
    async with _client(_upstream(200, body)) as client:
        with pytest.raises(InstacartInvalidResponse) as caught:
            await client.get_order("u", "o")
    assert ADDRESS not in str(caught.value)
    assert caught.value.ambiguous
    assert caught.value.__cause__ is None or ADDRESS not in str(caught.value.__cause__)


async def test_unknown_fields_are_ignored_and_unknown_status_is_kept() -> None:
    body = b'{"id": "o1", "status": "checkout", "brand_new_field": {"x": 1}, "items": []}'
    async with _client(_upstream(200, body)) as client:
        order = await client.get_order("u", "o1")
    assert order.status == "checkout" and not is_terminal(order.status)
