"""Score statistics checked against arithmetic done by hand in each test."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.core import stats

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's closed form: (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = x / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def two_sided_normal_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


# --- NPS ---------------------------------------------------------------------------------------


def test_nps_from_counts_matches_hand_arithmetic() -> None:
    # 50 promoters, 30 passives, 20 detractors: NPS = 50% − 20% = 30.
    # var = (0.5 + 0.2 − (0.5 − 0.2)²) / 100 = (0.7 − 0.09) / 100 = 0.0061
    # se = √0.0061 = 0.078102; half-width = 1.959964 × 0.078102 × 100 = 15.3078
    result = stats.nps_from_counts(promoters=50, passives=30, detractors=20)

    assert result.n == 100
    assert result.estimate == pytest.approx(30.0)
    assert result.variance == pytest.approx(0.0061)
    assert result.ci_low == pytest.approx(30 - 15.3078, abs=1e-4)
    assert result.ci_high == pytest.approx(30 + 15.3078, abs=1e-4)
    assert result.confidence == 0.95
    assert result.too_few is False


def test_nps_from_scores_groups_promoters_passives_and_detractors() -> None:
    # 9, 10 promote; 7, 8 are passive; 0–6 detract: 4 promoters, 2 passives, 5 detractors.
    scores = [10, 9, 9, 10, 7, 8, 6, 0, 3, 5, 6]

    result = stats.nps(scores, min_n=10)

    assert (result.promoters, result.passives, result.detractors) == (4, 2, 5)
    # NPS = (4 − 5) / 11 × 100 = −9.0909
    assert result.estimate == pytest.approx(-100 / 11)
    # var = (4/11 + 5/11 − (1/11)²) / 11 = (0.818182 − 0.008264) / 11 = 0.073629
    half = Z95 * math.sqrt(0.073629) * 100
    assert result.ci_low == pytest.approx(-100 / 11 - half, abs=1e-3)
    assert result.too_few is False


def test_nps_below_the_minimum_is_flagged_too_few() -> None:
    assert stats.nps([10] * 29).too_few is True
    assert stats.nps([10] * 30).too_few is False
    assert stats.nps([10] * 5, min_n=5).too_few is False


def test_nps_of_only_promoters_is_100_with_a_degenerate_interval() -> None:
    # p_P = 1, p_D = 0: var = (1 + 0 − 1²)/n = 0, so the interval collapses to 100.
    result = stats.nps([10, 9, 10, 9] * 10)

    assert (result.estimate, result.ci_low, result.ci_high) == (100.0, 100.0, 100.0)


def test_nps_interval_is_clipped_to_the_scale() -> None:
    # 1 promoter, 0 passives, 1 detractor: NPS 0, var = (1/2 + 1/2 − 0²)/2 = 0.5,
    # half-width 1.96 × 0.707107 × 100 = 138.6: both ends fall outside −100..100 and are clipped.
    result = stats.nps_from_counts(promoters=1, passives=0, detractors=1)

    assert result.ci_low == -100.0
    assert result.ci_high == 100.0


# --- proportions, CSAT, response rate -----------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n"),
    [(5, 8), (0, 10), (10, 10), (37, 120), (1, 1)],
    ids=["five-of-eight", "none", "all", "37-of-120", "single"],
)
def test_proportion_interval_is_wilsons_closed_form(successes: int, n: int) -> None:
    low, high = wilson(successes, n)

    result = stats.proportion_interval(successes, n)

    assert result.estimate == pytest.approx(successes / n)
    assert result.ci_low == pytest.approx(max(0.0, low), abs=1e-12)
    assert result.ci_high == pytest.approx(min(1.0, high), abs=1e-12)


def test_wilson_of_zero_successes_has_upper_bound_z2_over_n_plus_z2() -> None:
    # With p = 0 the closed form reduces to [0, z²/(n + z²)] = [0, 3.841459/13.841459] for n=10.
    result = stats.proportion_interval(0, 10)

    assert result.ci_low == 0.0
    assert result.ci_high == pytest.approx(3.841459 / 13.841459, abs=1e-6)


def test_csat_is_percent_of_four_and_five_with_wilson_interval() -> None:
    # 5 of 8 answers are 4 or 5: CSAT 62.5%; Wilson (5, 8):
    # centre = (0.625 + 3.841459/16) / (1 + 3.841459/8) = 0.865091 / 1.480182 = 0.584448
    # half = 1.959964 / 1.480182 × √(0.625·0.375/8 + 3.841459/256) = 1.324138 × 0.210483 = 0.278708
    result = stats.csat([5, 4, 3, 2, 1, 5, 5, 4])

    assert result.successes == 5
    assert result.estimate == pytest.approx(62.5)
    assert result.ci_low == pytest.approx(30.574, abs=1e-3)
    assert result.ci_high == pytest.approx(86.316, abs=1e-3)
    assert result.too_few is True


def test_response_rate_is_percent_of_invitations_answered() -> None:
    # 120 answers to 400 invitations: 30%, Wilson (120, 400) × 100.
    low, high = wilson(120, 400)

    result = stats.response_rate(120, 400)

    assert result.n == 400
    assert result.estimate == pytest.approx(30.0)
    assert (result.ci_low, result.ci_high) == pytest.approx((low * 100, high * 100))


def test_response_rate_refuses_more_answers_than_invitations() -> None:
    with pytest.raises(ValueError, match=r"successes \(5\) cannot exceed n \(4\)"):
        stats.response_rate(5, 4)


# --- means and CES -----------------------------------------------------------------------------


def test_ces_mean_has_a_student_t_interval() -> None:
    # [3, 4, 5, 6]: mean 4.5; s² = (1.5² + 0.5² + 0.5² + 1.5²)/3 = 5/3, s = 1.290994
    # t(0.975, 3 df) = 3.182446 (tables); half = 3.182446 × 1.290994 / √4 = 2.054260
    result = stats.ces([3, 4, 5, 6])

    assert result.estimate == pytest.approx(4.5)
    assert result.std == pytest.approx(math.sqrt(5 / 3))
    assert result.ci_low == pytest.approx(4.5 - 2.054260, abs=1e-5)
    assert result.ci_high == pytest.approx(4.5 + 2.054260, abs=1e-5)


def test_mean_from_summary_matches_the_mean_of_the_answers() -> None:
    # SQL can hand over n = 4, mean 4.5 and s = √(5/3) instead of the answers themselves.
    summary = stats.mean_from_summary(n=4, mean=4.5, std=math.sqrt(5 / 3), bounds=(1, 7))

    answers = stats.ces([3, 4, 5, 6])
    assert (summary.n, summary.bounds) == (answers.n, answers.bounds)
    assert (summary.estimate, summary.std, summary.ci_low, summary.ci_high) == pytest.approx(
        (answers.estimate, answers.std, answers.ci_low, answers.ci_high)
    )


def test_ces_interval_is_clipped_to_the_1_to_7_scale() -> None:
    # [1, 2, 3, 4]: mean 2.5, half-width 2.054260 → 0.4457 clipped to 1.
    result = stats.ces([1, 2, 3, 4])

    assert result.ci_low == 1.0
    assert result.ci_high == pytest.approx(4.554260, abs=1e-5)


def test_mean_of_one_value_has_no_spread_and_the_whole_scale_as_interval() -> None:
    result = stats.ces([5])

    assert (result.estimate, result.std, result.ci_low, result.ci_high) == (5.0, 0.0, 1.0, 7.0)
    unbounded = stats.mean_interval([5.0])
    assert (unbounded.ci_low, unbounded.ci_high) == (-math.inf, math.inf)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "scores", "message"),
    [
        (stats.nps, [5, 11], "NPS scores are whole numbers from 0 to 10; got 11"),
        (stats.nps, [-1], "got -1"),
        (stats.nps, [7.5], "got 7.5"),
        (stats.nps, [float("nan")], "got nan"),
        (stats.csat, [0, 5], "CSAT scores are whole numbers from 1 to 5; got 0"),
        (stats.ces, [8], "CES scores are whole numbers from 1 to 7; got 8"),
        (stats.nps, ["ten"], "scores must be numbers"),
    ],
    ids=["nps-11", "nps-negative", "nps-fraction", "nps-nan", "csat-0", "ces-8", "text"],
)
def test_scores_off_the_scale_are_refused_by_value(
    metric: Callable[[list[object]], object], scores: list[object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        metric(scores)


@pytest.mark.parametrize(
    "call",
    [
        lambda: stats.nps([]),
        lambda: stats.csat([]),
        lambda: stats.ces([]),
        lambda: stats.nps_from_counts(promoters=0, passives=0, detractors=0),
        lambda: stats.proportion_interval(0, 0),
        lambda: stats.response_rate(0, 0),
        lambda: stats.mean_interval([]),
    ],
    ids=["nps", "csat", "ces", "nps-counts", "proportion", "response-rate", "mean"],
)
def test_no_answers_is_a_clear_empty_sample_error(call: Callable[[], object]) -> None:
    with pytest.raises(stats.EmptySample, match=r"n = 0"):
        call()
    assert issubclass(stats.EmptySample, ValueError)


def test_bad_counts_and_confidence_are_refused() -> None:
    with pytest.raises(ValueError, match="promoters must be a whole number"):
        stats.nps_from_counts(promoters=-1, passives=0, detractors=3)
    with pytest.raises(ValueError, match="confidence must lie between 0 and 1"):
        stats.nps([9], confidence=95)
    with pytest.raises(ValueError, match="unknown metric 'rating'"):
        stats.score("rating", [1])  # type: ignore[arg-type]


# --- change between two periods ----------------------------------------------------------------


def test_nps_change_is_a_z_test_on_the_summed_variances() -> None:
    # Before 50/30/20 → NPS 30, var (0.5 + 0.2 − 0.3²)/100 = 0.0061.
    # After 60/25/15 → NPS 45, var (0.6 + 0.15 − 0.45²)/100 = 0.5475/100 = 0.005475.
    # se = √(0.0061 + 0.005475) × 100 = 10.7587 points; z = 15 / 10.7587 = 1.39422.
    before = stats.nps_from_counts(promoters=50, passives=30, detractors=20)
    after = stats.nps_from_counts(promoters=60, passives=25, detractors=15)

    change = stats.compare_nps(before, after)

    se = math.sqrt(0.0061 + 0.005475) * 100
    assert change.difference == pytest.approx(15.0)
    assert change.p_value == pytest.approx(two_sided_normal_p(15 / se))
    assert change.p_value == pytest.approx(0.1633, abs=1e-4)
    assert (change.ci_low, change.ci_high) == pytest.approx((15 - Z95 * se, 15 + Z95 * se))
    assert change.significant is False
    assert change.too_few is False


def test_a_large_nps_change_is_significant() -> None:
    # 50/30/20 (NPS 30) → 80/15/5 (NPS 75): var after (0.85 − 0.75²)/100 = 0.002875.
    # se = √(0.0061 + 0.002875) × 100 = 9.4736; z = 45 / 9.4736 = 4.7500 → p ≈ 2.0e-6.
    before = stats.nps_from_counts(promoters=50, passives=30, detractors=20)
    after = stats.nps_from_counts(promoters=80, passives=15, detractors=5)

    change = stats.compare(before, after)

    assert change.p_value == pytest.approx(two_sided_normal_p(45 / 9.4736), rel=1e-3)
    assert change.significant is True


def test_csat_change_is_a_pooled_two_proportion_z_test() -> None:
    # 45 of 100 → 60 of 100 satisfied: pooled p = 105/200 = 0.525,
    # se₀ = √(0.525 × 0.475 × (1/100 + 1/100)) = √0.0049875 = 0.070622; z = 0.15/0.070622 = 2.1240
    # two-sided p = erfc(2.1240/√2) = 0.03367.
    before = stats.proportion_interval(45, 100, scale=100)
    after = stats.proportion_interval(60, 100, scale=100)

    change = stats.compare_proportions(before, after)

    assert change.difference == pytest.approx(15.0)
    assert change.p_value == pytest.approx(two_sided_normal_p(0.15 / math.sqrt(0.0049875)))
    assert change.p_value == pytest.approx(0.03367, abs=1e-5)
    assert change.significant is True
    # Newcombe's hybrid interval from the two Wilson intervals:
    l1, u1 = wilson(45, 100)
    l2, u2 = wilson(60, 100)
    low = 0.15 - math.sqrt((0.60 - l2) ** 2 + (u1 - 0.45) ** 2)
    high = 0.15 + math.sqrt((u2 - 0.60) ** 2 + (0.45 - l1) ** 2)
    assert (change.ci_low, change.ci_high) == pytest.approx((low * 100, high * 100))


def test_ces_change_is_welchs_t_test() -> None:
    # [1..5] and [3..7]: means 3 and 5, both s² = 2.5, so each s²/n = 0.5 and se = 1; t = 2.
    # Welch df = (0.5 + 0.5)² / (0.5²/4 + 0.5²/4) = 1 / 0.125 = 8; t(2, 8 df) two-sided p = 0.0805.
    from scipy import stats as sps

    before = stats.ces([1, 2, 3, 4, 5])
    after = stats.ces([3, 4, 5, 6, 7])

    change = stats.compare_means(before, after)

    assert change.difference == pytest.approx(2.0)
    assert change.p_value == pytest.approx(0.0805, abs=1e-4)
    reference = sps.ttest_ind([3, 4, 5, 6, 7], [1, 2, 3, 4, 5], equal_var=False)
    assert change.p_value == pytest.approx(reference.pvalue)
    # t(0.975, 8 df) = 2.306004 (tables): 2 ± 2.306004 × 1
    assert (change.ci_low, change.ci_high) == pytest.approx((2 - 2.306004, 2 + 2.306004), abs=1e-6)
    assert change.significant is False
    assert change.too_few is True


def test_changes_without_spread_or_with_a_single_answer_do_not_crash() -> None:
    # All 7 then all 6: no spread, so the difference is certain.
    certain = stats.compare_scores("ces", [7] * 40, [6] * 40)
    assert (certain.difference, certain.p_value, certain.significant) == (-1.0, 0.0, True)
    same = stats.compare_scores("nps", [10] * 40, [10] * 40)
    assert (same.difference, same.p_value, same.significant) == (0.0, 1.0, False)
    # One answer on one side: nothing to test against.
    lonely = stats.compare_scores("ces", [5], [1, 7, 4])
    assert (lonely.p_value, lonely.ci_low, lonely.ci_high) == (1.0, -6.0, 6.0)
    assert lonely.too_few is True


def test_compare_refuses_estimates_of_different_kinds() -> None:
    with pytest.raises(ValueError, match="cannot compare a NpsEstimate with a MeanEstimate"):
        stats.compare(stats.nps([9]), stats.ces([4]))


# --- trends ------------------------------------------------------------------------------------


def test_weekly_trend_buckets_by_iso_week_in_seoul_time() -> None:
    # 2025-01-05 14:59 UTC is Sunday 23:59 in Seoul: ISO week 2025-W01, which starts on
    # Monday 2024-12-30. One minute later it is Monday 2025-01-06 00:00 in Seoul: 2025-W02.
    sunday_night = datetime(2025, 1, 5, 14, 59, tzinfo=UTC)
    monday_morning = datetime(2025, 1, 5, 15, 0, tzinfo=UTC)
    points = [(sunday_night, 10), (sunday_night, 3), (monday_morning, 9), (monday_morning, 9)]

    weeks = stats.trend(points, kind="nps", period="week")

    assert [(w.start, w.label, w.result.n) for w in weeks] == [
        (date(2024, 12, 30), "2025-W01", 2),
        (date(2025, 1, 6), "2025-W02", 2),
    ]
    assert weeks[0].result.estimate == 0.0  # one promoter, one detractor
    assert weeks[1].result.estimate == 100.0
    assert weeks[0].change is None
    assert weeks[1].change == stats.compare(weeks[0].result, weeks[1].result)
    assert weeks[1].change.too_few is True


def test_monthly_trend_uses_the_given_time_zone() -> None:
    # 2025-01-31 15:00 UTC is already 1 February in Seoul but still 31 January in UTC.
    moment = datetime(2025, 1, 31, 15, 0, tzinfo=UTC)
    earlier = datetime(2025, 1, 10, tzinfo=UTC)
    points = [(earlier, 5), (moment, 4), (moment, 2)]

    seoul = stats.trend(points, kind="csat", period="month")
    utc = stats.trend(points, kind="csat", period="month", tz="UTC")

    assert [(m.label, m.result.n) for m in seoul] == [("2025-01", 1), ("2025-02", 2)]
    assert [(m.label, m.result.n) for m in utc] == [("2025-01", 3)]
    assert seoul[1].result.estimate == pytest.approx(50.0)


def test_trend_of_nothing_is_empty_and_a_bad_period_is_refused() -> None:
    assert stats.trend([], kind="ces") == []
    with pytest.raises(ValueError, match="unknown trend period 'day'"):
        stats.trend([], kind="ces", period="day")  # type: ignore[arg-type]


# --- key drivers -------------------------------------------------------------------------------


def test_key_drivers_of_uncorrelated_drivers_split_r2_by_their_squared_correlations() -> None:
    # x1 and x2 are ±1 and orthogonal; y = 5 + 2·x1 + x2 exactly, so R² = 1 and
    # r(x1, y) = 2/√5 = 0.894427, r(x2, y) = 1/√5 = 0.447214. Uncorrelated drivers keep r²
    # as their relative weight: 4/5 and 1/5.
    x1 = np.array([1, -1] * 20, dtype=float)
    x2 = np.array([1, 1, -1, -1] * 10, dtype=float)
    y = 5 + 2 * x1 + x2

    analysis = stats.key_drivers({"delivery": x2, "price": x1}, y)

    assert analysis.r_squared == pytest.approx(1.0)
    assert analysis.n_complete == 40
    price, delivery = analysis.drivers
    assert price.name == "price"
    assert price.correlation == pytest.approx(2 / math.sqrt(5))
    assert delivery.correlation == pytest.approx(1 / math.sqrt(5))
    assert (price.share, delivery.share) == pytest.approx((0.8, 0.2))
    assert (price.beta, delivery.beta) == pytest.approx((2 / math.sqrt(5), 1 / math.sqrt(5)))
    assert price.mean == pytest.approx(0.0)
    assert price.n == 40


def test_relative_weights_of_two_correlated_drivers_equal_their_shapley_values() -> None:
    # For two drivers Johnson's weights coincide with the Shapley split of R²:
    # w1 = (R²(x1) + R²(x1, x2) − R²(x2)) / 2. R² computed here with ordinary least squares.
    x1 = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 2, 4, 6, 8, 10], dtype=float)
    x2 = np.array([2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 9, 1, 3, 5, 2], dtype=float)
    y = np.array([3, 2, 5, 5, 6, 6, 8, 8, 10, 9, 6, 3, 5, 7, 7], dtype=float)

    def r2(*columns: np.ndarray) -> float:
        design = np.column_stack([np.ones_like(y), *columns])
        fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
        return float(1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum())

    analysis = stats.key_drivers({"a": x1, "b": x2}, y, min_n=10)

    weights = {d.name: d.relative_weight for d in analysis.drivers}
    assert analysis.r_squared == pytest.approx(r2(x1, x2))
    assert weights["a"] == pytest.approx((r2(x1) + r2(x1, x2) - r2(x2)) / 2)
    assert weights["b"] == pytest.approx((r2(x2) + r2(x1, x2) - r2(x1)) / 2)


def test_key_drivers_of_touchpoint_indicators_that_sum_to_one() -> None:
    # Each response came through exactly one of three touchpoints, so the indicators are
    # perfectly collinear; app answers 9, store 7, call centre 5.
    touchpoint = np.arange(60) % 3
    y = np.array([9.0, 7.0, 5.0])[touchpoint]
    drivers = {
        name: (touchpoint == i).astype(float) for i, name in enumerate(["app", "store", "call"])
    }

    analysis = stats.key_drivers(drivers, y)

    assert analysis.r_squared == pytest.approx(1.0)
    assert sum(d.share or 0 for d in analysis.drivers) == pytest.approx(1.0)
    assert {d.name for d in analysis.drivers[:2]} == {"app", "call"}
    assert analysis.drivers[2].name == "store"
    assert analysis.drivers[2].correlation == pytest.approx(0.0, abs=1e-12)


def test_key_drivers_with_missing_answers_flag_drivers_with_too_few() -> None:
    # "staff" is answered 40 times, "parking" only 5 times (NaN elsewhere); one outcome missing.
    x1 = np.array([1, -1] * 20, dtype=float)
    y = 5 + 2 * x1
    y[0] = np.nan
    parking = np.full(40, np.nan)
    parking[1:6] = [1, 2, 3, 4, 5]

    analysis = stats.key_drivers({"parking": parking, "staff": x1}, y)

    staff, rare = analysis.drivers
    assert staff.name == "staff"
    assert (staff.n, staff.too_few, staff.share) == (39, False, pytest.approx(1.0))
    assert rare.name == "parking"
    assert (rare.n, rare.too_few, rare.share, rare.mean) == (5, True, None, 3.0)
    assert rare.correlation is not None
    assert analysis.n_complete == 39


def test_key_drivers_of_counted_rows_equal_those_of_every_response() -> None:
    # What a GROUP BY returns: each distinct (outcome, ratings) row once, with its count.
    rng = np.random.default_rng(5)
    service = rng.integers(1, 6, 400).astype(float)
    price = rng.integers(1, 6, 400).astype(float)
    price[rng.random(400) < 0.2] = np.nan
    y = np.clip(np.round(2 * service + 0.5 * np.nan_to_num(price, nan=3) - 3), 0, 10)
    rows: dict[tuple[float, float, float], int] = {}
    for key in zip(y, service, price, strict=True):
        rows[key] = rows.get(key, 0) + 1
    # NaN keys do not compare equal: count them by their text instead
    grouped: dict[str, tuple[tuple[float, float, float], int]] = {}
    for key, count in rows.items():
        text = repr(key)
        grouped[text] = (key, grouped.get(text, (key, 0))[1] + count)
    keys = [key for key, _ in grouped.values()]
    counts = [count for _, count in grouped.values()]
    assert len(keys) < 100

    each = stats.key_drivers({"service": service, "price": price}, y)
    counted = stats.key_drivers(
        {"service": [k[1] for k in keys], "price": [k[2] for k in keys]},
        [k[0] for k in keys],
        counts=counts,
    )

    assert counted.n_complete == each.n_complete
    assert counted.r_squared == pytest.approx(each.r_squared)
    for a, b in zip(each.drivers, counted.drivers, strict=True):
        assert (a.name, a.n, a.too_few) == (b.name, b.n, b.too_few)
        assert b.mean == pytest.approx(a.mean)
        assert b.correlation == pytest.approx(a.correlation)
        assert b.p_value == pytest.approx(a.p_value, rel=1e-6, abs=1e-300)
        assert b.beta == pytest.approx(a.beta)
        assert b.relative_weight == pytest.approx(a.relative_weight)
    with pytest.raises(ValueError, match="counts must be finite and not negative"):
        stats.key_drivers({"a": [1.0, 2.0]}, [5.0, 6.0], counts=[1, -1])


def test_key_drivers_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="outcome scores run from 0 to 10; got 12"):
        stats.key_drivers({"a": [1, 2]}, [5, 12])
    with pytest.raises(ValueError, match="driver 'a' has 3 values for 2 outcomes"):
        stats.key_drivers({"a": [1, 2, 3]}, [5, 6])


def test_key_drivers_of_constant_drivers_have_no_correlation() -> None:
    analysis = stats.key_drivers({"always": [1.0] * 40}, [float(i % 11) for i in range(40)])

    (driver,) = analysis.drivers
    assert (driver.correlation, driver.share, driver.mean) == (None, None, 1.0)
    assert analysis.r_squared is None


# --- properties --------------------------------------------------------------------------------


@given(
    promoters=st.integers(0, 400),
    passives=st.integers(0, 400),
    detractors=st.integers(0, 400),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_nps_interval_contains_the_estimate_within_bounds(
    promoters: int, passives: int, detractors: int, confidence: float
) -> None:
    if promoters + passives + detractors == 0:
        return
    result = stats.nps_from_counts(
        promoters=promoters, passives=passives, detractors=detractors, confidence=confidence
    )
    assert -100 <= result.ci_low <= result.estimate <= result.ci_high <= 100


@given(data=st.data(), n=st.integers(1, 2000))
def test_wilson_interval_contains_the_estimate_within_bounds(data: st.DataObject, n: int) -> None:
    successes = data.draw(st.integers(0, n))
    result = stats.proportion_interval(successes, n)
    assert 0 <= result.ci_low <= result.estimate <= result.ci_high <= 1


@given(st.lists(st.integers(1, 7), min_size=1, max_size=300))
def test_ces_interval_contains_the_mean_within_the_scale(scores: list[int]) -> None:
    result = stats.ces(scores)
    assert 1 <= result.ci_low <= result.estimate <= result.ci_high <= 7


@given(
    st.lists(st.integers(0, 10), min_size=2, max_size=200),
    st.lists(st.integers(0, 10), min_size=2, max_size=200),
)
def test_nps_change_p_value_is_a_probability_and_ci_contains_the_difference(
    before: list[int], after: list[int]
) -> None:
    change = stats.compare_scores("nps", before, after)
    assert 0 <= change.p_value <= 1
    assert change.ci_low <= change.difference <= change.ci_high
    assert change.significant == (change.p_value < 0.05)
