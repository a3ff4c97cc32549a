"""What the follow-up board shows beside each task: counts per status, the teams to filter by,
and each card's response, survey and customer, loaded for a whole page at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.feedback.followups.service import CLOSED_FOLLOW_UP_STATUSES
from cxloop.models import Customer, FollowUp, Membership, Response, Survey


@dataclass(frozen=True)
class Card:
    """One follow-up with what the board shows about it."""

    follow_up: FollowUp
    response: Response | None
    survey_name: str
    customer: Customer | None


def status_counts(
    session: Session, *, workspace_id: int, team: str | None = None, assignee_id: int | None = None
) -> dict[str, int]:
    """Follow-ups per status (and ``overdue``: open ones past due) under the same filters."""
    clauses = [FollowUp.workspace_id == workspace_id]
    if team is not None:
        clauses.append(FollowUp.team == team)
    if assignee_id is not None:
        clauses.append(FollowUp.assignee_id == assignee_id)
    counts = {
        str(status): int(n)
        for status, n in session.execute(
            select(FollowUp.status, func.count()).where(*clauses).group_by(FollowUp.status)
        ).all()
    }
    counts["overdue"] = int(
        session.scalar(
            select(func.count())
            .select_from(FollowUp)
            .where(
                *clauses,
                FollowUp.status.not_in(CLOSED_FOLLOW_UP_STATUSES),
                FollowUp.due_at < utcnow(),
            )
        )
        or 0
    )
    return counts


def teams(session: Session, *, workspace_id: int) -> list[str]:
    """Every team named in the workspace: on members, on surveys and on follow-ups."""
    found: set[str] = set()
    for member_teams in session.scalars(
        select(Membership.teams).where(Membership.workspace_id == workspace_id)
    ):
        found.update(t for t in member_teams or [] if isinstance(t, str))
    found.update(
        session.scalars(
            select(Survey.owner_team).where(Survey.workspace_id == workspace_id).distinct()
        )
    )
    found.update(
        session.scalars(
            select(FollowUp.team).where(FollowUp.workspace_id == workspace_id).distinct()
        )
    )
    return sorted(t for t in found if t)


def cards(session: Session, *, workspace_id: int, follow_ups: Sequence[FollowUp]) -> list[Card]:
    """The board's cards for these follow-ups (three queries, whatever the page size)."""
    response_ids = {f.response_id for f in follow_ups}
    responses = {
        r.id: r
        for r in session.scalars(
            select(Response).where(
                Response.workspace_id == workspace_id, Response.id.in_(response_ids)
            )
        )
    }
    survey_names: dict[int, str] = dict(
        session.execute(  # type: ignore[arg-type]
            select(Survey.id, Survey.name).where(
                Survey.workspace_id == workspace_id,
                Survey.id.in_({r.survey_id for r in responses.values()}),
            )
        ).all()
    )
    customers = {
        c.id: c
        for c in session.scalars(
            select(Customer).where(
                Customer.workspace_id == workspace_id,
                Customer.id.in_({f.customer_id for f in follow_ups if f.customer_id is not None}),
            )
        )
    }
    result = []
    for follow_up in follow_ups:
        response = responses.get(follow_up.response_id)
        result.append(
            Card(
                follow_up=follow_up,
                response=response,
                survey_name=str(survey_names.get(response.survey_id, "")) if response else "",
                customer=customers.get(follow_up.customer_id)
                if follow_up.customer_id is not None
                else None,
            )
        )
    return result
