"""What a member is told: points earned, a tier reached or lost, a tier about to end, points
about to expire. Service messages, sent through the outbox by email (or a text message when the
member has only a phone number); the outbox asks the consent policy before each send.

Each message has a dedupe key (the ledger entry, the tier change, the member and the day), so
the job may run as often as it likes and a member is told each thing once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.channels import outbox
from cxloop.core.i18n import format_date, format_number, gettext, normalise_locale
from cxloop.loyalty.program import Program
from cxloop.loyalty.tiers import MemberRow, qualified_tier, standings
from cxloop.models import Customer, LedgerEntry, LoyaltyMember, TierChange

# How far back each run looks for news (the job runs every ten minutes; a run missed for longer
# than this drops news that is stale by then rather than sending it late).
LOOK_BACK = timedelta(hours=6)
EXPIRY_NOTICE = timedelta(days=30)


@dataclass(frozen=True)
class Told:
    earned: int = 0
    tiers: int = 0
    ending: int = 0
    expiring: int = 0


def _send(
    session: Session,
    program: Program,
    customer: Customer,
    key: str,
    text_key: str,
    **params: object,
) -> bool:
    """Queue one message to the customer in their language; False when they have no address."""
    if customer.erased_at is not None:
        return False
    channel, address = (
        ("email", customer.email) if customer.email else ("sms", customer.phone or "")
    )
    if not address:
        return False
    lang = normalise_locale(customer.locale)
    name = program.program.name or gettext(lang, "loyalty_message.program")
    text = gettext(lang, f"loyalty_message.{text_key}", program=name, **params)
    outbox.queue_message(
        session,
        workspace_id=program.program.workspace_id,
        channel=channel,
        recipient=address,
        subject=gettext(lang, f"loyalty_message.{text_key}_subject", program=name),
        text=text,
        dedupe_key=key,
        customer_id=customer.id,
        purpose="service",
    )
    return True


def _customers(session: Session, member_ids: set[int]) -> dict[int, Customer]:
    if not member_ids:
        return {}
    rows = session.execute(
        select(LoyaltyMember.id, Customer)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(LoyaltyMember.id.in_(member_ids))
    ).all()
    return {member_id: customer for member_id, customer in rows}


def _day(moment: datetime, lang: str, zone: ZoneInfo) -> str:
    return format_date(moment, lang, zone)


def tell_members(session: Session, program: Program, *, now: datetime) -> Told:
    """Queue what the program's members have to be told now."""
    p = program.program
    since = now - LOOK_BACK
    earned = list(
        session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.program_id == p.id,
                LedgerEntry.kind == "earn",
                LedgerEntry.created_at >= since,
            )
        )
    )
    changes = list(
        session.scalars(
            select(TierChange)
            .join(LoyaltyMember, LoyaltyMember.id == TierChange.member_id)
            .where(LoyaltyMember.program_id == p.id, TierChange.changed_at >= since)
        )
    )
    ending = list(
        session.execute(
            select(
                LoyaltyMember.id,
                LoyaltyMember.customer_id,
                LoyaltyMember.tier_id,
                LoyaltyMember.tier_until,
            ).where(
                LoyaltyMember.program_id == p.id,
                LoyaltyMember.tier_until > now,
                LoyaltyMember.tier_until <= now + EXPIRY_NOTICE,
            )
        )
    )
    expiring = dict(
        session.execute(
            select(LedgerEntry.member_id, func.sum(LedgerEntry.remaining))
            .where(
                LedgerEntry.program_id == p.id,
                LedgerEntry.remaining > 0,
                LedgerEntry.available_at <= now,
                LedgerEntry.expires_at > now,
                LedgerEntry.expires_at <= now + EXPIRY_NOTICE,
            )
            .group_by(LedgerEntry.member_id)
        )
        .tuples()
        .all()
    )
    customers = _customers(
        session,
        {e.member_id for e in earned}
        | {c.member_id for c in changes}
        | {row[0] for row in ending}
        | set(expiring),
    )
    told: dict[str, int] = defaultdict(int)
    for entry in earned:
        customer = customers.get(entry.member_id)
        lang = normalise_locale(customer.locale if customer else None)
        if customer and _send(
            session,
            program,
            customer,
            f"loyalty:earned:{entry.id}",
            "earned",
            points=format_number(entry.amount, lang),
            available=_day(entry.available_at or now, lang, program.zone),
        ):
            told["earned"] += 1
    for change in changes:
        customer = customers.get(change.member_id)
        tier = program.tier(change.to_tier_id)
        if customer is None or tier is None:
            continue
        kind = "tier_up" if change.reason == "upgrade" else "tier_down"
        name = tier.name or tier.key
        if _send(session, program, customer, f"loyalty:tier:{change.id}", kind, tier=name):
            told["tiers"] += 1
    # A tier about to end is worth a word only when the member no longer earns it.
    rows = [MemberRow(*row) for row in ending]
    found = standings(session, program, members=rows, now=now) if rows else {}
    for row in rows:
        tier = program.tier(row.tier_id)
        customer = customers.get(row.id)
        qualified = qualified_tier(program, found[row.id])
        if tier is None or customer is None or qualified is None or qualified.rank >= tier.rank:
            continue
        lang = normalise_locale(customer.locale)
        assert row.tier_until is not None
        if _send(
            session,
            program,
            customer,
            f"loyalty:ending:{row.id}:{row.tier_until.date().isoformat()}",
            "tier_ending",
            tier=tier.name or tier.key,
            until=_day(row.tier_until, lang, program.zone),
        ):
            told["ending"] += 1
    today = now.astimezone(program.zone).date().isoformat()
    for member_id, points in expiring.items():
        customer = customers.get(member_id)
        if customer is None or not points:
            continue
        lang = normalise_locale(customer.locale)
        # Once a month at most: the key is the member and the month of the notice.
        if _send(
            session,
            program,
            customer,
            f"loyalty:expiring:{member_id}:{today[:7]}",
            "expiring",
            points=format_number(int(points), lang),
        ):
            told["expiring"] += 1
    return Told(**told)
