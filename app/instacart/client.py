"""The Instacart Connect client: one typed async method per upstream operation.

Free of FastAPI, of slot cache keys and of Postgres. Build it once per process (in the app's
lifespan) and share it; it holds two connection pools (pools.py), so that slow order creation
can never starve store searches and slot previews. How a call is attempted lives in calls.py,
the bearer token in auth.py and tokens.py; this module is the operations themselves, one short
method for each of the fourteen, which is why it runs past 300 lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import SecretStr

from app.instacart.access_token import RefreshPolicy
from app.instacart.auth import BearerTokenAuth
from app.instacart.calls import UpstreamCall
from app.instacart.models import (
    CreateOrderRequest,
    FindStoresRequest,
    FulfillmentType,
    PreviewServiceOptionsRequest,
    ReserveTimeSlotRequest,
    ServiceOption,
    ServiceOptionHold,
    ServiceOptionsResponse,
    Store,
    StoresResponse,
    TokenRequest,
    TokenResponse,
    UpstreamOrder,
    _Request,
)
from app.instacart.policy import (
    Backoff,
    BreakerConfig,
    CircuitBreaker,
    OperationPolicy,
    build_policies,
)
from app.instacart.pools import USER_AGENT, ConnectionPools
from app.instacart.tokens import TokenProvider
from app.platform.metrics import UPSTREAM_IN_FLIGHT, UPSTREAM_POOL_SIZE

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from app.settings import Settings

T = TypeVar("T")

_STORE_PATHS: Mapping[str, tuple[str, str]] = {
    "delivery": ("findDeliveryStores", "/v2/fulfillment/stores/delivery"),
    "pickup": ("findPickupStores", "/v2/fulfillment/stores/pickup"),
    "last_mile": ("findLastMileStores", "/v2/fulfillment/stores/last_mile"),
}


def _seg(value: str) -> str:
    """One path segment: ids come from users and must not add segments or a query."""
    return quote(value, safe="")


class InstacartClient:
    """Async client for Instacart Connect Fulfillment v2, with shared token, retries, breaker."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: SecretStr | str,
        scope: str = "connect:fulfillment",
        redis: aioredis.Redis | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
        max_connections: int = 50,
        create_max_connections: int = 20,
        policies: Mapping[str, OperationPolicy] | None = None,
        breaker: BreakerConfig | None = None,
        backoff: Backoff | None = None,
        token_key_prefix: str = "bff:instacart:token",  # noqa: S107
        token_refresh: RefreshPolicy | None = None,
        user_agent: str = USER_AGENT,
        token_clock: Callable[[], float] = time.time,
        breaker_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_id = client_id
        self._client_secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        self._scope = scope
        self._pools = ConnectionPools.open(
            base_url,
            transport=transport,
            timeout=timeout,
            max_connections=max_connections,
            create_max_connections=create_max_connections,
            user_agent=user_agent,
        )
        self._http = self._pools.default
        self._create_http = self._pools.create
        self._policies = build_policies(policies)
        breaker_config = breaker or BreakerConfig()
        self.breakers: dict[str, CircuitBreaker] = {
            name: CircuitBreaker(name, breaker_config, clock=breaker_clock)
            for name in sorted({p.operation_class for p in self._policies.values()})
        }
        self._backoff = backoff or Backoff()
        self.tokens = TokenProvider(
            self.generate_access_token,
            redis,
            client_id=client_id,
            key_prefix=token_key_prefix,
            refresh=token_refresh,
            # Other replicas wait for this one's token request as long as it may take.
            fetch_deadline_seconds=self._policies["generateAccessToken"].deadline_seconds,
            clock=token_clock,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        redis: aioredis.Redis | None,
        transport: httpx.AsyncBaseTransport | None = None,
        **overrides: Any,
    ) -> InstacartClient:
        """The client as configured by ``Settings``; keyword overrides go to the constructor."""
        timeout = httpx.Timeout(
            connect=settings.instacart_connect_timeout_seconds,
            read=settings.instacart_read_timeout_seconds,
            write=settings.instacart_read_timeout_seconds,
            # Beyond capacity, a short bounded wait and then a 503, never a silent queue.
            pool=settings.instacart_pool_wait_seconds,
        )
        read_connections = settings.instacart_max_read_connections
        create_connections = settings.create_pool_size()
        UPSTREAM_POOL_SIZE.labels("default").set(read_connections)
        UPSTREAM_POOL_SIZE.labels("create").set(create_connections)
        kwargs: dict[str, Any] = {
            "base_url": str(settings.instacart_base_url),
            "client_id": settings.instacart_client_id,
            "client_secret": settings.instacart_client_secret,
            "scope": settings.instacart_scope,
            "redis": redis,
            "transport": transport,
            "timeout": timeout,
            "token_key_prefix": f"{settings.cache_namespace}:instacart:token",
            "max_connections": read_connections,
            "create_max_connections": create_connections,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    async def aclose(self) -> None:
        if isinstance(self.tokens, TokenProvider):  # benchmarks substitute a bare token source
            await self.tokens.aclose()
        await self._pools.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def http_clients(self) -> tuple[httpx.AsyncClient, ...]:
        """Every httpx client this holds (one per pool), e.g. to instrument them all."""
        return self._pools.clients

    def policy(self, operation: str) -> OperationPolicy:
        return self._policies[operation]

    # --- authentication ---

    async def generate_access_token(self) -> TokenResponse:
        """generateAccessToken. Used by the token provider; other callers rarely need it."""
        body = TokenRequest(
            client_id=self._client_id,
            client_secret=self._client_secret.get_secret_value(),
            scope=self._scope,
        )
        return await self._call(
            "generateAccessToken",
            "POST",
            "/v2/oauth/token",
            body=body,
            parse=TokenResponse.model_validate_json,
            auth=False,
        )

    # --- stores ---

    async def find_stores(
        self, fulfillment: FulfillmentType, location: FindStoresRequest
    ) -> list[Store]:
        """findDeliveryStores / findPickupStores / findLastMileStores, closest store first."""
        operation, path = _STORE_PATHS[fulfillment]
        return await self._call(operation, "POST", path, body=location, parse=_parse_stores)

    async def find_delivery_stores(self, location: FindStoresRequest) -> list[Store]:
        return await self.find_stores("delivery", location)

    async def find_pickup_stores(self, location: FindStoresRequest) -> list[Store]:
        return await self.find_stores("pickup", location)

    async def find_last_mile_stores(self, location: FindStoresRequest) -> list[Store]:
        return await self.find_stores("last_mile", location)

    # --- time slots and holds ---

    async def preview_delivery_time_slots(
        self, user_id: str, request: PreviewServiceOptionsRequest
    ) -> list[ServiceOption]:
        """previewDeliveryTimeSlots: not binding, only a hold proves capacity."""
        return await self._call(
            "previewDeliveryTimeSlots",
            "POST",
            f"/v2/fulfillment/users/{_seg(user_id)}/service_options/delivery",
            body=request,
            parse=_parse_service_options,
        )

    async def preview_pickup_time_slots(
        self, user_id: str, request: PreviewServiceOptionsRequest
    ) -> list[ServiceOption]:
        """previewPickupTimeSlots."""
        return await self._call(
            "previewPickupTimeSlots",
            "POST",
            f"/v2/fulfillment/users/{_seg(user_id)}/service_options/pickup",
            body=request,
            parse=_parse_service_options,
        )

    async def preview_last_mile_service_options(
        self, user_id: str, request: PreviewServiceOptionsRequest
    ) -> list[ServiceOption]:
        """previewLastMileServiceOptions: previews *and holds*; each option id is a hold id."""
        return await self._call(
            "previewLastMileServiceOptions",
            "POST",
            f"/v2/fulfillment/lastmile/users/{_seg(user_id)}/service_options",
            body=request,
            parse=_parse_service_options,
        )

    async def reserve_delivery_time_slot(
        self, user_id: str, request: ReserveTimeSlotRequest
    ) -> ServiceOptionHold:
        """reserveDeliveryTimeSlot: a 10-minute hold that replaces the user's previous one."""
        return await self._call(
            "reserveDeliveryTimeSlot",
            "POST",
            f"/v2/fulfillment/users/{_seg(user_id)}/service_options/delivery/hold",
            body=request,
            parse=ServiceOptionHold.model_validate_json,
        )

    async def reserve_pickup_time_slot(
        self, user_id: str, request: ReserveTimeSlotRequest
    ) -> ServiceOptionHold:
        """reservePickupTimeSlot (extension): shaped like the delivery hold."""
        return await self._call(
            "reservePickupTimeSlot",
            "POST",
            f"/v2/fulfillment/users/{_seg(user_id)}/service_options/pickup/hold",
            body=request,
            parse=ServiceOptionHold.model_validate_json,
        )

    # --- orders ---

    async def create_delivery_order(
        self, user_id: str, request: CreateOrderRequest
    ) -> UpstreamOrder:
        """createDeliveryOrder. Never retried: resolve an ambiguous failure with ``get_order``."""
        return await self._call(
            "createDeliveryOrder",
            "POST",
            f"/v2/fulfillment/users/{_seg(user_id)}/orders/delivery",
            body=request,
            parse=UpstreamOrder.model_validate_json,
        )

    async def create_pickup_order(self, user_id: str, request: CreateOrderRequest) -> UpstreamOrder:
        """createPickupOrder. Never retried."""
        return await self._call(
            "createPickupOrder",
            "POST",
            f"/v2/fulfillment/users/{_seg(user_id)}/orders/pickup",
            body=request,
            parse=UpstreamOrder.model_validate_json,
        )

    async def create_last_mile_order(
        self, user_id: str, request: CreateOrderRequest
    ) -> UpstreamOrder:
        """createLastMileOrder (``hold_id`` is a service option id from the last-mile preview)."""
        return await self._call(
            "createLastMileOrder",
            "POST",
            f"/v2/fulfillment/lastmile/users/{_seg(user_id)}/orders",
            body=request,
            parse=UpstreamOrder.model_validate_json,
        )

    async def get_order(self, user_id: str, order_id: str) -> UpstreamOrder:
        """getOrder, by the retailer order id given at creation."""
        return await self._call(
            "getOrder",
            "GET",
            f"/v2/fulfillment/users/{_seg(user_id)}/orders/{_seg(order_id)}",
            parse=UpstreamOrder.model_validate_json,
        )

    async def cancel_order(self, user_id: str, order_id: str) -> UpstreamOrder:
        """cancelOrder: only in status brand_new, else ``InstacartBadRequest``."""
        return await self._call(
            "cancelOrder",
            "POST",
            f"/v2/fulfillment/users/{_seg(user_id)}/orders/{_seg(order_id)}/cancel",
            parse=UpstreamOrder.model_validate_json,
        )

    async def stage_last_mile_order(self, order_id: str) -> UpstreamOrder:
        """stageLastMileOrder: the pre-packed order is ready for the driver."""
        return await self._call(
            "stageLastMileOrder",
            "POST",
            f"/v2/fulfillment/lastmile/orders/{_seg(order_id)}/staged",
            parse=UpstreamOrder.model_validate_json,
        )

    # --- the call machinery ---

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        parse: Callable[[bytes], T],
        body: _Request | None = None,
        auth: bool = True,
    ) -> T:
        policy = self._policies[operation]
        call = UpstreamCall(operation, policy, self.breakers[policy.operation_class], self._backoff)
        http = self._pools.for_pool(policy.pool)
        content = orjson.dumps(body.to_json_dict()) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        # One per call: a token is refreshed at most once per call, whatever the attempts.
        bearer = BearerTokenAuth(self.tokens, call) if auth else None

        async def send(call: UpstreamCall) -> httpx.Response:
            with UPSTREAM_IN_FLIGHT.labels(policy.pool).track_inprogress():
                if bearer is None:
                    call.sending()
                    return await http.request(method, path, content=content, headers=headers)
                return await http.request(
                    method, path, content=content, headers=headers, auth=bearer
                )

        return await call.run(
            send, parse, token_refreshed=lambda: bearer is not None and bearer.refreshed
        )


def _parse_stores(content: bytes) -> list[Store]:
    return StoresResponse.model_validate_json(content).stores


def _parse_service_options(content: bytes) -> list[ServiceOption]:
    return ServiceOptionsResponse.model_validate_json(content).service_options
