"""The field types and base models that every feature's storefront shapes are made of."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, WithJsonSchema

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


class RequestModel(BaseModel):
    """What the storefront sends: an unknown field is a mistake, refused with a 422."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    """What the storefront gets back: read from rows and upstream answers, extra fields dropped."""

    model_config = ConfigDict(extra="ignore")
