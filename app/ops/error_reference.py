"""The error catalogue at /v1/errors: where every problem's ``type`` leads.

Served in production too (a problem's ``type`` must resolve wherever the problem was given),
without authentication: it says nothing about anyone. JSON for programs; a plain page for a
developer who follows a ``type`` in a browser.
"""

from __future__ import annotations

import html
import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from app.platform.error_catalogue import CATALOGUE, ERRORS_PATH, CatalogueEntry, problem_type
from app.platform.errors import NotFound, ValidationFailed
from app.platform.problem_docs import ProblemCode, answer_example, with_problems

router = APIRouter(prefix=ERRORS_PATH, tags=["errors"])

# Nothing on the page runs or loads anything.
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'", "Cache-Control": "max-age=300"}
_JSON_HEADERS = {"Cache-Control": "max-age=300"}
_HTML = "text/html"
_CODE = r"^[a-z][a-z_]{0,63}$"


class ErrorCode(BaseModel):
    """One problem ``code``: when the service answers with it and what the client should do."""

    code: ProblemCode = Field(description="The problem's `code`.")
    status: int = Field(description="The HTTP status it comes with.", examples=[409])
    title: str = Field(
        description="The problem's `title` for this code.", examples=["The time slot is full"]
    )
    type: str = Field(
        description="The problem's `type`, where this entry is served.",
        examples=["/v1/errors/slot_unavailable"],
    )
    when: str = Field(description="When the service answers with it.")
    what_to_do: str = Field(description="What the client should do about it.")


class ErrorCatalogue(BaseModel):
    """Every problem code the service answers with."""

    errors: list[ErrorCode] = Field(description="Every code, in order of status, then code.")


def _described(entry: CatalogueEntry) -> ErrorCode:
    return ErrorCode(
        code=entry.code,
        status=entry.status,
        title=entry.title,
        type=problem_type(entry.code),
        when=entry.when,
        what_to_do=entry.what_to_do,
    )


def _answers(entries: list[CatalogueEntry], description: str) -> dict[str, Any]:
    """The documented 200: JSON (one entry, or the catalogue), or the page, with examples."""
    described = [_described(entry) for entry in entries]
    one = len(described) == 1
    json_example = described[0] if one else ErrorCatalogue(errors=described)
    answer = answer_example(json_example, description)
    page = _page_html(f"Error {entries[0].code}" if one else "Error codes", described)
    answer["content"][_HTML] = {"schema": {"type": "string"}, "example": page}
    return answer


def _wants_html(request: Request) -> bool:
    return _HTML in request.headers.get("accept", "")


def _inline(text: str) -> str:
    """The catalogue's `code` spans as <code>, everything else escaped."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def _page(title: str, entries: list[ErrorCode]) -> Response:
    return Response(_page_html(title, entries), media_type=_HTML, headers=_PAGE_HEADERS)


def _page_html(title: str, entries: list[ErrorCode]) -> str:
    sections = "".join(
        f'<section id="{x.code}"><h2><a href="{x.type}">{x.code}</a></h2>'
        f"<p><strong>{x.status}</strong> {html.escape(x.title)}.</p>"
        f"<p>When: {_inline(x.when)}</p><p>What to do: {_inline(x.what_to_do)}</p></section>"
        for x in entries
    )
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        f'<p><a href="{ERRORS_PATH}">Every error code</a></p>{sections}</html>'
    )


@router.get(
    "",
    operation_id="errors-list",
    response_model=ErrorCatalogue,
    responses={200: _answers(list(CATALOGUE.values())[:2], "Every error code")},
    summary="Every problem code the service answers with, and what to do about each",
    description="The error catalogue: for each `code`, its status and title, when the service "
    "answers with it and what the client should do. Served without authentication, in "
    "production too. JSON by default; an HTML page when `Accept` asks for `text/html`.",
)
async def list_errors(request: Request) -> Response:
    entries = [_described(entry) for entry in CATALOGUE.values()]
    if _wants_html(request):
        return _page("Error codes", entries)
    body = ErrorCatalogue(errors=entries).model_dump(mode="json")
    return Response(orjson.dumps(body), media_type="application/json", headers=_JSON_HEADERS)


@router.get(
    "/{code}",
    operation_id="errors-get",
    response_model=ErrorCode,
    responses=with_problems(
        {200: _answers([CATALOGUE["slot_unavailable"]], "The code's entry")},
        NotFound,
        ValidationFailed,
    ),
    summary="One problem code: the target of a problem's `type`",
    description="Where every problem's `type` leads: the entry of one `code`. JSON by "
    "default; an HTML page when `Accept` asks for `text/html` (a developer following a "
    "`type` in a browser).",
)
async def get_error(
    request: Request,
    code: Annotated[
        str,
        Path(pattern=_CODE, description="A problem's `code`.", examples=["slot_unavailable"]),
    ],
) -> Response:
    entry = CATALOGUE.get(code)
    if entry is None:
        raise NotFound(f"No error has the code {code!r}: see {ERRORS_PATH}.", param="code")
    described = _described(entry)
    if _wants_html(request):
        return _page(f"Error {code}", [described])
    return Response(
        orjson.dumps(described.model_dump(mode="json")),
        media_type="application/json",
        headers=_JSON_HEADERS,
    )
