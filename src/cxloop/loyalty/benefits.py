"""Tier benefits outside the ledger's earning rules: the birthday bonus of a member's tier, and
the member's tier and free-shipping flag kept as profile traits (``loyalty_tier``,
``free_shipping``), so segments, journeys and the shop's own systems can use them.

Both are safe to run again: a birthday bonus has its source key (the member and the year), and
traits are written only where they differ.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cxloop.loyalty import ledger
from cxloop.loyalty.program import Program
from cxloop.models import Customer, LedgerEntry, LoyaltyMember, TierChange
from cxloop.profiles.service import update_customer

# A birthday trait as shops send it: 1990-03-15, 19900315, 03-15 or 0315 (the year is not
# needed, and not kept by many shops).
BIRTHDAY = re.compile(r"^(?:(\d{4})-?)?(\d{2})-?(\d{2})(?:[T ].*)?$")
SYNC_LOOK_BACK = timedelta(hours=6)


def birthday_of(value: object) -> tuple[int, int] | None:
    """(month, day) of a birthday trait, or None when it is not one."""
    if not isinstance(value, str):
        return None
    found = BIRTHDAY.match(value.strip())
    if found is None:
        return None
    month, day = int(found[2]), int(found[3])
    try:
        date(2000, month, day)  # a leap year: 29 February is a birthday
    except ValueError:
        return None
    return month, day


def _is_birthday(month_day: tuple[int, int], today: date) -> bool:
    if month_day == (2, 29) and not _leap(today.year):
        return (today.month, today.day) == (2, 28)
    return month_day == (today.month, today.day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def give_birthday_bonuses(session: Session, program: Program, *, now: datetime) -> int:
    """Add each member's tier birthday bonus on their birthday (local day); returns how many."""
    tiers = {t.id: t for t in program.tiers if int(t.benefits.get("birthday_bonus") or 0) > 0}
    if not tiers:
        return 0
    today = now.astimezone(program.zone).date()
    rows = session.execute(
        select(LoyaltyMember, Customer.traits)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(
            LoyaltyMember.program_id == program.program.id,
            LoyaltyMember.tier_id.in_(list(tiers)),
            Customer.erased_at.is_(None),
        )
    ).all()
    given = 0
    point_type = program.program.point_types[0]
    for member, traits in rows:
        month_day = birthday_of((traits or {}).get("birthday"))
        if month_day is None or not _is_birthday(month_day, today):
            continue
        key = f"birthday:{member.id}:{today.year}"
        if session.scalar(
            select(LedgerEntry.id).where(
                LedgerEntry.program_id == program.program.id, LedgerEntry.source_key == key
            )
        ):
            continue
        tier = tiers[member.tier_id]
        ledger.add_lot(
            session,
            member=member,
            point_type=point_type,
            kind="earn",
            amount=int(tier.benefits["birthday_bonus"]),
            occurred_at=now,
            available_at=now,
            expires_at=program.expiry_of(now),
            reason=f"birthday ({tier.name or tier.key})",
            source_key=key,
        )
        given += 1
    return given


def sync_tier_traits(session: Session, program: Program, *, now: datetime) -> int:
    """Write the tier and free-shipping traits of the members who joined or changed tier
    lately; returns how many profiles changed."""
    since = now - SYNC_LOOK_BACK
    changed_members = select(TierChange.member_id).where(TierChange.changed_at >= since)
    # Members are enrolled by their first points, so "joined lately" is "earned lately".
    earning_members = select(LedgerEntry.member_id).where(
        LedgerEntry.program_id == program.program.id, LedgerEntry.created_at >= since
    )
    rows = session.execute(
        select(LoyaltyMember.tier_id, Customer)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(
            LoyaltyMember.program_id == program.program.id,
            Customer.erased_at.is_(None),
            or_(LoyaltyMember.id.in_(changed_members), LoyaltyMember.id.in_(earning_members)),
        )
    ).all()
    written = 0
    for tier_id, customer in rows:
        tier = program.tier(tier_id)
        wanted = {
            "loyalty_tier": tier.key if tier else None,
            "free_shipping": bool(tier.benefits.get("free_shipping")) if tier else False,
        }
        current = customer.traits or {}
        if all(current.get(k) == v for k, v in wanted.items()):
            continue
        update_customer(session, customer=customer, traits=wanted)
        written += 1
    return written
