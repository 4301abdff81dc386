"""The Instacart Connect adapter: typed client, shared token, per-operation policy, errors."""

from app.instacart.access_token import RefreshPolicy
from app.instacart.client import InstacartClient
from app.instacart.errors import (
    CircuitOpenError,
    InstacartAuthError,
    InstacartBadRequest,
    InstacartCredentialsRejected,
    InstacartError,
    InstacartForbidden,
    InstacartInvalidResponse,
    InstacartNotFound,
    InstacartRateLimited,
    InstacartServerError,
    InstacartTimeout,
    InstacartUnavailable,
)
from app.instacart.models import (
    Address,
    Cart,
    CartItem,
    CreateOrderRequest,
    FindStoresRequest,
    FulfillmentType,
    OrderItem,
    PreviewServiceOptionsRequest,
    ReserveTimeSlotRequest,
    ServiceOption,
    ServiceOptionHold,
    Store,
    TokenResponse,
    UpstreamOrder,
)
from app.instacart.policy import Backoff, BreakerConfig, OperationPolicy, RetryOn
from app.instacart.pools import USER_AGENT
from app.instacart.tokens import TokenProvider

__all__ = [
    "USER_AGENT",
    "Address",
    "Backoff",
    "BreakerConfig",
    "Cart",
    "CartItem",
    "CircuitOpenError",
    "CreateOrderRequest",
    "FindStoresRequest",
    "FulfillmentType",
    "InstacartAuthError",
    "InstacartBadRequest",
    "InstacartClient",
    "InstacartCredentialsRejected",
    "InstacartError",
    "InstacartForbidden",
    "InstacartInvalidResponse",
    "InstacartNotFound",
    "InstacartRateLimited",
    "InstacartServerError",
    "InstacartTimeout",
    "InstacartUnavailable",
    "OperationPolicy",
    "OrderItem",
    "PreviewServiceOptionsRequest",
    "RefreshPolicy",
    "ReserveTimeSlotRequest",
    "RetryOn",
    "ServiceOption",
    "ServiceOptionHold",
    "Store",
    "TokenProvider",
    "TokenResponse",
    "UpstreamOrder",
]
