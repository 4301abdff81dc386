"""Carts: the items of a hold or order request, named from the product catalog.

An item needs a `upc` or a `product_id`; one the catalog lacks is still accepted under a
generic name, as a retailer's own products are. A delivery order carries at most
`max_delivery_units` units in all (UPSTREAM.md 2.6).
"""

from __future__ import annotations

from typing import Any

from sandbox import data
from sandbox.data import DELIVERY
from sandbox.errors import SandboxError
from sandbox.models import Cart, CartItem


def resolve_items(cart_items: list[CartItem]) -> list[dict[str, Any]]:
    """Order items with catalog names; an item the catalog lacks keeps a generic name."""
    items = []
    for i, item in enumerate(cart_items):
        if not item.upc and not item.product_id:
            raise SandboxError(
                400, f"cart.items.{i}: upc or product_id is required", key=f"cart.items.{i}"
            )
        product = (data.PRODUCTS_BY_UPC.get(item.upc) if item.upc else None) or (
            data.PRODUCTS_BY_ID.get(item.product_id) if item.product_id else None
        )
        out: dict[str, Any] = {}
        if product is not None:
            out.update(product_id=product.product_id, upc=product.upc, name=product.name)
        else:
            if item.product_id:
                out["product_id"] = item.product_id
            if item.upc:
                out["upc"] = item.upc
            out["name"] = f"Item {item.upc or item.product_id}"
        out["quantity"] = item.quantity if item.quantity is not None else 1
        out["status"] = "pending"
        items.append(out)
    return items


def order_items(
    cart: Cart | None, fulfillment_type: str, max_delivery_units: int
) -> list[dict[str, Any]]:
    """The items an order will carry; refuses an empty cart and an over-full delivery."""
    if not (cart and cart.items):
        raise SandboxError(400, "cart.items must contain at least one item", key="cart")
    items = resolve_items(cart.items)
    units = sum(item["quantity"] for item in items)
    if fulfillment_type == DELIVERY and units > max_delivery_units:
        raise SandboxError(
            400,
            f"delivery orders are limited to {max_delivery_units} units "
            f"in total; this cart has {units}",
            key="cart",
        )
    return items
