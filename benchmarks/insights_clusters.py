"""Customer clusters at 1,000,000 customers: ``fit_clusters`` against one plain k-means fit.

    python benchmarks/insights_clusters.py [--customers 1000000] [--features 15] [--seed 1]

Synthetic customers in six behaviour groups over the first ``--features`` behaviour features
(skewed counts and money, shares, scores; about 5% of values missing). Measured in one process:

1. ``fit_clusters`` (median imputation, log1p, standardising, k = 3…8 each fitted on a 50,000
   customer sample and scored by silhouette on 8,000, everyone assigned, profiles), with
   customer ids as the nightly job passes them;
2. the baseline: scikit-learn ``KMeans(n_clusters=6, random_state=0)`` with its defaults on the
   same matrix, already imputed and standardised (a single k, no choice, no profiles);
3. the next night: 1% of the values changed by ±5%, with last night's record as ``previous``,
   and the share of customers who keep their cluster number.

Wall time is the best of ``--repeat`` runs; peak memory is the Python-level peak allocation
(tracemalloc, which sees numpy's and scikit-learn's arrays) of a separate run, and the process's
peak RSS at the end. The input matrix itself (8 bytes per value) is not counted in either peak.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from _common import load_summary
from sklearn.cluster import KMeans

from cxloop.insights import clusters

T = TypeVar("T")
GROUPS = 6
# (feature, kind): counts and money are lognormal around each group's level, shares are
# clipped normals, days are exponential-ish, scores are 0–10.
FEATURES = (
    ("days_since_last_purchase", "days"),
    ("days_since_first_purchase", "days"),
    ("purchase_days", "count"),
    ("orders", "count"),
    ("revenue", "money"),
    ("average_order_value", "money"),
    ("orders_last_90d", "count"),
    ("order_trend", "trend"),
    ("void_order_share", "share"),
    ("weekend_order_share", "share"),
    ("days_since_last_seen", "days"),
    ("events_last_30d", "count"),
    ("mobile_event_share", "share"),
    ("conversations_last_90d", "count"),
    ("last_nps", "score"),
    ("negative_text_share", "share"),
    ("last_csat", "score"),
)


def timed(step: Callable[[], T], repeat: int) -> tuple[T, float, float]:
    """The step's result, its best wall time of ``repeat`` runs, and its peak allocation (MB)."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result is not None
    return result, best, peak / 2**20


def synthetic(customers: int, features: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    chosen = FEATURES[:features]
    group = rng.integers(0, GROUPS, customers)
    level = rng.random((GROUPS, len(chosen)))  # each group's level of each feature, 0–1
    matrix = np.empty((customers, len(chosen)))
    for j, (_, kind) in enumerate(chosen):
        at = level[group, j]
        match kind:
            case "days":
                matrix[:, j] = np.floor(rng.exponential(5 + 400 * at))
            case "count":
                matrix[:, j] = np.floor(rng.lognormal(np.log1p(30 * at), 0.5))
            case "money":
                matrix[:, j] = np.round(rng.lognormal(np.log(10_000 + 200_000 * at), 0.6), -2)
            case "share":
                matrix[:, j] = np.clip(rng.normal(at, 0.08), 0, 1)
            case "trend":
                matrix[:, j] = np.clip(rng.normal(2 * at - 1, 0.2), -1, 1)
            case _:
                matrix[:, j] = np.clip(np.round(rng.normal(10 * at, 1.2)), 0, 10)
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    return matrix, [name for name, _ in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description="customer clusters: speed and memory")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not 2 <= args.features <= len(FEATURES):
        parser.error(f"--features must be between 2 and {len(FEATURES)}")

    print(f"machine: {load_summary()}")
    matrix, names = synthetic(args.customers, args.features, args.seed)
    ids = np.arange(1, args.customers + 1, dtype=np.int64) * 7 + 1_000
    value = np.nan_to_num(matrix[:, names.index("revenue")]) if "revenue" in names else None
    value = value if value is not None else np.ones(args.customers)
    print(
        f"{args.customers:,} customers × {len(names)} features, "
        f"{np.isnan(matrix).mean():.1%} missing, {matrix.nbytes / 2**20:,.0f} MB"
    )

    result, fit_time, fit_peak = timed(
        lambda: clusters.fit_clusters(matrix, names, value=value, customer_ids=ids),
        args.repeat,
    )

    # The baseline gets what k-means needs ready-made: no missing values, standard units.
    imputed = np.where(np.isnan(matrix), np.nanmedian(matrix, axis=0), matrix)
    standard = (imputed - imputed.mean(axis=0)) / imputed.std(axis=0)
    del imputed
    _, base_time, base_peak = timed(
        lambda: KMeans(n_clusters=GROUPS, random_state=0).fit(standard), args.repeat
    )

    rng = np.random.default_rng(args.seed + 1)
    tomorrow = matrix.copy()
    changed = rng.random(matrix.shape) < 0.01
    tomorrow[changed] *= rng.uniform(0.95, 1.05, int(changed.sum()))
    record = result.record()
    start = time.perf_counter()
    next_night = clusters.fit_clusters(
        tomorrow, names, value=value, customer_ids=ids, previous=record
    )
    next_time = time.perf_counter() - start
    kept = float(np.mean(next_night.labels == result.labels))

    print(f"plain KMeans, k = {GROUPS}      {base_time:7.2f} s, peak {base_peak:6,.0f} MB")
    print(
        f"fit_clusters, k = 3…8       {fit_time:7.2f} s = {fit_time / base_time:4.1f}× baseline, "
        f"peak {fit_peak:6,.0f} MB = {fit_peak / base_peak:4.1f}× baseline"
    )
    print(f"next night, with previous   {next_time:7.2f} s; {kept:.2%} keep their number")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:,.0f} MB")
    print(f"k = {result.k} (next night {next_night.k}); silhouette by k: {result.silhouette}")
    for cluster in result.clusters:
        english = clusters.describe_cluster(cluster, "en")
        korean = clusters.describe_cluster(cluster, "ko")
        print(
            f"  {cluster.label}: {cluster.size:9,} ({cluster.share:5.1%}), "
            f"mean revenue {cluster.value_mean or 0:12,.0f} — {english} / {korean}"
        )


if __name__ == "__main__":
    main()
