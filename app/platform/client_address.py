"""The address a request came from, as far as this service can trust it.

Behind an ingress every request arrives from the ingress's own address; the client's is the
last entry the ingress appended to ``X-Forwarded-For``. Entries before it were written by the
client and prove nothing, so only as many hops from the right as there are trusted proxies
(``BFF_FORWARDED_FOR_HOPS``) are read.
"""

from __future__ import annotations

from starlette.requests import Request

from app.settings import Settings


def client_address(request: Request, settings: Settings) -> str:
    peer = request.client.host if request.client is not None else "-"
    hops = settings.forwarded_for_hops
    if hops == 0:
        return peer
    forwarded = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
        if part.strip()
    ]
    return forwarded[-hops][:64] if len(forwarded) >= hops else peer
