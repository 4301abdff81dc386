"""A store's IANA time zone, derived from its address: Instacart Connect gives none.

Instacart's stores carry a street address and its slots UTC instants, but no zone, so a
storefront showing "8:00 AM" must know the store's zone itself (a browser's own zone is the
shopper's, not the store's). The zone follows from the state or province, and within the
few US states that span two zones, from the first three digits of the ZIP code. A store list
configured with ``BFF_STORES_FILE`` may state a store's zone outright, and that wins
(app/stores/directory.py); docs/stores.md says where the derivation can be wrong.

A table rather than a geocoding package: stores are few and have addresses, not
coordinates, and the rules are the states' own (the zone database then knows the offsets).
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_EASTERN, _CENTRAL, _MOUNTAIN = "America/New_York", "America/Chicago", "America/Denver"
_PACIFIC = "America/Los_Angeles"

# The zone of most of each state's people (US and territories, then Canada's provinces).
_BY_REGION: dict[str, str] = {
    **dict.fromkeys(
        ("CT", "DE", "DC", "FL", "GA", "ME", "MD", "MA", "NH", "NJ", "NY", "NC", "OH", "PA",
         "RI", "SC", "VT", "VA", "WV"),
        _EASTERN,
    ),
    **dict.fromkeys(
        ("AL", "AR", "IL", "IA", "KS", "LA", "MN", "MS", "MO", "NE", "ND", "OK", "SD", "TN",
         "TX", "WI"),
        _CENTRAL,
    ),
    **dict.fromkeys(("CO", "MT", "NM", "UT", "WY"), _MOUNTAIN),
    **dict.fromkeys(("CA", "NV", "OR", "WA"), _PACIFIC),
    "AK": "America/Anchorage",
    "AZ": "America/Phoenix",  # no daylight saving time
    "HI": "Pacific/Honolulu",
    "ID": "America/Boise",
    "IN": "America/Indiana/Indianapolis",
    "KY": "America/Kentucky/Louisville",
    "MI": "America/Detroit",
    "PR": "America/Puerto_Rico",
    "GU": "Pacific/Guam",
    "VI": "America/St_Thomas",
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "MB": "America/Winnipeg",
    "NB": "America/Moncton",
    "NL": "America/St_Johns",
    "NS": "America/Halifax",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
    "ON": "America/Toronto",
    "PE": "America/Halifax",
    "QC": "America/Toronto",
    "SK": "America/Regina",  # no daylight saving time
    "YT": "America/Whitehorse",
}  # fmt: skip

# Where a state's ZIP codes leave its main zone, by their first three digits.
_BY_ZIP_PREFIX: dict[str, str] = {
    **dict.fromkeys(("324", "325"), _CENTRAL),  # Florida's western panhandle
    **dict.fromkeys(("463", "464", "476", "477"), _CENTRAL),  # Indiana's north-west, south-west
    **dict.fromkeys(("420", "421", "422", "423", "424"), _CENTRAL),  # western Kentucky
    **dict.fromkeys(("373", "374", "376", "377", "378", "379"), _EASTERN),  # eastern Tennessee
    **dict.fromkeys(("798", "799", "885"), _MOUNTAIN),  # El Paso, Texas
    "586": _MOUNTAIN,  # south-west North Dakota
    "577": _MOUNTAIN,  # western South Dakota
    "693": _MOUNTAIN,  # the Nebraska panhandle
    "865": _MOUNTAIN,  # the Navajo Nation in Arizona keeps daylight saving time
    **dict.fromkeys(("835", "838"), _PACIFIC),  # northern Idaho
    "979": "America/Boise",  # eastern Oregon
}

# Canada's postal districts by their first letter, for an address that names no province.
_BY_CANADIAN_DISTRICT: dict[str, str] = {
    "A": "NL", "B": "NS", "C": "PE", "E": "NB", "G": "QC", "H": "QC", "J": "QC", "K": "ON",
    "L": "ON", "M": "ON", "N": "ON", "P": "ON", "R": "MB", "S": "SK", "T": "AB", "V": "BC",
    "Y": "YT",
}  # fmt: skip

_ZIP = re.compile(r"^\s*(\d{3})\d{2}(?:-?\d{4})?\s*$")
_CANADIAN_POSTAL = re.compile(r"^\s*([A-Za-z])\d[A-Za-z]\s?\d[A-Za-z]\d\s*$")


def zone_for_address(state: str | None, postal_code: str | None) -> str | None:
    """The IANA zone of an address in the US or Canada; None when it cannot be told."""
    region = (state or "").strip().upper() or None
    if postal_code:
        if zip_match := _ZIP.match(postal_code):
            if zone := _BY_ZIP_PREFIX.get(zip_match.group(1)):
                return zone
        elif region is None and (canadian := _CANADIAN_POSTAL.match(postal_code)):
            region = _BY_CANADIAN_DISTRICT.get(canadian.group(1).upper())
    return _BY_REGION.get(region) if region else None


@cache
def is_zone(name: str) -> bool:
    """Whether the zone database knows ``name`` (for zones a store list states outright)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
