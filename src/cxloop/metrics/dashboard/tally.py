"""Tallies: what SQL returns per group (counts per score group, sums for CES), and the scores
with intervals made from them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func

from cxloop.core import stats
from cxloop.metrics.dashboard.scope import METRICS, Metric


def _count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _tally_columns(nps: Any, csat: Any, ces: Any) -> list[ColumnElement[Any]]:
    """Counts per score group and the sums CES needs, as aggregate columns."""
    return [
        func.count().label("responses"),
        _count_when(nps >= 9).label("promoters"),
        _count_when(and_(nps >= 7, nps <= 8)).label("passives"),
        _count_when(nps <= 6).label("detractors"),
        func.count(csat).label("csat_n"),
        _count_when(csat >= stats.CSAT_SATISFIED_FROM).label("satisfied"),
        func.count(ces).label("ces_n"),
        func.coalesce(func.sum(ces), 0).label("ces_sum"),
        func.coalesce(func.sum(ces * ces), 0).label("ces_squares"),
    ]


TALLY_WIDTH = 9


@dataclass(frozen=True, slots=True)
class Tally:
    """Aggregated answers of one group: enough to compute every score and its interval."""

    responses: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_n: int = 0
    satisfied: int = 0
    ces_n: int = 0
    ces_sum: int = 0
    ces_squares: int = 0

    @classmethod
    def of(cls, values: Sequence[Any]) -> Tally:
        return cls(*(int(v or 0) for v in values))


@dataclass(frozen=True, slots=True)
class Scores:
    """NPS, CSAT and CES of a group of responses; None where nobody gave that score."""

    responses: int
    nps: stats.NpsEstimate | None
    csat: stats.ProportionEstimate | None
    ces: stats.MeanEstimate | None

    def get(self, metric: Metric) -> stats.Estimate | None:
        return {"nps": self.nps, "csat": self.csat, "ces": self.ces}[metric]


def scores_of(tally: Tally, *, min_n: int = stats.DEFAULT_MIN_N) -> Scores:
    """The estimates of a tally, each with its 95% interval and its too-few flag."""
    t = tally
    nps = (
        stats.nps_from_counts(
            promoters=t.promoters, passives=t.passives, detractors=t.detractors, min_n=min_n
        )
        if t.promoters + t.passives + t.detractors
        else None
    )
    csat = (
        stats.csat_from_counts(satisfied=t.satisfied, total=t.csat_n, min_n=min_n)
        if t.csat_n
        else None
    )
    ces = None
    if t.ces_n:
        n = t.ces_n
        # Exact integer arithmetic for the sample variance (ddof 1).
        variance = (n * t.ces_squares - t.ces_sum**2) / (n * (n - 1)) if n > 1 else 0.0
        ces = stats.mean_from_summary(
            n=n,
            mean=t.ces_sum / n,
            std=math.sqrt(max(variance, 0.0)),
            min_n=min_n,
            bounds=(float(stats.CES_SCALE[0]), float(stats.CES_SCALE[1])),
        )
    return Scores(responses=t.responses, nps=nps, csat=csat, ces=ces)


def _changes(before: Scores, after: Scores, alpha: float) -> dict[Metric, stats.Change | None]:
    changes: dict[Metric, stats.Change | None] = {}
    for metric in METRICS:
        old, new = before.get(metric), after.get(metric)
        changes[metric] = (
            stats.compare(old, new, alpha=alpha) if old is not None and new is not None else None
        )
    return changes
