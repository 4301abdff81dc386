"""Where the tests' shopper lives: an address near the sandbox's San Francisco stores."""

from __future__ import annotations

SF_POSTAL = "94105"
SF_ADDRESS = {
    "address_line_1": "101 Spear St",
    "city": "San Francisco",
    "state": "CA",
    "postal_code": SF_POSTAL,
}
