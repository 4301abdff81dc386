"""The /sandbox control routes: not part of the Instacart contract, no token needed.

Their refusals always use the specification's envelope, whatever `error_envelope` says, so a
test's own set-up calls never change shape.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError

from sandbox import data
from sandbox.errors import SandboxError
from sandbox.faults import CREATE_OPERATIONS, OPERATION_IDS
from sandbox.http import config_of, faults_of, state_of
from sandbox.models import AdvanceRequest, FaultsConfig, invalid_body

log = logging.getLogger("sandbox")

router = APIRouter(prefix="/sandbox", include_in_schema=False)

Body = TypeVar("Body", bound=BaseModel)


async def control_body(request: Request, model: type[Body]) -> Body:
    """The JSON body as `model`; an empty body is `{}`."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise invalid_body(exc) from None


@router.post("/reset")
async def reset(request: Request) -> Any:
    state_of(request).reset()
    faults_of(request).clear()
    log.info("sandbox.reset")
    return {"reset": True}


@router.get("/catalog")
async def catalog(request: Request) -> Any:
    return {
        "products": [
            {"product_id": p.product_id, "upc": p.upc, "name": p.name} for p in data.PRODUCTS
        ],
        "stores": data.store_catalogue(),
        "postal_codes": {
            code: {"latitude": lat, "longitude": lon}
            for code, (lat, lon) in data.POSTAL_CODES.items()
        },
        "slot_capacity": config_of(request).slot_capacity,
    }


@router.get("/stats")
async def stats(request: Request) -> Any:
    return state_of(request).stats()


@router.get("/orders")
async def list_orders(
    request: Request,
    user_id: str | None = None,
    status: str | None = None,
    fulfillment: str | None = None,
) -> Any:
    """Every order the sandbox holds, oldest first: the ground truth for tests and operators."""
    return {"orders": state_of(request).list_orders(user_id, status, fulfillment)}


@router.post("/orders/{order_id}/advance")
async def advance(request: Request, order_id: str) -> Any:
    req = await control_body(request, AdvanceRequest)
    return state_of(request).advance_order(order_id, req.status)


@router.get("/faults")
async def get_faults(request: Request) -> Any:
    return faults_of(request).as_json()


@router.put("/faults")
async def put_faults(request: Request) -> Any:
    req = await control_body(request, FaultsConfig)
    for op, spec in req.operations.items():
        if op != "*" and op not in OPERATION_IDS:
            raise SandboxError(400, f"unknown operationId {op}", key=f"operations.{op}")
        if spec.hang_after_create and op != "*" and op not in CREATE_OPERATIONS:
            raise SandboxError(
                400,
                f"hang_after_create applies to order creation, not {op}",
                key=f"operations.{op}.hang_after_create",
            )
    faults = faults_of(request)
    faults.set(req)
    log.info(
        "sandbox.faults.set operations=%s envelope=%s callbacks=%s",
        ",".join(sorted(req.operations)),
        req.error_envelope,
        req.callbacks.model_dump_json(),
    )
    return faults.as_json()


@router.delete("/faults")
async def delete_faults(request: Request) -> Any:
    faults = faults_of(request)
    faults.clear()
    return faults.as_json()


@router.post("/tokens/revoke")
async def revoke_tokens(request: Request) -> Any:
    return {"revoked": state_of(request).revoke_tokens()}


@router.get("/callbacks")
async def callbacks(request: Request) -> Any:
    sender = request.app.state.callbacks
    return sender.summary() if sender is not None else {"enabled": False}
