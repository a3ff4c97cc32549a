"""Customer lifetime value: the CDNOW check of the published fits, and speed at 1,000,000 customers.

    python benchmarks/insights_clv.py [--customers 1000000] [--seed 1]

1. CDNOW sample (tests/data/insights/CDNOW_sample.txt, 2,357 customers, calibration
   1997-01-01 – 1997-09-30): BG/NBD and Gamma–Gamma parameters against Fader, Hardie & Lee
   (2005) and Fader & Hardie (2013) with their errors in %; the holdout check of the paper
   (expected vs actual repeat purchase days in the 39 weeks after calibration, by calibration
   frequency) and the cumulative tracking at weeks 39 and 78.
2. ``--customers`` synthetic customers drawn from the CDNOW fit (ages 1–104 weeks in whole days,
   order values from the Gamma–Gamma fit): wall time of the summary-free fits and of scoring
   (p_alive, order value, expected purchases and CLV for 3/6/12 months), each against one call
   of ``bgnbd_log_likelihood`` over the same customers (checks, grouping by x, one evaluation)
   as the in-process baseline,
   with the Python-level peak allocation (tracemalloc) of each step and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import psutil

from cxloop.insights import clv

CDNOW = Path(__file__).parent.parent / "tests" / "data" / "insights" / "CDNOW_sample.txt"
PUBLISHED = {
    "r": 0.243,
    "alpha": 4.414,
    "a": 0.793,
    "b": 2.426,
    "p": 6.25,
    "q": 3.74,
    "gamma": 15.44,
}
T = TypeVar("T")


def timed(step: Callable[[], T], repeat: int = 1) -> tuple[T, float, float]:
    """The step's result, its best wall time of ``repeat`` runs, and its peak allocation (MB)."""
    best = float("inf")
    result = step()
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, best, peak / 2**20


def cdnow() -> clv.BgNbdParams:
    rows = np.loadtxt(CDNOW, dtype=str)
    customer = rows[:, 1].astype(np.int64)
    day = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in rows[:, 2]], dtype="datetime64[D]")
    value = rows[:, 4].astype(np.float64)
    summary = clv.summarise_transactions(customer, day, value, observation_end="1997-09-30")
    x, t_x, age = summary.frequency, summary.recency, summary.age

    bg, bg_time, _ = timed(lambda: clv.fit_bgnbd(x, t_x, age), repeat=5)
    gg, gg_time, _ = timed(lambda: clv.fit_gamma_gamma(x, summary.monetary), repeat=5)
    print(f"CDNOW sample: {len(summary):,} customers, {int((x > 0).sum()):,} with repeat purchases")
    print(f"{'parameter':>10} {'fitted':>9} {'published':>9} {'error':>8}")
    fitted = {**vars(bg.params), **vars(gg.params)}
    for name, published in PUBLISHED.items():
        error = 100 * (fitted[name] - published) / published
        print(f"{name:>10} {fitted[name]:9.4f} {published:9.3f} {error:+7.2f}%")
    print(
        f"BG/NBD log-likelihood {bg.log_likelihood:.2f} (published −9582.4); "
        f"fit {bg_time * 1e3:.0f} ms"
    )
    print(
        f"Gamma–Gamma log-likelihood {gg.log_likelihood:.2f} on {gg.n_customers} customers; "
        f"fit {gg_time * 1e3:.0f} ms; corr(frequency, value) {gg.frequency_value_correlation:.3f}"
    )

    # Holdout: repeat purchase days in the 39 weeks after calibration, by calibration frequency.
    holdout = (day > np.datetime64("1997-09-30")) & (day <= np.datetime64("1998-06-30"))
    pairs = np.unique(np.stack([customer[holdout], day[holdout].astype(np.int64)]), axis=1)
    actual = np.bincount(
        np.searchsorted(summary.customer, pairs[0]), minlength=len(summary)
    ).astype(float)
    predicted = clv.expected_purchases(bg.params, 39.0, x, t_x, age)
    print("\nholdout (39 weeks): mean repeat purchase days per customer")
    print(f"{'x':>4} {'customers':>9} {'actual':>7} {'expected':>8}")
    for level in range(8):
        group = x == level if level < 7 else x >= 7
        label = str(level) if level < 7 else "7+"
        print(
            f"{label:>4} {int(group.sum()):9,} {actual[group].mean():7.3f} "
            f"{predicted[group].mean():8.3f}"
        )
    print(
        f"total: actual {actual.sum():,.0f} (transactions {int(holdout.sum()):,}), "
        f"expected {predicted.sum():,.1f}"
    )

    # Tracking: cumulative repeat purchases since 1997-01-01, each customer from their first day.
    first = (np.datetime64("1997-09-30") - day.min()).astype(int) / 7 - age
    first_day = {c: d for c, d in sorted(zip(customer, day, strict=True), reverse=True)}
    repeat_days = np.unique(np.stack([customer, day.astype(np.int64)]), axis=1)
    is_repeat = repeat_days[1] != np.array([first_day[c] for c in repeat_days[0]]).astype(np.int64)
    week_of = (repeat_days[1] - day.min().astype(np.int64)) / 7
    for week in (39, 78):
        expected = clv.expected_purchases_new_customer(bg.params, np.maximum(week - first, 0))
        done = int((is_repeat & (week_of < week)).sum())
        print(
            f"cumulative repeat purchase days by week {week}: actual {done:,}, "
            f"expected {expected.sum():,.0f}"
        )
    return bg.params


def synthetic(params: clv.BgNbdParams, customers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    age = np.floor(rng.uniform(1, 105, customers) * 7) / 7
    x, t_x = clv.simulate_bgnbd(params, age, seed=seed + 1)
    t_x = np.round(t_x * 7) / 7  # purchases fall on whole days
    value_params = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    spend_scale = rng.gamma(value_params.q, 1 / value_params.gamma, customers)
    repeat = x > 0
    monetary = np.zeros(customers)
    monetary[repeat] = rng.gamma(value_params.p * x[repeat], 1 / (spend_scale[repeat] * x[repeat]))
    summary = clv.CustomerSummary(np.arange(customers), x, t_x, age, monetary)
    print(
        f"\nsynthetic: {customers:,} customers, {int(repeat.sum()):,} with repeat purchases, "
        f"{int(x.sum()):,} repeat purchases, up to {int(x.max())} each"
    )

    _, baseline, _ = timed(lambda: clv.bgnbd_log_likelihood(params, x, t_x, age), repeat=3)
    bg, bg_time, bg_peak = timed(lambda: clv.fit_bgnbd(x, t_x, age))
    gg, gg_time, gg_peak = timed(lambda: clv.fit_gamma_gamma(x, monetary))
    scores, score_time, score_peak = timed(
        lambda: clv.score_customers(bg.params, gg.params, summary)
    )
    _, disc_time, _ = timed(
        lambda: clv.score_customers(bg.params, gg.params, summary, monthly_discount_rate=0.01)
    )
    rss = psutil.Process().memory_info().rss / 2**20
    print(f"one BG/NBD log-likelihood (baseline) {baseline:7.2f} s")
    print(
        f"BG/NBD fit      {bg_time:7.2f} s = {bg_time / baseline:5.1f}× baseline, "
        f"{bg.iterations} iterations, peak {bg_peak:,.0f} MB"
    )
    print(
        f"Gamma–Gamma fit {gg_time:7.2f} s = {gg_time / baseline:5.1f}× baseline, "
        f"peak {gg_peak:,.0f} MB"
    )
    print(
        f"scoring         {score_time:7.2f} s = {score_time / baseline:5.1f}× baseline, "
        f"peak {score_peak:,.0f} MB (with a monthly discount: {disc_time:.2f} s)"
    )
    print(f"process RSS {rss:,.0f} MB")
    truth = {**vars(params), **vars(value_params)}
    fitted = {**vars(bg.params), **vars(gg.params)}
    print("recovered: " + ", ".join(f"{k} {fitted[k]:.3f} ({truth[k]:.3f})" for k in truth))
    print(
        f"12-month CLV: mean {scores.clv[12].mean():.2f}, "
        f"p95 {np.percentile(scores.clv[12], 95):.2f}; "
        f"mean p_alive {scores.p_alive.mean():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="CLV model fits and speed")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    params = cdnow()
    synthetic(params, args.customers, args.seed)


if __name__ == "__main__":
    main()
