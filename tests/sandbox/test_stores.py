"""Store search by postal code and by coordinates."""

from __future__ import annotations

import httpx

from tests.sandbox.helpers import assert_error


async def find(
    client: httpx.AsyncClient, auth: dict[str, str], kind: str, body: dict
) -> httpx.Response:
    return await client.post(f"/v2/fulfillment/stores/{kind}", json=body, headers=auth)


async def test_find_by_postal_code_returns_nearest_first(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await find(client, auth, "delivery", {"postal_code": "94105"})
    assert response.status_code == 200
    stores = response.json()["stores"]
    assert stores[0]["id"] == "store-sf-001"
    distances = [s["distance"] for s in stores]
    assert distances == sorted(distances)
    assert all(s["id"].startswith("store-sf-") for s in stores)
    assert set(stores[0]) == {"id", "name", "address", "distance"}
    assert stores[0]["address"] == {
        "address_line_1": "301 Brannan St",
        "city": "San Francisco",
        "state": "CA",
        "postal_code": "94107",
    }


async def test_find_by_latitude_longitude_sorts_by_haversine_distance(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # Times Square: Hell's Kitchen is closer than Chelsea
    response = await find(client, auth, "delivery", {"latitude": 40.758, "longitude": -73.9855})
    ids = [s["id"] for s in response.json()["stores"]]
    assert ids[:3] == ["store-ny-002", "store-ny-001", "store-ny-003"]
    assert response.json()["stores"][0]["distance"] < 0.5


async def test_find_only_returns_stores_offering_the_fulfillment_type(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    pickup = await find(client, auth, "pickup", {"postal_code": "60601"})
    ids = [s["id"] for s in pickup.json()["stores"]]
    assert "store-chi-002" not in ids  # delivery only
    assert {"store-chi-001", "store-chi-003", "store-chi-004"} <= set(ids)
    last_mile = await find(client, auth, "last_mile", {"postal_code": "60601"})
    assert [s["id"] for s in last_mile.json()["stores"]] == [
        "store-chi-001",
        "store-chi-004",
        "store-chi-005",
    ]


async def test_find_excludes_stores_beyond_the_radius(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # Seattle's stores are far from anything else
    response = await find(client, auth, "delivery", {"postal_code": "98101-1234"})
    ids = [s["id"] for s in response.json()["stores"]]
    assert ids and all(i.startswith("store-sea-") for i in ids)


async def test_unknown_postal_code_finds_no_stores(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await find(client, auth, "delivery", {"postal_code": "99999"})
    assert response.status_code == 200
    assert response.json() == {"stores": []}


async def test_find_without_location_is_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert_error(await find(client, auth, "delivery", {"city": "Chicago"}), 400, "postal_code")
    assert_error(await find(client, auth, "delivery", {"latitude": 41.9}), 400, "together")
    assert_error(
        await find(client, auth, "delivery", {"latitude": 91, "longitude": 0}), 400, "range"
    )
