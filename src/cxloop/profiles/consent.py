"""The consent policy: the one answer to "may I send this purpose on this channel to this
customer at this time?", asked by every sender (survey invitations and reminders, improvement
announcements, and later care, automation and loyalty).

The consent ledger (``ConsentRecord``) keeps every change per purpose and channel; the state in
force is the latest record of a (purpose, channel). The rules, in the order they are applied:

1. An erased customer is never sent anything (``denied``, reason ``erased``).
2. A profile merged into another is never sent anything (``denied``, reason ``merged``): the
   sender resolves the surviving profile first and asks about it (merging moves the ledger to
   the survivor).
3. ``service`` messages (invitations to rate a service used, notices about the customer's own
   feedback, …) are allowed unless the latest service record for the channel is a withdrawal
   (``denied``, reason ``opted_out``). No record means allowed.
4. ``marketing`` and ``third_party`` messages need a recorded opt-in for that purpose and
   channel: a withdrawal is ``opted_out``, no record at all is ``no_opt_in``.
5. Night-time advertising: a ``marketing`` message between 21:00 and 08:00 in the customer's
   time zone (the profile's ``timezone``, else the workspace's, else Asia/Seoul) also needs the
   customer's night consent for the channel (purpose ``night_marketing`` in the ledger, the
   "night-time advertising" row of the consent grid). Without it the answer is ``held`` until
   08:00 local time (given in UTC), never a plain no: the sender sends it then.

Channels are the ledger's: email, sms, kakao, push and in_app. Asking about another purpose or
channel (``night_marketing`` is a ledger purpose, not one a message is sent for) is a
``ValidationFailed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import ConsentRecord, Customer, Workspace
from cxloop.models.customer import CONSENT_CHANNELS

SEND_PURPOSES = ("service", "marketing", "third_party")
NIGHT_PURPOSE = "night_marketing"
DEFAULT_TZ = "Asia/Seoul"
# Night-time advertising runs from NIGHT_STARTS to NIGHT_ENDS local time.
NIGHT_STARTS = time(21)
NIGHT_ENDS = time(8)
DENIAL_REASONS = ("erased", "merged", "opted_out", "no_opt_in")
HOLD_REASONS = ("night",)

# The state in force per (purpose, channel): True granted, False withdrawn (absent: no record).
ConsentState = Mapping[tuple[str, str], bool]


@dataclass(frozen=True)
class Decision:
    """The policy's answer: ``allowed``; ``denied`` with a reason (``erased``, ``merged``,
    ``opted_out``, ``no_opt_in``); or ``held`` (reason ``night``) until ``hold_until`` (UTC)."""

    outcome: Literal["allowed", "denied", "held"]
    reason: str | None = None
    hold_until: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == "allowed"

    @property
    def denied(self) -> bool:
        return self.outcome == "denied"

    @property
    def held(self) -> bool:
        return self.outcome == "held"


ALLOWED = Decision("allowed")


def _check(purpose: str, channel: str) -> None:
    if purpose not in SEND_PURPOSES:
        raise ValidationFailed(
            f"purpose must be one of {', '.join(SEND_PURPOSES)}.",
            errors=[{"field": "purpose", "message": "unknown purpose"}],
        )
    if channel not in CONSENT_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(CONSENT_CHANNELS)}.",
            errors=[{"field": "channel", "message": "unknown channel"}],
        )


def zone_named(*names: str | None) -> ZoneInfo:
    """The first of ``names`` that is a known time zone, else Asia/Seoul."""
    for name in names:
        if not name:
            continue
        try:
            return ZoneInfo(name)
        except (KeyError, ValueError, OSError):
            continue
    return ZoneInfo(DEFAULT_TZ)


def night_ends(at: datetime, zone: ZoneInfo) -> datetime | None:
    """When the night-time advertising window around ``at`` ends (08:00 local, in UTC); None
    when ``at`` is in the daytime (08:00 to 21:00 local)."""
    local = as_utc(at).astimezone(zone)
    if NIGHT_ENDS <= local.time() < NIGHT_STARTS:
        return None
    day = local.date() if local.time() < NIGHT_ENDS else local.date() + timedelta(days=1)
    return datetime.combine(day, NIGHT_ENDS, tzinfo=zone).astimezone(UTC)


def decide(
    *,
    customer: Customer,
    purpose: str,
    channel: str,
    at: datetime,
    state: ConsentState,
    zone: ZoneInfo | None = None,
) -> Decision:
    """The policy over a customer's consent ``state`` (no database); ``zone`` is needed only
    for marketing (Asia/Seoul when not given)."""
    _check(purpose, channel)
    if customer.erased_at is not None:
        return Decision("denied", "erased")
    if customer.merged_into_id is not None:
        return Decision("denied", "merged")
    granted = state.get((purpose, channel))
    if purpose == "service":
        return Decision("denied", "opted_out") if granted is False else ALLOWED
    if granted is None:
        return Decision("denied", "no_opt_in")
    if not granted:
        return Decision("denied", "opted_out")
    if purpose == "marketing" and not state.get((NIGHT_PURPOSE, channel), False):
        until = night_ends(at, zone or ZoneInfo(DEFAULT_TZ))
        if until is not None:
            return Decision("held", "night", until)
    return ALLOWED


def _states(
    session: Session, *, workspace_id: int, customer_ids: Iterable[int], purpose: str, channel: str
) -> dict[int, dict[tuple[str, str], bool]]:
    """The latest record of the purpose (and night consent) on the channel, per customer."""
    ids = sorted(set(customer_ids))
    states: dict[int, dict[tuple[str, str], bool]] = {cid: {} for cid in ids}
    purposes = (purpose, NIGHT_PURPOSE) if purpose == "marketing" else (purpose,)
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(ConsentRecord.customer_id, ConsentRecord.purpose, ConsentRecord.granted)
            .where(
                ConsentRecord.workspace_id == workspace_id,
                ConsentRecord.customer_id.in_(ids[start : start + 1000]),
                ConsentRecord.purpose.in_(purposes),
                ConsentRecord.channel == channel,
            )
            .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
        )
        for customer_id, record_purpose, granted in rows:
            states[int(customer_id)][(str(record_purpose), channel)] = bool(granted)
    return states


def may_send_each(
    session: Session,
    *,
    customers: Iterable[Customer],
    purpose: str,
    channel: str,
    at: datetime | None = None,
) -> dict[int, Decision]:
    """The policy's decision for each customer (by id), with one ledger read for them all."""
    _check(purpose, channel)
    at = as_utc(at) if at is not None else utcnow()
    by_workspace: dict[int, list[Customer]] = {}
    for customer in customers:
        by_workspace.setdefault(customer.workspace_id, []).append(customer)
    decisions: dict[int, Decision] = {}
    for workspace_id, group in by_workspace.items():
        states = _states(
            session,
            workspace_id=workspace_id,
            customer_ids=[c.id for c in group],
            purpose=purpose,
            channel=channel,
        )
        workspace_zone: str | None = None
        if purpose == "marketing":
            workspace_zone = session.scalar(
                select(Workspace.timezone).where(Workspace.id == workspace_id)
            )
        for customer in group:
            decisions[customer.id] = decide(
                customer=customer,
                purpose=purpose,
                channel=channel,
                at=at,
                state=states[customer.id],
                zone=zone_named(customer.timezone, workspace_zone),
            )
    return decisions


def may_send(
    session: Session,
    *,
    customer: Customer,
    purpose: str,
    channel: str,
    at: datetime | None = None,
) -> Decision:
    """May a message of ``purpose`` go to ``customer`` on ``channel`` at ``at`` (now)?"""
    return may_send_each(session, customers=[customer], purpose=purpose, channel=channel, at=at)[
        customer.id
    ]
