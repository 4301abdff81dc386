"""The slot grid: every store's bookable windows, and the ids that name them.

Windows are `slot_length_hours` long, from `slot_first_hour` to `slot_last_hour` store-local
time, for the next `slot_days` days. A slot's id says what it is
(`<fulfillment>.<store_id>.<start UTC>`), so the sandbox stores no slots: it computes them, and
reads an id back into its slot. Capacity is counted elsewhere, by the holds and orders a slot has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sandbox import data
from sandbox.config import SandboxConfig
from sandbox.data import FULFILLMENT_TYPES, Store
from sandbox.errors import ErrorCode, SandboxError
from sandbox.geography import store_tz

_SLOT_TIME_FORMAT = "%Y%m%dT%H%MZ"


@dataclass(frozen=True, slots=True)
class Slot:
    fulfillment_type: str
    store_id: str
    starts_at: datetime
    ends_at: datetime

    @property
    def id(self) -> str:
        return f"{self.fulfillment_type}.{self.store_id}.{self.starts_at:{_SLOT_TIME_FORMAT}}"

    @property
    def local_date(self) -> date:
        return self.starts_at.astimezone(store_tz(self.store_id)).date()


class SlotGrid:
    """The windows a sandbox's configuration opens; the same for every store."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config

    def _window_hours(self) -> range:
        c = self._config
        return range(
            c.slot_first_hour, c.slot_last_hour - c.slot_length_hours + 1, c.slot_length_hours
        )

    def _on_the_grid(self, local: datetime) -> bool:
        return not local.minute and local.hour in self._window_hours()

    def _slot(self, fulfillment_type: str, store_id: str, start: datetime) -> Slot:
        length = timedelta(hours=self._config.slot_length_hours)
        return Slot(fulfillment_type, store_id, start, start + length)

    def slots_for(self, store: Store, fulfillment_type: str, now: datetime) -> list[Slot]:
        """Every window starting after now and within the next `slot_days` days."""
        tz = store_tz(store.id)
        horizon = now + timedelta(days=self._config.slot_days)
        first_day = now.astimezone(tz).date()
        slots = []
        for offset in range(self._config.slot_days + 1):
            day = first_day + timedelta(days=offset)
            for hour in self._window_hours():
                start = datetime(day.year, day.month, day.day, hour, tzinfo=tz).astimezone(UTC)
                if now < start <= horizon:
                    slots.append(self._slot(fulfillment_type, store.id, start))
        return slots

    def parse(self, slot_id: str, fulfillment_type: str, now: datetime) -> Slot | None:
        """The slot an id names, if it is a bookable window of this fulfillment type now."""
        parts = slot_id.split(".")
        if len(parts) != 3 or parts[0] != fulfillment_type:
            return None
        store = data.STORES_BY_ID.get(parts[1])
        if store is None or fulfillment_type not in store.fulfillment_types:
            return None
        try:
            start = datetime.strptime(parts[2], _SLOT_TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None
        local = start.astimezone(store_tz(store.id))
        if not self._on_the_grid(local):
            return None
        if not now < start <= now + timedelta(days=self._config.slot_days):
            return None
        return self._slot(fulfillment_type, store.id, start)

    def refusal(self, slot_id: str, fulfillment_type: str, now: datetime) -> SandboxError:
        """Why an id that `parse` refused cannot be held, as precisely as the id tells."""
        parts = slot_id.split(".")
        try:
            start = datetime.strptime(parts[2], _SLOT_TIME_FORMAT).replace(tzinfo=UTC)
        except (IndexError, ValueError):
            start = None
        if start is None or len(parts) != 3 or parts[0] not in FULFILLMENT_TYPES:
            return SandboxError(400, "malformed service_option_id", key="service_option_id")
        if parts[0] != fulfillment_type:
            return SandboxError(
                400,
                f"service_option_id is a {parts[0]} option, not {fulfillment_type}",
                key="service_option_id",
                code=ErrorCode.SERVICE_OPTION_WRONG_TYPE,
            )
        store = data.STORES_BY_ID.get(parts[1])
        local = start.astimezone(store_tz(store.id)) if store is not None else None
        if local is not None and self._on_the_grid(local) and start <= now:
            return SandboxError(
                400,
                "service_option_id has already started",
                key="service_option_id",
                code=ErrorCode.SERVICE_OPTION_STARTED,
            )
        return SandboxError(
            400,
            "unknown or unavailable service_option_id",
            key="service_option_id",
            code=ErrorCode.SERVICE_OPTION_UNAVAILABLE,
        )
