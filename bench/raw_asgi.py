"""The ceiling of the slot benchmark: a raw ASGI callable answering constant bytes.

No framework, no Redis, nothing per request but the ASGI messages, served as the BFF is served
(``python -m app serve``: granian embedded in a uvloop event loop, HTTP/1.1 only, one process,
start-up frozen out of the collector). What Python can answer on this core, so the hot preview
is measured as a share of it.
    python -m bench.raw_asgi --port N
"""

from __future__ import annotations

import argparse
import gc
from typing import Any

import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels
from granian.server.embed import Server

from app.settings import Settings
from bench.bare_route import SLOTS_BODY

_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(SLOTS_BODY)).encode()),
    ],
}
_BODY = {"type": "http.response.body", "body": SLOTS_BODY}


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                gc.collect()
                gc.freeze()  # as app.serve does once its lifespan has started
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(_START)
    await send(_BODY)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()
    server = Server(
        app,
        address="127.0.0.1",
        port=args.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        log_level=LogLevels.warning,
        log_access=False,
        # As the BFF's defaults (BFF_SERVER_BACKLOG, BFF_SERVER_MAX_CONCURRENT_REQUESTS).
        backlog=Settings.model_fields["server_backlog"].default,
        backpressure=Settings.model_fields["server_max_concurrent_requests"].default,
    )
    uvloop.run(server.serve())


if __name__ == "__main__":
    main()
