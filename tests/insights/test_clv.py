"""BG/NBD and Gamma–Gamma: the published CDNOW fits, the summaries they start from, and the
properties every prediction must have."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy import optimize, special

from cxloop.insights import clv
from tests.insights.cdnow import (
    CALIBRATION_END,
    CDNOW_PARAMS,
    HOLDOUT_END,
    PUBLISHED_BGNBD,
    PUBLISHED_BGNBD_LOG_LIKELIHOOD,
    PUBLISHED_GAMMA_GAMMA,
    cdnow_transactions,
)


@cache
def cdnow_summary() -> clv.CustomerSummary:
    customer, day, value = cdnow_transactions()
    return clv.summarise_transactions(customer, day, value, observation_end=CALIBRATION_END)


def test_cdnow_summary_matches_the_published_calibration_data() -> None:
    summary = cdnow_summary()

    assert len(summary) == 2357
    assert int((summary.frequency > 0).sum()) == 946
    assert int(summary.frequency.sum()) == 2457
    # customer 1: first purchase 1997-01-01, repeats on 01-18 and 08-02, one more in December
    first = int(np.flatnonzero(summary.customer == 1)[0])
    assert summary.frequency[first] == 2
    assert summary.recency[first] == pytest.approx(213 / 7)
    assert summary.age[first] == pytest.approx(272 / 7)
    assert summary.monetary[first] == pytest.approx((29.73 + 14.96) / 2)
    assert summary.age.max() == pytest.approx(38.857, abs=1e-3)


def test_purchases_on_one_day_count_once_with_their_values_summed() -> None:
    customer = np.array(["b", "a", "a", "a", "a", "b"])
    day = np.array(
        ["2024-01-05", "2024-01-01", "2024-01-01", "2024-01-08", "2024-01-08", "2024-01-05"],
        dtype="datetime64[D]",
    )
    value = np.array([7.0, 10.0, 5.0, 20.0, 4.0, 3.0])

    summary = clv.summarise_transactions(customer, day, value, observation_end="2024-01-15")
    history = clv.history_from_transactions(customer, day, value, observation_end="2024-01-15")

    assert history.orders.tolist() == [4, 2]
    assert history.purchase_days.tolist() == [2, 1]
    assert history.revenue.tolist() == [39.0, 10.0]
    assert history.days_since_last_purchase.tolist() == [7, 10]
    assert summary.customer.tolist() == ["a", "b"]
    assert summary.frequency.tolist() == [1, 0]
    assert summary.recency.tolist() == pytest.approx([1.0, 0.0])
    assert summary.age.tolist() == pytest.approx([2.0, 10 / 7])
    assert summary.monetary.tolist() == pytest.approx([24.0, 0.0])


def test_transactions_after_the_observation_end_are_ignored() -> None:
    customer = np.array([1, 1, 1, 2])
    day = np.array(["2024-01-01", "2024-01-15", "2024-02-01", "2024-02-01"], "datetime64[D]")

    summary = clv.summarise_transactions(
        customer, day, np.ones(4), observation_end="2024-01-15", unit_days=1.0
    )

    assert summary.customer.tolist() == [1]
    assert summary.frequency.tolist() == [1]
    assert summary.recency.tolist() == [14.0]
    assert summary.age.tolist() == [14.0]


@pytest.mark.parametrize("name", list(PUBLISHED_BGNBD))
def test_bgnbd_fit_reproduces_the_published_cdnow_parameters(name: str) -> None:
    summary = cdnow_summary()

    fit = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)

    assert getattr(fit.params, name) == pytest.approx(PUBLISHED_BGNBD[name], rel=0.01)
    assert fit.log_likelihood == pytest.approx(PUBLISHED_BGNBD_LOG_LIKELIHOOD, abs=0.1)
    assert fit.n_customers == 2357


@pytest.mark.parametrize("name", list(PUBLISHED_GAMMA_GAMMA))
def test_gamma_gamma_fit_reproduces_the_published_cdnow_parameters(name: str) -> None:
    summary = cdnow_summary()

    fit = clv.fit_gamma_gamma(summary.frequency, summary.monetary)

    assert getattr(fit.params, name) == pytest.approx(PUBLISHED_GAMMA_GAMMA[name], rel=0.01)
    assert fit.n_customers == 946
    # the model assumes frequency and value independent; on CDNOW they nearly are
    assert abs(fit.frequency_value_correlation) < 0.15


def test_fits_are_deterministic() -> None:
    summary = cdnow_summary()

    first = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)
    second = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)

    assert first.params == second.params


def test_fit_recovers_the_parameters_it_simulated_from() -> None:
    truth = clv.BgNbdParams(r=0.8, alpha=6.0, a=0.6, b=3.0)
    age = np.random.default_rng(7).uniform(10, 80, size=40_000)
    x, t_x = clv.simulate_bgnbd(truth, age, seed=11)

    fit = clv.fit_bgnbd(x, t_x, age)

    assert fit.params.r == pytest.approx(truth.r, rel=0.08)
    assert fit.params.alpha == pytest.approx(truth.alpha, rel=0.08)
    assert fit.params.a == pytest.approx(truth.a, rel=0.15)
    assert fit.params.b == pytest.approx(truth.b, rel=0.2)


def test_weights_fit_the_same_as_repeated_rows() -> None:
    summary = cdnow_summary()
    rows = np.stack([summary.frequency, summary.recency, summary.age])
    distinct, counts = np.unique(rows, axis=1, return_counts=True)

    weighted = clv.fit_bgnbd(distinct[0], distinct[1], distinct[2], weights=counts)
    full = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)

    assert distinct.shape[1] < len(summary)
    assert weighted.params.r == pytest.approx(full.params.r, rel=1e-4)
    assert weighted.params.b == pytest.approx(full.params.b, rel=1e-4)
    assert weighted.log_likelihood == pytest.approx(full.log_likelihood, rel=1e-7)


def test_bgnbd_gradient_matches_finite_differences() -> None:
    summary = cdnow_summary()
    levels, index = np.unique(summary.frequency, return_inverse=True)

    def value(theta: np.ndarray) -> float:
        args = (levels, index, summary.recency, summary.age, None)
        return clv._bgnbd_loglik_and_grad(theta, *args)[0]

    def grad(theta: np.ndarray) -> np.ndarray:
        args = (levels, index, summary.recency, summary.age, None)
        return clv._bgnbd_loglik_and_grad(theta, *args)[1]

    for theta in (np.log([0.243, 4.414, 0.793, 2.426]), np.log([1.5, 0.7, 3.0, 0.6])):
        numeric = optimize.approx_fprime(theta, value, 1e-7)
        assert grad(theta) == pytest.approx(numeric, rel=1e-4, abs=1e-3)


def test_gamma_gamma_gradient_matches_finite_differences() -> None:
    summary = cdnow_summary()
    repeat = summary.frequency > 0
    x = summary.frequency[repeat].astype(float)
    m = summary.monetary[repeat]
    args = (x, m, np.log(m), np.log(x))
    theta = np.log([6.25, 3.74, 15.44]) + np.array([0.3, -0.2, 0.1])

    numeric = optimize.approx_fprime(
        theta, lambda t: clv._gamma_gamma_loglik_and_grad(t, *args)[0], 1e-7
    )

    assert clv._gamma_gamma_loglik_and_grad(theta, *args)[1] == pytest.approx(numeric, rel=1e-4)


def test_a_fit_without_repeat_purchases_is_refused() -> None:
    with pytest.raises(clv.FitError):
        clv.fit_bgnbd(np.zeros(5, dtype=int), np.zeros(5), np.full(5, 10.0))
    with pytest.raises(clv.FitError):
        clv.fit_gamma_gamma(np.zeros(5, dtype=int), np.zeros(5))


def test_recency_beyond_age_is_refused() -> None:
    with pytest.raises(ValueError, match="recency"):
        clv.probability_alive(CDNOW_PARAMS, [2], [12.0], [10.0])


# --- probability alive ----------------------------------------------------------------------


def test_probability_alive_is_one_without_repeat_purchases() -> None:
    p_alive = clv.probability_alive(CDNOW_PARAMS, [0, 0, 0], [0.0, 0.0, 0.0], [1.0, 20.0, 80.0])

    assert p_alive.tolist() == [1.0, 1.0, 1.0]


def test_probability_alive_matches_the_closed_form() -> None:
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x, t_x, big_t = 3, 20.0, 38.86
    expected = 1 / (1 + a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x))

    assert clv.probability_alive(CDNOW_PARAMS, [x], [t_x], [big_t])[0] == pytest.approx(expected)


def test_probability_alive_lies_in_zero_one_on_cdnow() -> None:
    summary = cdnow_summary()

    p_alive = clv.probability_alive(CDNOW_PARAMS, summary.frequency, summary.recency, summary.age)

    assert np.all(p_alive > 0)
    assert np.all(p_alive <= 1)
    assert np.all(p_alive[summary.frequency == 0] == 1)
    assert np.all(p_alive[summary.frequency > 0] < 1)


def test_probability_alive_grows_with_recency_and_falls_with_silence() -> None:
    recency = np.linspace(0.5, 38.0, 40)

    by_recency = clv.probability_alive(CDNOW_PARAMS, np.full(40, 4), recency, np.full(40, 39.0))
    by_age = clv.probability_alive(CDNOW_PARAMS, np.full(40, 4), np.full(40, 0.5), recency + 1)

    assert np.all(np.diff(by_recency) > 0)
    assert np.all(np.diff(by_age) < 0)


def test_a_heavy_buyer_who_went_quiet_is_probably_gone() -> None:
    # about 8 purchases a week: one silent week already says much, a silent month says it all
    p_alive = clv.probability_alive(CDNOW_PARAMS, [300, 300, 300], [35.0, 38.0, 39.0], [39.0] * 3)

    assert p_alive[0] < 1e-6
    assert 0.1 < p_alive[1] < 0.5
    assert p_alive[2] > 0.99


# --- expected purchases ---------------------------------------------------------------------


def test_expected_purchases_agree_with_the_untransformed_formula() -> None:
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x = np.array([0, 1, 2, 5, 12])
    t_x = np.array([0.0, 5.0, 30.0, 12.0, 37.0])
    big_t = np.full(5, 38.86)
    t = 39.0
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
    numerator = (
        (a + b + x - 1) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp)
    )
    dropped = np.where(x > 0, a / (b + np.maximum(x, 1) - 1), 0) * (
        (alpha + big_t) / (alpha + t_x)
    ) ** (r + x)

    ours = clv.expected_purchases(CDNOW_PARAMS, t, x, t_x, big_t)

    assert ours == pytest.approx(numerator / (1 + dropped), rel=1e-9)


def test_a_new_customer_expects_what_the_unconditional_formula_says() -> None:
    horizons = np.array([1.0, 13.0, 52.0, 104.0])

    conditional = clv.expected_purchases(
        CDNOW_PARAMS, horizons, np.zeros(4), np.zeros(4), np.zeros(4)
    )

    assert conditional == pytest.approx(
        clv.expected_purchases_new_customer(CDNOW_PARAMS, horizons), rel=1e-9
    )


def test_expected_purchases_start_at_zero_and_grow_with_the_horizon() -> None:
    horizons = np.array([0.0, 1.0, 4.0, 13.0, 26.0, 52.0, 520.0])

    active = clv.expected_purchases(
        CDNOW_PARAMS, horizons, np.full(7, 6), np.full(7, 37.0), np.full(7, 39.0)
    )

    assert active[0] == 0
    assert np.all(np.diff(active) > 0)


def test_heavy_buyers_get_finite_predictions_near_their_rate() -> None:
    # 400 repeat purchases in 100 weeks, the last one just now: about 4 a week
    purchases = clv.expected_purchases(CDNOW_PARAMS, 4.0, [400], [99.9], [100.0])

    assert np.isfinite(purchases[0])
    assert 12.0 < purchases[0] < 17.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(650.0, 591_690.0, id="limit"),
        # Just under the switch the hypergeometric form still computes: it agrees.
        pytest.param(1.1, 990.0, id="exact-form-near-the-switch"),
    ],
)
def test_customers_who_almost_never_drop_out_get_the_fixed_dropout_limit(
    a: float, b: float
) -> None:
    # Shops where nobody seems to leave fit huge a and b: the drop-out chance is nearly the
    # same p = a/(a+b) for everyone, and the prediction is that limit's closed form.
    params = clv.BgNbdParams(r=0.75, alpha=5.2, a=a, b=b)
    x = np.array([0, 0, 1, 7, 30])
    t_x = np.array([0.0, 0.0, 0.57, 9.4, 60.0])
    age = np.array([0.86, 20.7, 3.4, 11.4, 61.0])
    horizon = 52.0

    predicted = clv.expected_purchases(params, horizon, x, t_x, age)

    p = a / (a + b)
    alive = clv.probability_alive(params, x, t_x, age)
    limit = alive * (1 - ((5.2 + age) / (5.2 + age + p * horizon)) ** (0.75 + x)) / p
    assert np.all(np.isfinite(predicted))
    assert predicted == pytest.approx(limit, rel=2e-3)


def test_cdnow_holdout_predictions_track_what_customers_did() -> None:
    """FHL 2005's check: predicted vs actual repeat purchases in the 39 weeks after calibration."""
    customer, day, _ = cdnow_transactions()
    summary = cdnow_summary()
    fit = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)
    holdout = (day > np.datetime64(CALIBRATION_END)) & (day <= np.datetime64(HOLDOUT_END))
    pairs = np.unique(np.stack([customer[holdout], day[holdout].astype(np.int64)]), axis=1)
    actual = np.zeros(len(summary))
    position = np.searchsorted(summary.customer, pairs[0])
    np.add.at(actual, position, 1)

    predicted = clv.expected_purchases(
        fit.params, 39.0, summary.frequency, summary.recency, summary.age
    )

    assert actual.sum() == 1882
    assert predicted.sum() == pytest.approx(1653.4, abs=1.0)
    for x in range(0, 7):
        group = summary.frequency == x
        # the model under-predicts the CDNOW holdout a little, most for x = 1 and 2 (as published)
        assert predicted[group].mean() == pytest.approx(actual[group].mean(), rel=0.27), x
    assert np.corrcoef(predicted, actual)[0, 1] > 0.6


# --- order value and CLV --------------------------------------------------------------------

GG = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def test_expected_order_value_shrinks_towards_the_population_mean() -> None:
    values = clv.expected_order_value(GG, [0, 1, 10, 1000], [0.0, 50.0, 50.0, 50.0])

    assert values[0] == pytest.approx(GG.population_mean)
    assert values[0] == pytest.approx(6.25 * 15.44 / 2.74)
    assert values[1] == pytest.approx((15.44 + 50) * 6.25 / (6.25 + 2.74))
    assert GG.population_mean < values[1] < values[2] < values[3] < 50.0
    assert values[3] == pytest.approx(50.0, rel=1e-3)


def test_clv_is_expected_purchases_times_order_value_without_discount() -> None:
    summary = cdnow_summary()

    scores = clv.score_customers(CDNOW_PARAMS, GG, summary)

    month = clv.DAYS_PER_MONTH / 7
    twelve = clv.expected_purchases(
        CDNOW_PARAMS, 12 * month, summary.frequency, summary.recency, summary.age
    )
    assert sorted(scores.clv) == [3, 6, 12]
    assert scores.expected_purchases[12] == pytest.approx(twelve)
    assert scores.clv[12] == pytest.approx(twelve * scores.expected_order_value)
    assert np.all(scores.clv[3] < scores.clv[6])
    assert np.all(scores.clv[6] < scores.clv[12])
    assert scores.p_alive == pytest.approx(
        clv.probability_alive(CDNOW_PARAMS, summary.frequency, summary.recency, summary.age)
    )


def test_discounting_lowers_clv_by_at_most_the_last_months_factor() -> None:
    summary = cdnow_summary()

    plain = clv.score_customers(CDNOW_PARAMS, GG, summary)
    discounted = clv.score_customers(CDNOW_PARAMS, GG, summary, monthly_discount_rate=0.01)

    assert discounted.expected_purchases[12] == pytest.approx(plain.expected_purchases[12])
    assert np.all(discounted.clv[12] < plain.clv[12])
    assert np.all(discounted.clv[12] > plain.clv[12] / 1.01**12)


def test_a_negative_discount_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="discount"):
        clv.score_customers(CDNOW_PARAMS, GG, cdnow_summary(), monthly_discount_rate=-0.1)
