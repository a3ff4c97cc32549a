"""The key-drivers block: which touchpoints or rating questions move the NPS."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core import stats
from cxloop.core.errors import ValidationFailed
from cxloop.feedback.surveys.definition import load_definition
from cxloop.metrics.dashboard.scope import DriverSource, Scope, _counted
from cxloop.models import Response, Survey, SurveyVersion

# Question types whose answers are ratings that can drive the NPS.
DRIVER_QUESTION_TYPES = ("rating", "csat", "ces")
MAX_DRIVER_QUESTIONS = 8


@dataclass(frozen=True, slots=True)
class Drivers:
    source: DriverSource
    scope: Scope
    analysis: stats.DriverAnalysis | None  # None when no response had an NPS and a driver
    # driver → its question's text by language ({"ko": …, "en": …}); touchpoints need none
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Set when the questions of the survey in ``scope`` stand in for touchpoints: the
    # touchpoints the period's NPS answers came from (fewer than two, so nothing to compare).
    instead_of_touchpoints: tuple[str, ...] | None = None


def key_drivers(
    session: Session,
    *,
    scope: Scope,
    source: DriverSource = "touchpoint",
    min_n: int = stats.DEFAULT_MIN_N,
) -> Drivers:
    """Which touchpoints (or, for one survey, which rating questions) move the NPS most, by
    :func:`cxloop.core.stats.key_drivers` over answers counted per value in SQL."""
    if source == "touchpoint":
        return _touchpoint_drivers(session, scope, min_n)
    if source == "question":
        return _question_drivers(session, scope, min_n)
    raise ValidationFailed(
        f"Unknown driver source {source!r}.",
        errors=[{"field": "by", "message": "must be touchpoint or question"}],
    )


def nps_drivers(
    session: Session,
    *,
    scope: Scope,
    source: DriverSource = "touchpoint",
    min_n: int = stats.DEFAULT_MIN_N,
) -> Drivers:
    """:func:`key_drivers`, except that when the period's NPS answers came from fewer than two
    touchpoints (one relationship survey, say), the rating questions of the survey with the
    most NPS answers stand in for the touchpoints, which then explain nothing."""
    result = key_drivers(session, scope=scope, source=source, min_n=min_n)
    if source != "touchpoint" or scope.survey_id is not None:
        return result
    touchpoints = tuple(d.name for d in result.analysis.drivers) if result.analysis else ()
    if len(touchpoints) >= 2:
        return result
    survey_id = session.scalar(
        select(Response.survey_id)
        .where(*_counted(scope), Response.nps.is_not(None))
        .group_by(Response.survey_id)
        .order_by(func.count().desc(), Response.survey_id)
        .limit(1)
    )
    if survey_id is None:
        return result
    questions = key_drivers(
        session, scope=replace(scope, survey_id=survey_id), source="question", min_n=min_n
    )
    if questions.analysis is None:
        return result
    return replace(questions, instead_of_touchpoints=touchpoints)


def _touchpoint_drivers(session: Session, scope: Scope, min_n: int) -> Drivers:
    rows = session.execute(
        select(Response.touchpoint, Response.nps, func.count())
        .where(*_counted(scope), Response.nps.is_not(None), Response.touchpoint.is_not(None))
        .group_by(Response.touchpoint, Response.nps)
    ).all()
    if not rows:
        return Drivers(source="touchpoint", scope=scope, analysis=None)
    touchpoints = sorted({row[0] for row in rows})
    analysis = stats.key_drivers(
        {t: [1.0 if row[0] == t else 0.0 for row in rows] for t in touchpoints},
        [row[1] for row in rows],
        counts=[row[2] for row in rows],
        min_n=min_n,
    )
    return Drivers(source="touchpoint", scope=scope, analysis=analysis)


def _question_drivers(session: Session, scope: Scope, min_n: int) -> Drivers:
    if scope.survey_id is None:
        raise ValidationFailed(
            "Question drivers are the questions of one survey: choose a survey.",
            errors=[{"field": "survey_id", "message": "required for drivers by question"}],
        )
    stored = session.scalar(
        select(SurveyVersion.definition)
        .join(Survey, Survey.id == SurveyVersion.survey_id)
        .where(
            Survey.workspace_id == scope.workspace_id,
            Survey.id == scope.survey_id,
            SurveyVersion.number == Survey.current_version,
        )
    )
    questions = (
        [q for q in load_definition(stored).questions if q.type in DRIVER_QUESTION_TYPES]
        if stored is not None
        else []
    )[:MAX_DRIVER_QUESTIONS]
    labels = {q.id: {"ko": q.text.ko, "en": q.text.en} for q in questions}
    if not questions:
        return Drivers(source="question", scope=scope, analysis=None, labels=labels)
    answers = [Response.answers[q.id].as_float().label(f"q{i}") for i, q in enumerate(questions)]
    rows = session.execute(
        select(Response.nps, *answers, func.count())
        .where(*_counted(scope), Response.nps.is_not(None))
        .group_by(Response.nps, *answers)
    ).all()
    if not rows:
        return Drivers(source="question", scope=scope, analysis=None, labels=labels)
    analysis = stats.key_drivers(
        {
            q.id: [math.nan if row[1 + i] is None else float(row[1 + i]) for row in rows]
            for i, q in enumerate(questions)
        },
        [row[0] for row in rows],
        counts=[row[-1] for row in rows],
        min_n=min_n,
    )
    return Drivers(source="question", scope=scope, analysis=analysis, labels=labels)
