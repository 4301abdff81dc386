"""Shared Redis cache of ready-to-send JSON bodies: get-or-load with single-flight.

A value is the exact response body (JSON bytes) plus its ETag, so a hit is served without
parsing or re-serialising anything. Three tiers, cheapest first:

1. a tiny in-process tier (a second or two) that absorbs hot keys without a Redis round trip;
2. Redis, shared by every replica, holding each value for its TTL plus a bounded stale window;
   a value read there past its refresh point (``refresh_at`` of its TTL) is answered at once
   and refreshed in the background, so a key asked for at least once per TTL never expires
   and none of its callers waits on the loader once it is warm; a key nobody asks for is
   left to expire;
3. the loader (the upstream call), run once per key at a time across the whole fleet: one
   task per key for callers in this process and a Redis lock (redis-py's ``Lock``) for the
   other replicas, whose callers wait for the key to be filled instead of calling upstream.

Timing across replicas: the lock lives for the loader's deadline plus a margin, and waiters wait
for the lock's life plus another margin. So a slow upstream holds its lock until it answers or
gives up, and a replica that vanished mid-load leaves a lock that expires while the others are
still waiting; only then does one of them take over.

Invalidation wins over a load in flight: invalidating a group bumps its generation in Redis,
and a value loaded under an older generation is answered to its callers but never stored.

When Redis is down, the cache steps aside: callers go to the loader, still coalesced in-process
and under a concurrency cap, and never see an error because of the cache.

One module past the usual length: the tiers, the lock, refresh-ahead and the generation are one
protocol over the same Redis keys, and each part's correctness reads off the others'.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from app.platform.metrics import CACHE_REQUESTS

log = structlog.get_logger("app.platform.shared_cache")

Loader = Callable[[], Awaitable[bytes]]

# The lock outlives the load by this much: room to store the value and release the lock.
LOCK_MARGIN_SECONDS = 1.0
# Waiters outlive the lock by this much, so they never give up while a live holder may still
# answer; giving up together when the holder's deadline ends made the whole fleet call upstream.
WAIT_MARGIN_SECONDS = 1.0
# How often a waiting replica retries the lock (one SET NX per try).
LOCK_POLL_SECONDS = 0.02
# A group's generation outlives any load that read it (loads end within their deadline), so
# it never expires under a load and comes back at the value that load read.
GENERATION_SECONDS = 3600
# How a caller was served when it waited on a load (its own, or one it joined).
LOADED = frozenset({"miss", "bypass"})

# True inside a background refresh: its loader runs for no caller in particular.
_refreshing_in_background: ContextVar[bool] = ContextVar("refreshing_in_background", default=False)


def in_background_refresh() -> bool:
    """Whether the running loader refreshes a value in the background, no caller waiting."""
    return _refreshing_in_background.get()


# Stores a loaded value only if its group was not invalidated since the load began (KEYS: the
# value, the group's set of keys, the group's generation; ARGV: the generation the load read,
# body, etag, fresh_until, time to live in ms, the key as the group lists it).
_STORE_IF_CURRENT = """
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'etag', ARGV[3], 'fresh_until', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
"""

# Invalidating a group in one round trip (it was SMEMBERS, then a transaction): the generation
# moves first, so that a load in flight does not store what it read before; then the group's
# keys go, named from the set (ARGV[2] is the prefix of a member's key: they share the
# group's hash tag, so one slot). Returns the members, for the caller's local tier.
_INVALIDATE_GROUP = """
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local members = redis.call('SMEMBERS', KEYS[2])
for _, member in ipairs(members) do
  redis.call('DEL', ARGV[2] .. member)
end
redis.call('DEL', KEYS[2])
return members
"""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    body: bytes
    etag: str
    fresh_until: float


# An entry and how it was served.
Fetched = tuple[CacheEntry, str]


def etag_for(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class SharedCache:
    """One named cache (``stores``, ``slots``) over a shared Redis."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        *,
        ttl_seconds: float,
        namespace: str = "bff",
        stale_seconds: float = 0.0,
        refresh_at: float = 1.0,
        local_ttl_seconds: float = 1.0,
        local_max_entries: int = 4096,
        load_deadline_seconds: float = 5.0,
        bypass_concurrency: int = 16,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``load_deadline_seconds``: how long a loader may run unless ``get_or_load`` says.
        ``refresh_at``: the share of the TTL after which a hit refreshes ahead (1: never).
        ``clock`` is wall time: freshness is stored in Redis and compared by every replica."""
        self.redis = redis
        self.name = name
        self.prefix = f"{namespace}:cache:{name}:"
        self.ttl = ttl_seconds
        self.stale = stale_seconds
        # Seconds before its end of freshness from which a value read is refreshed ahead.
        self.refresh_ahead = max(0.0, 1.0 - refresh_at) * ttl_seconds
        self.local_ttl = local_ttl_seconds
        self.local_max = local_max_entries
        self.load_deadline = load_deadline_seconds
        self.clock = clock
        self._local: OrderedDict[str, tuple[CacheEntry, float]] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[Fetched]] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._bypass_slots = asyncio.Semaphore(bypass_concurrency)
        self._redis_down_logged_at = 0.0
        self._store_if_current = redis.register_script(_STORE_IF_CURRENT)
        self._invalidate_group = redis.register_script(_INVALIDATE_GROUP)
        self._counters = {
            result: CACHE_REQUESTS.labels(name, result)
            for result in ("hit", "miss", "stale", "coalesced", "bypass")
        }

    # --- keys -----------------------------------------------------------------------------

    # A grouped key and its group's set are written in one transaction and deleted together,
    # so both carry the group as a Redis Cluster hash tag: one slot, whatever the deployment.

    def _key(self, key: str, group: str | None = None) -> str:
        return self.prefix + key if group is None else f"{self.prefix}{{{group}}}:{key}"

    def _group_key(self, group: str) -> str:
        return f"{self.prefix}group:{{{group}}}"

    def _generation_key(self, group: str) -> str:
        return f"{self.prefix}gen:{{{group}}}"

    # --- reading --------------------------------------------------------------------------

    def peek(self, key: str) -> CacheEntry | None:
        """The in-process tier's entry for ``key`` if it is still good (counted as a hit), or
        None: an answer that costs no I/O and cannot fail, or no answer."""
        local = self._local.get(key)
        if local is None or local[1] <= self.clock():
            return None
        self._counters["hit"].inc()
        return local[0]

    async def get_or_load(
        self,
        key: str,
        loader: Loader,
        *,
        group: str | None = None,
        deadline_seconds: float | None = None,
        waited: Callable[[], object] | None = None,
    ) -> Fetched:
        """The cached body for ``key``, loading it at most once fleet-wide when missing.

        Returns the entry and how it was served: hit, stale, miss, coalesced or bypass.
        ``deadline_seconds`` is how long ``loader`` may take (default: the cache's).
        ``waited`` is called when this caller waited on a load (``loader``, or another
        caller's or replica's), successful or not.
        """
        local = self.peek(key)
        if local is not None:
            return local, "hit"

        task = self._inflight.get(key)
        coalesced = task is not None
        if task is None:
            deadline = self.load_deadline if deadline_seconds is None else deadline_seconds
            # A task rather than this caller's frame: when this caller is cancelled (its client
            # went away), the load still completes for every caller coalesced on it.
            task = asyncio.create_task(self._fetch(key, loader, group, deadline))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        try:
            entry, how = await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:
            if waited is not None:
                waited()  # a failed load: the caller waited on it all the same
            raise
        if waited is not None and how in LOADED:
            waited()
        if coalesced:
            self._counters["coalesced"].inc()
            return entry, "coalesced"
        return entry, how

    def _settle(self, key: str, task: asyncio.Task[Fetched]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if task.cancelled():
            return
        # Retrieved here as well: every caller may have gone away before the load ended.
        if task.exception() is None:
            self._counters[task.result()[1]].inc()

    async def _fetch(self, key: str, loader: Loader, group: str | None, deadline: float) -> Fetched:
        try:
            entry = await self._read(key, group)
            now = self.clock()
            # Redis drops a value after its stale window too; this keeps the window by our clock.
            if entry is not None and entry.fresh_until + self.stale <= now:
                entry = None
            if entry is not None:
                if entry.fresh_until > now:
                    self._remember(key, entry)
                    if entry.fresh_until - self.refresh_ahead <= now:
                        self._refresh_in_background(key, loader, group, deadline)
                    return entry, "hit"
                self._refresh_in_background(key, loader, group, deadline)
                return entry, "stale"
            entry = await self._load_once_fleetwide(key, loader, group, deadline)
            assert entry is not None  # only a refresh steps back without a value
            return entry, "miss"
        except (RedisError, OSError) as exc:
            self._note_redis_down(exc)
            async with self._bypass_slots:
                body = await loader()
            return CacheEntry(body, etag_for(body), self.clock() + self.ttl), "bypass"

    async def _read(self, key: str, group: str | None) -> CacheEntry | None:
        body, etag, fresh_until = await self.redis.hmget(
            self._key(key, group), ("body", "etag", "fresh_until")
        )
        if body is None or etag is None or fresh_until is None:
            return None
        # bytes: no client of this service sets decode_responses
        return CacheEntry(bytes(body), etag.decode(), float(fresh_until))  # type: ignore[arg-type,union-attr]

    async def _load_once_fleetwide(
        self,
        key: str,
        loader: Loader,
        group: str | None,
        deadline: float,
        *,
        refreshing: bool = False,
    ) -> CacheEntry | None:
        """Load under the fleet-wide lock, or wait for the replica that holds it.

        A background refresh (``refreshing``) just steps back when another replica holds the
        lock (that replica is refreshing the same key), or when the value it finds under the
        lock was refreshed meanwhile.
        """
        lock_seconds = deadline + LOCK_MARGIN_SECONDS
        lock = self.redis.lock(
            self._key(key, group) + ":lock",
            timeout=lock_seconds,
            sleep=LOCK_POLL_SECONDS,
            blocking_timeout=lock_seconds + WAIT_MARGIN_SECONDS,
            thread_local=False,  # one Lock object per load, used by one task
        )
        if not await lock.acquire(blocking=not refreshing):
            if refreshing:
                return None
            # Waited out a whole lock life and others still took it first: answer with what is
            # stored, even stale, or load for this caller rather than wait on.
            entry = await self._read(key, group)
            if entry is not None:
                self._remember(key, entry)
                return entry
            return await self._load_and_store(key, loader, group)
        try:
            # Double-checked: the holder we waited for has usually just stored the value.
            entry = await self._read(key, group)
            due = self.clock() + (self.refresh_ahead if refreshing else 0.0)
            if entry is not None and entry.fresh_until > due:
                self._remember(key, entry)
                return entry
            return await self._load_and_store(key, loader, group)
        finally:
            await self._release(lock)

    async def _release(self, lock: Lock) -> None:
        try:
            await lock.release()
        except LockError:
            # The load outran its deadline and lock: another replica may have loaded it too.
            log.warning("cache.lock_expired", cache=self.name)
        except (RedisError, OSError) as exc:
            self._note_redis_down(exc)  # the lock expires by itself; the value is still good

    async def _load_and_store(self, key: str, loader: Loader, group: str | None) -> CacheEntry:
        generation = None
        if group is not None:
            # bytes: no client of this service sets decode_responses
            generation = await self.redis.get(self._generation_key(group))
        body = await loader()
        entry = CacheEntry(body, etag_for(body), self.clock() + self.ttl)
        redis_key = self._key(key, group)
        ttl_ms = max(1, int((self.ttl + self.stale) * 1000))
        fresh_until = repr(entry.fresh_until)
        if group is None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    redis_key,
                    mapping={"body": body, "etag": entry.etag, "fresh_until": fresh_until},
                )
                pipe.pexpire(redis_key, ttl_ms)
                await pipe.execute()
        else:
            stored = await self._store_if_current(
                keys=[redis_key, self._group_key(group), self._generation_key(group)],
                args=[generation or b"0", body, entry.etag, fresh_until, ttl_ms, key],
            )
            if not stored:
                # Invalidated while loading: what was loaded may predate the change, and so may
                # what this process holds of the key.
                self._local.pop(key, None)
                return entry
        self._remember(key, entry)
        return entry

    def _refresh_in_background(
        self, key: str, loader: Loader, group: str | None, deadline: float
    ) -> None:
        if key in self._refreshing:
            return

        async def refresh() -> None:
            _refreshing_in_background.set(True)  # this task's own context
            try:
                await self._load_once_fleetwide(key, loader, group, deadline, refreshing=True)
            except Exception as exc:  # the stale value keeps serving; the next caller retries
                log.warning("cache.refresh_failed", cache=self.name, error=type(exc).__name__)

        task = asyncio.create_task(refresh())
        self._refreshing[key] = task
        task.add_done_callback(lambda _: self._refreshing.pop(key, None))

    def _remember(self, key: str, entry: CacheEntry) -> None:
        expires = min(self.clock() + self.local_ttl, entry.fresh_until)
        self._local[key] = (entry, expires)
        self._local.move_to_end(key)
        while len(self._local) > self.local_max:
            self._local.popitem(last=False)

    def _note_redis_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._redis_down_logged_at > 30:
            self._redis_down_logged_at = now
            log.warning("cache.redis_unavailable", cache=self.name, error=type(exc).__name__)

    # --- invalidation ---------------------------------------------------------------------

    async def invalidate_group(self, group: str) -> None:
        """Drops every key filled under ``group`` (say, all slot previews of one store)."""
        try:
            found = await self._invalidate_group(
                keys=[self._generation_key(group), self._group_key(group)],
                args=[GENERATION_SECONDS, self._key("", group)],
            )
            # bytes: no client of this service sets decode_responses
            members = [bytes(m).decode() for m in found]
        except (RedisError, OSError) as exc:
            self._note_redis_down(exc)
            members = []
        for member in members:
            self._local.pop(member, None)
        prefix = group + ":"
        for local_key in [k for k in self._local if k.startswith(prefix)]:
            self._local.pop(local_key, None)

    async def refreshes_done(self) -> None:
        """Returns once the background refreshes running now have ended (failed ones too)."""
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

    async def aclose(self) -> None:
        tasks = [*self._refreshing.values(), *self._inflight.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
