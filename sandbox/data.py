"""Seed data: stores, postal-code centroids and the product catalog.

Everything here is fixed, so every sandbox starts with the same world. The names are invented;
the addresses and coordinates are real-looking street locations in seven metro areas, in five
time zones (Phoenix keeps no daylight saving time). Each store's zone is its metro's, which its
address places it in; Instacart's answers carry no zone, so the sandbox's do not either, and only
its control routes (``GET /sandbox/catalog``) show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DELIVERY = "delivery"
PICKUP = "pickup"
LAST_MILE = "last_mile"
FULFILLMENT_TYPES = (DELIVERY, PICKUP, LAST_MILE)


@dataclass(frozen=True, slots=True)
class Metro:
    key: str
    name: str
    tz: str
    # standard-time UTC offset, used only when the system has no tz database
    std_offset_hours: int


@dataclass(frozen=True, slots=True)
class Store:
    id: str
    name: str
    address_line_1: str
    city: str
    state: str
    postal_code: str
    latitude: float
    longitude: float
    metro: str
    fulfillment_types: tuple[str, ...]

    @property
    def time_zone(self) -> str:
        return METROS[self.metro].tz


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    upc: str
    name: str


METROS: dict[str, Metro] = {
    m.key: m
    for m in (
        Metro("sf", "San Francisco Bay Area", "America/Los_Angeles", -8),
        Metro("ny", "New York", "America/New_York", -5),
        Metro("chi", "Chicago", "America/Chicago", -6),
        Metro("sea", "Seattle", "America/Los_Angeles", -8),
        Metro("aus", "Austin", "America/Chicago", -6),
        Metro("den", "Denver", "America/Denver", -7),
        Metro("phx", "Phoenix", "America/Phoenix", -7),
    )
}

ALL = (DELIVERY, PICKUP, LAST_MILE)

STORES: tuple[Store, ...] = (
    # San Francisco Bay Area
    Store("store-sf-001", "Bayside Market - SoMa", "301 Brannan St", "San Francisco", "CA",
          "94107", 37.7814, -122.3922, "sf", ALL),
    Store("store-sf-002", "Golden Gate Grocers - Mission", "2300 Mission St", "San Francisco",
          "CA", "94110", 37.7605, -122.4190, "sf", (DELIVERY, PICKUP)),
    Store("store-sf-003", "Fog City Foods - Marina", "2159 Chestnut St", "San Francisco", "CA",
          "94123", 37.8004, -122.4384, "sf", (DELIVERY,)),
    Store("store-sf-004", "Fog City Foods - Sunset", "1840 Irving St", "San Francisco", "CA",
          "94122", 37.7638, -122.4779, "sf", (DELIVERY, PICKUP)),
    Store("store-sf-005", "Bayside Market - Nob Hill", "1100 Polk St", "San Francisco", "CA",
          "94109", 37.7871, -122.4197, "sf", (PICKUP, LAST_MILE)),
    Store("store-sf-006", "Oakland Fresh - Uptown", "2001 Broadway", "Oakland", "CA", "94612",
          37.8105, -122.2687, "sf", (DELIVERY, LAST_MILE)),
    # New York
    Store("store-ny-001", "Empire Grocery - Chelsea", "250 W 23rd St", "New York", "NY",
          "10011", 40.7446, -73.9967, "ny", ALL),
    Store("store-ny-002", "Hudson Market - Hell's Kitchen", "575 9th Ave", "New York", "NY",
          "10036", 40.7592, -73.9926, "ny", (DELIVERY,)),
    Store("store-ny-003", "Empire Grocery - Union Square", "4 Union Sq S", "New York", "NY",
          "10003", 40.7349, -73.9906, "ny", (DELIVERY, PICKUP)),
    Store("store-ny-004", "Five Boroughs Foods - Upper West Side", "2421 Broadway", "New York",
          "NY", "10024", 40.7918, -73.9737, "ny", (DELIVERY, LAST_MILE)),
    Store("store-ny-005", "Hudson Market - Tribeca", "270 Greenwich St", "New York", "NY",
          "10007", 40.7158, -74.0113, "ny", (PICKUP,)),
    Store("store-ny-006", "Five Boroughs Foods - Brooklyn Heights", "133 Court St", "Brooklyn",
          "NY", "11201", 40.6880, -73.9930, "ny", (DELIVERY, PICKUP)),
    # Chicago
    Store("store-chi-001", "Lakeshore Market - Loop", "111 W Jackson Blvd", "Chicago", "IL",
          "60604", 41.8781, -87.6314, "chi", ALL),
    Store("store-chi-002", "Windy City Grocers - River North", "440 N Wells St", "Chicago", "IL",
          "60654", 41.8900, -87.6340, "chi", (DELIVERY,)),
    Store("store-chi-003", "Lakeshore Market - Lincoln Park", "2550 N Clark St", "Chicago",
          "IL", "60614", 41.9290, -87.6430, "chi", (DELIVERY, PICKUP)),
    Store("store-chi-004", "Windy City Grocers - West Loop", "1 N Halsted St", "Chicago", "IL",
          "60661", 41.8820, -87.6474, "chi", (PICKUP, LAST_MILE)),
    Store("store-chi-005", "Prairie Foods - Wicker Park", "1436 N Milwaukee Ave", "Chicago",
          "IL", "60622", 41.9075, -87.6740, "chi", (DELIVERY, LAST_MILE)),
    # Seattle
    Store("store-sea-001", "Puget Provisions - Downtown", "400 Pine St", "Seattle", "WA",
          "98101", 47.6120, -122.3370, "sea", ALL),
    Store("store-sea-002", "Cascade Grocery - Capitol Hill", "1600 E Olive Way", "Seattle", "WA",
          "98102", 47.6190, -122.3240, "sea", (DELIVERY, PICKUP)),
    Store("store-sea-003", "Puget Provisions - South Lake Union", "2210 Westlake Ave",
          "Seattle", "WA", "98121", 47.6180, -122.3380, "sea", (DELIVERY,)),
    # Austin
    Store("store-aus-001", "Lone Star Market - Downtown", "525 N Lamar Blvd", "Austin", "TX",
          "78703", 30.2706, -97.7530, "aus", ALL),
    Store("store-aus-002", "Hill Country Grocers - South Congress", "2400 S Congress Ave",
          "Austin", "TX", "78704", 30.2380, -97.7510, "aus", (DELIVERY, PICKUP)),
    Store("store-aus-003", "Lone Star Market - East Austin", "1100 E 5th St", "Austin", "TX",
          "78702", 30.2640, -97.7320, "aus", (PICKUP, LAST_MILE)),
    # Denver
    Store("store-den-001", "Front Range Foods - LoDo", "1701 Wynkoop St", "Denver", "CO",
          "80202", 39.7530, -105.0000, "den", ALL),
    Store("store-den-002", "Mile High Market - Capitol Hill", "900 E Colfax Ave", "Denver", "CO",
          "80218", 39.7400, -104.9770, "den", (DELIVERY, PICKUP)),
    # Phoenix
    Store("store-phx-001", "Sonoran Grocers - Downtown", "1 E Washington St", "Phoenix", "AZ",
          "85004", 33.4484, -112.0730, "phx", ALL),
    Store("store-phx-002", "Desert Bloom Market - Arcadia", "3901 E Indian School Rd",
          "Phoenix", "AZ", "85018", 33.4950, -111.9950, "phx", (DELIVERY, PICKUP)),
)  # fmt: skip

STORES_BY_ID: dict[str, Store] = {s.id: s for s in STORES}

# Approximate centroids of the postal codes the sandbox can geocode.
POSTAL_CODES: dict[str, tuple[float, float]] = {
    # San Francisco Bay Area
    "94103": (37.7726, -122.4110),
    "94105": (37.7897, -122.3942),
    "94107": (37.7621, -122.3971),
    "94109": (37.7917, -122.4186),
    "94110": (37.7485, -122.4156),
    "94114": (37.7587, -122.4330),
    "94117": (37.7700, -122.4460),
    "94122": (37.7588, -122.4850),
    "94123": (37.8000, -122.4360),
    "94133": (37.8002, -122.4090),
    "94612": (37.8085, -122.2708),
    # New York
    "10001": (40.7506, -73.9972),
    "10003": (40.7317, -73.9891),
    "10007": (40.7139, -74.0079),
    "10011": (40.7420, -74.0004),
    "10013": (40.7209, -74.0051),
    "10016": (40.7454, -73.9782),
    "10019": (40.7651, -73.9858),
    "10024": (40.7864, -73.9762),
    "10025": (40.7987, -73.9680),
    "10036": (40.7603, -73.9897),
    "11201": (40.6940, -73.9903),
    "11211": (40.7093, -73.9565),
    # Chicago
    "60601": (41.8858, -87.6229),
    "60602": (41.8830, -87.6290),
    "60604": (41.8780, -87.6290),
    "60605": (41.8670, -87.6180),
    "60607": (41.8721, -87.6578),
    "60610": (41.9033, -87.6336),
    "60614": (41.9227, -87.6533),
    "60622": (41.9024, -87.6766),
    "60654": (41.8923, -87.6373),
    "60657": (41.9401, -87.6528),
    "60661": (41.8830, -87.6440),
    # Seattle
    "98101": (47.6101, -122.3344),
    "98102": (47.6370, -122.3240),
    "98109": (47.6318, -122.3470),
    "98121": (47.6150, -122.3450),
    "98122": (47.6110, -122.3050),
    # Austin
    "78701": (30.2711, -97.7437),
    "78702": (30.2636, -97.7166),
    "78703": (30.2907, -97.7648),
    "78704": (30.2420, -97.7690),
    "78705": (30.2940, -97.7390),
    # Denver
    "80202": (39.7530, -104.9980),
    "80203": (39.7310, -104.9820),
    "80205": (39.7590, -104.9660),
    "80218": (39.7330, -104.9710),
    # Phoenix
    "85003": (33.4510, -112.0790),
    "85004": (33.4510, -112.0680),
    "85006": (33.4650, -112.0480),
    "85018": (33.4960, -111.9880),
}


def store_catalogue() -> list[dict[str, Any]]:
    """Every store with everything the sandbox knows of it, its time zone included: what a
    retailer's own store list would say (``GET /sandbox/catalog``, the BFF's store list)."""
    return [
        {
            "id": s.id,
            "name": s.name,
            "metro": s.metro,
            "time_zone": s.time_zone,
            "fulfillment_types": list(s.fulfillment_types),
            "latitude": s.latitude,
            "longitude": s.longitude,
            "address": {
                "address_line_1": s.address_line_1,
                "city": s.city,
                "state": s.state,
                "postal_code": s.postal_code,
            },
        }
        for s in STORES
    ]


def _upc(item: str) -> str:
    """A 12-digit UPC-A for manufacturer 041234 with a valid check digit."""
    body = "041234" + item
    odd = sum(int(d) for d in body[0::2])
    even = sum(int(d) for d in body[1::2])
    check = (10 - (odd * 3 + even) % 10) % 10
    return body + str(check)


_PRODUCT_NAMES = (
    "Organic Bananas, 1 lb",
    "Hass Avocados, 4 ct",
    "Organic Baby Spinach, 5 oz",
    "Honeycrisp Apples, 3 lb bag",
    "Roma Tomatoes, 1 lb",
    "Yellow Onions, 3 lb bag",
    "Whole Milk, 1 gal",
    "Large Brown Eggs, 12 ct",
    "Salted Butter, 16 oz",
    "Greek Yogurt Plain, 32 oz",
    "Sharp Cheddar Cheese, 8 oz",
    "Sourdough Bread, 24 oz",
    "Boneless Chicken Breast, 1.5 lb",
    "Atlantic Salmon Fillet, 1 lb",
    "Ground Coffee Medium Roast, 12 oz",
    "Spaghetti Pasta, 16 oz",
    "Marinara Sauce, 24 oz",
    "Extra Virgin Olive Oil, 500 ml",
    "Long Grain White Rice, 2 lb",
    "Rolled Oats, 42 oz",
    "Sparkling Water Lime, 12 pk",
    "Orange Juice No Pulp, 52 oz",
    "Paper Towels, 6 rolls",
    "Dish Soap, 24 oz",
)

PRODUCTS: tuple[Product, ...] = tuple(
    Product(product_id=str(1001 + i), upc=_upc(f"{10001 + i:05d}"), name=name)
    for i, name in enumerate(_PRODUCT_NAMES)
)
PRODUCTS_BY_UPC: dict[str, Product] = {p.upc: p for p in PRODUCTS}
PRODUCTS_BY_ID: dict[str, Product] = {p.product_id: p for p in PRODUCTS}
