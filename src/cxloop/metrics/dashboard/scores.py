"""The headline block: NPS, CSAT and CES of a period with their intervals and the change from
the previous period of equal length, and the response rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from cxloop.core import stats
from cxloop.metrics.dashboard.scope import Metric, Scope, _counted
from cxloop.metrics.dashboard.tally import Scores, Tally, _changes, _tally_columns, scores_of
from cxloop.models import Invitation, Response


@dataclass(frozen=True, slots=True)
class PeriodScores:
    """The period's scores, the previous period of equal length, and the change of each."""

    scope: Scope
    previous_start: datetime
    current: Scores
    previous: Scores
    changes: dict[Metric, stats.Change | None]


def overall_scores(session: Session, *, scope: Scope, min_n: int = stats.DEFAULT_MIN_N) -> Scores:
    """NPS, CSAT and CES of the scope's completed responses with their intervals."""
    row = session.execute(
        select(*_tally_columns(Response.nps, Response.csat, Response.ces)).where(*_counted(scope))
    ).one()
    return scores_of(Tally.of(row), min_n=min_n)


def period_scores(
    session: Session,
    *,
    scope: Scope,
    min_n: int = stats.DEFAULT_MIN_N,
    alpha: float = stats.DEFAULT_ALPHA,
) -> PeriodScores:
    """The scope's scores and their change from the previous period of equal length, each
    change with its significance test."""
    return period_scores_of(
        scope,
        period_tally(session, scope=scope),
        period_tally(session, scope=scope, previous=True),
        min_n=min_n,
        alpha=alpha,
    )


def period_tally(session: Session, *, scope: Scope, previous: bool = False) -> Tally:
    """The tally of the scope's period, or of the period of equal length before it (the two
    halves of :func:`period_scores`, which a caller may also run side by side)."""
    if previous:
        start, end = scope.start - scope.length, scope.start
    else:
        start, end = scope.start, scope.end
    row = session.execute(
        select(*_tally_columns(Response.nps, Response.csat, Response.ces)).where(
            *_counted(scope, start=start), Response.submitted_at < end
        )
    ).one()
    return Tally.of(row)


def period_scores_of(
    scope: Scope,
    current: Tally,
    previous: Tally,
    *,
    min_n: int = stats.DEFAULT_MIN_N,
    alpha: float = stats.DEFAULT_ALPHA,
) -> PeriodScores:
    """The scores of both periods' tallies and the change of each, with its test."""
    now = scores_of(current, min_n=min_n)
    before = scores_of(previous, min_n=min_n)
    return PeriodScores(
        scope=scope,
        previous_start=scope.start - scope.length,
        current=now,
        previous=before,
        changes=_changes(before, now, alpha),
    )


@dataclass(frozen=True, slots=True)
class ResponseRate:
    invitations: int  # invitations sent in the period
    answered: int  # of those, answered with a completed response (at any time since)
    rate: stats.ProportionEstimate | None  # percent, None without invitations


def response_rate(
    session: Session, *, scope: Scope, min_n: int = stats.DEFAULT_MIN_N
) -> ResponseRate:
    """Share of the invitations sent in the period that were answered, with its interval."""
    clauses = [
        Invitation.workspace_id == scope.workspace_id,
        Invitation.sent_at >= scope.start,
        Invitation.sent_at < scope.end,
    ]
    if scope.survey_id is not None:
        clauses.append(Invitation.survey_id == scope.survey_id)
    invitations, answered = session.execute(
        select(func.count(), func.count(Response.id))
        .select_from(Invitation)
        .outerjoin(
            Response,
            and_(
                Response.invitation_id == Invitation.id,
                Response.workspace_id == scope.workspace_id,
                Response.completed.is_(True),
            ),
        )
        .where(*clauses)
    ).one()
    rate = stats.response_rate(answered, invitations, min_n=min_n) if invitations else None
    return ResponseRate(invitations=invitations, answered=answered, rate=rate)
