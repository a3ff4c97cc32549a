"""A member as they and the operators see them (balances, tier progress, the ledger), and the
points an operator adds or takes by hand or a member spends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.i18n import format_money, format_number, gettext
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import utcnow
from cxloop.loyalty import ledger
from cxloop.loyalty.earning import ensure_members
from cxloop.loyalty.program import Program, load_programs
from cxloop.loyalty.tiers import MemberRow, Standing, qualified_tier, standings
from cxloop.models import EarningRule, LedgerEntry, LoyaltyMember, LoyaltyTier, TierChange
from cxloop.profiles.service import get_customer


@dataclass(frozen=True)
class Progress:
    """Where a member stands: their tier, the next one and how much more it needs."""

    tier: LoyaltyTier | None
    tier_until: datetime | None
    next_tier: LoyaltyTier | None
    measured: float | None
    needed: float | None


def active_program(session: Session, *, workspace_id: int) -> Program:
    program = load_programs(session, workspace_ids=[workspace_id]).get(workspace_id)
    if program is None:
        raise NotFound("this workspace has no active loyalty program.")
    return program


def member_of(session: Session, *, program: Program, customer_id: int) -> LoyaltyMember | None:
    """The member for this customer (following merges), or None when not enrolled."""
    customer = get_customer(
        session, workspace_id=program.program.workspace_id, customer_id=customer_id
    )
    return session.scalar(
        select(LoyaltyMember).where(
            LoyaltyMember.program_id == program.program.id,
            LoyaltyMember.customer_id == customer.id,
        )
    )


def enrol(session: Session, *, program: Program, customer_id: int) -> LoyaltyMember:
    customer = get_customer(
        session, workspace_id=program.program.workspace_id, customer_id=customer_id
    )
    return ensure_members(session, program=program, customer_ids=[customer.id], joined_at=utcnow())[
        customer.id
    ]


def progress_of(
    session: Session, *, program: Program, member: LoyaltyMember, now: datetime
) -> Progress:
    tier = program.tier(member.tier_id)
    rank = tier.rank if tier is not None else -1
    higher = [t for t in program.tiers if t.rank > rank]
    if not higher:
        return Progress(tier, member.tier_until, None, None, None)
    standing = standings(session, program, members=[_as_row(member)], now=now).get(
        member.id, Standing()
    )
    # The next tier up is the one after the tier held or qualified for, whichever is higher.
    qualified = qualified_tier(program, standing)
    if qualified is not None and qualified.rank > rank:
        higher = [t for t in program.tiers if t.rank > qualified.rank] or higher
    target = higher[0]
    measured = standing.of(target.measure)
    return Progress(
        tier,
        member.tier_until,
        target,
        float(measured),
        float(max(target.threshold - measured, Decimal(0))),
    )


def _as_row(member: LoyaltyMember) -> MemberRow:
    return MemberRow(member.id, member.customer_id, member.tier_id, member.tier_until)


def ledger_page(
    session: Session, *, member: LoyaltyMember, cursor: str | None, limit: int
) -> tuple[list[tuple[LedgerEntry, str | None]], str | None]:
    """The member's ledger, newest first, with each entry's rule key."""
    entries, next_cursor = newest_first(
        session,
        select(LedgerEntry).where(LedgerEntry.member_id == member.id),
        time=LedgerEntry.created_at,
        id=LedgerEntry.id,
        cursor=cursor,
        limit=limit,
    )
    rule_ids = {e.rule_id for e in entries if e.rule_id is not None}
    keys = (
        dict(
            session.execute(
                select(EarningRule.id, EarningRule.key).where(EarningRule.id.in_(rule_ids))
            )
            .tuples()
            .all()
        )
        if rule_ids
        else {}
    )
    return [(e, keys.get(e.rule_id) if e.rule_id else None) for e in entries], next_cursor


def _point_type(program: Program, point_type: str) -> str:
    if point_type not in program.program.point_types:
        raise ValidationFailed(
            f"{point_type!r} is not a point type of this program "
            f"({', '.join(program.program.point_types)})."
        )
    return point_type


def _once(
    session: Session, program: Program, point_type: str, action: str, idempotency_key: str | None
) -> tuple[str | None, LedgerEntry | None]:
    """The ledger key of a change asked for with ``idempotency_key``, and the entry it made
    when it was asked for before."""
    _point_type(program, point_type)
    if idempotency_key is None:
        return None, None
    key = f"{action}:{idempotency_key}"
    done = session.scalar(
        select(LedgerEntry).where(
            LedgerEntry.program_id == program.program.id, LedgerEntry.source_key == key
        )
    )
    return key, done


def _audit(
    session: Session,
    principal: Principal,
    member: LoyaltyMember,
    action: str,
    points: int,
    point_type: str,
    reason: str,
) -> None:
    record_audit(
        session,
        principal=principal,
        action=action,
        workspace_id=member.workspace_id,
        target_type="customer",
        target_id=member.customer_id,
        detail={"points": points, "point_type": point_type, "reason": reason},
    )


def adjust_points(
    session: Session,
    *,
    principal: Principal,
    program: Program,
    customer_id: int,
    points: int,
    point_type: str,
    reason: str,
    idempotency_key: str | None = None,
) -> LedgerEntry | None:
    """Add (``points`` > 0) or take (< 0) points by hand (audited as ``loyalty.adjust``); a
    deduction takes no more than the member's spendable points. The same idempotency key
    twice adjusts once."""
    key, done = _once(session, program, point_type, "adjust", idempotency_key)
    if done is not None:
        return done
    member = enrol(session, program=program, customer_id=customer_id)
    now = utcnow()
    if points > 0:
        entry: LedgerEntry | None = ledger.add_lot(
            session,
            member=member,
            point_type=point_type,
            kind="adjust",
            amount=points,
            occurred_at=now,
            available_at=now,
            expires_at=None,
            reason=reason,
            source_key=key,
            created_by_id=principal.user_id,
        )
    else:
        entry = ledger.take(
            session,
            member=member,
            point_type=point_type,
            kind="adjust",
            amount=-points,
            now=now,
            reason=reason,
            source_key=key,
            created_by_id=principal.user_id,
        )
    _audit(session, principal, member, "loyalty.adjust", points, point_type, reason)
    return entry


def redeem_points(
    session: Session,
    *,
    principal: Principal,
    program: Program,
    customer_id: int,
    points: int,
    point_type: str,
    reason: str,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Spend a member's available points, soonest to expire first (audited as
    ``loyalty.redeem``); the same idempotency key twice spends once."""
    key, done = _once(session, program, point_type, "redeem", idempotency_key)
    if done is not None:
        return done
    member = member_of(session, program=program, customer_id=customer_id)
    if member is None:
        raise ledger.NotEnoughPoints(f"{points} points asked, 0 available.")
    entry = ledger.take(
        session,
        member=member,
        point_type=point_type,
        kind="redeem",
        amount=points,
        now=utcnow(),
        reason=reason,
        source_key=key,
        created_by_id=principal.user_id,
    )
    assert entry is not None
    _audit(session, principal, member, "loyalty.redeem", points, point_type, reason)
    return entry


def progress_words(progress: Progress, *, currency: str, lang: str) -> str | None:
    """What the next tier needs, in words ("Gold까지 ₩120,000 남음"); None at the top."""
    target = progress.next_tier
    if target is None or progress.needed is None:
        return None
    amount = measure_words(target.measure, progress.needed, currency=currency, lang=lang)
    name = target.name or target.key
    return gettext(lang, "loyalty_words.to_next_tier", tier=name, amount=amount)


def measure_words(measure: str, value: Decimal | float, *, currency: str, lang: str) -> str:
    """A tier measure's value in words: "₩120,000", "3건", "1,200포인트"."""
    if measure == "spend":
        return format_money(Decimal(str(value)), currency, lang)
    key = "loyalty_words.orders" if measure == "orders" else "loyalty_words.points"
    return gettext(lang, key, n=format_number(int(value), lang))


def tier_history(
    session: Session, *, program: Program, member: LoyaltyMember, limit: int = 20
) -> list[tuple[TierChange, LoyaltyTier | None, LoyaltyTier | None]]:
    """The member's latest tier changes, newest first, with the tiers they went from and to."""
    changes = session.scalars(
        select(TierChange)
        .where(TierChange.member_id == member.id)
        .order_by(TierChange.changed_at.desc(), TierChange.id.desc())
        .limit(limit)
    )
    return [(c, program.tier(c.from_tier_id), program.tier(c.to_tier_id)) for c in changes]
