"""Requests no client should send: made-up methods, paths, store ids and headers, for the tests
that prove what a client can influence (metric labels, memory) stays bounded."""

from __future__ import annotations

import random
import string


def _junk(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits, k=length))


def junk_request(rng: random.Random) -> tuple[str, str, dict[str, str]]:
    """(method, path, headers): a standard method or a made-up one, on a path no route has, an
    unknown store or order, or nonsense under /v1, with made-up headers and request id."""
    method = rng.choice(["GET", "POST", "DELETE", _junk(rng, rng.randint(3, 9)).upper()])
    path = rng.choice(
        [
            f"/{_junk(rng, 12)}",
            f"/v1/stores/{_junk(rng, 10)}/slots",
            f"/v1/orders/{_junk(rng, 16)}",
            f"/v1/{_junk(rng, 5)}/{_junk(rng, 5)}",
        ]
    )
    headers = {f"x-{_junk(rng, 6)}": _junk(rng, 20), "x-request-id": _junk(rng, 30)}
    return method, path, headers
