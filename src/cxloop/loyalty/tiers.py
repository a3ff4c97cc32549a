"""Tiers: which tier a member's spend, orders or points over the program's window earn them.

A member moves up at once (on their order, or at the nightly evaluation) and then holds the
tier for one window; holding it is renewed while they still qualify. A member who no longer
qualifies keeps the tier until its period ends, then moves down to the tier they qualify for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from cxloop.events.commerce import spend_since
from cxloop.loyalty.program import Program
from cxloop.models import LedgerEntry, LoyaltyMember, LoyaltyTier, TierChange


@dataclass
class Standing:
    """What a member has done over the tier window."""

    spend: Decimal = Decimal(0)
    orders: int = 0
    points: int = 0

    def of(self, measure: str) -> Decimal:
        return Decimal(getattr(self, measure))


@dataclass(frozen=True)
class MemberRow:
    id: int
    customer_id: int
    tier_id: int | None
    tier_until: datetime | None


def standings(
    session: Session, program: Program, *, members: Iterable[MemberRow] | None, now: datetime
) -> dict[int, Standing]:
    """Each member's standing (by member id) over the window ending ``now``; every member's
    when ``members`` is None."""
    p = program.program
    since = now - timedelta(days=p.tier_window_days)
    chosen = None if members is None else list(members)
    if chosen is None:
        rows = session.execute(
            select(LoyaltyMember.id, LoyaltyMember.customer_id).where(
                LoyaltyMember.program_id == p.id
            )
        ).all()
        by_customer = {customer_id: member_id for member_id, customer_id in rows}
    else:
        by_customer = {m.customer_id: m.id for m in chosen}
    result = {member_id: Standing() for member_id in by_customer.values()}
    measures = {t.measure for t in program.tiers}
    if measures & {"spend", "orders"}:
        spent = spend_since(
            session,
            workspace_id=p.workspace_id,
            since=since,
            customer_ids=None if chosen is None else list(by_customer),
        )
        for customer_id, (orders, total) in spent.items():
            member_id = by_customer.get(customer_id)
            if member_id is not None:
                result[member_id].spend, result[member_id].orders = total, orders
    if "points" in measures:
        query = (
            select(LedgerEntry.member_id, func.sum(LedgerEntry.amount))
            .where(
                LedgerEntry.program_id == p.id,
                LedgerEntry.kind.in_(("earn", "reverse")),
                LedgerEntry.occurred_at >= since,
            )
            .group_by(LedgerEntry.member_id)
        )
        if chosen is not None:
            query = query.where(LedgerEntry.member_id.in_(list(result)))
        for member_id, points in session.execute(query):
            if member_id in result:
                result[member_id].points = int(points or 0)
    return result


def qualified_tier(program: Program, standing: Standing) -> LoyaltyTier | None:
    """The highest tier the standing reaches (None when the program has no tiers)."""
    reached = [t for t in program.tiers if standing.of(t.measure) >= t.threshold]
    return reached[-1] if reached else (program.tiers[0] if program.tiers else None)


def _rank(program: Program, tier_id: int | None) -> int:
    tier = program.tier(tier_id)
    return tier.rank if tier is not None else -1


@dataclass(frozen=True)
class Move:
    """A member going to another tier, with what they measured and why."""

    member: MemberRow
    to: LoyaltyTier
    measured: Decimal
    reason: str


def _set_members(session: Session, member_ids: Sequence[int], **values: object) -> None:
    for start in range(0, len(member_ids), 5000):
        session.execute(
            update(LoyaltyMember)
            .where(LoyaltyMember.id.in_(member_ids[start : start + 5000]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _move(session: Session, program: Program, moves: Sequence[Move], *, now: datetime) -> None:
    """Move members to their new tiers: one update per tier reached, the changes recorded in
    one statement, in the order given."""
    if not moves:
        return
    by_tier: dict[int, list[int]] = defaultdict(list)
    tiers: dict[int, LoyaltyTier] = {}
    for move in moves:
        by_tier[move.to.id].append(move.member.id)
        tiers[move.to.id] = move.to
    window = timedelta(days=program.program.tier_window_days)
    for tier_id, member_ids in by_tier.items():
        to = tiers[tier_id]
        until = now + window if to.rank > 0 else None
        _set_members(session, member_ids, tier_id=to.id, tier_since=now, tier_until=until)
    session.execute(
        insert(TierChange),
        [
            {
                "workspace_id": program.program.workspace_id,
                "member_id": move.member.id,
                "from_tier_id": move.member.tier_id,
                "to_tier_id": move.to.id,
                "reason": move.reason,
                "measured": move.measured,
                "changed_at": now,
            }
            for move in moves
        ],
    )


def _rows(session: Session, program: Program, member_ids: Iterable[int] | None) -> list[MemberRow]:
    query = select(
        LoyaltyMember.id, LoyaltyMember.customer_id, LoyaltyMember.tier_id, LoyaltyMember.tier_until
    ).where(LoyaltyMember.program_id == program.program.id)
    if member_ids is not None:
        query = query.where(LoyaltyMember.id.in_(list(member_ids)))
    return [MemberRow(*row) for row in session.execute(query)]


def upgrade_members(
    session: Session, program: Program, *, member_ids: Iterable[int], now: datetime
) -> int:
    """Move these members up to the tier they now qualify for (never down); returns how many
    moved."""
    rows = _rows(session, program, member_ids)
    found = standings(session, program, members=rows, now=now)
    moves: list[Move] = []
    for row in rows:
        tier = qualified_tier(program, found[row.id])
        if tier is not None and tier.rank > _rank(program, row.tier_id):
            moves.append(Move(row, tier, found[row.id].of(tier.measure), "upgrade"))
    _move(session, program, moves, now=now)
    return len(moves)


@dataclass(frozen=True)
class Evaluation:
    members: int
    upgraded: int
    renewed: int
    downgraded: int
    held: int  # below their tier, keeping it until its period ends


def evaluate_tiers(session: Session, program: Program, *, now: datetime) -> Evaluation:
    """The nightly evaluation of every member of the program."""
    rows = _rows(session, program, None)
    found = standings(session, program, members=None, now=now)
    upgraded = renewed = downgraded = held = 0
    renew: list[int] = []
    moves: list[Move] = []
    for row in rows:
        standing = found.get(row.id, Standing())
        tier = qualified_tier(program, standing)
        if tier is None:
            continue
        current = _rank(program, row.tier_id)
        if tier.rank == current:
            if tier.rank > 0:
                renew.append(row.id)
                renewed += 1
            continue
        if tier.rank < current and row.tier_until is not None and row.tier_until > now:
            held += 1
            continue
        reason = "upgrade" if tier.rank > current else "downgrade"
        moves.append(Move(row, tier, standing.of(tier.measure), reason))
        upgraded += reason == "upgrade"
        downgraded += reason == "downgrade"
    _move(session, program, moves, now=now)
    _set_members(session, renew, tier_until=now + timedelta(days=program.program.tier_window_days))
    return Evaluation(
        members=len(rows), upgraded=upgraded, renewed=renewed, downgraded=downgraded, held=held
    )
