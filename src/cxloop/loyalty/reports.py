"""The loyalty program in figures: members by tier, points issued, redeemed and expired by
month, the outstanding liability, NPS and churn risk by tier, and the members list.

Each figure is one GROUP BY over one workspace's program. Survey scores and churn predictions
belong to feedback and insights: their customer sets come from insights' segment rules
(``compile_rule``: "the latest NPS answer within a year is 9 or more", "churn risk is 0.6 or
more"), so loyalty counts its members in them without reading those domains' tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from cxloop.core.pagination import newest_first
from cxloop.insights.segments.compiler import compile_rule
from cxloop.models import Customer, LedgerEntry, LoyaltyMember

FLOW_MONTHS = 12
NPS_DAYS = 365
# Churn risk bands, as the customer page colours them.
HIGH_RISK = 0.6
MID_RISK = 0.3


@dataclass(frozen=True)
class MonthFlow:
    """Points moved in one local calendar month: ``issued`` every lot added (earned or added by
    hand), ``redeemed`` spent, ``expired`` lapsed and ``taken_back`` reversed on returns or
    deducted by hand."""

    month: date
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    taken_back: int = 0


@dataclass(frozen=True)
class Outstanding:
    """Points members still hold: ``available`` may be spent now, ``pending`` waits for its
    return window; lots past their expiry the hourly job has not reached yet are not counted."""

    available: int
    pending: int

    def liability(self, point_value: Decimal) -> Decimal:
        return (self.available + self.pending) * point_value


@dataclass(frozen=True)
class NpsCounts:
    """Members of a tier by their latest NPS answer of the last year."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0


@dataclass(frozen=True)
class ChurnCounts:
    """Members of a tier by their current churn risk (those scored by the last model run)."""

    members: int = 0
    scored: int = 0
    high: int = 0
    mid: int = 0

    @property
    def low(self) -> int:
        return self.scored - self.high - self.mid


@dataclass(frozen=True)
class MemberLine:
    member: LoyaltyMember
    name: str | None
    total: int
    available: int


def _program(workspace_id: int, program_id: int) -> list[Any]:
    return [LoyaltyMember.workspace_id == workspace_id, LoyaltyMember.program_id == program_id]


def _ledger(workspace_id: int, program_id: int) -> list[Any]:
    return [LedgerEntry.workspace_id == workspace_id, LedgerEntry.program_id == program_id]


def _spendable(now: datetime) -> Any:
    return and_(
        LedgerEntry.available_at <= now,
        or_(LedgerEntry.expires_at.is_(None), LedgerEntry.expires_at > now),
    )


def members_by_tier(
    session: Session, *, workspace_id: int, program_id: int
) -> dict[int | None, int]:
    """How many members hold each tier (by tier id; None: no tier yet)."""
    rows = session.execute(
        select(LoyaltyMember.tier_id, func.count())
        .where(*_program(workspace_id, program_id))
        .group_by(LoyaltyMember.tier_id)
    ).all()
    return {tier_id: int(n) for tier_id, n in rows}


def month_starts(now: datetime, zone: ZoneInfo, months: int = FLOW_MONTHS) -> list[datetime]:
    """The starts of the last ``months`` local months up to the current one, and of the next
    (``months`` + 1 instants, oldest first)."""
    local = now.astimezone(zone)
    year, month = local.year, local.month
    starts = []
    for back in range(months - 1, -2, -1):
        index = year * 12 + (month - 1) - back
        starts.append(datetime(index // 12, index % 12 + 1, 1, tzinfo=zone))
    return starts


def _sum_when(condition: Any, value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def monthly_flows(
    session: Session,
    *,
    workspace_id: int,
    program_id: int,
    now: datetime,
    zone: ZoneInfo,
    months: int = FLOW_MONTHS,
) -> list[MonthFlow]:
    """Points issued, redeemed, expired and taken back in each of the last ``months`` local
    months (the current one last), by when they happened."""
    starts = month_starts(now, zone, months)
    bucket = case(
        *((LedgerEntry.occurred_at >= starts[i], i) for i in range(months - 1, 0, -1)),
        else_=0,
    ).label("bucket")
    amount = LedgerEntry.amount
    rows = session.execute(
        select(
            bucket,
            _sum_when(amount > 0, amount),
            _sum_when(LedgerEntry.kind == "redeem", -amount),
            _sum_when(LedgerEntry.kind == "expire", -amount),
            _sum_when(and_(amount < 0, LedgerEntry.kind.in_(("reverse", "adjust"))), -amount),
        )
        .where(
            *_ledger(workspace_id, program_id),
            LedgerEntry.occurred_at >= starts[0],
            LedgerEntry.occurred_at < starts[-1],
        )
        .group_by(bucket)
    ).all()
    found = {int(b): tuple(int(v) for v in values) for b, *values in rows}
    return [
        MonthFlow(starts[i].date(), *found[i]) if i in found else MonthFlow(starts[i].date())
        for i in range(months)
    ]


def outstanding(
    session: Session, *, workspace_id: int, program_id: int, now: datetime
) -> Outstanding:
    """The points all members hold now, available and pending."""
    row = session.execute(
        select(
            _sum_when(_spendable(now), LedgerEntry.remaining),
            _sum_when(LedgerEntry.available_at > now, LedgerEntry.remaining),
        ).where(*_ledger(workspace_id, program_id), LedgerEntry.remaining > 0)
    ).one()
    return Outstanding(available=int(row[0]), pending=int(row[1]))


def _member_in(rule: Mapping[str, Any], *, workspace_id: int, now: datetime, zone: ZoneInfo) -> Any:
    """Whether a member's customer matches an insights segment rule."""
    customers: Select[Any] = compile_rule(rule, workspace_id=workspace_id, now=now, tz=zone.key)
    return LoyaltyMember.customer_id.in_(customers)


def _latest_nps(op: str, value: int) -> dict[str, Any]:
    return {
        "type": "score",
        "metric": "nps",
        "op": op,
        "value": value,
        "within_days": NPS_DAYS,
    }


def nps_by_tier(
    session: Session, *, workspace_id: int, program_id: int, now: datetime, zone: ZoneInfo
) -> dict[int | None, NpsCounts]:
    """Each tier's members by their latest NPS answer of the last year: promoters (9–10),
    passives (7–8), detractors (0–6); tiers without an answer are left out."""
    promoter = _member_in(_latest_nps("gte", 9), workspace_id=workspace_id, now=now, zone=zone)
    passive = _member_in(
        {"type": "all", "rules": [_latest_nps("gte", 7), _latest_nps("lte", 8)]},
        workspace_id=workspace_id,
        now=now,
        zone=zone,
    )
    detractor = _member_in(_latest_nps("lte", 6), workspace_id=workspace_id, now=now, zone=zone)
    rows = session.execute(
        select(
            LoyaltyMember.tier_id,
            _sum_when(promoter, 1),
            _sum_when(passive, 1),
            _sum_when(detractor, 1),
        )
        .where(*_program(workspace_id, program_id))
        .group_by(LoyaltyMember.tier_id)
    ).all()
    return {
        tier_id: NpsCounts(int(p), int(m), int(d))
        for tier_id, p, m, d in rows
        if int(p) + int(m) + int(d) > 0
    }


def _risk(op: str, value: float) -> dict[str, Any]:
    return {"type": "prediction", "field": "churn_risk", "op": op, "value": value}


def churn_by_tier(
    session: Session, *, workspace_id: int, program_id: int, now: datetime, zone: ZoneInfo
) -> dict[int | None, ChurnCounts]:
    """Each tier's members by churn risk band: high (0.6 or more), mid (0.3 to 0.6) and low."""
    scored = _member_in(_risk("gte", 0), workspace_id=workspace_id, now=now, zone=zone)
    high = _member_in(_risk("gte", HIGH_RISK), workspace_id=workspace_id, now=now, zone=zone)
    mid = _member_in(
        {"type": "all", "rules": [_risk("gte", MID_RISK), _risk("lt", HIGH_RISK)]},
        workspace_id=workspace_id,
        now=now,
        zone=zone,
    )
    rows = session.execute(
        select(
            LoyaltyMember.tier_id,
            func.count(),
            _sum_when(scored, 1),
            _sum_when(high, 1),
            _sum_when(mid, 1),
        )
        .where(*_program(workspace_id, program_id))
        .group_by(LoyaltyMember.tier_id)
    ).all()
    return {tier_id: ChurnCounts(int(n), int(s), int(h), int(m)) for tier_id, n, s, h, m in rows}


def members_page(
    session: Session,
    *,
    workspace_id: int,
    program_id: int,
    tier_id: int | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[MemberLine], str | None]:
    """The program's members, newest first (of one tier when ``tier_id`` is given), with their
    names and points."""
    query = select(LoyaltyMember).where(*_program(workspace_id, program_id))
    if tier_id is not None:
        query = query.where(LoyaltyMember.tier_id == tier_id)
    found, next_cursor = newest_first(
        session,
        query,
        time=LoyaltyMember.created_at,
        id=LoyaltyMember.id,
        cursor=cursor,
        limit=limit,
    )
    if not found:
        return [], None
    ids = [m.id for m in found]
    points = {
        member_id: (int(total), int(available))
        for member_id, total, available in session.execute(
            select(
                LedgerEntry.member_id,
                func.coalesce(func.sum(LedgerEntry.amount), 0),
                _sum_when(and_(LedgerEntry.remaining > 0, _spendable(now)), LedgerEntry.remaining),
            )
            .where(*_ledger(workspace_id, program_id), LedgerEntry.member_id.in_(ids))
            .group_by(LedgerEntry.member_id)
        )
    }
    names: dict[int, str | None] = dict(
        session.execute(
            select(Customer.id, Customer.display_name).where(
                Customer.workspace_id == workspace_id,
                Customer.id.in_([m.customer_id for m in found]),
            )
        )
        .tuples()
        .all()
    )
    return [
        MemberLine(m, names.get(m.customer_id), *points.get(m.id, (0, 0))) for m in found
    ], next_cursor
