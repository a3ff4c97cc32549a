"""SLA policies and their clocks: a team's business hours and targets, the due times a
conversation's clocks run to, their states (active, at risk, met, missed), and the sweep that
records misses and warns the team before one.

Clocks, in the team's business hours unless the policy counts wall-clock time:
- first response: from the conversation's start to the first reply;
- next response: from a customer message that came after a reply to the next reply;
- resolution: from the start to resolved (a reopening starts it again from the reopening).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.care.business_hours import BusinessCalendar, Override, check_weekly
from cxloop.core.db import read_once
from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import CareTeamHours, Conversation, Membership, SlaPolicy
from cxloop.notifications import service as notifications

TARGETS = ("first_response", "next_response", "resolution")
Target = Literal["first_response", "next_response", "resolution"]
State = Literal["active", "at_risk", "met", "missed"]
OFFICE_WEEK = [[[9 * 60, 18 * 60]]] * 5 + [[], []]  # Monday to Friday, 09:00–18:00
MAX_TARGET_MINUTES = 60 * 24 * 90


# --- business hours ------------------------------------------------------------------------------


def hours_for(session: Session, *, workspace_id: int, team: str) -> CareTeamHours | None:
    """The team's business hours, else the workspace's default (team ""), else None."""
    rows = {
        h.team: h
        for h in session.scalars(
            select(CareTeamHours).where(
                CareTeamHours.workspace_id == workspace_id, CareTeamHours.team.in_({team, ""})
            )
        )
    }
    return rows.get(team) or rows.get("")


def calendar_of(hours: CareTeamHours | None) -> BusinessCalendar:
    """The calendar of stored hours; office hours (Mon–Fri 09–18 KST, holidays closed) when a
    workspace set none."""
    if hours is None:
        return BusinessCalendar.office_hours()
    override = None
    if hours.override_open is not None and hours.override_since is not None:
        override = Override(open=hours.override_open, since=as_utc(hours.override_since))
    return BusinessCalendar(
        weekly=check_weekly([[tuple(i) for i in day] for day in hours.weekly]),
        zone=ZoneInfo(hours.zone),
        public_holidays=hours.public_holidays,
        closed_days=frozenset(date.fromisoformat(d) for d in hours.closed_days),
        override=override,
    )


def member_teams(session: Session, *, workspace_id: int) -> list[str]:
    """Every team the workspace's members work in."""
    names: set[str] = set()
    for teams in session.scalars(
        select(Membership.teams).where(Membership.workspace_id == workspace_id)
    ):
        names.update(t for t in teams or [] if isinstance(t, str) and t)
    return sorted(names)


def _audit(
    session: Session,
    principal: Principal | None,
    *,
    workspace_id: int,
    action: str,
    team: str,
    detail: dict[str, Any],
) -> None:
    """An admin change of a team's hours or targets in the audit log ("default" for "")."""
    record_audit(
        session,
        principal=principal,
        workspace_id=workspace_id,
        action=action,
        target_type="care_team",
        target_id=team or "default",
        detail=detail,
    )


def set_hours(
    session: Session,
    *,
    workspace_id: int,
    team: str,
    weekly: list[list[list[int]]],
    zone: str = "Asia/Seoul",
    public_holidays: bool = True,
    closed_days: list[date] | None = None,
    principal: Principal | None = None,
) -> CareTeamHours:
    """Store a team's business hours (checked: seven days of forward, non-overlapping hours);
    audited (``principal`` None: the system)."""
    hours = _store_hours(
        session,
        workspace_id=workspace_id,
        team=team,
        weekly=weekly,
        zone=zone,
        public_holidays=public_holidays,
        closed_days=closed_days or [],
    )
    _audit(
        session,
        principal,
        workspace_id=workspace_id,
        action="care.business_hours_set",
        team=hours.team,
        detail={
            "zone": hours.zone,
            "weekly": hours.weekly,
            "public_holidays": hours.public_holidays,
            "closed_days": hours.closed_days,
        },
    )
    return hours


def _store_hours(
    session: Session,
    *,
    workspace_id: int,
    team: str,
    weekly: list[list[list[int]]],
    zone: str,
    public_holidays: bool,
    closed_days: list[date],
) -> CareTeamHours:
    try:
        days = check_weekly([[(int(a), int(b)) for a, b in day] for day in weekly])
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(str(exc), errors=[{"field": "weekly", "message": str(exc)}]) from exc
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(
            f"Unknown time zone {zone!r}.", errors=[{"field": "zone", "message": "unknown"}]
        ) from exc
    team = " ".join(team.split())[:64]
    hours = session.scalar(
        select(CareTeamHours).where(
            CareTeamHours.workspace_id == workspace_id, CareTeamHours.team == team
        )
    )
    if hours is None:
        hours = CareTeamHours(workspace_id=workspace_id, team=team)
        session.add(hours)
    hours.weekly = [[list(i) for i in day] for day in days]
    hours.zone = zone
    hours.public_holidays = public_holidays
    hours.closed_days = sorted({d.isoformat() for d in closed_days})
    session.flush()
    return hours


def set_override(
    session: Session,
    *,
    workspace_id: int,
    team: str,
    open_now: bool | None,
    principal: Principal | None = None,
) -> CareTeamHours:
    """Open or close the team now, until its schedule next changes; None lifts the override.
    A team without hours of its own gets a copy of the hours it followed; audited."""
    team = " ".join(team.split())[:64]
    hours = hours_for(session, workspace_id=workspace_id, team=team)
    if hours is None or hours.team != team:
        hours = _store_hours(
            session,
            workspace_id=workspace_id,
            team=team,
            weekly=hours.weekly if hours else OFFICE_WEEK,
            zone=hours.zone if hours else "Asia/Seoul",
            public_holidays=hours.public_holidays if hours else True,
            closed_days=[date.fromisoformat(d) for d in hours.closed_days] if hours else [],
        )
    hours.override_open = open_now
    hours.override_since = utcnow() if open_now is not None else None
    session.flush()
    _audit(
        session,
        principal,
        workspace_id=workspace_id,
        action="care.business_hours_override",
        team=hours.team,
        detail={"open": open_now},
    )
    return hours


# --- policies ------------------------------------------------------------------------------------


def policy_for(session: Session, *, workspace_id: int, team: str) -> SlaPolicy | None:
    """The team's policy, else the workspace's default (team ""), else None (no targets)."""
    rows = {
        p.team: p
        for p in session.scalars(
            select(SlaPolicy).where(
                SlaPolicy.workspace_id == workspace_id, SlaPolicy.team.in_({team, ""})
            )
        )
    }
    return rows.get(team) or rows.get("")


def set_policy(
    session: Session,
    *,
    workspace_id: int,
    team: str,
    first_response_minutes: int | None,
    next_response_minutes: int | None,
    resolution_minutes: int | None,
    business_hours: bool = True,
    warn_minutes: int = 30,
    principal: Principal | None = None,
) -> SlaPolicy:
    """Store a team's targets (minutes; None for no target). New conversations run to them;
    audited (``principal`` None: the system)."""
    for name, value in (
        ("first_response_minutes", first_response_minutes),
        ("next_response_minutes", next_response_minutes),
        ("resolution_minutes", resolution_minutes),
    ):
        if value is not None and not 1 <= value <= MAX_TARGET_MINUTES:
            raise ValidationFailed(
                f"{name} must be 1 to {MAX_TARGET_MINUTES} minutes.",
                errors=[{"field": name, "message": f"1 to {MAX_TARGET_MINUTES}"}],
            )
    if not 0 <= warn_minutes <= 24 * 60:
        raise ValidationFailed(
            "warn_minutes must be 0 to 1440.",
            errors=[{"field": "warn_minutes", "message": "0–1440"}],
        )
    team = " ".join(team.split())[:64]
    policy = session.scalar(
        select(SlaPolicy).where(SlaPolicy.workspace_id == workspace_id, SlaPolicy.team == team)
    )
    if policy is None:
        policy = SlaPolicy(workspace_id=workspace_id, team=team)
        session.add(policy)
    policy.first_response_minutes = first_response_minutes
    policy.next_response_minutes = next_response_minutes
    policy.resolution_minutes = resolution_minutes
    policy.business_hours = business_hours
    policy.warn_minutes = warn_minutes
    session.flush()
    _audit(
        session,
        principal,
        workspace_id=workspace_id,
        action="care.sla_policy_set",
        team=policy.team,
        detail={
            "first_response_minutes": first_response_minutes,
            "next_response_minutes": next_response_minutes,
            "resolution_minutes": resolution_minutes,
            "business_hours": business_hours,
            "warn_minutes": warn_minutes,
        },
    )
    return policy


# --- the clocks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    policy: SlaPolicy
    calendar: BusinessCalendar

    def due(self, start: datetime, minutes: int | None) -> datetime | None:
        if minutes is None:
            return None
        span = timedelta(minutes=minutes)
        if not self.policy.business_hours:
            return as_utc(start) + span
        try:
            return self.calendar.add(start, span)
        except ValueError:  # a calendar never open: the target cannot be kept, so no clock
            return None


def clock_for(session: Session, conversation: Conversation) -> Clock | None:
    workspace_id, team = conversation.workspace_id, conversation.team

    def read() -> Clock | None:
        policy = policy_for(session, workspace_id=workspace_id, team=team)
        if policy is None:
            return None
        return Clock(policy, calendar_of(hours_for(session, workspace_id=workspace_id, team=team)))

    return read_once(session, ("care.sla_clock", workspace_id, team), read)


def start_clocks(session: Session, conversation: Conversation, *, at: datetime) -> None:
    """A new conversation: first response and resolution run from ``at``."""
    clock = clock_for(session, conversation)
    if clock is None:
        return
    conversation.first_response_due_at = clock.due(at, clock.policy.first_response_minutes)
    conversation.resolution_due_at = clock.due(at, clock.policy.resolution_minutes)


def customer_wrote(
    session: Session, conversation: Conversation, *, at: datetime, reopened: bool
) -> None:
    """A customer message: after a reply the next-response clock starts (unless it runs
    already); a reopening starts the resolution clock again."""
    clock = clock_for(session, conversation)
    if clock is None:
        return
    if conversation.first_response_at is not None and conversation.next_response_due_at is None:
        conversation.next_response_due_at = clock.due(at, clock.policy.next_response_minutes)
    if reopened:
        conversation.resolution_due_at = clock.due(at, clock.policy.resolution_minutes)
        conversation.sla_warned = [w for w in conversation.sla_warned if w != "resolution"]


def _record(conversation: Conversation, target: str, due: datetime | None, at: datetime) -> None:
    if due is not None and as_utc(at) > as_utc(due) and target not in conversation.sla_missed:
        conversation.sla_missed = [*conversation.sla_missed, target]


def agent_replied(conversation: Conversation, *, at: datetime) -> None:
    """A reply stops the first- or next-response clock (recording a miss when it came late)."""
    if conversation.first_response_at is None:
        _record(conversation, "first_response", conversation.first_response_due_at, at)
    if conversation.next_response_due_at is not None:
        _record(conversation, "next_response", conversation.next_response_due_at, at)
        conversation.next_response_due_at = None
        conversation.sla_warned = [w for w in conversation.sla_warned if w != "next_response"]


def resolved(conversation: Conversation, *, at: datetime) -> None:
    """Resolution stops the resolution clock (a miss when late) and any waiting reply clock."""
    _record(conversation, "resolution", conversation.resolution_due_at, at)
    conversation.next_response_due_at = None


def states(
    conversation: Conversation, *, warn: timedelta, now: datetime | None = None
) -> dict[str, State]:
    """Each target's state now: met, missed, at risk (within ``warn`` of its due time) or
    active; a target the conversation has no clock for is left out."""
    moment = as_utc(now or utcnow())
    result: dict[str, State] = {}
    stopped = {
        "first_response": conversation.first_response_at,
        "next_response": None,
        "resolution": conversation.resolved_at if conversation.status == "resolved" else None,
    }
    due = {
        "first_response": conversation.first_response_due_at,
        "next_response": conversation.next_response_due_at,
        "resolution": conversation.resolution_due_at,
    }
    for target in TARGETS:
        if target in conversation.sla_missed:
            result[target] = "missed"
        elif stopped[target] is not None and due[target] is not None:
            result[target] = "met"
        elif due[target] is not None:
            when = as_utc(due[target])  # type: ignore[arg-type]
            result[target] = (
                "missed" if moment > when else "at_risk" if moment > when - warn else "active"
            )
    return result


# --- the sweep -----------------------------------------------------------------------------------


def sweep(
    session: Session, *, now: datetime | None = None, workspace_id: int | None = None
) -> tuple[int, int]:
    """Record the targets missed by now and warn each team once before a miss (in one
    workspace, or all); returns (misses recorded, warnings given). Run every minute."""
    moment = as_utc(now or utcnow())
    horizon = moment + timedelta(days=1)
    scope = [] if workspace_id is None else [Conversation.workspace_id == workspace_id]
    running = list(
        session.scalars(
            select(Conversation).where(
                *scope,
                Conversation.status != "resolved",
                or_(
                    Conversation.first_response_due_at <= horizon,
                    Conversation.next_response_due_at <= horizon,
                    Conversation.resolution_due_at <= horizon,
                ),
            )
        )
    )
    misses = warnings = 0
    for conversation in running:
        policy = policy_for(session, workspace_id=conversation.workspace_id, team=conversation.team)
        warn = timedelta(minutes=policy.warn_minutes if policy else 30)
        due = {
            "first_response": conversation.first_response_due_at
            if conversation.first_response_at is None
            else None,
            "next_response": conversation.next_response_due_at,
            "resolution": conversation.resolution_due_at,
        }
        for target, when in due.items():
            if when is None or target in conversation.sla_missed:
                continue
            when = as_utc(when)
            if moment > when:
                conversation.sla_missed = [*conversation.sla_missed, target]
                misses += 1
            elif moment > when - warn and target not in conversation.sla_warned:
                conversation.sla_warned = [*conversation.sla_warned, target]
                warnings += bool(
                    notifications.notify(
                        session,
                        workspace_id=conversation.workspace_id,
                        kind=f"care_sla_{target}",
                        params={"id": conversation.id, "team": conversation.team or "-"},
                        link=f"/inbox/{conversation.id}",
                        dedupe_key=f"care-sla:{conversation.id}:{target}:{when.isoformat()}",
                        team=conversation.team,
                        user_ids=[conversation.assignee_id] if conversation.assignee_id else None,
                    )
                )
    session.flush()
    return misses, warnings
