"""Whatever a client sends, /metrics stays the same size (issue 14, finding 2).

Labels a client can influence (method, route, status) take values from closed sets: a made-up
method is counted as `other` (and answered 405 or 404 like any other), an unknown path as
`unmatched`.
"""

from __future__ import annotations

import random

import httpx
from prometheus_client import REGISTRY, generate_latest

from tests.support.junk_requests import junk_request

REQUESTS = 3000


def _series(metric: str) -> int:
    return sum(
        1
        for family in REGISTRY.collect()
        if family.name == metric
        for sample in family.samples
        if sample.name.endswith("_count")
    )


async def test_a_made_up_method_is_405_problem_json_and_counted_as_other(
    bff: httpx.AsyncClient,
) -> None:
    answer = await bff.request("AAAA", "/v1/orders")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert set(answer.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert answer.headers["x-request-id"]
    scrape = (await bff.get("/metrics")).text
    assert 'method="other",route="/v1/orders"' in scrape
    assert 'method="AAAA"' not in scrape


async def test_random_methods_paths_and_headers_grow_no_series(bff: httpx.AsyncClient) -> None:
    rng = random.Random(14)  # a recorded seed: a failure replays

    async def junk_round(count: int) -> None:
        for _ in range(count):
            method, path, headers = junk_request(rng)
            answer = await bff.request(method, path, headers=headers)
            assert answer.status_code < 500

    await junk_round(200)  # every closed-set combination this traffic can reach, once
    series = _series("http_server_request_duration_seconds")
    scrape = len(generate_latest())
    await junk_round(REQUESTS)
    assert _series("http_server_request_duration_seconds") == series
    # Counts grow by a few digits; a new series would add hundreds of bytes each.
    assert len(generate_latest()) < scrape * 1.02


def _count(metric: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(f"{metric}_count", labels)
    return value or 0.0


async def test_every_request_is_counted_once_in_its_route_series(bff: httpx.AsyncClient) -> None:
    # The middleware keeps each series' child after its first request (metrics.labelled):
    # the child it keeps must be the one /metrics exports, counting every later request.
    labels = {"method": "GET", "route": "/livez", "status": "200"}
    before = _count("http_server_request_duration_seconds", **labels)
    for _ in range(5):
        assert (await bff.get("/livez")).status_code == 200
    assert _count("http_server_request_duration_seconds", **labels) == before + 5
    missing = {"method": "GET", "route": "unmatched", "status": "404"}
    before_missing = _count("http_server_request_duration_seconds", **missing)
    assert (await bff.get("/no-such-page")).status_code == 404
    assert _count("http_server_request_duration_seconds", **missing) == before_missing + 1
