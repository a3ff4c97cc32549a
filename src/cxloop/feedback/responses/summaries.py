"""Summaries of a survey's responses, aggregated in SQL: the headline scores (NPS, CSAT, CES)
with their confidence intervals, and the completed and partial counts of each survey."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from cxloop.core import stats
from cxloop.core.timeutil import as_utc
from cxloop.models import Response

# --- scores ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreSummary:
    """The survey's headline scores over completed responses; None where nobody answered."""

    responses: int
    nps: stats.NpsEstimate | None
    csat: stats.ProportionEstimate | None
    ces: stats.MeanEstimate | None


def _count_when(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def score_summary(
    session: Session,
    *,
    workspace_id: int,
    survey_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    min_n: int = stats.DEFAULT_MIN_N,
) -> ScoreSummary:
    """NPS, CSAT and CES with their intervals from counts aggregated in SQL."""
    clauses = [
        Response.workspace_id == workspace_id,
        Response.survey_id == survey_id,
        Response.completed.is_(True),
    ]
    if since is not None:
        clauses.append(Response.submitted_at >= as_utc(since))
    if until is not None:
        clauses.append(Response.submitted_at < as_utc(until))
    row = session.execute(
        select(
            func.count(),
            _count_when(Response.nps >= 9),
            _count_when(and_(Response.nps >= 7, Response.nps <= 8)),
            _count_when(Response.nps <= 6),
            func.count(Response.csat),
            _count_when(Response.csat >= stats.CSAT_SATISFIED_FROM),
            func.count(Response.ces),
            func.coalesce(func.sum(Response.ces), 0),
            func.coalesce(func.sum(Response.ces * Response.ces), 0),
        ).where(*clauses)
    ).one()
    total, promoters, passives, detractors, csat_n, satisfied, ces_n, ces_sum, ces_squares = (
        int(v) for v in row
    )
    nps = (
        stats.nps_from_counts(
            promoters=promoters, passives=passives, detractors=detractors, min_n=min_n
        )
        if promoters + passives + detractors
        else None
    )
    csat = (
        stats.csat_from_counts(satisfied=satisfied, total=csat_n, min_n=min_n) if csat_n else None
    )
    ces = None
    if ces_n:
        mean = ces_sum / ces_n
        # Exact integer arithmetic for the sample variance (ddof 1).
        variance = (ces_n * ces_squares - ces_sum**2) / (ces_n * (ces_n - 1)) if ces_n > 1 else 0.0
        ces = stats.mean_from_summary(
            n=ces_n,
            mean=mean,
            std=max(variance, 0.0) ** 0.5,
            min_n=min_n,
            bounds=(float(stats.CES_SCALE[0]), float(stats.CES_SCALE[1])),
        )
    return ScoreSummary(responses=total, nps=nps, csat=csat, ces=ces)


@dataclass(frozen=True)
class ResponseCounts:
    completed: int
    partial: int
    last_at: datetime | None


def response_counts(
    session: Session, *, workspace_id: int, survey_ids: Sequence[int]
) -> dict[int, ResponseCounts]:
    """Completed and partial responses and the latest answer time of each listed survey."""
    if not survey_ids:
        return {}
    rows = session.execute(
        select(
            Response.survey_id,
            _count_when(Response.completed.is_(True)),
            _count_when(Response.completed.is_(False)),
            func.max(Response.submitted_at),
        )
        .where(Response.workspace_id == workspace_id, Response.survey_id.in_(set(survey_ids)))
        .group_by(Response.survey_id)
    )
    return {
        survey_id: ResponseCounts(int(done), int(partial), as_utc(last) if last else None)
        for survey_id, done, partial, last in rows
    }


def csat_counts_by(
    session: Session, *, workspace_id: int, invitations: Select[tuple[int, Any]]
) -> dict[Any, tuple[int, int]]:
    """Satisfied (4–5) and all CSAT answers among the completed responses to some invitations,
    per group: ``invitations`` selects (invitation id, group key) pairs, so another domain
    attributes answers to its own things (a conversation's agent, a team) without reading
    responses itself."""
    asked = invitations.subquery()
    invitation_id, key = asked.c[0], asked.c[1]
    rows = session.execute(
        select(
            key,
            _count_when(Response.csat >= stats.CSAT_SATISFIED_FROM),
            func.count(Response.csat),
        )
        .join(Response, Response.invitation_id == invitation_id)
        .where(Response.workspace_id == workspace_id, Response.completed.is_(True))
        .group_by(key)
    )
    return {group: (int(satisfied), int(total)) for group, satisfied, total in rows}
