"""The points ledger: lots in, takings out, oldest first; balances are sums of the ledger.

A member's points of one type are the sum of their ledger entries' amounts. Every positive entry
is a lot with a ``remaining``; every negative one takes from lots through allocations, so the
sum of the amounts always equals the sum of the lots' remainders and never drops below zero.
Redemptions spend available lots (past their return window, not expired) in the order they
expire, the soonest first; expiry takes a lot's remainder on its day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.models import LedgerAllocation, LedgerEntry, LoyaltyMember

TAKING_KINDS = frozenset({"redeem", "expire", "adjust", "reverse"})
EXPIRING_SOON = timedelta(days=30)


class NotEnoughPoints(ValidationFailed):
    """A redemption or a deduction asks for more points than the member may spend."""


@dataclass(frozen=True)
class Balance:
    """A member's points of one type: ``total`` is the ledger's sum; of it ``available`` may be
    spent now, ``pending`` waits for its return window and ``expiring`` (part of available)
    expires within 30 days."""

    point_type: str
    total: int
    available: int
    pending: int
    expiring: int


def _entry(member: LoyaltyMember, *, reason: str, **values: Any) -> LedgerEntry:
    return LedgerEntry(
        workspace_id=member.workspace_id,
        program_id=member.program_id,
        member_id=member.id,
        reason=reason[:300],
        **values,
    )


@dataclass(frozen=True)
class NewLot:
    """A lot to add: ``amount`` (> 0) points of ``point_type`` for ``member``."""

    member: LoyaltyMember
    point_type: str
    kind: str
    amount: int
    occurred_at: datetime
    available_at: datetime
    expires_at: datetime | None
    reason: str
    rule_id: int | None = None
    source_event_id: int | None = None
    source_key: str | None = None
    order_ref: str | None = None
    order_amount: Decimal | None = None
    created_by_id: int | None = None

    def row(self) -> dict[str, Any]:
        """The ledger entry's columns."""
        if self.amount <= 0:
            raise ValidationFailed("a lot must add at least one point.")
        return {
            "workspace_id": self.member.workspace_id,
            "program_id": self.member.program_id,
            "member_id": self.member.id,
            "point_type": self.point_type,
            "kind": self.kind,
            "amount": self.amount,
            "remaining": self.amount,
            "available_at": self.available_at,
            "expires_at": self.expires_at,
            "reason": self.reason[:300],
            "rule_id": self.rule_id,
            "source_event_id": self.source_event_id,
            "source_key": self.source_key,
            "order_ref": self.order_ref,
            "order_amount": self.order_amount,
            "occurred_at": self.occurred_at,
            "created_by_id": self.created_by_id,
        }


def add_lot(
    session: Session,
    *,
    member: LoyaltyMember,
    point_type: str,
    kind: str,
    amount: int,
    occurred_at: datetime,
    available_at: datetime,
    expires_at: datetime | None,
    reason: str,
    rule_id: int | None = None,
    source_event_id: int | None = None,
    source_key: str | None = None,
    order_ref: str | None = None,
    order_amount: Decimal | None = None,
    created_by_id: int | None = None,
) -> LedgerEntry:
    """Add ``amount`` (> 0) points as a lot of their own."""
    lot = NewLot(
        member=member,
        point_type=point_type,
        kind=kind,
        amount=amount,
        occurred_at=occurred_at,
        available_at=available_at,
        expires_at=expires_at,
        reason=reason,
        rule_id=rule_id,
        source_event_id=source_event_id,
        source_key=source_key,
        order_ref=order_ref,
        order_amount=order_amount,
        created_by_id=created_by_id,
    )
    entry = LedgerEntry(**lot.row())
    session.add(entry)
    session.flush()
    return entry


def add_lots(session: Session, lots: Sequence[NewLot]) -> None:
    """Add many lots at once, in this order (one statement rather than one per lot)."""
    if lots:
        session.execute(insert(LedgerEntry), [lot.row() for lot in lots])


def _open_lots(
    session: Session, *, member_id: int, point_type: str, now: datetime, spendable: bool
) -> list[LedgerEntry]:
    """The member's lots with points left, in spending order (the soonest to expire first, then
    the oldest), locked for this transaction; only those that may be spent now when
    ``spendable``."""
    query = (
        select(LedgerEntry)
        .where(
            LedgerEntry.member_id == member_id,
            LedgerEntry.point_type == point_type,
            LedgerEntry.remaining > 0,
        )
        .order_by(
            case((LedgerEntry.expires_at.is_(None), 1), else_=0),
            LedgerEntry.expires_at,
            LedgerEntry.id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if spendable:
        query = query.where(
            LedgerEntry.available_at <= now,
            or_(LedgerEntry.expires_at.is_(None), LedgerEntry.expires_at > now),
        )
    return list(session.scalars(query))


def take(
    session: Session,
    *,
    member: LoyaltyMember,
    point_type: str,
    kind: str,
    amount: int,
    now: datetime,
    reason: str,
    lots: Sequence[LedgerEntry] | None = None,
    partial: bool = False,
    source_key: str | None = None,
    source_event_id: int | None = None,
    order_ref: str | None = None,
    created_by_id: int | None = None,
) -> LedgerEntry | None:
    """Take ``amount`` (> 0) points from ``lots`` (by default the member's spendable lots, in
    spending order). With ``partial`` take what there is when it is less; otherwise refuse.
    Returns the entry, or None when nothing was taken."""
    if kind not in TAKING_KINDS:
        raise ValueError(f"not a taking kind: {kind}")
    if amount <= 0:
        raise ValidationFailed("take at least one point.")
    if lots is None:
        lots = _open_lots(
            session, member_id=member.id, point_type=point_type, now=now, spendable=True
        )
    have = sum(lot.remaining or 0 for lot in lots)
    if have < amount:
        if not partial:
            raise NotEnoughPoints(f"{amount} points asked, {have} available.")
        amount = have
    if amount == 0:
        return None
    entry = _entry(
        member,
        point_type=point_type,
        kind=kind,
        amount=-amount,
        reason=reason,
        source_key=source_key,
        source_event_id=source_event_id,
        order_ref=order_ref,
        occurred_at=now,
        created_by_id=created_by_id,
    )
    session.add(entry)
    session.flush()
    left = amount
    for lot in lots:
        if left == 0:
            break
        used = min(left, lot.remaining or 0)
        if used == 0:
            continue
        lot.remaining = (lot.remaining or 0) - used
        left -= used
        session.add(LedgerAllocation(entry_id=entry.id, lot_id=lot.id, amount=used))
    session.flush()
    return entry


def expire_lots(session: Session, *, member: LoyaltyMember, point_type: str, now: datetime) -> int:
    """Expire what is left of the member's lots whose day has come; returns the points."""
    due = [
        lot
        for lot in _open_lots(
            session, member_id=member.id, point_type=point_type, now=now, spendable=False
        )
        if lot.expires_at is not None and lot.expires_at <= now
    ]
    expired = 0
    for lot in due:
        points = lot.remaining or 0
        take(
            session,
            member=member,
            point_type=point_type,
            kind="expire",
            amount=points,
            now=lot.expires_at or now,
            reason="expired",
            lots=[lot],
        )
        expired += points
    return expired


def reversible_lots(
    session: Session, *, member: LoyaltyMember, point_type: str, order_ref: str, now: datetime
) -> list[LedgerEntry]:
    """The lots to take an order's points back from: the order's own first, then the member's
    other lots in spending order, then the pending ones (a return must not leave points that
    were earned on it)."""
    lots = _open_lots(session, member_id=member.id, point_type=point_type, now=now, spendable=False)
    own = [lot for lot in lots if lot.order_ref == order_ref]
    spendable = [
        lot
        for lot in lots
        if lot.order_ref != order_ref
        and lot.available_at is not None
        and lot.available_at <= now
        and (lot.expires_at is None or lot.expires_at > now)
    ]
    rest = [lot for lot in lots if lot not in own and lot not in spendable]
    return [
        *own,
        *spendable,
        *[lot for lot in rest if lot.expires_at is None or lot.expires_at > now],
    ]


def earned_on_order(session: Session, *, program_id: int, order_ref: str) -> dict[int, int]:
    """Points earned on an order less those already taken back, per member."""
    rows = session.execute(
        select(LedgerEntry.member_id, func.sum(LedgerEntry.amount))
        .where(
            LedgerEntry.program_id == program_id,
            LedgerEntry.order_ref == order_ref,
            LedgerEntry.kind.in_(("earn", "reverse")),
        )
        .group_by(LedgerEntry.member_id)
    ).all()
    return {member_id: int(points or 0) for member_id, points in rows}


def balances(session: Session, *, member_id: int, now: datetime) -> dict[str, Balance]:
    """The member's balance per point type."""
    spendable = and_(
        LedgerEntry.available_at <= now,
        or_(LedgerEntry.expires_at.is_(None), LedgerEntry.expires_at > now),
    )
    rows = session.execute(
        select(
            LedgerEntry.point_type,
            func.sum(LedgerEntry.amount),
            func.sum(case((spendable, LedgerEntry.remaining), else_=0)),
            func.sum(case((LedgerEntry.available_at > now, LedgerEntry.remaining), else_=0)),
            func.sum(
                case(
                    (
                        and_(spendable, LedgerEntry.expires_at <= now + EXPIRING_SOON),
                        LedgerEntry.remaining,
                    ),
                    else_=0,
                )
            ),
        )
        .where(LedgerEntry.member_id == member_id)
        .group_by(LedgerEntry.point_type)
    ).all()
    return {
        point_type: Balance(
            point_type=point_type,
            total=int(total or 0),
            available=int(available or 0),
            pending=int(pending or 0),
            expiring=int(expiring or 0),
        )
        for point_type, total, available, pending, expiring in rows
    }


def expire_due(session: Session, *, program_id: int, now: datetime, limit: int = 500) -> int:
    """Expire the due lots of up to ``limit`` members of the program; returns how many members
    had points expire (0: none left to do)."""
    due = session.execute(
        select(LedgerEntry.member_id, LedgerEntry.point_type)
        .where(
            LedgerEntry.program_id == program_id,
            LedgerEntry.remaining > 0,
            LedgerEntry.expires_at <= now,
        )
        .group_by(LedgerEntry.member_id, LedgerEntry.point_type)
        .order_by(LedgerEntry.member_id, LedgerEntry.point_type)
        .limit(limit)
    ).all()
    for member_id, point_type in due:
        member = session.get(LoyaltyMember, member_id)
        if member is not None:
            expire_lots(session, member=member, point_type=point_type, now=now)
    return len(due)
