"""Annotated dependency aliases for the routers, and the small functions behind them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.tokens import Principal
from app.lifespan import state_of
from app.live_status.streams import OrderStreams
from app.live_status.tickets import StreamTickets
from app.platform.errors import Forbidden, Unauthenticated
from app.services import CheckoutServices

# auto_error=False: a missing header is our 401 problem (with WWW-Authenticate), not FastAPI's.
_bearer = HTTPBearer(auto_error=False, description="The end user's JWT from the retailer's IdP")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required")
    return await state_of(request.app).verifier.verify(credentials.credentials)


async def staff_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_staff:
        raise Forbidden("this route is for store staff")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
StaffDep = Annotated[Principal, Depends(staff_principal)]


async def checkout_services(request: Request) -> CheckoutServices:
    # async: FastAPI runs a plain def dependency in a worker thread, a costly hop per request.
    return state_of(request.app).checkout


CheckoutDep = Annotated[CheckoutServices, Depends(checkout_services)]


# The header itself, for the one route that also takes another credential (a stream ticket).
BearerCredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def order_streams(request: Request) -> OrderStreams:
    return state_of(request.app).order_streams


async def stream_tickets(request: Request) -> StreamTickets:
    return state_of(request.app).stream_tickets


OrderStreamsDep = Annotated[OrderStreams, Depends(order_streams)]
StreamTicketsDep = Annotated[StreamTickets, Depends(stream_tickets)]
