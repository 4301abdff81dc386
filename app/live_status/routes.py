"""Live order status: a stream ticket for browsers, and the Server-Sent Events stream."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.dependencies import (
    BearerCredentialsDep,
    OrderStreamsDep,
    PrincipalDep,
    StreamTicketsDep,
    current_principal,
)
from app.live_status.streams import OrderStream
from app.orders.routes import OrderId
from app.orders.schemas import example_order
from app.orders.vocabulary import OrderStatus
from app.platform.errors import NotFound, Unauthenticated
from app.platform.problem_docs import COMMON, answer_example, problems, with_problems

router = APIRouter(prefix="/v1/orders", tags=["live status"])


class StreamTicketOut(BaseModel):
    """A ticket that opens one stream of one order, once."""

    ticket: str = Field(
        description="Pass it as `?ticket=` to `GET /v1/orders/{order_id}/events`; it opens one "
        "stream, once.",
        examples=["kq3B5yR0f9lY2m8V1o6cPz7wXsT4uHjE0aNdGiLbQeM"],
    )
    expires_at: dt.datetime = Field(
        description="When the ticket stops working if unused (a minute after it was issued)."
    )


_EXAMPLE_TICKET = StreamTicketOut(
    ticket="kq3B5yR0f9lY2m8V1o6cPz7wXsT4uHjE0aNdGiLbQeM",
    expires_at=dt.datetime(2026, 11, 25, 18, 1, 15, tzinfo=dt.UTC),
)


class EventStreamResponse(StreamingResponse):
    """Server-Sent Events of one order; the stream is closed however the response ends."""

    media_type = "text/event-stream"

    def __init__(self, stream: OrderStream) -> None:
        super().__init__(
            stream.frames(),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the body never started (the client left first): the frames' own
            # cleanup runs only once they are iterated.
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()


_STREAM_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "The order's status events: `event: status`, `id: <version>`, "
        "`data: <Order>`; comment lines as heartbeats; ends after a terminal status.",
        "content": {
            "text/event-stream": {
                # OpenAPI 3.1 reads an event stream's schema as that of each event (3.2's
                # itemSchema); the example is one event.
                "schema": {
                    "type": "object",
                    "required": ["event", "id", "data"],
                    "properties": {
                        "event": {"const": "status", "description": "Always `status`."},
                        "id": {
                            "type": "string",
                            "pattern": "^[0-9]+$",
                            "description": "The order's version: EventSource sends it back "
                            "as `Last-Event-ID` when it reconnects.",
                        },
                        "retry": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Milliseconds to wait before reconnecting.",
                        },
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "contentSchema": {"$ref": "#/components/schemas/Order"},
                            "description": "The order as JSON, as `GET /v1/orders/{order_id}` "
                            "answers it.",
                        },
                    },
                },
                "example": {
                    "event": "status",
                    "id": "3",
                    "data": example_order(OrderStatus.PICKING, minutes=35).model_dump_json(),
                },
            }
        },
    },
    204: {
        "description": "The Last-Event-ID shows the client has seen the order's terminal "
        "status: nothing more will come (EventSource stops reconnecting)."
    },
}


@router.post(
    "/{order_id}/events/ticket",
    operation_id="orders-events-ticket",
    status_code=201,
    response_model=StreamTicketOut,
    responses=with_problems(
        {201: answer_example(_EXAMPLE_TICKET, "The ticket")}, *COMMON, NotFound
    ),
    summary="A short-lived, single-use ticket for this order's event stream (for EventSource)",
    description="A browser's `EventSource` cannot send an `Authorization` header, and a token "
    "in a URL lands in logs: ask for a ticket with the header instead, then open "
    "`GET /v1/orders/{order_id}/events?ticket=...` within a minute. A ticket opens one stream "
    "of this order, once; ask for a new one to reconnect.",
)
async def issue_stream_ticket(
    order_id: OrderId,
    principal: PrincipalDep,
    streams: OrderStreamsDep,
    tickets: StreamTicketsDep,
) -> StreamTicketOut:
    await streams.current(principal.user_id, order_id)  # the owner only: 404 for anyone else
    issued = await tickets.issue(principal.user_id, order_id)
    return StreamTicketOut(ticket=issued.ticket, expires_at=issued.expires_at)


@router.get(
    "/{order_id}/events",
    operation_id="orders-events",
    status_code=200,
    response_class=EventStreamResponse,
    responses=_STREAM_RESPONSES | problems(*COMMON, NotFound),
    summary="Live status of the order as Server-Sent Events (bearer header or ?ticket=)",
    # FastAPI adds the bearer alternative of its own dependency to this list.
    openapi_extra={"security": [{"StreamTicket": []}]},
    description="Sends the order at once, then again whenever it changes, as Server-Sent "
    "Events, until a final status. Authenticate with the bearer header (fetch "
    "streaming, mobile apps) or a ticket (`EventSource`). On reconnecting, `Last-Event-ID` "
    "skips what the client has seen; 204 means the order had already ended. Errors are "
    "answered before the stream starts, as problems.",
)
async def order_events(
    order_id: OrderId,
    request: Request,
    credentials: BearerCredentialsDep,
    streams: OrderStreamsDep,
    tickets: StreamTicketsDep,
    ticket: Annotated[
        str | None,
        Query(description="A stream ticket, for clients that cannot send Authorization"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(description="The `id` of the last event seen (EventSource sends it itself)."),
    ] = None,
) -> Response:
    if credentials is not None:
        user_id = (await current_principal(request, credentials)).user_id
    elif ticket is not None:
        user_id = await tickets.redeem(ticket, order_id)
    else:
        raise Unauthenticated("a bearer token or a stream ticket is required")
    stream = await streams.open(user_id, order_id, _version(last_event_id))
    if stream.finished:
        await stream.aclose()
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    return EventStreamResponse(stream)


def _version(last_event_id: str | None) -> int | None:
    # Our ids are versions; anything else (another server's id, garbage) means "from the start".
    value = (last_event_id or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None
