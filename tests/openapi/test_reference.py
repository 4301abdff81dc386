"""The committed document as a reference a storefront developer can work from: open enums for
the statuses and error codes, and errors typed as problems wherever they are declared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from app.orders.vocabulary import ItemStatus, OrderStatus
from tests.servers import REPO_ROOT

DOCUMENT = json.loads((REPO_ROOT / "openapi" / "bff.json").read_text())
SCHEMAS = DOCUMENT["components"]["schemas"]
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_order_and_item_statuses_are_open_enums_of_the_vocabulary() -> None:
    for name, vocabulary in (("OrderStatus", OrderStatus), ("ItemStatus", ItemStatus)):
        schema = SCHEMAS[name]
        assert schema["enum"] == [str(status) for status in vocabulary], name
        assert schema["x-extensible-enum"] == schema["enum"], name
        assert "**Open**" in schema["description"], name
        for status in vocabulary:  # each with what it means
            assert f"- `{status}`: " in schema["description"], status
    assert SCHEMAS["Order"]["properties"]["status"]["$ref"] == "#/components/schemas/OrderStatus"


def test_problem_code_is_an_open_enum_with_what_to_do_for_each() -> None:
    schema = SCHEMAS["ProblemCode"]
    assert SCHEMAS["Problem"]["properties"]["code"]["$ref"] == "#/components/schemas/ProblemCode"
    assert "x-extensible-enum" in schema
    assert "**Open**" in schema["description"]
    for code in schema["enum"]:
        assert f"- `{code}`: " in schema["description"], code


def test_every_declared_problem_is_problem_json_only() -> None:
    """The event stream's errors included: a problem filed under text/event-stream made the
    generated TypeScript type them `unknown`."""
    misfiled = [
        f"{method.upper()} {path} {status}: {media_type}"
        for path, method, operation in operations()
        for status, response in operation["responses"].items()
        for media_type, content in response.get("content", {}).items()
        if content.get("schema") == PROBLEM and media_type != "application/problem+json"
    ]
    assert misfiled == []
    stream = DOCUMENT["paths"]["/v1/orders/{order_id}/events"]["get"]["responses"]
    for status in ("401", "404", "429", "503"):
        assert stream[status]["content"] == {
            "application/problem+json": stream[status]["content"]["application/problem+json"]
        }
        assert stream[status]["content"]["application/problem+json"]["schema"] == PROBLEM


def test_only_answers_given_as_problems_are_documented_as_problems() -> None:
    # /readyz answers its 503 with the Health body as application/json, as the route returns it.
    ready = DOCUMENT["paths"]["/readyz"]["get"]["responses"]["503"]["content"]
    assert list(ready) == ["application/json"]
    token = DOCUMENT["paths"]["/callbacks/instacart/token"]["post"]["responses"]["401"]["content"]
    assert list(token) == ["application/json"]  # OAuth's own error form (RFC 6749)
