"""The field types and base models that every feature's storefront shapes are made of."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# The documents state exactly what the validators accept (a client generated from them, or a
# fuzzer, must never be surprised by a 422). Where a validator trims first, the pattern says so:
# pydantic trims Unicode White_Space (Rust's str::trim), which ECMA-262's \s is not (it has
# U+FEFF and lacks U+0085), so the set is spelled out.
_WS = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def trimmed(min_length: int, max_length: int) -> WithJsonSchema:
    """The schema of a string that is trimmed, then holds min_length..max_length characters."""
    edge = f"[^{_WS}]"
    # Two edges that are not whitespace and anything between them; one character alone is an edge.
    middle = rf"[\s\S]{{{max(min_length - 2, 0)},{max_length - 2}}}"
    inner = f"{edge}(?:{middle}{edge})?" if min_length == 1 else f"{edge}{middle}{edge}"
    return WithJsonSchema(
        {
            "type": "string",
            "pattern": f"^[{_WS}]*{inner}[{_WS}]*$",
            "description": f"Trimmed of surrounding whitespace, then {min_length} to {max_length} "
            "characters.",
        }
    )


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    trimmed(1, 200),
]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
]
PostalCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=10, pattern=r"^[A-Za-z0-9 \-]+$"
    ),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^[{_WS}]*[A-Za-z0-9\-][A-Za-z0-9 \-]{{1,8}}[A-Za-z0-9\-][{_WS}]*$",
            "description": "Trimmed of surrounding whitespace, then 3 to 10 letters, digits, "
            "spaces or hyphens.",
            "examples": ["94105"],
        }
    ),
]
StateCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=40),
    trimmed(2, 40),
]


@dataclass(frozen=True, slots=True)
class OpenEnum:
    """A string documented as a named enum that may grow: ``Annotated[str, OpenEnum(...)]``.

    Validation stays "any string" (an answer never fails because a value is new); the document
    gets one component listing the known values with what each means, so that generated clients
    get a union they can switch over exhaustively, marked ``x-extensible-enum`` and described as
    open: why a client may meet a value it does not know, and what to do with one.
    """

    name: str
    summary: str
    meanings: tuple[tuple[str, str], ...]  # (value, what it means), in the order to show
    open_note: str  # why a value may be new, and what a client does with one

    @property
    def values(self) -> list[str]:
        return [value for value, _ in self.meanings]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        # A core schema with a ref becomes one component that every field using it points at.
        return core_schema.str_schema(ref=self.name)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        reference = handler(schema)
        listed = "\n".join(f"- `{value}`: {meaning}" for value, meaning in self.meanings)
        handler.resolve_ref_schema(reference).update(
            {
                "title": self.name,
                "enum": self.values,
                "x-extensible-enum": self.values,
                "description": f"{self.summary}\n\n{listed}\n\n**Open**: {self.open_note}",
            }
        )
        return reference


def without_nul(value: Any) -> Any:
    """``value`` with every NUL character, in its strings and keys at any depth, replaced by
    U+FFFD (the replacement character).

    No text needs a NUL and Postgres stores none, in text or JSONB (it answered a 500). The
    replacement keeps the length and, for every pattern of the document, the class of the
    character (neither is whitespace, a letter or a digit), so the document still states
    exactly what is accepted.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value


class RequestModel(BaseModel):
    """What the storefront sends: an unknown field is a mistake, refused with a 422; a NUL
    character becomes U+FFFD (``without_nul``)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _without_nul(cls, data: Any) -> Any:
        return without_nul(data)


class ResponseModel(BaseModel):
    """What the storefront gets back: read from rows and upstream answers, extra fields dropped."""

    model_config = ConfigDict(extra="ignore")
