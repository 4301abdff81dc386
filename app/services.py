"""The checkout services, built once per process from its long-lived resources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.instacart.client import InstacartClient
from app.orders.events import OrderEvents
from app.orders.placement import PlacementService
from app.orders.service import OrderService
from app.platform.rate_limits import RateLimiter
from app.platform.shared_cache import SharedCache
from app.reservations.service import ReservationService, ReservationStore
from app.settings import Settings
from app.stores.directory import ListedStore, StoreDirectory
from app.stores.slot_catalog import SlotCatalog


@dataclass(frozen=True, slots=True)
class CheckoutServices:
    catalog: SlotCatalog
    reservations: ReservationService
    placement: PlacementService
    orders: OrderService
    events: OrderEvents

    async def aclose(self) -> None:
        await self.catalog.store_cache.aclose()
        await self.catalog.slot_cache.aclose()


def rate_limiter(redis: Redis, settings: Settings, action: str, per_minute: int) -> RateLimiter:
    """A per-user limit on one action, its keys in the deployment's namespace."""
    return RateLimiter(redis, action, per_minute, namespace=settings.cache_namespace)


def build_services(
    settings: Settings,
    *,
    redis: Redis,
    sessions: async_sessionmaker[AsyncSession],
    client: InstacartClient,
    store_list: Mapping[str, ListedStore] | None = None,
) -> CheckoutServices:
    """``store_list``: the retailer's stores, when known (``BFF_STORES_FILE``, or the embedded
    sandbox's)."""
    shared_cache = partial(
        SharedCache,
        redis,
        namespace=settings.cache_namespace,
        local_ttl_seconds=settings.slot_cache_local_seconds,
    )
    store_cache = shared_cache(
        "stores",
        ttl_seconds=settings.store_cache_ttl_seconds,
        stale_seconds=settings.store_cache_ttl_seconds,
    )
    slot_cache = shared_cache(
        "slots",
        ttl_seconds=settings.slot_cache_ttl_seconds,
        stale_seconds=settings.slot_cache_stale_seconds,
        refresh_at=settings.slot_cache_refresh_at,
    )
    directory = StoreDirectory(
        redis,
        namespace=settings.cache_namespace,
        listed=store_list,
        unknown_store_seconds=settings.unknown_store_cache_seconds,
    )
    catalog = SlotCatalog(
        client,
        store_cache,
        slot_cache,
        directory,
        miss_limiter=rate_limiter(
            redis, settings, "slot-previews", settings.rate_limit_slot_misses_per_minute
        ),
    )
    events = OrderEvents(redis, settings.cache_namespace)
    reservation_store = ReservationStore(sessions, settings.reservation_ttl_seconds)
    reservations = ReservationService(
        client,
        catalog,
        reservation_store,
        rate_limiter(redis, settings, "reservations", settings.rate_limit_reservations_per_minute),
    )
    placement = PlacementService(
        client=client,
        sessions=sessions,
        reservations=reservation_store,
        catalog=catalog,
        limiter=rate_limiter(redis, settings, "orders", settings.rate_limit_orders_per_minute),
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        idempotency_lock_seconds=settings.idempotency_lock_seconds,
        replay_wait_seconds=settings.idempotency_replay_wait_seconds,
        lease_seconds=settings.placement_lease_seconds,
        events=events,
    )
    orders = OrderService(
        client=client,
        sessions=sessions,
        refresh_after_seconds=settings.order_refresh_seconds,
        events=events,
    )
    return CheckoutServices(catalog, reservations, placement, orders, events)
