"""Command line of the service.

python -m app [serve] [--host H] [--port N]    run the HTTP service
python -m app token --user alice [--staff]     print a signed development token (with no
                                               auth settings: the data folder's secret, the
                                               one a server in this directory accepts)
python -m app reconcile                        finish placements left pending or unknown
python -m app openapi > openapi/bff.json       print the OpenAPI document (as committed)
python -m app errors > docs/errors.md          print the error catalogue (as committed)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    serve_parser = sub.add_parser("serve", help="run the HTTP service (the default)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    # SUPPRESS: given after "serve" they count; left out, the top-level values stand.
    serve_parser.add_argument("--host", default=argparse.SUPPRESS)
    serve_parser.add_argument("--port", type=int, default=argparse.SUPPRESS)
    token = sub.add_parser(
        "token",
        help="print an HS256 token signed with BFF_AUTH_JWT_SECRET (unset: the development "
        "secret in BFF_DATA_DIR)",
    )
    token.add_argument("--user", required=True, help="the user id (the token's sub)")
    token.add_argument("--staff", action="store_true", help="add the staff role")
    token.add_argument(
        "--store", action="append", default=[], help="a store the staff member acts for"
    )
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    sub.add_parser("reconcile", help="resolve pending/unknown placements once, then exit")
    sub.add_parser("openapi", help="print the OpenAPI document, as committed in openapi/bff.json")
    sub.add_parser("errors", help="print the error catalogue, as committed in docs/errors.md")
    args = parser.parse_args(argv)

    if args.command in (None, "serve"):
        from app.serve import StartupError, serve

        try:
            serve(args.host, args.port)
        except StartupError as exc:
            print(f"python -m app serve: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "token":
        return _print_token(args)
    if args.command == "reconcile":
        from app.settings import SettingsError, load_settings

        try:
            settings = load_settings()
        except SettingsError as exc:
            print(f"python -m app reconcile: {exc}", file=sys.stderr)
            return 1
        if settings.instacart_base_url is None:
            print(
                "python -m app reconcile: BFF_INSTACART_BASE_URL is not set; the embedded "
                "sandbox lives inside the server, whose own reconciler already runs",
                file=sys.stderr,
            )
            return 2
        summary = asyncio.run(_reconcile_once(settings))
        print(summary)
        return 0
    if args.command == "openapi":
        from app.main import create_app
        from app.platform.problem_docs import openapi_text
        from app.settings import Settings

        # The document is the same in every environment; development's needs no configuration.
        sys.stdout.write(openapi_text(create_app(Settings(environment="development")).openapi()))
        return 0
    if args.command == "errors":
        from app.platform.error_catalogue import catalogue_markdown

        sys.stdout.write(catalogue_markdown())
        return 0
    parser.print_help()
    return 2


def _print_token(args: argparse.Namespace) -> int:
    """A signed development token on stdout; on stderr, which secret signed it, so that a
    developer whose server answers "signature is invalid" sees that the two differ."""
    from pydantic import SecretStr

    from app.auth.tokens import AuthConfigError, mint_token
    from app.dev.embedded import SECRET_FILE, EmbeddedParts, development_secret
    from app.dev.token_signing import signing_secret_source
    from app.settings import Settings

    # A development tool: unless BFF_ENVIRONMENT says otherwise, the settings of a server that
    # scripts/run started in this directory. Production refuses to mint.
    environment = os.environ.get("BFF_ENVIRONMENT", "development")
    if environment not in ("development", "test"):
        print("python -m app token: refused outside development and test", file=sys.stderr)
        return 2
    settings = Settings(environment="test" if environment == "test" else "development")
    if "BFF_ENVIRONMENT" not in os.environ and not settings.uses_development_secret:
        # Development by default only with development's own secret: a forgotten variable
        # beside a real secret must not mint tokens for any user.
        print(
            "python -m app token: refused: tokens signed with a configured secret are "
            "minted only where BFF_ENVIRONMENT says development or test",
            file=sys.stderr,
        )
        return 2
    parts = EmbeddedParts.of(settings)
    created = False
    if parts.auth:  # what a server started in this directory verifies tokens with
        created = not (parts.data_dir / SECRET_FILE).exists()
        settings.auth_jwt_secret = SecretStr(development_secret(parts.data_dir))
    try:
        token = mint_token(
            settings, args.user, staff=args.staff, stores=args.store, ttl_seconds=args.ttl
        )
    except (AuthConfigError, ValueError) as exc:
        print(f"python -m app token: {exc}", file=sys.stderr)
        return 2
    print(token)
    source = signing_secret_source(settings, embedded=parts.auth)
    if not parts.auth and settings.auth_jwt_secret is not None:
        source += " from the environment" if "BFF_AUTH_JWT_SECRET" in os.environ else " from .env"
    print(f"python -m app token: signed with {source}", file=sys.stderr)
    if created:
        print(
            "python -m app token: that secret is new: no server has used this data folder yet, "
            "so a server running with another BFF_DATA_DIR (or in another directory) refuses "
            "this token; run this command with the server's BFF_DATA_DIR",
            file=sys.stderr,
        )
    return 0


async def _reconcile_once(settings: Settings) -> object:
    """One reconciler round with this process's own resources, closed afterwards."""
    from app.lifespan import (
        build_instacart_client,
        build_reconciler,
        development_mode,
        open_engine,
        open_redis,
    )
    from app.platform.database.session import build_sessionmaker

    dev = await development_mode(settings)  # the SQLite file, if embedded
    settings = dev.settings if dev is not None else settings
    redis = open_redis(settings, dev)
    engine = open_engine(settings, dev)
    client = build_instacart_client(settings, redis)
    try:
        reconciler = build_reconciler(settings, client, build_sessionmaker(engine), redis)
        return await reconciler.run_once()
    finally:
        await client.aclose()
        await engine.dispose()
        await redis.aclose()


if __name__ == "__main__":
    sys.exit(main())
