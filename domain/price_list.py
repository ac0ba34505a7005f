"""A channel's price list in one currency: each SKU's price, and from when until when.

Prices are kept as *layers*. Every change adds a layer (a price, or "no price", over a
validity window) and never edits an earlier one; at any moment a SKU's price is the most
recently recorded layer whose window covers that moment. So the intended price wins, not the
oldest one, and overlapping windows have one obvious answer.

No layer starts before it is recorded (an earlier ``valid_from`` is moved up to the moment of
recording, and the event says so). Hence a change never alters what the list said about a
moment already past: asking "what was the price at t" gives the same answer today as at t.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import BelowMapFloor, DomainError, InvalidValue, PriceListArchived
from domain.identity import check_choice, check_code, check_instant, check_text, stream_id
from domain.money import check_amount, check_currency

MAX_NAME = 200
# Large imports are saved as several events in one transaction; this keeps each event (and
# each message the relay sends to NATS, 1 MB at most by default) small.
ENTRIES_PER_EVENT = 500
MAX_SOURCE = 200


class ListStatus(StrEnum):
    DRAFT = "draft"  # being prepared: its prices are served to no channel
    ACTIVE = "active"
    ARCHIVED = "archived"  # retired: served to no channel, takes no more changes


class MapPolicy(StrEnum):
    REJECT = "reject"  # a price below the SKU's MAP floor is refused
    CLAMP = "clamp"  # it is raised to the floor, and the event records the original


@dataclass(frozen=True)
class PriceChange:
    """One requested change: ``amount`` None removes the SKU's price within the window."""

    sku: str
    amount: Decimal | None
    valid_from: datetime | None = None  # None: from now
    valid_until: datetime | None = None  # None: open-ended


@dataclass(frozen=True)
class PriceLayer:
    sku: str
    amount: Decimal | None
    valid_from: datetime
    valid_until: datetime | None
    recorded_at: datetime
    version: int  # the list version whose event recorded it
    index: int  # its place within that event: later entries shadow earlier ones
    clamped_from: Decimal | None = None  # the amount asked for, when raised to the MAP floor
    source: str = "operator"

    def covers(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based: the first row (after any header) is 1
    field: str | None
    code: str
    detail: str


class RowsRejected(InvalidValue):
    """Some rows of a multi-row change are invalid; ``errors`` names each."""

    code = "rows-rejected"
    title = "Rows rejected"


class PriceList(Aggregate):
    """The prices one channel shows in one currency, with their validity windows."""

    @staticmethod
    def create_id(channel: str, currency: str, **_: Any) -> UUID:
        return stream_id("price-list", f"{channel}:{currency}")

    @classmethod
    def draft(
        cls,
        channel: str,
        currency: str,
        name: str,
        map_policy: MapPolicy | str,
        now: datetime,
    ) -> PriceList:
        check_code(channel, "channel")
        check_currency(currency)
        check_text(name, "name", MAX_NAME, allow_empty=True)
        policy = check_choice(MapPolicy, map_policy, "map_policy")
        return cls(
            channel=channel,
            currency=currency,
            name=name,
            map_policy=policy.value,
            recorded_at=check_instant(now, "now"),
        )

    @event("Opened")
    def __init__(
        self, channel: str, currency: str, name: str, map_policy: str, recorded_at: datetime
    ) -> None:
        self.channel = channel
        self.currency = currency
        self.name = name
        self.map_policy = MapPolicy(map_policy)
        self.status = ListStatus.DRAFT
        self.statuses: list[tuple[datetime, ListStatus]] = [(recorded_at, ListStatus.DRAFT)]
        self.layers: dict[str, list[PriceLayer]] = {}
        self.last_recorded = recorded_at
        self.versions: list[tuple[datetime, int]] = [(recorded_at, 1)]

    def __deepcopy__(self, memo: dict[int, Any]) -> PriceList:
        """A copy sharing the (immutable) layers: a list of thousands of prices is copied
        before every command, and rebuilding each layer made that slow."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.layers = {sku: list(layers) for sku, layers in self.layers.items()}
        clone.statuses = list(self.statuses)
        clone.versions = list(self.versions)
        clone._pending_events = list(self._pending_events)
        return clone

    # -- queries ---------------------------------------------------------------------------

    def layer_at(self, sku: str, at: datetime) -> PriceLayer | None:
        """The layer deciding ``sku``'s price at ``at`` (its amount None: no price)."""
        for layer in reversed(self.layers.get(sku, ())):
            if layer.covers(at):
                return layer
        return None

    def price_at(self, sku: str, at: datetime) -> Decimal | None:
        layer = self.layer_at(sku, at)
        return None if layer is None else layer.amount

    def status_at(self, at: datetime) -> ListStatus | None:
        """The status at ``at``; None before the list existed."""
        found: ListStatus | None = None
        for recorded_at, status in self.statuses:
            if recorded_at > at:
                break
            found = status
        return found

    def timeline(
        self, sku: str, start: datetime
    ) -> list[tuple[datetime, datetime | None, Decimal]]:
        """``sku``'s priced spans from ``start`` on: (from, until, amount), merged."""
        edges = {start}
        for layer in self.layers.get(sku, ()):
            for edge in (layer.valid_from, layer.valid_until):
                if edge is not None and edge > start:
                    edges.add(edge)
        points = sorted(edges)
        spans: list[tuple[datetime, datetime | None, Decimal]] = []
        for i, begin in enumerate(points):
            end = points[i + 1] if i + 1 < len(points) else None
            amount = self.price_at(sku, begin)
            if amount is None:
                continue
            if spans and spans[-1][1] == begin and spans[-1][2] == amount:
                spans[-1] = (spans[-1][0], end, amount)
            else:
                spans.append((begin, end, amount))
        return spans

    # -- commands --------------------------------------------------------------------------

    def plan(
        self,
        changes: Sequence[PriceChange | RowError],
        floors: Mapping[str, Decimal | None],
        now: datetime,
    ) -> tuple[list[dict[str, Any]], list[RowError]]:
        """Check every change; the entries to record and the rows refused (with why).

        Nothing is recorded here, so a caller can report every bad row at once. A
        :class:`RowError` in ``changes`` stands for a row the caller could not even read.
        """
        entries, refused = self._plan(changes, floors, now)
        return entries, [row for row, _ in refused]

    def _plan(
        self,
        changes: Sequence[PriceChange | RowError],
        floors: Mapping[str, Decimal | None],
        now: datetime,
    ) -> tuple[list[dict[str, Any]], list[tuple[RowError, DomainError | None]]]:
        now = self._now(now)
        entries: list[dict[str, Any]] = []
        refused: list[tuple[RowError, DomainError | None]] = []
        for row, change in enumerate(changes):
            if isinstance(change, RowError):
                refused.append((change, None))
                continue
            try:
                entries.append(self._entry(change, floors.get(change.sku), now))
            except DomainError as error:
                field = error.facts.get("field")
                refused.append((RowError(row + 1, field, error.code, error.detail), error))
        return entries, refused

    def schedule(
        self,
        changes: Sequence[PriceChange | RowError],
        floors: Mapping[str, Decimal | None],
        now: datetime,
        source: str = "operator",
        *,
        partial: bool = False,
    ) -> list[RowError]:
        """Record ``changes``: all of them, or (``partial``) the valid ones.

        Without ``partial`` one bad row refuses the whole change. Returns the rows refused.
        """
        self._require_editable()
        check_text(source, "source", MAX_SOURCE)
        if not changes:
            raise InvalidValue("no price changes given", field="prices")
        entries, refused = self._plan(changes, floors, now)
        errors = [row for row, _ in refused]
        if errors and not partial:
            original = refused[0][1]
            if len(changes) == 1 and original is not None:  # its own error, not a report
                raise original
            raise RowsRejected(
                f"{len(errors)} of {len(changes)} rows are invalid; nothing was applied",
                errors=[vars(e) for e in errors],
            )
        if entries:
            self._record(entries, self._now(now), source)
        return errors

    def activate(self, now: datetime) -> None:
        self.set_status(ListStatus.ACTIVE, now)

    def archive(self, now: datetime) -> None:
        self.set_status(ListStatus.ARCHIVED, now)

    def set_status(self, status: ListStatus | str, now: datetime) -> None:
        """Draft (served to nobody), active, or archived (for good: no more changes)."""
        chosen = check_choice(ListStatus, status, "status")
        if chosen == self.status:
            return
        self._require_editable()
        self._status_changed(status=chosen.value, recorded_at=self._now(now))

    def rename(self, name: str, now: datetime) -> None:
        check_text(name, "name", MAX_NAME, allow_empty=True)
        if name != self.name:
            self._require_editable()
            self._renamed(name=name, recorded_at=self._now(now))

    def set_map_policy(self, policy: MapPolicy | str, now: datetime) -> None:
        self._require_editable()
        chosen = check_choice(MapPolicy, policy, "map_policy")
        if chosen != self.map_policy:
            self._policy_changed(map_policy=chosen.value, recorded_at=self._now(now))

    def roll_back(
        self,
        earlier: PriceList,
        floors: Mapping[str, Decimal | None],
        now: datetime,
    ) -> None:
        """Schedule from now on exactly the prices ``earlier`` (this list at an older
        version) had scheduled from now on. History is kept: this is a new event."""
        self._require_editable()
        now = self._now(now)
        changes: list[PriceChange] = []
        for sku in sorted(set(self.layers) | set(earlier.layers)):
            changes.append(PriceChange(sku, None, now, None))  # clear what is there now
            changes.extend(
                PriceChange(sku, amount, begin, end)
                for begin, end, amount in earlier.timeline(sku, now)
            )
        entries, refused = self._plan(changes, floors, now)
        if refused:
            row, original = refused[0]
            raise original or InvalidValue(row.detail, field=row.field)
        self._rolled_back(to_version=earlier.version, entries=entries, recorded_at=now)

    # -- events ----------------------------------------------------------------------------

    @event("PricesScheduled")
    def _scheduled(self, entries: list[dict[str, Any]], recorded_at: datetime, source: str) -> None:
        self._apply_entries(entries, recorded_at, source)

    @event("RolledBack")
    def _rolled_back(
        self, to_version: int, entries: list[dict[str, Any]], recorded_at: datetime
    ) -> None:
        self._apply_entries(entries, recorded_at, f"rollback to version {to_version}")

    @event("StatusChanged")
    def _status_changed(self, status: str, recorded_at: datetime) -> None:
        self.status = ListStatus(status)
        self.statuses.append((recorded_at, self.status))
        self._seen(recorded_at)

    @event("Renamed")
    def _renamed(self, name: str, recorded_at: datetime) -> None:
        self.name = name
        self._seen(recorded_at)

    @event("MapPolicyChanged")
    def _policy_changed(self, map_policy: str, recorded_at: datetime) -> None:
        self.map_policy = MapPolicy(map_policy)
        self._seen(recorded_at)

    # -- helpers ---------------------------------------------------------------------------

    def _seen(self, recorded_at: datetime) -> None:
        self.last_recorded = recorded_at
        # The library sets the new version after this returns.
        self.versions.append((recorded_at, self.version + 1))

    def _apply_entries(
        self, entries: list[dict[str, Any]], recorded_at: datetime, source: str
    ) -> None:
        version = self.version + 1
        for index, entry in enumerate(entries):
            layer = PriceLayer(
                sku=entry["sku"],
                amount=None if entry["amount"] is None else Decimal(entry["amount"]),
                valid_from=entry["valid_from"],
                valid_until=entry["valid_until"],
                recorded_at=recorded_at,
                version=version,
                index=index,
                clamped_from=(
                    None if entry.get("clamped_from") is None else Decimal(entry["clamped_from"])
                ),
                source=source,
            )
            self.layers.setdefault(layer.sku, []).append(layer)
        self._seen(recorded_at)

    def _record(self, entries: list[dict[str, Any]], now: datetime, source: str) -> None:
        for start in range(0, len(entries), ENTRIES_PER_EVENT):
            self._scheduled(
                entries=entries[start : start + ENTRIES_PER_EVENT], recorded_at=now, source=source
            )

    def _entry(self, change: PriceChange, floor: Decimal | None, now: datetime) -> dict[str, Any]:
        check_code(change.sku, "sku")
        begin = now if change.valid_from is None else check_instant(change.valid_from, "valid_from")
        begin = max(begin, now)  # never rewrite what was already shown
        end = None
        if change.valid_until is not None:
            end = check_instant(change.valid_until, "valid_until")
            if end <= begin:
                raise InvalidValue(
                    "valid_until must be later than valid_from and than now", field="valid_until"
                )
        amount = clamped_from = None
        if change.amount is not None:
            amount = check_amount(change.amount, self.currency)
            if floor is not None and amount < floor:
                if self.map_policy is MapPolicy.REJECT:
                    raise BelowMapFloor(
                        f"{change.sku}: {amount} {self.currency} is below its MAP floor {floor}",
                        field="amount",
                        sku=change.sku,
                        amount=str(amount),
                        floor=str(floor),
                    )
                amount, clamped_from = floor, amount
        return {
            "sku": change.sku,
            "amount": amount,
            "valid_from": begin,
            "valid_until": end,
            "clamped_from": clamped_from,
        }

    def _require_editable(self) -> None:
        if self.status is ListStatus.ARCHIVED:
            raise PriceListArchived(
                f"price list {self.channel}/{self.currency} is archived",
                channel=self.channel,
                currency=self.currency,
            )

    def _now(self, now: datetime) -> datetime:
        # Recording times never run backwards within a list, even if clocks of the processes
        # writing it disagree a little; that keeps "as known at t" well defined.
        return max(check_instant(now, "now"), self.last_recorded)
