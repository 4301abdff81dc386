"""The committed document as a reference a storefront developer can work from: every operation
and property described, tagged, with examples (valid ones) of every request and answer; open
enums for the statuses and error codes; errors typed as problems wherever they are declared."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs

from app.orders.vocabulary import ItemStatus, OrderStatus
from app.platform.error_catalogue import CATALOGUE
from app.platform.problem_examples import example_codes
from tests.support.paths import REPO_ROOT

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


def test_every_operation_has_a_summary_a_description_and_a_declared_tag() -> None:
    declared = [tag["name"] for tag in DOCUMENT["tags"]]
    assert all(tag["description"] for tag in DOCUMENT["tags"])
    used = set()
    for path, method, operation in operations():
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("description", operation["summary"]) != operation["summary"], where
        assert len(operation["tags"]) == 1 and operation["tags"][0] in declared, where
        used.update(operation["tags"])
    assert used == set(declared), "a tag groups no operation"


def test_every_schema_property_and_parameter_has_a_description() -> None:
    missing = [
        f"{name}.{prop}"
        for name, schema in SCHEMAS.items()
        for prop, definition in schema.get("properties", {}).items()
        if not definition.get("description")
    ]
    missing += [
        f"{method.upper()} {path} {parameter['name']}"
        for path, method, operation in operations()
        for parameter in operation.get("parameters", [])
        if not parameter.get("description")
    ]
    assert missing == []


def _media(path: str, method: str, operation: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, media type object) of every request body and answer that has a body."""
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        yield f"{method.upper()} {path} request {media_type}", content
    for status, response in operation["responses"].items():
        for media_type, content in response.get("content", {}).items():
            yield f"{method.upper()} {path} {status} {media_type}", content


def _examples(content: dict[str, Any]) -> list[Any]:
    named = [example["value"] for example in content.get("examples", {}).values()]
    return named + ([content["example"]] if "example" in content else [])


def test_every_request_body_and_answer_has_an_example() -> None:
    missing = [
        where
        for path, method, operation in operations()
        for where, content in _media(path, method, operation)
        if not _examples(content)
    ]
    assert missing == []


def test_every_example_is_valid_for_its_schema() -> None:
    invalid = []
    for path, method, operation in operations():
        for where, content in _media(path, method, operation):
            schema = {**content["schema"], "components": DOCUMENT["components"]}
            validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
            invalid += [
                f"{where}: {error.message}"
                for example in _examples(content)
                for error in validator.iter_errors(example)
            ]
    assert invalid == []


def test_each_problem_answer_shows_an_example_of_each_code_it_names() -> None:
    for path, method, operation in operations():
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get("application/problem+json")
            if content is None:
                continue
            codes = set(content["examples"])
            assert set(re.findall(r"`([a-z_]+)`", response["description"])) == codes
            for code in codes:
                example = content["examples"][code]["value"]
                assert example["code"] == code and str(example["status"]) == status, (
                    f"{method.upper()} {path} {status} {code}"
                )
                assert example["type"] == f"/v1/errors/{code}"


def test_every_code_of_the_catalogue_has_an_example_problem() -> None:
    assert example_codes() == set(CATALOGUE)
