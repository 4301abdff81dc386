"""Which secret signs and checks development tokens, said where a developer looks for it.

`python -m app token` in one folder and a server started in another each use their own data
folder's generated secret, and the server then answers only "token signature is invalid". So
the command says on stderr which secret it signed with, and a development server's 401 for a
bad signature says which secret it checks with. Production never loads this module: its 401
names nothing of its configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import jwt

from app.auth.tokens import Principal, TokenVerifier
from app.dev.embedded import SECRET_FILE
from app.platform.errors import Unauthenticated
from app.settings import DEV_JWT_SECRET

if TYPE_CHECKING:
    from app.settings import Settings


def signing_secret_source(settings: Settings, *, embedded: bool) -> str:
    """Where the tokens of ``settings`` get their signature checked, naming a file or a setting,
    never a value. ``embedded``: development mode generated the secret in the data folder."""
    if embedded:
        return f"the development secret in {Path(settings.data_dir).resolve() / SECRET_FILE}"
    if settings.auth_jwt_secret is None:
        return "the identity provider's keys at BFF_AUTH_JWKS_URL"
    if settings.auth_jwt_secret.get_secret_value() == DEV_JWT_SECRET:
        return "BFF_AUTH_JWT_SECRET (the development secret published in app/settings.py)"
    return "BFF_AUTH_JWT_SECRET"


def signature_hint(settings: Settings, *, embedded: bool) -> str:
    """What a development server adds to its 401 for a token signed with another secret."""
    source = signing_secret_source(settings, embedded=embedded)
    if embedded:
        how = "run `python -m app token` with the same BFF_DATA_DIR"
    elif settings.auth_jwt_secret is None:
        how = "sign with the identity provider"
    else:
        how = "run `python -m app token` with the same BFF_AUTH_JWT_SECRET"
    return f"this server checks signatures with {source}; {how} (it says which secret it used)"


class HintingTokenVerifier(TokenVerifier):
    """The verifier, whose refusal of a bad signature says which secret the server checks with."""

    hint = ""

    async def verify(self, token: str) -> Principal:
        try:
            return await super().verify(token)
        except Unauthenticated as exc:
            # The verifier raises its refusal while handling PyJWT's error, which stays its
            # context: a signature made with another secret, not any other refusal.
            if not isinstance(exc.__context__, jwt.InvalidSignatureError):
                raise
            raise Unauthenticated(f"{exc.detail}: {self.hint}") from None


def development_verifier(settings: Settings, *, embedded: bool) -> TokenVerifier:
    """The development server's verifier: as production's, with the hint on a bad signature."""
    verifier = HintingTokenVerifier.from_settings(settings)
    assert isinstance(verifier, HintingTokenVerifier)  # from_settings builds its own class
    verifier.hint = signature_hint(settings, embedded=embedded)
    return verifier
