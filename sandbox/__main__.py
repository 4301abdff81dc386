"""`python -m sandbox --port N [--host H] [--auto-advance SECONDS]`: serve the sandbox.

Every option also has a SANDBOX_* environment variable (see `config.py`); an option given on
the command line wins.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from sandbox.app import create_sandbox_app
from sandbox.config import SandboxConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--slot-capacity", type=int, default=None)
    parser.add_argument("--token-ttl-seconds", type=int, default=None)
    parser.add_argument(
        "--auto-advance",
        type=float,
        default=None,
        metavar="SECONDS",
        help="move every unfinished order one step along its workflow every SECONDS",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    # one line per callback request is enough: sandbox.callback.* already says what happened
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    config = SandboxConfig.from_env(
        seed=args.seed,
        slot_capacity=args.slot_capacity,
        token_ttl_seconds=args.token_ttl_seconds,
        auto_advance_seconds=args.auto_advance,
    )
    uvicorn.run(
        create_sandbox_app(config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=2,
        # off: access lines would carry query strings; the sandbox logs each call itself
        access_log=False,
    )


if __name__ == "__main__":
    main()
