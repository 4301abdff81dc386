"""The slot fast lane answers exactly as the documented route would, for any query.

The lanes (app/stores/fast_lane.py) answer warm slot previews before FastAPI's routing sees
them (the hot lane, previews held in process, before FastAPI at all) and pass on whatever they
do not handle. Each generated request goes once through the whole app (lane
first) and once through the same app with the lane left out of its middleware, both sharing one
lifespan (caches, verifier, sandbox); the answers must be byte-identical: status, body and
every header (ETag and Cache-Control included).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.tokens import Principal
from app.platform.errors import DependencyUnavailable
from app.stores.fast_lane import SlotFastLane, with_hot_previews
from tests.support.checkout import Checkout

# Frozen for the cache, so that max-age cannot tick between the two answers of one example.
FROZEN_NOW = 2_000_000_000.0

KNOWN_STORE = "store-sf-001"
KNOWN_STORES = [KNOWN_STORE, "store-sf-002", "store-ny-001"]
STORE_IDS = st.one_of(
    st.sampled_from(KNOWN_STORES),
    # well formed but unknown to Instacart (404 from upstream), or malformed
    st.sampled_from(["store-nowhere", "a" * 64, "store:1.2_3-4"]),
    st.sampled_from(["a" * 65, "bad id", "caf%C3%A9", "x%0A", "%20", "a%2Fb", ".."]),
)
FULFILLMENTS = st.one_of(
    st.sampled_from(["delivery", "pickup"]),
    st.sampled_from(["delivery", "pickup", "last_mile"]),
    st.sampled_from(["Delivery", "", " pickup", "x"]),
)
VALID_VALUES = {
    "postal_code": ["94105", " 94105 ", "SF-94", "941 05", "94105\t"],
    "address_line_1": ["101 Spear St", "  1 Market St ", "x" * 200],
    "address_line_2": ["Apt 4", "#12"],
    "city": ["San Francisco", "SF"],
    "state": ["CA", "California"],
}
# Sent as written: escapes, broken escapes and characters that mean something in a query.
RAW_VALUES = ["%00", "%FF%FE", "%E2%80%A8", "caf%C3%A9", "%zz", "%", "a+b", "+", "=", "a=b"]
MALFORMED_VALUES = ["", " ", "\t", "ab", "12345678901", "94105!", "x" * 201, *RAW_VALUES]
UNKNOWN_KEYS = ["_", "cb", "utm_source", "Postal_Code", "fulfillment[]", "", "postal_code "]


def _encode(value: str, space: str) -> str:
    if value in RAW_VALUES:
        return value
    return quote(value, safe=" ").replace(" ", space)


def _odds(yes: int, no: int) -> st.SearchStrategy[bool]:
    """True ``yes`` times in ``yes + no`` (integers() would favour its bounds)."""
    return st.sampled_from([True] * yes + [False] * no)


@st.composite
def queries(draw: st.DrawFn, *, well_formed: bool) -> str:
    """A raw query string: valid, blank, malformed, repeated and unknown parameters; only
    valid and unknown ones (cache busters) when ``well_formed``."""
    pairs: list[tuple[str, str]] = []
    if well_formed:
        pairs.append(("fulfillment", draw(st.sampled_from(["delivery", "pickup"]))))
    elif draw(_odds(9, 1)):  # sometimes no fulfillment at all
        pairs.append(("fulfillment", draw(FULFILLMENTS)))
    for key, valid in VALID_VALUES.items():
        choices = ["valid"] * 2 + ["absent"] + ([] if well_formed else ["malformed", "text"])
        choice = draw(st.sampled_from(choices))
        if choice == "valid":
            pairs.append((key, draw(st.sampled_from(valid))))
        elif choice == "malformed":
            pairs.append((key, draw(st.sampled_from(MALFORMED_VALUES))))
        elif choice == "text":
            pairs.append((key, draw(st.text(max_size=12))))
    for _ in range(draw(st.integers(0, 2))):
        pairs.append((draw(st.sampled_from(UNKNOWN_KEYS)), draw(st.sampled_from(["1", ""]))))
    if pairs and draw(_odds(1, 3)):  # a repeated parameter
        pairs.append(draw(st.sampled_from(pairs)))
    pairs = draw(st.permutations(pairs))
    space = draw(st.sampled_from(["+", "%20"]))
    parts = []
    for key, value in pairs:
        if not well_formed and draw(_odds(1, 20)):
            parts.append(_encode(key, space))  # a key with no "=" at all
        else:
            parts.append(f"{_encode(key, space)}={_encode(value, space)}")
    return "&".join(parts)


AUTH_FORMS = ["bearer {t}", "BEARER  {t} ", "Bearer\t{t}", "Bearer", "Bearer {t}x", "Basic {t}"]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, list[str]]:
    """Store id, query and Authorization headers (formats of a token ``{t}``); each part well
    formed more often than not, so that the lane's own business is well covered."""
    store_id = draw(st.sampled_from(KNOWN_STORES) if draw(_odds(2, 1)) else STORE_IDS)
    query = draw(queries(well_formed=draw(_odds(2, 1))))
    if draw(_odds(2, 1)):
        return store_id, query, ["Bearer {t}"]
    auth = draw(st.sampled_from(["Bearer {t}"] * 4 + AUTH_FORMS))
    authorization = [] if draw(_odds(1, 9)) else [auth]
    if draw(st.booleans()):  # repeated: the route reads the first
        authorization.insert(draw(st.integers(0, len(authorization))), "Bearer not-a-token")
    return store_id, query, authorization


def route_only(app: Any) -> ASGIApp:
    """The same app and state with the fast lane left out of the middleware."""
    kept = [m for m in app.user_middleware if m.cls is not SlotFastLane]
    assert len(kept) == len(app.user_middleware) - 1
    saved, app.user_middleware = app.user_middleware, kept
    try:
        stack = app.build_middleware_stack()
    finally:
        app.user_middleware = saved

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app  # what Starlette.__call__ does before its middleware stack
        await stack(scope, receive, send)

    return asgi


@pytest.fixture
async def lanes(
    open_checkout: Callable[..., Any],
) -> AsyncIterator[tuple[Checkout, httpx.AsyncClient]]:
    async with open_checkout() as checkout:
        catalog = checkout.app.state.bff.checkout.catalog
        for cache in (catalog.slot_cache, catalog.store_cache):
            cache.clock = lambda: FROZEN_NOW
        transport = httpx.ASGITransport(app=route_only(checkout.app))
        # The lane side as `app serve` serves the app: behind its hot lane too.
        served = httpx.ASGITransport(app=with_hot_previews(checkout.app))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://bff.test") as route,
            httpx.AsyncClient(transport=served, base_url="http://bff.test") as checkout.bff,
        ):
            yield checkout, route


def _answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    return response.status_code, response.content, sorted(response.headers.multi_items())


async def _both(
    checkout: Checkout, route: httpx.AsyncClient, url: str, headers: list[tuple[str, str]]
) -> tuple[httpx.Response, httpx.Response]:
    # One request id for both, so that problem bodies (which carry it) can be compared.
    headers = [*headers, ("X-Request-ID", uuid.uuid4().hex)]
    lane = await checkout.bff.get(url, headers=headers)
    direct = await route.get(url, headers=headers)
    return lane, direct


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    request=requests(),
    if_none_match=st.sampled_from([None, "etag", "list", "other", "x" * 513]),
)
async def test_the_lane_and_the_route_answer_identically(
    lanes: tuple[Checkout, httpx.AsyncClient],
    request: tuple[str, str, list[str]],
    if_none_match: str | None,
) -> None:
    checkout, route = lanes
    store_id, query, authorization = request
    user = f"parity-{uuid.uuid4().hex[:8]}"
    token = checkout.auth(user)["Authorization"].removeprefix("Bearer ")
    headers = [("Authorization", form.format(t=token)) for form in authorization]
    url = f"/v1/stores/{store_id}/slots?{query}"

    lane, direct = await _both(checkout, route, url, headers)
    assert _answer(lane) == _answer(direct), (url, headers)

    etag = lane.headers.get("etag")
    if if_none_match is not None and etag is not None:
        value = {"etag": etag, "list": f'"nope", {etag}', "other": '"nope"'}.get(
            if_none_match, if_none_match
        )
        lane, direct = await _both(checkout, route, url, [*headers, ("If-None-Match", value)])
        assert _answer(lane) == _answer(direct), (url, headers, value)


async def test_a_blank_postal_code_is_refused_by_both(
    lanes: tuple[Checkout, httpx.AsyncClient],
) -> None:
    checkout, route = lanes
    headers = list(checkout.auth("parity-blank").items())
    url = f"/v1/stores/{KNOWN_STORE}/slots?fulfillment=pickup&postal_code="
    lane, direct = await _both(checkout, route, url, headers)
    assert lane.status_code == direct.status_code == 422
    assert _answer(lane) == _answer(direct)


async def test_when_the_identity_provider_is_down_both_answer_503(
    lanes: tuple[Checkout, httpx.AsyncClient],
) -> None:
    checkout, route = lanes

    async def verify(token: str) -> Principal:
        raise DependencyUnavailable("The identity provider's signing keys are unavailable.")

    checkout.app.state.bff.verifier.verify = verify
    url = f"/v1/stores/{KNOWN_STORE}/slots?fulfillment=pickup"
    lane, direct = await _both(checkout, route, url, [("Authorization", "Bearer x.y.z")])
    assert lane.status_code == direct.status_code == 503
    assert _answer(lane) == _answer(direct)
