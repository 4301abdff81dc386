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
from app.platform.errors import NotFound
from app.platform.problem_docs import problems

router = APIRouter(prefix=ERRORS_PATH, tags=["errors"])

# Nothing on the page runs or loads anything.
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'", "Cache-Control": "max-age=300"}
_JSON_HEADERS = {"Cache-Control": "max-age=300"}
_HTML_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}}
}
_CODE = r"^[a-z][a-z_]{0,63}$"


class ErrorCode(BaseModel):
    """One problem ``code``: when the service answers with it and what the client should do."""

    code: str = Field(examples=["slot_unavailable"])
    status: int = Field(examples=[409])
    title: str = Field(examples=["The time slot is full"])
    type: str = Field(
        description="The problem's `type`, where this entry is served.",
        examples=["/v1/errors/slot_unavailable"],
    )
    when: str
    what_to_do: str


class ErrorCatalogue(BaseModel):
    errors: list[ErrorCode]


def _described(entry: CatalogueEntry) -> ErrorCode:
    return ErrorCode(
        code=entry.code,
        status=entry.status,
        title=entry.title,
        type=problem_type(entry.code),
        when=entry.when,
        what_to_do=entry.what_to_do,
    )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _inline(text: str) -> str:
    """The catalogue's `code` spans as <code>, everything else escaped."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def _page(title: str, entries: list[ErrorCode]) -> Response:
    sections = "".join(
        f'<section id="{x.code}"><h2><a href="{x.type}">{x.code}</a></h2>'
        f"<p><strong>{x.status}</strong> {html.escape(x.title)}.</p>"
        f"<p>When: {_inline(x.when)}</p><p>What to do: {_inline(x.what_to_do)}</p></section>"
        for x in entries
    )
    body = (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        f'<p><a href="{ERRORS_PATH}">Every error code</a></p>{sections}</html>'
    )
    return Response(body, media_type="text/html", headers=_PAGE_HEADERS)


@router.get(
    "",
    operation_id="errors-list",
    response_model=ErrorCatalogue,
    responses=_HTML_RESPONSE,
    summary="Every problem code the service answers with, and what to do about each",
    description="JSON by default; an HTML page when `Accept` asks for `text/html`.",
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
    responses=_HTML_RESPONSE | problems(404, 422),
    summary="One problem code: the target of a problem's `type`",
    description="JSON by default; an HTML page when `Accept` asks for `text/html`.",
)
async def get_error(
    request: Request, code: Annotated[str, Path(pattern=_CODE, examples=["slot_unavailable"])]
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
