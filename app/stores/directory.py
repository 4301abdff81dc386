"""What the service knows of the retailer's stores: which ids exist, and each store's time zone.

Instacart has no operation that lists a retailer's stores or reads one by id, so there are
two sources. The retailer's own store list (``BFF_STORES_FILE``; development mode passes the
embedded sandbox's) is authoritative: an id outside it is answered 404 with no upstream call.
Without one, the stores Instacart finds near customers teach the service their zones (kept in
Redis, so that every replica knows a store another replica found), and Instacart's "no such
store" is remembered for ``BFF_UNKNOWN_STORE_CACHE_SECONDS``, so that a client repeating an
unknown id does not cost a call each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT

from app.orders.vocabulary import Fulfillment
from app.platform.errors import AppError, FulfillmentNotOffered, StoreNotFound
from app.platform.problems import plain_sentence
from app.stores.schemas import Store, StoreAddress
from app.stores.time_zones import is_zone, zone_for_address

log = structlog.get_logger("app.stores.directory")

# How long a replica trusts what it last read from Redis about a store (no refusal remembered,
# no zone learnt), and how many stores it keeps so. A reservation asked Redis both on every
# call; a refusal or a zone another replica stores now reaches this one up to a second later,
# which costs at most one more upstream call per store. Ids come from clients: hence the bound.
MEMO_SECONDS = 1.0
MEMO_ENTRIES = 4096


class ListedStore(BaseModel):
    """One store of the retailer's list; other fields (the sandbox's catalogue has some) are
    ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: str | None = None
    address: StoreAddress | None = None
    # Stated outright where the address would mislead (a store near a zone's border).
    time_zone: str | None = None
    # None: the list does not say, and Instacart is asked.
    fulfillment_types: frozenset[Fulfillment] | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and not is_zone(value):
            raise ValueError(f"{value!r} is not an IANA time zone")
        return value


class StoreList(BaseModel):
    """The file's shape: ``{"stores": [...]}``, as the sandbox's ``GET /sandbox/catalog``."""

    model_config = ConfigDict(extra="ignore")

    stores: list[ListedStore]


def read_store_list(path: Path) -> dict[str, ListedStore]:
    """The retailer's stores by id, from a JSON file; raises ValueError naming what is wrong."""
    try:
        listed = StoreList.model_validate_json(Path(path).read_bytes())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        message = plain_sentence(str(first["msg"]))
        raise ValueError(f"BFF_STORES_FILE {path}: {where}: {message}") from exc
    except OSError as exc:
        raise ValueError(f"BFF_STORES_FILE {path}: {exc.strerror}") from exc
    return {store.id: store for store in listed.stores}


def _zone_of(store: ListedStore | Store) -> str | None:
    if isinstance(store, ListedStore) and store.time_zone:
        return store.time_zone
    address = store.address
    return zone_for_address(address.state, address.postal_code) if address else None


class StoreDirectory:
    """Zones and existence of stores, from the list when there is one, else as learned."""

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        listed: Mapping[str, ListedStore] | None,
        unknown_store_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.monotonic = monotonic
        # key -> (what Redis said, until when this replica believes it)
        self._memo: dict[str, tuple[str | None, float]] = {}
        self.listed = dict(listed) if listed is not None else None
        self.unknown_store_ms = int(unknown_store_seconds * 1000)
        self._zones_key = f"{namespace}:stores:zones"
        self._missing_prefix = f"{namespace}:stores:missing:"
        # Zones of listed stores, then of stores Instacart has shown this process. Only
        # Instacart's answers add to it, so clients cannot grow it.
        self._zones: dict[str, str] = {
            store_id: zone
            for store_id, store in (self.listed or {}).items()
            if (zone := _zone_of(store)) is not None
        }

    def zone_for(self, store: Store) -> str | None:
        """A store's zone as Instacart showed it: the list's word first, then its address."""
        listed = self.listed.get(store.id) if self.listed is not None else None
        return _zone_of(listed or store)

    async def learn(self, stores: Iterable[Store]) -> None:
        """Remember the zones of stores Instacart has just shown (``zone_for`` each), for
        every replica."""
        fresh: dict[EncodableT, EncodableT] = {
            store.id: store.time_zone
            for store in stores
            if store.time_zone and self._zones.get(store.id) != store.time_zone
        }
        if not fresh:
            return
        self._zones.update({str(k): str(v) for k, v in fresh.items()})
        try:
            await self.redis.hset(self._zones_key, mapping=fresh)
        except (RedisError, OSError) as exc:
            # Only a zone another replica may lack for a while: never a reason to fail a search.
            log.warning("stores.zones_not_shared", error=type(exc).__name__)

    async def time_zone(self, store_id: str) -> str | None:
        """The store's IANA zone, or None when nothing says (no list, never seen)."""
        if (zone := self._zones.get(store_id)) is not None or self.listed is not None:
            return zone
        memo_key = f"zone:{store_id}"
        if self._recalled(memo_key):
            return None  # no zone in Redis a moment ago
        try:
            shared = await self.redis.hget(self._zones_key, store_id)
        except (RedisError, OSError):
            return None
        if shared is None:
            self._recall(memo_key, None)
            return None
        zone = shared.decode() if isinstance(shared, bytes) else str(shared)
        self._zones[store_id] = zone
        return zone

    def check_listed(self, store_id: str, fulfillment: str) -> None:
        """Refuse an id the retailer's list lacks, or a fulfillment it says the store lacks;
        without a list, nothing is refused here."""
        if self.listed is None:
            return
        store = self.listed.get(store_id)
        if store is None:
            raise store_not_found(store_id)
        if store.fulfillment_types is not None and fulfillment not in store.fulfillment_types:
            raise fulfillment_not_offered(store_id, fulfillment)

    async def check_remembered(self, store_id: str, fulfillment: str) -> None:
        """Refuse again what Instacart refused lately for this store and fulfillment."""
        if self.listed is not None or not self.unknown_store_ms:
            return
        key = self._missing_key(store_id, fulfillment)
        memo = self._memo.get(key)
        if memo is not None and memo[1] > self.monotonic():
            code: object = memo[0]
        else:
            try:
                code = await self.redis.get(key)
            except (RedisError, OSError):
                return  # Instacart will say it again
            code = code.decode() if isinstance(code, bytes) else code
            self._recall(key, None if code is None else str(code))
        if code is None:
            return
        if code == FulfillmentNotOffered.code:
            raise fulfillment_not_offered(store_id, fulfillment)
        raise store_not_found(store_id)

    async def remember_refusal(self, store_id: str, fulfillment: str, error: AppError) -> None:
        """Keep Instacart's "no such store" (or "not for this fulfillment") briefly."""
        if self.listed is not None or not self.unknown_store_ms:
            return
        key = self._missing_key(store_id, fulfillment)
        self._recall(key, error.code, min(MEMO_SECONDS, self.unknown_store_ms / 1000))
        try:
            await self.redis.set(key, error.code, px=self.unknown_store_ms)
        except (RedisError, OSError) as exc:
            log.warning("stores.refusal_not_remembered", error=type(exc).__name__)

    def _recalled(self, key: str) -> bool:
        memo = self._memo.get(key)
        return memo is not None and memo[1] > self.monotonic()

    def _recall(self, key: str, value: str | None, seconds: float = MEMO_SECONDS) -> None:
        if len(self._memo) >= MEMO_ENTRIES:
            self._memo.clear()  # many stores at once: start over rather than grow
        self._memo[key] = (value, self.monotonic() + seconds)

    def _missing_key(self, store_id: str, fulfillment: str) -> str:
        return f"{self._missing_prefix}{fulfillment}:{store_id}"


def store_not_found(store_id: str) -> StoreNotFound:
    return StoreNotFound(
        f"There is no store with the id {store_id!r}: take one from GET /v1/stores.",
        param="store_id",
    )


def fulfillment_not_offered(store_id: str, fulfillment: str) -> FulfillmentNotOffered:
    return FulfillmentNotOffered(
        f"The store {store_id!r} does not offer {fulfillment}: choose another fulfillment or "
        "another store.",
        param="fulfillment",
    )
