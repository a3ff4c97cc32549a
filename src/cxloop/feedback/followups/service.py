"""Follow-ups close the loop on unhappy answers: one opens for every completed unhappy response,
due some business days later; its team (or assignee) is told when it opens, is assigned or
falls overdue; it is listed, assigned, annotated, rescheduled and closed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, literal, select
from sqlalchemy.orm import Session

from cxloop.accounts.service import role_in
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.pagination import (
    oldest_first,
)
from cxloop.core.settings import get_settings
from cxloop.core.timeutil import KST, as_utc, utcnow
from cxloop.feedback.followups import digests as followup_digests
from cxloop.models import FollowUp, Notification, Response, Survey
from cxloop.models.feedback import FOLLOW_UP_STATUSES
from cxloop.notifications import service as notifications

# --- follow-ups --------------------------------------------------------------------------------

# An answer is unhappy, and someone must follow it up, at these scores (inclusive): NPS
# detractors (0–6), CSAT dissatisfied (1–2 of 5) and CES high effort (1–3 of 7, where a higher
# score means the task was easier).
NPS_UNHAPPY_MAX = 6
CSAT_UNHAPPY_MAX = 2
CES_UNHAPPY_MAX = 3
# The workspace default: a follow-up is due this many business days after the answer.
FOLLOW_UP_BUSINESS_DAYS = 2
# Team of follow-ups whose survey names no owner team.
DEFAULT_FOLLOW_UP_TEAM = "cx"
CLOSED_FOLLOW_UP_STATUSES = frozenset({"done", "dismissed"})


class _Unset:
    """A PATCH field the caller left out (as opposed to one set to None)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# What each unhappy score is called in the reason the API keeps.
UNHAPPY_WORDS = {"nps": "detractor", "csat": "dissatisfied", "ces": "high effort"}


def unhappy_scores(response: Response | None) -> list[tuple[str, int]]:
    """The scores that make this response unhappy, as (metric, score) in the order NPS, CSAT,
    CES (the pages say them in the reader's words)."""
    if response is None:
        return []
    found = []
    for metric, score, highest in (
        ("nps", response.nps, NPS_UNHAPPY_MAX),
        ("csat", response.csat, CSAT_UNHAPPY_MAX),
        ("ces", response.ces, CES_UNHAPPY_MAX),
    ):
        if score is not None and score <= highest:
            found.append((metric, score))
    return found


def unhappy_reason(response: Response) -> str | None:
    """Why this response needs a follow-up ("NPS 3 (detractor)"), or None when it does not."""
    reasons = [
        f"{metric.upper()} {score} ({UNHAPPY_WORDS[metric]})"
        for metric, score in unhappy_scores(response)
    ]
    return "; ".join(reasons) or None


def add_business_days(moment: datetime, days: int, *, zone: ZoneInfo = KST) -> datetime:
    """``moment`` moved ``days`` working days on, at the same local time, skipping Saturdays and
    Sundays in ``zone`` (Korean public holidays are not counted as days off)."""
    local = as_utc(moment).astimezone(zone)
    day = local.date()
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    # Rebuild from the wall-clock time so a change of UTC offset keeps the local hour.
    due = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
    return as_utc(due)


def open_follow_up_if_unhappy(
    session: Session, *, survey: Survey, response: Response
) -> FollowUp | None:
    """The follow-up of a completed unhappy response, created on its first completion only."""
    if not response.completed:
        return None
    reason = unhappy_reason(response)
    if reason is None:
        return None
    existing = session.scalar(
        select(FollowUp).where(
            FollowUp.workspace_id == response.workspace_id, FollowUp.response_id == response.id
        )
    )
    if existing is not None:
        return existing
    follow_up = FollowUp(
        workspace_id=response.workspace_id,
        response_id=response.id,
        customer_id=response.customer_id,
        team=survey.owner_team or DEFAULT_FOLLOW_UP_TEAM,
        reason=reason[:200],
        status="open",
        due_at=add_business_days(response.submitted_at, FOLLOW_UP_BUSINESS_DAYS),
        note="",
    )
    session.add(follow_up)
    session.flush()
    # An old answer imported long after the fact is on the board (overdue) but pages nobody;
    # a burst of answers is told in one digest after the first few.
    if as_utc(follow_up.due_at) > utcnow() and (
        followup_digests.add_to_digest(session, follow_up=follow_up, survey=survey) is None
    ):
        notify_follow_up(session, follow_up=follow_up, kind="followup_new", survey=survey)
    return follow_up


def notify_follow_up(
    session: Session,
    *,
    follow_up: FollowUp,
    kind: str,
    survey: Survey | None = None,
    user_ids: Sequence[int] | None = None,
    email: bool = True,
) -> list[Notification]:
    """Tell the follow-up's team (or ``user_ids``) about it, in-app and (unless ``email`` is
    false) by email, once; the notices written are returned."""
    response = session.scalar(
        select(Response).where(
            Response.workspace_id == follow_up.workspace_id, Response.id == follow_up.response_id
        )
    )
    if survey is None and response is not None:
        survey = session.get(Survey, response.survey_id)
    suffix = f":{user_ids[0]}" if kind == "followup_assigned" and user_ids else ""
    return notifications.notify(
        session,
        workspace_id=follow_up.workspace_id,
        kind=kind,
        params={
            "id": follow_up.id,
            "reason": follow_up.reason,
            "scores": [list(pair) for pair in unhappy_scores(response)],
            "team": follow_up.team,
            "survey": survey.name if survey is not None else "",
        },
        link=f"/follow-ups/{follow_up.id}",
        dedupe_key=f"{kind}:{follow_up.id}{suffix}",
        team=follow_up.team if user_ids is None else None,
        user_ids=user_ids,
        email=email,
    )


# Follow-ups that fell overdue longer ago than this are not announced by the overdue job (an
# import of old answers, or a job that did not run for weeks, should not page anyone).
OVERDUE_NOTICE_WINDOW = timedelta(days=7)


def notify_overdue_follow_ups(session: Session, *, now: datetime | None = None) -> int:
    """Notify, once, the assignee (else the team) of each follow-up that became overdue in the
    last week; how many follow-ups were announced. A team with more unassigned overdue
    follow-ups in one run than the burst setting hears of the first few alone and of the rest
    in one digest (a burst of answers falls overdue together)."""
    now = now or utcnow()
    told = (
        select(Notification.id)
        .where(
            Notification.workspace_id == FollowUp.workspace_id,
            Notification.dedupe_key == literal("followup_overdue:") + cast(FollowUp.id, String),
        )
        .exists()
    )
    rows = list(
        session.scalars(
            select(FollowUp)
            .where(
                FollowUp.status.not_in(CLOSED_FOLLOW_UP_STATUSES),
                FollowUp.due_at < now,
                FollowUp.due_at >= now - OVERDUE_NOTICE_WINDOW,
                FollowUp.overdue_told_at.is_(None),
                ~told,
            )
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(1000)
        )
    )
    burst = get_settings().follow_up_notice_burst
    unassigned: dict[tuple[int, str], list[FollowUp]] = {}
    for follow_up in rows:
        if follow_up.assignee_id is None:
            unassigned.setdefault((follow_up.workspace_id, follow_up.team), []).append(follow_up)
    batched: set[int] = set()
    for (workspace_id, team), group in unassigned.items():
        rest = group[burst:]
        if len(rest) < 2:  # a digest of one says no more than the notice itself
            continue
        batched.update(f.id for f in rest)
        notifications.notify(
            session,
            workspace_id=workspace_id,
            kind="followup_overdue_digest",
            params={"count": len(rest), "team": team},
            link="/follow-ups?" + urlencode({"team": team, "overdue": "1"}),
            # Two runs at once pick the same rows, so the same first id: one digest.
            dedupe_key=f"followup_overdue_digest:{rest[0].id}",
            team=team,
        )
    for follow_up in rows:
        if follow_up.id not in batched:
            notify_follow_up(
                session,
                follow_up=follow_up,
                kind="followup_overdue",
                user_ids=[follow_up.assignee_id] if follow_up.assignee_id is not None else None,
            )
        follow_up.overdue_told_at = now
    session.flush()
    return len(rows)


def is_overdue(follow_up: FollowUp, *, now: datetime | None = None) -> bool:
    """Still open (or in progress) after its due time."""
    return follow_up.status not in CLOSED_FOLLOW_UP_STATUSES and as_utc(follow_up.due_at) < (
        now or utcnow()
    )


def list_follow_ups(
    session: Session,
    *,
    workspace_id: int,
    status: str | None = None,
    team: str | None = None,
    assignee_id: int | None = None,
    overdue: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[FollowUp], str | None]:
    """A page of the workspace's follow-ups, soonest due first (the most urgent on top), and
    the next page's cursor; ``overdue`` keeps only open ones past their due time."""
    limit = max(1, min(limit, 200))
    query = select(FollowUp).where(FollowUp.workspace_id == workspace_id)
    if status is not None:
        query = query.where(FollowUp.status == status)
    if team is not None:
        query = query.where(FollowUp.team == team)
    if assignee_id is not None:
        query = query.where(FollowUp.assignee_id == assignee_id)
    if overdue:
        query = query.where(
            FollowUp.status.not_in(CLOSED_FOLLOW_UP_STATUSES), FollowUp.due_at < utcnow()
        )
    return oldest_first(
        session, query, time=FollowUp.due_at, id=FollowUp.id, cursor=cursor, limit=limit
    )


def get_follow_up(session: Session, *, workspace_id: int, follow_up_id: int) -> FollowUp:
    """The follow-up with this id in this workspace."""
    follow_up = session.scalar(
        select(FollowUp).where(FollowUp.workspace_id == workspace_id, FollowUp.id == follow_up_id)
    )
    if follow_up is None:
        raise NotFound(f"No follow-up with id {follow_up_id}.")
    return follow_up


def update_follow_up(
    session: Session,
    *,
    follow_up: FollowUp,
    status: str | None = None,
    assignee_id: int | None = UNSET,
    note: str | None = None,
    due_at: datetime | None = None,
    actor_id: int | None = None,
) -> FollowUp:
    """Move, assign (None unassigns), annotate or reschedule a follow-up; closing it (done or
    dismissed) stamps closed_at, reopening it clears that. A new assignee other than the
    acting user (``actor_id``) is notified."""
    if status is not None:
        if status not in FOLLOW_UP_STATUSES:
            raise ValidationFailed(
                f"status must be one of {', '.join(FOLLOW_UP_STATUSES)}.",
                errors=[{"field": "status", "message": "unknown status"}],
            )
        if status in CLOSED_FOLLOW_UP_STATUSES:
            if follow_up.status not in CLOSED_FOLLOW_UP_STATUSES or follow_up.closed_at is None:
                follow_up.closed_at = utcnow()
        else:
            follow_up.closed_at = None
        follow_up.status = status
    if assignee_id is not UNSET:
        if assignee_id is not None and (
            role_in(session, user_id=assignee_id, workspace_id=follow_up.workspace_id) is None
        ):
            raise ValidationFailed(
                "The assignee must be a member of this workspace.",
                errors=[{"field": "assignee_id", "message": "not a member of this workspace"}],
            )
        previous = follow_up.assignee_id
        follow_up.assignee_id = assignee_id
        if assignee_id is not None and assignee_id not in (previous, actor_id):
            session.flush()
            notify_follow_up(
                session, follow_up=follow_up, kind="followup_assigned", user_ids=[assignee_id]
            )
    if note is not None:
        follow_up.note = note
    if due_at is not None:
        try:
            follow_up.due_at = as_utc(due_at)
        except (OverflowError, ValueError):
            raise ValidationFailed(
                "due_at is out of range.",
                errors=[{"field": "due_at", "message": "not a representable time"}],
            ) from None
    session.flush()
    return follow_up
