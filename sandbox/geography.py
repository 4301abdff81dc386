"""Where things are: distances between coordinates, postal-code centroids, store time zones.

Store search, the delivery-area check of a preview and the slot grid (whose windows are in
store-local time) all ask these questions of the seeded world in `data.py`.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox import data

EARTH_RADIUS_MILES = 3958.8
_POSTAL_RE = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$")


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


@cache
def store_tz(store_id: str) -> tzinfo:
    metro = data.METROS[data.STORES_BY_ID[store_id].metro]
    try:
        return ZoneInfo(metro.tz)
    except ZoneInfoNotFoundError:  # a slim image without a tz database
        return timezone(timedelta(hours=metro.std_offset_hours))


def postal_centroid(postal_code: str) -> tuple[float, float] | None:
    """The centre of a five-digit (or ZIP+4) code the sandbox knows; None for any other."""
    m = _POSTAL_RE.match(postal_code)
    return data.POSTAL_CODES.get(m.group(1)) if m else None
