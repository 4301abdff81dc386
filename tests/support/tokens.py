"""A storefront user's credentials, as the tests' clients send them."""

from __future__ import annotations

from typing import Any

from app.auth.tokens import mint_token
from app.settings import Settings


def bearer(user: str, settings: Settings | None = None, **claims: Any) -> dict[str, str]:
    """Authorization headers for `user`, signed with `settings`' secret (the suite's, which its
    servers started as subprocesses share, when left out); `claims`: mint_token's keywords."""
    token = mint_token(settings or Settings(), user, **claims)
    return {"Authorization": f"Bearer {token}"}
