"""A store's time zone from its address (app/stores/time_zones.py): Instacart gives none."""

from __future__ import annotations

import pytest

from app.stores.time_zones import is_zone, zone_for_address
from sandbox import data


@pytest.mark.parametrize("store", data.STORES, ids=lambda store: store.id)
def test_each_sandbox_store_gets_its_zone_from_its_address(store: data.Store) -> None:
    assert zone_for_address(store.state, store.postal_code) == store.time_zone


@pytest.mark.parametrize(
    ("state", "postal_code", "zone"),
    [
        ("TX", "79901", "America/Denver"),  # El Paso, not the rest of Texas
        ("TX", "78701", "America/Chicago"),
        ("FL", "32501", "America/Chicago"),  # Pensacola
        ("FL", "33101", "America/New_York"),
        ("TN", "37902", "America/New_York"),  # Knoxville
        ("TN", "37203", "America/Chicago"),  # Nashville
        ("IN", "46402", "America/Chicago"),  # Gary
        ("ID", "83814", "America/Los_Angeles"),  # Coeur d'Alene
        ("AZ", "85004", "America/Phoenix"),
        ("ca", " 94105-1234 ", "America/Los_Angeles"),  # case and ZIP+4
        ("BC", "V6B 1A1", "America/Vancouver"),
        (None, "M5V 2T6", "America/Toronto"),  # a Canadian postal code names its province
        (None, "H2X 1Y4", "America/Toronto"),
    ],
)
def test_split_states_follow_the_zip_code(state: str | None, postal_code: str, zone: str) -> None:
    assert zone_for_address(state, postal_code) == zone


@pytest.mark.parametrize(
    ("state", "postal_code"), [(None, None), (None, "94105"), ("Atlantis", None), ("", "")]
)
def test_an_address_that_says_too_little_has_no_zone(
    state: str | None, postal_code: str | None
) -> None:
    assert zone_for_address(state, postal_code) is None


def test_only_the_zone_databases_names_are_zones() -> None:
    assert is_zone("America/Phoenix")
    assert not is_zone("America/Springfield")
    assert not is_zone("../../etc/passwd")
