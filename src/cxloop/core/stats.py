"""Score statistics: NPS, CSAT, CES and rates with confidence intervals, the significance of a
change between two periods, weekly/monthly trends and key drivers.

Pure functions over plain inputs (scores or counts), knowing no table: they sit in core so that
feedback (a survey's summary) and metrics (the dashboard) share one implementation.
Units of the estimates:

- NPS in points, −100..100;
- CSAT and response rate in percent, 0..100;
- CES (and any :func:`mean_interval`) in the units of its scale;
- :func:`proportion_interval` as a fraction, 0..1 (``scale=100`` for percent).

Every result says how many answers it rests on (``n``) and sets ``too_few`` when n is below
``min_n`` (30 by default), so a page can warn instead of showing a misleading number. An empty
sample raises :class:`EmptySample` (a ``ValueError``): there is no number to show at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from cxloop.core.timeutil import as_utc

DEFAULT_MIN_N = 30
DEFAULT_CONFIDENCE = 0.95
DEFAULT_ALPHA = 0.05

MetricKind = Literal["nps", "csat", "ces"]
TrendPeriod = Literal["week", "month"]

NPS_SCALE = (0, 10)
CSAT_SCALE = (1, 5)
CES_SCALE = (1, 7)
CSAT_SATISFIED_FROM = 4


class EmptySample(ValueError):
    """No answers at all: there is no estimate to give."""


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its confidence interval."""

    n: int
    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    too_few: bool


@dataclass(frozen=True, slots=True)
class ProportionEstimate(Estimate):
    """A share of ``successes`` among ``n`` (Wilson interval), times ``scale``."""

    successes: int
    scale: float

    @property
    def proportion(self) -> float:
        return self.successes / self.n


@dataclass(frozen=True, slots=True)
class NpsEstimate(Estimate):
    """Net Promoter Score in points, from the three answer groups."""

    promoters: int
    passives: int
    detractors: int

    @property
    def variance(self) -> float:
        """Variance of the NPS as a difference of proportions (−1..1 units)."""
        return _nps_variance(self.promoters, self.detractors, self.n)


@dataclass(frozen=True, slots=True)
class MeanEstimate(Estimate):
    """A mean with its Student-t interval, clipped to the scale ``bounds`` when known."""

    std: float
    bounds: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class Change:
    """The change from one period to the next and whether it is more than noise."""

    before: Estimate
    after: Estimate
    difference: float  # after − before, in the units of the estimates
    ci_low: float
    ci_high: float
    confidence: float  # 1 − alpha
    p_value: float  # two-sided
    alpha: float
    significant: bool
    too_few: bool  # either period has fewer answers than its minimum
    test: str


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One week or month of a trend and its change from the previous bucket with answers."""

    start: date  # Monday of the ISO week or first day of the month, in the trend's time zone
    label: str  # "2025-W03" or "2025-01"
    result: Estimate
    change: Change | None


@dataclass(frozen=True, slots=True)
class DriverImportance:
    """How strongly one driver moves the outcome; see :func:`key_drivers`."""

    name: str
    n: int  # answers with both this driver and the outcome
    mean: float | None  # mean of the driver over those answers
    correlation: float | None  # Pearson r with the outcome (None when either is constant)
    p_value: float | None
    beta: float | None  # standardised regression coefficient (complete answers)
    relative_weight: float | None  # Johnson's raw relative weight; they sum to R²
    share: float | None  # relative_weight / R²: the share of explained variance, 0..1
    too_few: bool


@dataclass(frozen=True, slots=True)
class DriverAnalysis:
    drivers: tuple[DriverImportance, ...]  # most important first
    r_squared: float | None
    n_complete: int  # answers in which every driver of the regression was answered
    too_few: bool


# --- validation --------------------------------------------------------------------------------


def _as_array(values: ArrayLike | Iterable[float]) -> NDArray[np.float64]:
    items: Any = values
    if not isinstance(items, np.ndarray | Sequence):
        items = list(items)  # a generator or another one-pass iterable
    try:
        array = np.asarray(items, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scores must be numbers: {exc}") from None
    return array.ravel()


def _shown(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and value == int(value) else repr(value)


def _scale_scores(
    values: ArrayLike | Iterable[float], scale: tuple[int, int], what: str
) -> NDArray[np.float64]:
    """Scores as floats, refusing anything that is not a whole number on the scale."""
    array = _as_array(values)
    low, high = scale
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(array) | (array < low) | (array > high) | (array != np.round(array))
    if bad.any():
        value = float(array[np.flatnonzero(bad)[0]])
        raise ValueError(
            f"{what} scores are whole numbers from {low} to {high}; got {_shown(value)}"
        )
    return array


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1; got {confidence!r}")
    return _z(confidence)


def _check_count(value: int, what: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{what} must be a whole number ≥ 0; got {value!r}")
    return int(value)


def _z(confidence: float) -> float:
    return float(sps.norm.ppf(0.5 + confidence / 2))


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


# --- single-period estimates -------------------------------------------------------------------


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_interval(
    successes: int,
    n: int,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
    scale: float = 1.0,
) -> ProportionEstimate:
    """The share ``successes / n`` with its Wilson score interval, times ``scale``."""
    successes = _check_count(successes, "successes")
    n = _check_count(n, "n")
    z = _check_confidence(confidence)
    if n == 0:
        raise EmptySample("a proportion needs at least one observation (n = 0)")
    if successes > n:
        raise ValueError(f"successes ({successes}) cannot exceed n ({n})")
    low, high = _wilson(successes, n, z)
    estimate = successes / n
    return ProportionEstimate(
        n=n,
        estimate=estimate * scale,
        # Rounding can leave the bounds a hair past the estimate at 0 or 1.
        ci_low=min(low, estimate) * scale,
        ci_high=max(high, estimate) * scale,
        confidence=confidence,
        too_few=n < min_n,
        successes=successes,
        scale=scale,
    )


def mean_interval(
    values: ArrayLike | Iterable[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
    bounds: tuple[float, float] | None = None,
) -> MeanEstimate:
    """The mean with its Student-t interval (clipped to ``bounds``) and standard deviation.

    One value has no spread: its standard deviation is reported as 0 and its interval is the
    whole of ``bounds`` (or unbounded).
    """
    array = _as_array(values)
    _check_confidence(confidence)
    if not np.isfinite(array).all():
        raise ValueError(
            f"values must be finite numbers; got {_shown(float(array[~np.isfinite(array)][0]))}"
        )
    if array.size == 0:
        raise EmptySample("a mean needs at least one value (n = 0)")
    return mean_from_summary(
        n=int(array.size),
        mean=float(array.mean()),
        std=float(array.std(ddof=1)) if array.size > 1 else 0.0,
        confidence=confidence,
        min_n=min_n,
        bounds=bounds,
    )


def mean_from_summary(
    *,
    n: int,
    mean: float,
    std: float,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
    bounds: tuple[float, float] | None = None,
) -> MeanEstimate:
    """The t interval of a mean from its count, mean and sample standard deviation (ddof 1),
    for answers already aggregated in SQL."""
    n = _check_count(n, "n")
    _check_confidence(confidence)
    if n == 0:
        raise EmptySample("a mean needs at least one value (n = 0)")
    if not (math.isfinite(mean) and math.isfinite(std) and std >= 0):
        raise ValueError(f"mean and standard deviation must be finite, std ≥ 0; got {mean}, {std}")
    low_bound, high_bound = bounds if bounds is not None else (-math.inf, math.inf)
    if n == 1:
        std, low, high = 0.0, low_bound, high_bound
    else:
        half = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
        low = _clip(mean - half, low_bound, high_bound)
        high = _clip(mean + half, low_bound, high_bound)
    return MeanEstimate(
        n=n,
        estimate=mean,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        too_few=n < min_n,
        std=std,
        bounds=bounds,
    )


def _nps_variance(promoters: int, detractors: int, n: int) -> float:
    p, d = promoters / n, detractors / n
    # One multinomial sample: Var(p̂_P − p̂_D) = (p_P + p_D − (p_P − p_D)²) / n.
    return max(0.0, p + d - (p - d) ** 2) / n


def nps_from_counts(
    *,
    promoters: int,
    passives: int,
    detractors: int,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> NpsEstimate:
    """NPS (%promoters − %detractors, −100..100) with its normal interval, from counts."""
    promoters = _check_count(promoters, "promoters")
    passives = _check_count(passives, "passives")
    detractors = _check_count(detractors, "detractors")
    z = _check_confidence(confidence)
    n = promoters + passives + detractors
    if n == 0:
        raise EmptySample("NPS needs at least one score (n = 0)")
    estimate = 100 * (promoters - detractors) / n
    half = 100 * z * math.sqrt(_nps_variance(promoters, detractors, n))
    return NpsEstimate(
        n=n,
        estimate=estimate,
        ci_low=_clip(estimate - half, -100.0, 100.0),
        ci_high=_clip(estimate + half, -100.0, 100.0),
        confidence=confidence,
        too_few=n < min_n,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
    )


def nps(
    scores: ArrayLike | Iterable[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> NpsEstimate:
    """NPS of 0–10 answers: promoters 9–10, passives 7–8, detractors 0–6."""
    array = _scale_scores(scores, NPS_SCALE, "NPS")
    promoters = int((array >= 9).sum())
    detractors = int((array <= 6).sum())
    return nps_from_counts(
        promoters=promoters,
        passives=int(array.size) - promoters - detractors,
        detractors=detractors,
        confidence=confidence,
        min_n=min_n,
    )


def csat(
    scores: ArrayLike | Iterable[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> ProportionEstimate:
    """CSAT of 1–5 answers: percent satisfied (4 or 5) with a Wilson interval."""
    array = _scale_scores(scores, CSAT_SCALE, "CSAT")
    return csat_from_counts(
        satisfied=int((array >= CSAT_SATISFIED_FROM).sum()),
        total=int(array.size),
        confidence=confidence,
        min_n=min_n,
    )


def csat_from_counts(
    *,
    satisfied: int,
    total: int,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> ProportionEstimate:
    """CSAT in percent from the count of satisfied answers (4–5) among all answers."""
    if total == 0:
        raise EmptySample("CSAT needs at least one score (n = 0)")
    return proportion_interval(satisfied, total, confidence=confidence, min_n=min_n, scale=100.0)


def ces(
    scores: ArrayLike | Iterable[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> MeanEstimate:
    """CES of 1–7 answers: the mean with its t interval and the standard deviation."""
    array = _scale_scores(scores, CES_SCALE, "CES")
    if array.size == 0:
        raise EmptySample("CES needs at least one score (n = 0)")
    return mean_interval(array, confidence=confidence, min_n=min_n, bounds=(1.0, 7.0))


def response_rate(
    responses: int,
    invitations: int,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> ProportionEstimate:
    """Percent of invitations answered, with a Wilson interval; ``n`` is the invitations."""
    if invitations == 0:
        raise EmptySample("a response rate needs at least one invitation (n = 0)")
    return proportion_interval(
        responses, invitations, confidence=confidence, min_n=min_n, scale=100.0
    )


def score(
    kind: MetricKind,
    scores: ArrayLike | Iterable[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
) -> Estimate:
    """The estimate of ``kind`` (nps, csat or ces) for these answers."""
    if kind == "nps":
        return nps(scores, confidence=confidence, min_n=min_n)
    if kind == "csat":
        return csat(scores, confidence=confidence, min_n=min_n)
    if kind == "ces":
        return ces(scores, confidence=confidence, min_n=min_n)
    raise ValueError(f"unknown metric {kind!r}; expected nps, csat or ces")


# --- change between two periods ----------------------------------------------------------------


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1; got {alpha!r}")
    return _z(1 - alpha)


def _change(
    before: Estimate,
    after: Estimate,
    *,
    difference: float,
    interval: tuple[float, float],
    p_value: float,
    alpha: float,
    test: str,
) -> Change:
    return Change(
        before=before,
        after=after,
        difference=difference,
        ci_low=interval[0],
        ci_high=interval[1],
        confidence=1 - alpha,
        p_value=p_value,
        alpha=alpha,
        significant=p_value < alpha,
        too_few=before.too_few or after.too_few,
        test=test,
    )


def _p_for_zero_spread(difference: float) -> float:
    # Both samples have no spread: any difference is certain, none is no evidence at all.
    return 0.0 if difference != 0 else 1.0


def compare_nps(before: NpsEstimate, after: NpsEstimate, *, alpha: float = DEFAULT_ALPHA) -> Change:
    """z-test of the NPS difference (after − before, points), independent samples.

    The variance of the difference is the sum of the two NPS variances.
    """
    z = _check_alpha(alpha)
    difference = after.estimate - before.estimate
    se = 100 * math.sqrt(before.variance + after.variance)
    if se == 0:
        p_value = _p_for_zero_spread(difference)
    else:
        p_value = float(2 * sps.norm.sf(abs(difference) / se))
    interval = (
        _clip(difference - z * se, -200.0, 200.0),
        _clip(difference + z * se, -200.0, 200.0),
    )
    return _change(
        before,
        after,
        difference=difference,
        interval=interval,
        p_value=p_value,
        alpha=alpha,
        test="z (NPS difference)",
    )


def compare_proportions(
    before: ProportionEstimate, after: ProportionEstimate, *, alpha: float = DEFAULT_ALPHA
) -> Change:
    """Two-proportion z-test (pooled) for CSAT or response rate; Newcombe's hybrid Wilson
    interval (method 10) for the difference after − before, in the estimates' scale."""
    z = _check_alpha(alpha)
    if before.scale != after.scale:
        raise ValueError("both proportions must use the same scale")
    scale = after.scale
    p1, n1 = before.proportion, before.n
    p2, n2 = after.proportion, after.n
    difference = p2 - p1
    pooled = (before.successes + after.successes) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se0 == 0:
        p_value = _p_for_zero_spread(difference)
    else:
        p_value = float(2 * sps.norm.sf(abs(difference) / se0))
    l1, u1 = _wilson(before.successes, n1, z)
    l2, u2 = _wilson(after.successes, n2, z)
    low = difference - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = difference + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return _change(
        before,
        after,
        difference=difference * scale,
        interval=(low * scale, high * scale),
        p_value=p_value,
        alpha=alpha,
        test="two-proportion z",
    )


def compare_means(
    before: MeanEstimate, after: MeanEstimate, *, alpha: float = DEFAULT_ALPHA
) -> Change:
    """Welch's t-test of the difference of means (after − before), unequal variances.

    With a single answer in either period there is no spread to test against: the p-value is
    1 and the interval is every difference the scale allows.
    """
    _check_alpha(alpha)
    difference = after.estimate - before.estimate
    if before.n < 2 or after.n < 2:
        bounds = after.bounds or before.bounds
        width = bounds[1] - bounds[0] if bounds else math.inf
        return _change(
            before,
            after,
            difference=difference,
            interval=(-width, width),
            p_value=1.0,
            alpha=alpha,
            test="Welch t",
        )
    v1 = before.std**2 / before.n
    v2 = after.std**2 / after.n
    se = math.sqrt(v1 + v2)
    if se == 0:
        p_value, half = _p_for_zero_spread(difference), 0.0
    else:
        df = (v1 + v2) ** 2 / (v1**2 / (before.n - 1) + v2**2 / (after.n - 1))
        p_value = float(2 * sps.t.sf(abs(difference) / se, df))
        half = float(sps.t.ppf(1 - alpha / 2, df)) * se
    return _change(
        before,
        after,
        difference=difference,
        interval=(difference - half, difference + half),
        p_value=p_value,
        alpha=alpha,
        test="Welch t",
    )


def compare(before: Estimate, after: Estimate, *, alpha: float = DEFAULT_ALPHA) -> Change:
    """The change between two estimates of the same kind, with the test that fits it."""
    if isinstance(before, NpsEstimate) and isinstance(after, NpsEstimate):
        return compare_nps(before, after, alpha=alpha)
    if isinstance(before, ProportionEstimate) and isinstance(after, ProportionEstimate):
        return compare_proportions(before, after, alpha=alpha)
    if isinstance(before, MeanEstimate) and isinstance(after, MeanEstimate):
        return compare_means(before, after, alpha=alpha)
    raise ValueError(f"cannot compare a {type(before).__name__} with a {type(after).__name__}")


def compare_scores(
    kind: MetricKind,
    before: ArrayLike | Iterable[float],
    after: ArrayLike | Iterable[float],
    *,
    alpha: float = DEFAULT_ALPHA,
    min_n: int = DEFAULT_MIN_N,
) -> Change:
    """Score both periods' answers as ``kind`` and test the change between them."""
    return compare(
        score(kind, before, confidence=1 - alpha, min_n=min_n),
        score(kind, after, confidence=1 - alpha, min_n=min_n),
        alpha=alpha,
    )


# --- trends ------------------------------------------------------------------------------------


def bucket_start(moment: datetime, *, period: TrendPeriod, tz: ZoneInfo) -> date:
    """The first day of the ISO week (Monday) or month that ``moment`` falls in, in ``tz``."""
    local = as_utc(moment).astimezone(tz).date()
    if period == "week":
        return local - timedelta(days=local.weekday())
    if period == "month":
        return local.replace(day=1)
    raise ValueError(f"unknown trend period {period!r}; expected week or month")


def bucket_label(start: date, period: TrendPeriod) -> str:
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def trend(
    points: Iterable[tuple[datetime, float]],
    *,
    kind: MetricKind,
    period: TrendPeriod = "week",
    tz: str = "Asia/Seoul",
    confidence: float = DEFAULT_CONFIDENCE,
    min_n: int = DEFAULT_MIN_N,
    alpha: float = DEFAULT_ALPHA,
) -> list[TrendPoint]:
    """Per ISO week or calendar month (in ``tz``), the estimate of ``kind`` and its change
    from the previous bucket that has answers. Buckets without answers are left out; naive
    timestamps are taken as UTC."""
    zone = ZoneInfo(tz)
    if period not in ("week", "month"):
        raise ValueError(f"unknown trend period {period!r}; expected week or month")
    buckets: dict[date, list[float]] = {}
    for moment, value in points:
        buckets.setdefault(bucket_start(moment, period=period, tz=zone), []).append(value)
    result: list[TrendPoint] = []
    previous: Estimate | None = None
    for start in sorted(buckets):
        estimate = score(kind, buckets[start], confidence=confidence, min_n=min_n)
        change = compare(previous, estimate, alpha=alpha) if previous is not None else None
        result.append(TrendPoint(start, bucket_label(start, period), estimate, change))
        previous = estimate
    return result


# --- key drivers -------------------------------------------------------------------------------


def key_drivers(
    drivers: Mapping[str, ArrayLike | Sequence[float]],
    outcome: ArrayLike | Sequence[float],
    *,
    min_n: int = DEFAULT_MIN_N,
    outcome_scale: tuple[int, int] = NPS_SCALE,
    counts: ArrayLike | Sequence[int] | None = None,
) -> DriverAnalysis:
    """Which drivers (question scores, touchpoint 0/1 indicators…) move the outcome most.

    One row per response: ``drivers[name][i]`` is response i's rating or indicator for that
    driver (NaN when not answered) and ``outcome[i]`` its 0–10 likelihood to recommend (NaN
    drops the response). With ``counts``, row i stands for ``counts[i]`` identical responses
    (what a ``GROUP BY`` over the answers returns); the result is the same as with every
    response given as a row of its own.

    Method, per driver:

    - ``n``, ``mean``: answers with both the driver and the outcome, and the driver's mean;
    - ``correlation``, ``p_value``: Pearson's r with the outcome over those answers
      (pairwise deletion) and its two-sided p-value;
    - ``beta``, ``relative_weight``, ``share``: a standardised linear regression of the
      outcome on every driver that has at least ``min_n`` answers and varies, over the
      responses that answered all of them (listwise deletion). Its betas are unstable when
      drivers correlate, so importance is Johnson's relative weight (Johnson 2000, "A
      heuristic method for estimating the relative weight of predictor variables"): the
      drivers are replaced by their closest orthogonal counterparts Z = X R^(−1/2), the
      outcome is regressed on Z, and each Z's explained variance is given back to the drivers
      in proportion to their squared loadings. The weights are non-negative, sum to the
      regression's R², and are close to the Shapley (LMG) decomposition of R². ``share`` is the
      weight divided by R². Perfectly collinear drivers (e.g. indicators that always sum to
      one) are handled with the pseudo-inverse: the shared variance is split between them.

    Drivers with fewer than ``min_n`` answers are flagged ``too_few`` and kept out of the
    regression. Sorted by share, then by the size of the correlation.
    """
    y = _as_array(outcome)
    low, high = outcome_scale
    known = ~np.isnan(y)
    with np.errstate(invalid="ignore"):
        bad = known & ((y < low) | (y > high) | ~np.isfinite(y))
    if bad.any():
        first = float(y[np.flatnonzero(bad)[0]])
        raise ValueError(f"outcome scores run from {low} to {high}; got {_shown(first)}")
    if counts is None:
        weights = np.ones(y.size)
    else:
        weights = _as_array(counts)
        if weights.size != y.size:
            raise ValueError(f"{weights.size} counts for {y.size} outcomes")
        if not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError("counts must be finite and not negative")
    known &= weights > 0
    columns: dict[str, NDArray[np.float64]] = {}
    for name, values in drivers.items():
        column = _as_array(values)
        if column.size != y.size:
            raise ValueError(f"driver {name!r} has {column.size} values for {y.size} outcomes")
        if np.isinf(column).any():
            raise ValueError(f"driver {name!r} holds an infinite value")
        columns[name] = column

    singles: dict[str, DriverImportance] = {}
    for name, column in columns.items():
        both = known & ~np.isnan(column)
        x, yy, w = column[both], y[both], weights[both]
        n = round(float(w.sum()))
        r: float | None = None
        p: float | None = None
        if n >= 2 and np.ptp(x) > 0 and np.ptp(yy) > 0:
            r, p = _weighted_pearson(x, yy, w)
        singles[name] = DriverImportance(
            name=name,
            n=n,
            mean=float(np.average(x, weights=w)) if n else None,
            correlation=r,
            p_value=p,
            beta=None,
            relative_weight=None,
            share=None,
            too_few=n < min_n,
        )

    in_model = [name for name, d in singles.items() if not d.too_few and d.correlation is not None]
    rows = known.copy()
    for name in in_model:
        rows &= ~np.isnan(columns[name])
    # A driver constant over the complete answers carries no information there.
    in_model = [name for name in in_model if np.ptp(columns[name][rows]) > 0]
    n_complete = round(float(weights[rows].sum()))
    r_squared: float | None = None
    if in_model and n_complete >= 3 and np.ptp(y[rows]) > 0:
        x = np.column_stack([columns[name][rows] for name in in_model])
        betas, relative, r_squared = _relative_weights(x, y[rows], weights[rows])
        for i, name in enumerate(in_model):
            share = relative[i] / r_squared if r_squared > 0 else None
            singles[name] = _replace(
                singles[name], beta=betas[i], relative_weight=relative[i], share=share
            )

    def order(d: DriverImportance) -> tuple[float, float, str]:
        return (
            -(d.share if d.share is not None else -1.0),
            -(abs(d.correlation) if d.correlation is not None else -1.0),
            d.name,
        )

    return DriverAnalysis(
        drivers=tuple(sorted(singles.values(), key=order)),
        r_squared=r_squared,
        n_complete=n_complete,
        too_few=n_complete < min_n,
    )


def _replace(
    d: DriverImportance, *, beta: float, relative_weight: float, share: float | None
) -> DriverImportance:
    return DriverImportance(
        name=d.name,
        n=d.n,
        mean=d.mean,
        correlation=d.correlation,
        p_value=d.p_value,
        beta=beta,
        relative_weight=relative_weight,
        share=share,
        too_few=d.too_few,
    )


def _weighted_pearson(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[float, float]:
    """Pearson's r of x and y whose rows stand for ``w`` observations each, and its two-sided
    p-value (the t test with n − 2 degrees of freedom, as :func:`scipy.stats.pearsonr`)."""
    n = w.sum()
    dx, dy = x - np.average(x, weights=w), y - np.average(y, weights=w)
    spread = math.sqrt(float((w * dx * dx).sum() * (w * dy * dy).sum()))
    r = float(np.clip((w * dx * dy).sum() / spread, -1.0, 1.0))
    if n <= 2:
        return r, 1.0
    if abs(r) == 1.0:
        return r, 0.0
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return r, float(2 * sps.t.sf(abs(t), n - 2))


def _relative_weights(
    x: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[list[float], list[float], float]:
    """Standardised betas, Johnson's raw relative weights and R² of y on the columns of x,
    each row standing for ``w`` observations."""
    cov = np.atleast_2d(np.cov(np.column_stack([x, y]), rowvar=False, aweights=w))
    scale = np.sqrt(np.diag(cov))
    corr = cov / np.outer(scale, scale)
    rxx, rxy = corr[:-1, :-1], corr[:-1, -1]
    eigenvalues, vectors = np.linalg.eigh(rxx)
    keep = eigenvalues > 1e-10 * eigenvalues.max()
    root = np.where(keep, np.sqrt(np.clip(eigenvalues, 0, None)), 0.0)
    inverse_root = np.where(keep, 1 / np.where(keep, root, 1.0), 0.0)
    # Λ = R^(1/2): loadings of the drivers on their orthogonal counterparts.
    loadings = vectors @ np.diag(root) @ vectors.T
    # β of the outcome on the orthogonal counterparts: R^(−1/2) r_xy.
    z_betas = vectors @ np.diag(inverse_root) @ vectors.T @ rxy
    weights = (loadings**2) @ (z_betas**2)
    betas = vectors @ np.diag(inverse_root**2) @ vectors.T @ rxy
    return [float(b) for b in betas], [float(w) for w in weights], float(weights.sum())
