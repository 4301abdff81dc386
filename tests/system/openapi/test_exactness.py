"""The committed document accepts exactly what the validators accept.

A fuzzer (test_schemathesis.py beside this module) finds disagreements by chance; these find
them by construction, for the shapes where the document states a rule the validator enforces in
code (an item's one identifier, trimmed strings), with no server involved.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.orders.schemas import OrderRequest
from app.platform.schema_types import PostalCode, ShortText, StateCode
from app.reservations.schemas import Item, ReservationRequest
from app.stores.schemas import Address
from tests.support.paths import REPO_ROOT

DOCUMENT = json.loads((REPO_ROOT / "openapi" / "bff.json").read_text())


def documented(name: str) -> jsonschema_rs.Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def accepted(model: type[BaseModel], value: Any) -> bool:
    try:
        model.model_validate_json(json.dumps(value))
    except ValidationError:
        return False
    return True


ITEMS = [
    {"upc": "041234100012", "quantity": 1},
    {"product_id": "1001", "quantity": 250},
    {"upc": "041234100012", "product_id": None, "quantity": 2},
    {"upc": None, "product_id": "sku:1", "quantity": 2},
    {"quantity": 1},  # neither: the fuzzer's first finding
    {"upc": None, "product_id": None, "quantity": 1},
    {"upc": "041234100012", "product_id": "1001", "quantity": 1},  # both
    {"upc": "12345", "quantity": 1},
    {"product_id": "", "quantity": 1},
    {"product_id": "1001", "quantity": 0},
    {"product_id": "1001", "quantity": 251},
    {"product_id": "1001", "quantity": 1, "name": "extra"},
]


@pytest.mark.parametrize("item", ITEMS, ids=json.dumps)
def test_item_document_agrees_with_validator(item: dict[str, Any]) -> None:
    assert documented("Item").is_valid(item) == accepted(Item, item)


ADDRESSES = [
    {},
    {"postal_code": "94105"},
    {"postal_code": " 94105 "},
    {"postal_code": "   "},
    {"postal_code": "94 105"},
    {"postal_code": "9-1"},
    {"postal_code": "94105\n"},
    {"state": " C "},  # trimmed to one character: too short
    {"state": "CA"},
    {"city": " "},
    {"city": "\u0085San Francisco\u3000"},
    {"city": "\ufeff"},  # not whitespace to the validator, although it is to ECMA-262's \s
    {"address_line_1": "x" * 200},
    {"address_line_1": "x" * 201},
    {"address_line_1": "  " + "x" * 200 + "  "},
    {"address_line_2": None},
    {"country": "US"},
    # A NUL becomes U+FFFD (schema_types.without_nul), of the same class for every pattern.
    {"city": "\x00"},
    {"city": " \x00 "},
    {"postal_code": "94\x00105"},
    {"state": "C\x00"},
]


@pytest.mark.parametrize("address", ADDRESSES, ids=json.dumps)
def test_address_document_agrees_with_validator(address: dict[str, Any]) -> None:
    assert documented("Address").is_valid(address) == accepted(Address, address)


@pytest.mark.parametrize(
    ("name", "model", "body"),
    [
        (
            "ReservationRequest",
            ReservationRequest,
            {"fulfillment": "pickup", "store_id": "s1", "slot_id": "x", "items": [{"quantity": 1}]},
        ),
        (
            "ReservationRequest",
            ReservationRequest,
            {"fulfillment": "delivery", "store_id": "s1", "slot_id": "x", "address": {"city": " "}},
        ),
        (
            "ReservationRequest",
            ReservationRequest,
            {"fulfillment": "pickup", "store_id": "s1", "slot_id": "x", "items": None},
        ),
        ("OrderRequest", OrderRequest, {"reservation_id": "r", "items": [{"upc": "123456"}]}),
        (
            "OrderRequest",
            OrderRequest,
            {"reservation_id": "r", "items": [{"upc": "123456", "quantity": 1}]},
        ),
        ("OrderRequest", OrderRequest, {"reservation_id": "r", "items": []}),
        (
            "OrderRequest",
            OrderRequest,
            {
                "reservation_id": "r",
                "items": [{"upc": "123456", "quantity": 1}],
                "instructions": "ring\x00twice",
            },
        ),
    ],
)
def test_request_bodies_document_agrees_with_validator(
    name: str, model: type[BaseModel], body: dict[str, Any]
) -> None:
    assert documented(name).is_valid(body) == accepted(model, body)


# Characters either side of every whitespace definition in play (Unicode White_Space, which the
# validator trims, and ECMA-262's \s, which a careless pattern would use), and ordinary ones.
_CHARACTERS = st.sampled_from(
    list("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u200b")
    + list("aZ09- .,é")
)
_STRINGS = st.one_of(
    st.text(_CHARACTERS, max_size=12),
    st.builds(
        lambda pad, core, end: pad + core + end,
        st.text(_CHARACTERS, max_size=3),
        st.text(st.sampled_from("ab"), min_size=195, max_size=205),
        st.text(_CHARACTERS, max_size=3),
    ),
)


@pytest.mark.parametrize("annotated", [ShortText, StateCode, PostalCode], ids=str)
@settings(max_examples=300, deadline=None)
@given(value=_STRINGS)
def test_trimmed_string_patterns_agree_with_validator(annotated: Any, value: str) -> None:
    adapter = TypeAdapter(annotated)
    validator = jsonschema_rs.Draft202012Validator(adapter.json_schema())
    try:
        adapter.validate_python(value)
        valid = True
    except ValidationError:
        valid = False
    assert validator.is_valid(value) == valid, repr(value)
