"""Customer lifetime value: BG/NBD purchase counts and the Gamma–Gamma model of order value.

The models are those of Fader, Hardie & Lee (2005), "Counting your customers the easy way: an
alternative to the Pareto/NBD model" (BG/NBD), and Fader & Hardie (2013), "The Gamma-Gamma model
of monetary value". Everything here is pure numpy/scipy over arrays, one element per customer; no
database, no per-customer Python loop.

Time is measured in one unit throughout, weeks by default (``summarise_transactions``'s
``unit_days``): a customer's ``recency`` (t_x) is the time from the first to the last purchase,
``age`` (T) the time from the first purchase to the end of observation, ``frequency`` (x) the
number of repeat purchase *days* (several orders on one day count once, their values summed) and
``monetary`` the mean value of those repeat days (0 when there are none). The first purchase
never counts: it only starts the customer's clock.

Fits are maximum likelihood over log-parameters with L-BFGS-B and analytic gradients, from fixed
starting points, so the same data give the same parameters. The special functions that depend
only on x are evaluated once per distinct x, which keeps a fit over 1,000,000 customers to a few
seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DAYS_PER_WEEK = 7.0
# An average Gregorian month in days; horizons in months are turned into the model's unit by it.
DAYS_PER_MONTH = 365.2425 / 12
CLV_HORIZON_MONTHS = (3, 6, 12)

# Log-parameters are kept within e^±25: wide enough for any real data set, narrow enough that
# the optimiser never evaluates exp() into overflow.
_LOG_BOUND = 25.0
# From this a + b on, expected purchases use the fixed drop-out limit (see below).
FIXED_DROPOUT_ABOVE = 1_000.0


class FitError(ValueError):
    """The data cannot identify the model (too few customers or no repeat purchases)."""


@dataclass(frozen=True)
class CustomerSummary:
    """Per-customer summary statistics of a transaction log, in the order of ``customer``."""

    customer: npt.NDArray[np.generic]
    frequency: IntArray
    recency: FloatArray
    age: FloatArray
    monetary: FloatArray
    unit_days: float = DAYS_PER_WEEK

    def __len__(self) -> int:
        return int(self.customer.shape[0])


@dataclass(frozen=True)
class PurchaseHistory:
    """Each customer's purchase days up to the end of observation.

    Days are numbered from 1970-01-01 in the calendar that decides what one day is (the
    workspace's time zone); ``end_day`` is the last day observed, included.
    """

    customer: npt.NDArray[np.generic]
    first_day: IntArray
    last_day: IntArray
    purchase_days: IntArray
    orders: IntArray
    revenue: FloatArray
    first_day_revenue: FloatArray
    end_day: int

    def __len__(self) -> int:
        return int(self.customer.shape[0])

    @property
    def days_since_last_purchase(self) -> IntArray:
        """Recency in days as RFM reads it: 0 for a purchase on the end day."""
        return np.asarray(self.end_day - self.last_day, dtype=np.int64)

    def summary(self, unit_days: float = DAYS_PER_WEEK) -> CustomerSummary:
        """Frequency, recency, age and mean repeat-day value (the models' summary)."""
        frequency = (self.purchase_days - 1).astype(np.int64)
        repeat_value = self.revenue - self.first_day_revenue
        monetary = np.zeros(frequency.shape, dtype=np.float64)
        np.divide(repeat_value, frequency, out=monetary, where=frequency > 0)
        return CustomerSummary(
            customer=self.customer,
            frequency=frequency,
            recency=((self.last_day - self.first_day) / unit_days).astype(np.float64),
            age=((self.end_day - self.first_day) / unit_days).astype(np.float64),
            monetary=monetary,
            unit_days=unit_days,
        )


def history_from_transactions(
    customer: npt.ArrayLike,
    day: npt.ArrayLike,
    value: npt.ArrayLike,
    *,
    observation_end: date | str | np.datetime64,
) -> PurchaseHistory:
    """Purchase days per customer from their transactions, up to ``observation_end`` included.

    ``day`` is each transaction's calendar day (anything ``datetime64[D]`` accepts; the caller
    picks the time zone that decides what a day is).
    """
    customers = np.asarray(customer)
    days = np.asarray(day).astype("datetime64[D]")
    values = np.asarray(value, dtype=np.float64)
    if not (customers.shape == days.shape == values.shape) or customers.ndim != 1:
        raise ValueError("customer, day and value must be 1-d arrays of one length")
    end = np.asarray(observation_end, dtype="datetime64[D]")
    kept = days <= end
    customers, days, values = customers[kept], days[kept], values[kept]

    ids, code = np.unique(customers, return_inverse=True)
    code = code.reshape(-1).astype(np.int64)
    day_number = days.astype(np.int64)
    # One row per (customer, day): sort by customer then day and cut where either changes.
    order = np.lexsort((day_number, code))
    code, day_number, values = code[order], day_number[order], values[order]
    starts = np.flatnonzero(
        np.r_[True, (code[1:] != code[:-1]) | (day_number[1:] != day_number[:-1])]
    )
    day_code = code[starts]
    day_of = day_number[starts]
    day_value = np.add.reduceat(values, starts) if starts.size else values[:0]

    n = ids.shape[0]
    first_row = np.flatnonzero(np.r_[True, day_code[1:] != day_code[:-1]]) if n else starts
    last_row = np.r_[first_row[1:] - 1, day_code.shape[0] - 1] if n else first_row
    return PurchaseHistory(
        customer=ids,
        first_day=day_of[first_row],
        last_day=day_of[last_row],
        purchase_days=np.bincount(day_code, minlength=n).astype(np.int64),
        orders=np.bincount(code, minlength=n).astype(np.int64),
        revenue=np.bincount(day_code, weights=day_value, minlength=n).astype(np.float64),
        first_day_revenue=day_value[first_row],
        end_day=int(end.astype(np.int64)),
    )


def summarise_transactions(
    customer: npt.ArrayLike,
    day: npt.ArrayLike,
    value: npt.ArrayLike,
    *,
    observation_end: date | str | np.datetime64,
    unit_days: float = DAYS_PER_WEEK,
) -> CustomerSummary:
    """Frequency, recency, age and mean repeat value per customer from their transactions.

    Transactions after ``observation_end`` are ignored; the end day itself is included, and age
    is measured up to its start, as in the published CDNOW summaries (a customer whose first
    purchase is on the end day has age 0).
    """
    history = history_from_transactions(customer, day, value, observation_end=observation_end)
    return history.summary(unit_days)


# --- BG/NBD ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: purchase rates λ ~ Gamma(r, α), drop-out chances p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class BgNbdFit:
    params: BgNbdParams
    log_likelihood: float
    n_customers: int
    iterations: int


def _as_summary_arrays(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> tuple[IntArray, FloatArray, FloatArray]:
    x = np.asarray(frequency)
    t_x = np.asarray(recency, dtype=np.float64)
    big_t = np.asarray(age, dtype=np.float64)
    if not (x.shape == t_x.shape == big_t.shape):
        raise ValueError("frequency, recency and age must have one shape")
    if x.size and (np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > big_t + 1e-9)):
        raise ValueError("need frequency ≥ 0 and 0 ≤ recency ≤ age")
    if x.size and np.any((x == 0) & (t_x != 0)):
        raise ValueError("a customer without repeat purchases has recency 0")
    return x.astype(np.int64), t_x, big_t


def _bgnbd_loglik_and_grad(
    log_params: FloatArray,
    x_levels: IntArray,
    x_index: IntArray,
    t_x: FloatArray,
    big_t: FloatArray,
    weights: FloatArray | None,
) -> tuple[float, FloatArray]:
    """Total log-likelihood (FHL 2005, eq. 6) and its gradient in the log-parameters."""
    r, alpha, a, b = np.exp(log_params)
    xl = x_levels.astype(np.float64)
    repeat_l = x_levels > 0
    xm1 = np.where(repeat_l, xl - 1.0, 0.0)

    # Terms of x alone, once per distinct x.
    c_l = special.betaln(a, b + xl) - special.betaln(a, b)
    g_l = special.gammaln(r + xl) - special.gammaln(r)
    log_odds_l = np.where(repeat_l, np.log(a) - np.log(b + xm1), -np.inf)
    dg_r_l = special.digamma(r + xl) - special.digamma(r)
    dc_a_l = special.digamma(a + b) - special.digamma(a + b + xl)
    dc_b_l = special.digamma(b + xl) - special.digamma(b) + dc_a_l
    inv_bx1_l = np.where(repeat_l, 1.0 / (b + xm1), 0.0)

    x = xl[x_index]
    rx = r + x
    log_at = np.log(alpha + big_t)
    log_atx = np.log(alpha + t_x)
    u = -rx * log_at
    v = log_odds_l[x_index] - rx * log_atx
    both = np.logaddexp(u, v)
    ll = g_l[x_index] + r * np.log(alpha) + c_l[x_index] + both
    w_v = np.exp(v - both)  # share of the "dropped out after the last purchase" branch
    w_u = 1.0 - w_v

    d_r = dg_r_l[x_index] + np.log(alpha) - w_u * log_at - w_v * log_atx
    d_alpha = r / alpha - w_u * rx / (alpha + big_t) - w_v * rx / (alpha + t_x)
    d_a = dc_a_l[x_index] + w_v / a
    d_b = dc_b_l[x_index] - w_v * inv_bx1_l[x_index]
    grads = np.stack([d_r, d_alpha, d_a, d_b])
    if weights is None:
        total = float(ll.sum())
        grad = grads.sum(axis=1)
    else:
        total = float(ll @ weights)
        grad = grads @ weights
    return total, grad * np.array([r, alpha, a, b])


def _maximise(
    objective_and_grad: Callable[[FloatArray], tuple[float, FloatArray]],
    starts: list[FloatArray],
) -> tuple[FloatArray, float, int]:
    """L-BFGS-B optimum of the negative log-likelihood from the first fixed start that converges."""
    best: optimize.OptimizeResult | None = None
    for start in starts:
        result = optimize.minimize(
            objective_and_grad,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(start),
            options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-9},
        )
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
        if best is not None and best.success:
            break  # later starts are only for a first one that failed
    if best is None:
        raise FitError("the likelihood could not be evaluated at any starting point")
    return np.asarray(best.x, dtype=np.float64), -float(best.fun), int(best.nit)


def fit_bgnbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
) -> BgNbdFit:
    """Maximum-likelihood BG/NBD parameters of the customers' (x, t_x, T).

    ``weights`` counts customers sharing a row (for summaries compressed to distinct rows).
    """
    x, t_x, big_t = _as_summary_arrays(frequency, recency, age)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    n = int(x.size if w is None else w.sum())
    if x.size == 0 or not np.any(x > 0) or not np.any(big_t > 0):
        raise FitError("BG/NBD needs customers with repeat purchases and a positive age")
    x_levels, x_index = np.unique(x, return_inverse=True)
    x_index = x_index.reshape(-1)
    scale = float(n)

    def negative(log_params: FloatArray) -> tuple[float, FloatArray]:
        with np.errstate(over="ignore", under="ignore"):
            ll, grad = _bgnbd_loglik_and_grad(log_params, x_levels, x_index, t_x, big_t, w)
        if not np.isfinite(ll):
            return np.inf, np.zeros_like(log_params)
        return -ll / scale, -grad / scale

    # α is a time scale: starting it at the mean age puts the first guess in the data's unit.
    log_mean_age = float(np.log(max(float(np.average(big_t, weights=w)), 1e-6)))
    starts = [
        np.array([0.0, log_mean_age, 0.0, 0.0]),
        np.array([np.log(0.25), log_mean_age - np.log(10.0), np.log(0.8), np.log(2.5)]),
    ]
    log_params, ll, iterations = _maximise(negative, starts)
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    return BgNbdFit(
        params=BgNbdParams(r=r, alpha=alpha, a=a, b=b),
        log_likelihood=ll * scale,
        n_customers=n,
        iterations=iterations,
    )


def bgnbd_log_likelihood(
    params: BgNbdParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> float:
    """Total BG/NBD log-likelihood of the customers under ``params``."""
    x, t_x, big_t = _as_summary_arrays(frequency, recency, age)
    x_levels, x_index = np.unique(x, return_inverse=True)
    log_params = np.log([params.r, params.alpha, params.a, params.b])
    ll, _ = _bgnbd_loglik_and_grad(log_params, x_levels, x_index.reshape(-1), t_x, big_t, None)
    return ll


def _log_dropped_odds(
    params: BgNbdParams, x: IntArray, t_x: FloatArray, big_t: FloatArray
) -> FloatArray:
    """log of a/(b+x-1) · ((α+T)/(α+t_x))^(r+x): odds of "gone after the last purchase" (x > 0)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    xm1 = np.where(repeat, x - 1.0, 0.0)
    log_odds = np.log(a) - np.log(b + xm1) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
    return np.where(repeat, log_odds, -np.inf)


def probability_alive(
    params: BgNbdParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, age: npt.ArrayLike
) -> FloatArray:
    """P(still active at T | x, t_x, T) (FHL 2005, eq. 11 of the technical note): 1 when x = 0."""
    x, t_x, big_t = _as_summary_arrays(frequency, recency, age)
    return np.exp(-np.logaddexp(0.0, _log_dropped_odds(params, x, t_x, big_t)))


def expected_purchases(
    params: BgNbdParams,
    t: float | npt.ArrayLike,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
) -> FloatArray:
    """Expected repeat purchases in the next ``t`` units given (x, t_x, T) (FHL 2005, eq. 10).

    The Gauss hypergeometric function is taken after Euler's transformation,
    2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1-r-x) · 2F1(a+b-1-r, a-1; a+b+x-1; z), whose
    parameters stay small for heavy buyers, so the result neither overflows nor loses digits.
    """
    x, t_x, big_t = _as_summary_arrays(frequency, recency, age)
    horizon = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    xf = x.astype(np.float64)
    alive = np.exp(-np.logaddexp(0.0, _log_dropped_odds(params, x, t_x, big_t)))
    if a + b >= FIXED_DROPOUT_ABOVE:
        return _expected_purchases_fixed_dropout(params, horizon, xf, big_t, alive)
    if abs(a - 1.0) < 1e-9:
        a = 1.0 + 1e-9  # the formula's removable singularity at a = 1
    z = horizon / (alpha + big_t + horizon)
    hyp = special.hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + xf - 1.0, z)
    # (1-z)^(a-1)·2F1 − 1, with expm1/log1p so short horizons keep their digits.
    with np.errstate(invalid="ignore", over="ignore"):
        gap = np.expm1((a - 1.0) * np.log1p(-z)) * hyp + (hyp - 1.0)
    unconditional = -(a + b + xf - 1.0) / (a - 1.0) * gap
    expected = np.asarray(unconditional * alive, dtype=np.float64)
    lost = ~np.isfinite(expected)
    if lost.any():
        expected[lost] = _expected_purchases_fixed_dropout(
            params, horizon[lost], xf[lost], big_t[lost], alive[lost]
        )
    return expected


def _expected_purchases_fixed_dropout(
    params: BgNbdParams, horizon: FloatArray, x: FloatArray, age: FloatArray, alive: FloatArray
) -> FloatArray:
    """Expected purchases when a + b is so large that every customer's drop-out chance is
    p = a/(a+b) (shops where nobody seems to leave fit such values). A customer alive buys
    (1 − e^(−λpt))/p in the next t, and λ given (x, T) is Gamma(r+x, α+T), so
    E = P(alive) · (1 − ((α+T)/(α+T+pt))^(r+x)) / p. There the hypergeometric form loses every
    digit to cancellation (scipy returns 0 or overflows); this limit agrees with it to 0.1 %
    from a + b = 1,000 on, where both can be computed."""
    p = params.a / (params.a + params.b)
    rate = params.alpha + age
    share = -np.expm1((params.r + x) * np.log(rate / (rate + p * horizon)))
    return np.asarray(alive * share / p, dtype=np.float64)


def expected_purchases_new_customer(params: BgNbdParams, t: float | npt.ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat purchases in the first ``t`` units after a first purchase."""
    horizon = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if abs(a - 1.0) < 1e-9:
        a = 1.0 + 1e-9
    z = horizon / (alpha + horizon)
    hyp = special.hyp2f1(r, b, a + b - 1.0, z)
    return np.asarray(
        (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + horizon)) ** r * hyp),
        dtype=np.float64,
    )


def simulate_bgnbd(
    params: BgNbdParams, age: npt.ArrayLike, *, seed: int
) -> tuple[IntArray, FloatArray]:
    """Draw (x, t_x) for customers of the given ages from the BG/NBD model itself.

    Each customer buys at a Poisson rate λ and, after each repeat purchase, leaves with chance
    p; so x = min(purchases the clock allows, purchases before leaving), and the x-th of K
    uniform arrival times is T times a Beta(x, K − x + 1) draw.
    """
    big_t = np.asarray(age, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params.r, 1.0 / params.alpha, size=big_t.shape)
    drop = rng.beta(params.a, params.b, size=big_t.shape)
    arrivals = rng.poisson(rate * big_t)
    before_leaving = rng.geometric(drop)
    x = np.minimum(arrivals, before_leaving).astype(np.int64)
    has = x > 0
    t_x = np.zeros_like(big_t)
    t_x[has] = big_t[has] * rng.beta(x[has], arrivals[has] - x[has] + 1)
    return x, t_x


# --- Gamma–Gamma ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGammaParams:
    """Order values z ~ Gamma(p, ν) around a customer's ν ~ Gamma(q, γ); ``gamma`` is γ."""

    p: float
    q: float
    gamma: float

    @property
    def population_mean(self) -> float:
        """E[Z] over all customers, pγ/(q−1); infinite when q ≤ 1."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")


@dataclass(frozen=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    n_customers: int
    iterations: int
    # Pearson correlation of frequency and mean value among the fitted customers: the model
    # assumes the two independent, so a strong correlation is a warning about its figures.
    frequency_value_correlation: float


def _gamma_gamma_rows(
    frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary, dtype=np.float64)
    if x.shape != m.shape:
        raise ValueError("frequency and monetary must have one shape")
    if np.any((x > 0) & ~(m > 0)):
        raise ValueError("the Gamma–Gamma model needs a positive mean value for repeat buyers")
    return x, m


def _gamma_gamma_loglik_and_grad(
    log_params: FloatArray, x: FloatArray, m: FloatArray, log_m: FloatArray, log_x: FloatArray
) -> tuple[float, FloatArray]:
    """Log-density of the mean of x values (Fader & Hardie 2013, eq. 4) and its gradient."""
    p, q, gamma = np.exp(log_params)
    px = p * x
    log_gxm = np.log(gamma + x * m)
    ll = (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1.0) * log_m
        + px * log_x
        - (px + q) * log_gxm
    )
    dg_sum = special.digamma(px + q)
    d_p = x * (dg_sum - special.digamma(px) + log_m + log_x - log_gxm)
    d_q = dg_sum - special.digamma(q) + np.log(gamma) - log_gxm
    d_gamma = q / gamma - (px + q) / (gamma + x * m)
    grad = np.array([d_p.sum(), d_q.sum(), d_gamma.sum()]) * np.array([p, q, gamma])
    return float(ll.sum()), grad


def fit_gamma_gamma(frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> GammaGammaFit:
    """Maximum-likelihood Gamma–Gamma parameters from the customers with repeat purchases.

    Customers with x = 0 carry no repeat value and are left out, as in the published fit.
    """
    x_all, m_all = _gamma_gamma_rows(frequency, monetary)
    repeat = x_all > 0
    x, m = x_all[repeat], m_all[repeat]
    if x.size < 2:
        raise FitError("the Gamma–Gamma model needs at least two customers with repeat purchases")
    log_m, log_x = np.log(m), np.log(x)
    n = int(x.size)

    def negative(log_params: FloatArray) -> tuple[float, FloatArray]:
        with np.errstate(over="ignore", under="ignore"):
            ll, grad = _gamma_gamma_loglik_and_grad(log_params, x, m, log_m, log_x)
        if not np.isfinite(ll):
            return np.inf, np.zeros_like(log_params)
        return -ll / n, -grad / n

    # γ is a money scale: start it at the mean value, with p and q of a moderate spread.
    log_mean = float(np.log(np.mean(m)))
    starts = [
        np.array([0.0, 0.0, log_mean]),
        np.array([np.log(5.0), np.log(3.0), log_mean]),
    ]
    log_params, ll, iterations = _maximise(negative, starts)
    p, q, gamma = (float(v) for v in np.exp(log_params))
    correlation = float(np.corrcoef(x, m)[0, 1]) if np.ptp(x) > 0 and np.ptp(m) > 0 else 0.0
    return GammaGammaFit(
        params=GammaGammaParams(p=p, q=q, gamma=gamma),
        log_likelihood=ll * n,
        n_customers=n,
        iterations=iterations,
        frequency_value_correlation=correlation,
    )


def expected_order_value(
    params: GammaGammaParams, frequency: npt.ArrayLike, monetary: npt.ArrayLike
) -> FloatArray:
    """E[value of a future order | x, mean value] (Fader & Hardie 2013, eq. 5).

    A weighted mean of the population mean pγ/(q−1) and the customer's own mean, the weight
    of the latter growing with x; customers without repeat purchases get the population mean.
    """
    x, m = _gamma_gamma_rows(frequency, monetary)
    p, q, gamma = params.p, params.q, params.gamma
    if q <= 1.0:
        raise ValueError("q ≤ 1: the fitted value distribution has no finite mean")
    return np.asarray((gamma + x * m) * p / (p * x + q - 1.0), dtype=np.float64)


# --- Scores ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerValue:
    """Per-customer predictions, in the order of the summary they were made from."""

    p_alive: FloatArray
    expected_order_value: FloatArray
    # horizon in months → expected repeat purchases / lifetime value over that horizon
    expected_purchases: dict[int, FloatArray]
    clv: dict[int, FloatArray]
    monthly_discount_rate: float


def score_customers(
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    summary: CustomerSummary,
    *,
    horizons_months: tuple[int, ...] = CLV_HORIZON_MONTHS,
    monthly_discount_rate: float = 0.0,
) -> CustomerValue:
    """Probability alive, expected purchases, order value and CLV for each horizon.

    CLV over H months is the expected purchases of each month, times the expected order value,
    discounted by ``monthly_discount_rate`` per month: Σ_m ΔE[Y](m) · E[M] / (1 + d)^m. With the
    default d = 0 it is simply expected purchases × expected order value. A month is
    365.2425/12 days in the summary's unit. Value is in the currency of the transactions
    (KRW for Korean workspaces); no margin is applied.
    """
    if monthly_discount_rate < 0:
        raise ValueError("the discount rate cannot be negative")
    x, t_x, big_t = summary.frequency, summary.recency, summary.age
    value = expected_order_value(gamma_gamma, x, summary.monetary)
    month = DAYS_PER_MONTH / summary.unit_days
    # Without discounting only the horizons themselves are needed; with it, every month.
    steps = (
        sorted(set(horizons_months))
        if monthly_discount_rate == 0
        else list(range(1, max(horizons_months, default=0) + 1))
    )
    purchases: dict[int, FloatArray] = {}
    clv: dict[int, FloatArray] = {}
    previous = np.zeros_like(t_x)
    discounted = np.zeros_like(t_x)
    for m in steps:
        cumulative = expected_purchases(bgnbd, m * month, x, t_x, big_t)
        discounted += (cumulative - previous) / (1.0 + monthly_discount_rate) ** m
        previous = cumulative
        if m in horizons_months:
            purchases[m] = cumulative
            clv[m] = discounted * value
    return CustomerValue(
        p_alive=probability_alive(bgnbd, x, t_x, big_t),
        expected_order_value=value,
        expected_purchases=purchases,
        clv=clv,
        monthly_discount_rate=monthly_discount_rate,
    )
