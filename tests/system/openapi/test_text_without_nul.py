"""A NUL character in what a client sends is stored as U+FFFD, not answered with a 500.

Postgres stores no NUL, in text or JSONB, and schemathesis found the 500s it caused (an order's
instructions, a callback's metadata). Refusing it instead would break the document's promise
that it states exactly what is accepted, which no JSON Schema pattern can keep for the free
JSON of a callback; U+FFFD keeps the length and the character's class for every pattern
(tests/openapi/test_exactness.py has NUL cases).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.main import create_app
from app.orders.schemas import OrderRequest
from app.settings import Settings

# The development defaults the test environment keeps (app/settings.py).
CALLBACK_CLIENT = {"client_id": "instacart-sandbox", "client_secret": "sandbox-callback-secret"}

ORDER = {"reservation_id": "res_1", "items": [{"upc": "041234100012", "quantity": 1}]}


def test_a_nul_becomes_the_replacement_character() -> None:
    order = OrderRequest.model_validate(ORDER | {"instructions": "ring\x00twice"})
    assert order.instructions == "ring\ufffdtwice"


@pytest.fixture
async def served(
    make_settings: Callable[..., Settings], migrated_database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(
        make_settings(database_url=migrated_database_url, cache_namespace=uuid.uuid4().hex)
    )
    async with (
        LifespanManager(application) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bff.test"
        ) as client,
    ):
        yield client


async def test_a_callback_with_nul_characters_is_stored(
    served: httpx.AsyncClient, migrated_database_url: str
) -> None:
    issued = await served.post(
        "/callbacks/instacart/token", data={"grant_type": "client_credentials", **CALLBACK_CLIENT}
    )
    assert issued.status_code == 200, issued.text
    event_id = uuid.uuid4().int % 2**53
    event = {
        "event_id": event_id,
        "event_name": "fulfillment.\x00",
        "event_timestamp": "2026-11-27T12:00:00Z",
        "event_metadata": {"order_id": "ord_\x00", "note\x00": ["a\x00b", {"k": "\x00"}]},
    }
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    first = await served.post("/callbacks/instacart", json=event, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "accepted"}
    again = await served.post("/callbacks/instacart", json=event, headers=headers)
    assert again.json() == {"status": "duplicate"}

    engine = create_async_engine(migrated_database_url)
    try:
        async with engine.connect() as connection:
            stored = (
                await connection.execute(
                    text(
                        "SELECT event_name, order_id, event_metadata FROM callback_events "
                        "WHERE event_id = :id"
                    ),
                    {"id": event_id},
                )
            ).one()
    finally:
        await engine.dispose()
    assert stored.event_name == "fulfillment.\ufffd"
    assert stored.order_id == "ord_\ufffd"
    assert stored.event_metadata["note\ufffd"] == ["a\ufffdb", {"k": "\ufffd"}]
