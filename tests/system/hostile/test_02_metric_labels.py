"""Finding 2: anyone could grow /metrics without bound. 5,000 requests like `AAAA /v1/orders`
grew the series from 335 to 5,335, the scrape from 81 KB to 9 MB and the process by 16 MB.

Here thousands of made-up methods, paths, store ids and headers, with and without a valid
token, change neither the number of series, nor the scrape's size, nor the process's memory
beyond noise. (tests/platform_layer/test_bounded_labels.py holds the same rule in-process.)
"""

from __future__ import annotations

import asyncio
import random

import httpx

from tests.support.junk_requests import junk_request
from tests.system.hostile.target import Target

WARM_UP = 600  # every closed-set combination this traffic can reach, a few times over
REQUESTS = 5000
# The process before the fix grew 16 MB for 5,000 such requests; allocator noise is far less.
MEMORY_SLACK_BYTES = 4 * 1024 * 1024


def _series(scrape: str) -> int:
    return sum(1 for line in scrape.splitlines() if line and not line.startswith("#"))


async def _flood(target: Target, rng: random.Random, count: int, bearer: dict[str, str]) -> None:
    async with target.async_client() as bff:

        async def one() -> None:
            method, path, headers = junk_request(rng)
            if rng.random() < 0.5:
                headers |= bearer
            answer = await bff.request(method, path, headers=headers)
            assert answer.status_code < 500, (method, path, answer.status_code)

        for start in range(0, count, 50):
            await asyncio.gather(*(one() for _ in range(min(50, count - start))))


async def test_junk_methods_paths_and_headers_grow_no_series_and_no_memory(
    target: Target,
) -> None:
    rng = random.Random(14)  # a recorded seed: a failure replays
    bearer = target.idp.bearer("label-flooder")
    await _flood(target, rng, WARM_UP, bearer)
    before = target.scrape()
    memory = target.sample("process_resident_memory_bytes")

    await _flood(target, rng, REQUESTS, bearer)
    after = target.scrape()
    assert _series(after) == _series(before)
    assert len(after) < len(before) * 1.05  # counts grow by digits; a series adds hundreds
    assert 'method="other"' in after and 'route="unmatched"' in after
    growth = target.sample("process_resident_memory_bytes") - memory
    assert growth < MEMORY_SLACK_BYTES, f"the process grew {growth / 2**20:.1f} MB"


def test_a_made_up_method_is_405_with_allow(target: Target) -> None:
    answer = httpx.request("AAAA", f"{target.url}/v1/orders", timeout=10)
    assert answer.status_code == 405
    assert set(answer.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
