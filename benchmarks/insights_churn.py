"""Churn risk: ROC AUC on a time split against the BG/NBD baseline, on CDNOW and on the demo.

    python benchmarks/insights_churn.py                  # CDNOW at 90 and 180 days, the demo at 90
    python benchmarks/insights_churn.py --skip-demo --horizons 90
    python benchmarks/insights_churn.py --demo-dir /tmp/churn-demo   # reuse a built demo

Both data sets go through ``insights.churn.fit_churn`` itself, from a fresh SQLite database at
the newest migration (in a temporary folder), so the figures are those of a real run:

1. CDNOW sample (tests/data/insights/CDNOW_sample.txt, 2,357 customers who first bought in
   the first quarter of 1997; transactions only, so only the order features carry anything):
   one customer and one order per transaction, at noon KST, in USD. For a horizon of N days the
   run is "as of" 1997-10-01 + N days, so the validation features are those of the published
   calibration period (to 1997-09-30) and the label is whether each customer buys in the N
   days after it; the model learns from the same N days just before (features as of
   1997-10-01 − N days).
2. The demo workspace (``cxloop demo --no-serve``, 5,000 members, one year up to today; built
   by the CLI into ``--demo-dir`` when it holds no ``demo.db`` yet, in about two minutes), as of
   the start of the day after its last event, for ``activity="purchase"`` and ``"any"``. Its
   year of data allows horizons up to about 180 days (the split needs twice the horizon), and at
   180 days the training period holds only the few customers of the year's first days.

Printed per run: customers in training and validation, the validation churn rate, the model's
AUC, the baseline's AUC (1 − P(alive) from BG/NBD fitted on the purchase history as of the
validation moment), a stronger BG/NBD score (fewer expected purchases in the horizon) for
reference, the Brier score, the wall time of the whole ``fit_churn`` and the reasons of one
customer in words. The goal is the model's AUC above the baseline's on both data sets.

Measured on 2026-12-06 (two busy cores, SQLite):

    data set, horizon          model   1 − P(alive)   BG/NBD E[purchases]
    CDNOW, 90 days             0.788   0.335          0.789
    CDNOW, 180 days            0.753   0.321          0.776
    demo, 90 days, purchase    0.719   0.469          0.713
    demo, 90 days, any         0.667*  0.522          0.700     (* on the buyers; 0.625 on all)

1 − P(alive) ranks below chance on both: BG/NBD gives a customer without a repeat purchase
P(alive) = 1, and those are the likeliest to stay away. Ranked by expected purchases instead,
BG/NBD is the stronger baseline, and on CDNOW (the data set it was made for) it stays ahead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from _common import cli, server_env
from sqlalchemy import func, insert, select

CDNOW = Path(__file__).parent.parent / "tests" / "data" / "insights" / "CDNOW_sample.txt"
CALIBRATION_END = datetime(1997, 10, 1, tzinfo=UTC) - timedelta(hours=9)  # 00:00 KST


def database(url: str) -> Any:
    from cxloop.core.db import Database
    from cxloop.core.migrate import upgrade

    upgrade(url)
    return Database(url)


def load_cdnow(db: Any) -> int:
    """The CDNOW transactions as customers and orders of a new workspace; returns its id."""
    from cxloop.accounts import service as accounts
    from cxloop.models import Customer, Order

    rows = np.loadtxt(CDNOW, dtype=str)
    customer = rows[:, 1].astype(np.int64)
    day = rows[:, 2]
    value = rows[:, 4].astype(np.float64)
    with db.session() as session:
        workspace = accounts.create_workspace(session, name="CDNOW", slug="cdnow")
        session.flush()
        session.execute(
            insert(Customer),
            [
                {"workspace_id": workspace.id, "display_name": str(c)}
                for c in np.unique(customer).tolist()
            ],
        )
        db_id = dict(
            session.execute(
                select(Customer.display_name, Customer.id).where(
                    Customer.workspace_id == workspace.id
                )
            ).all()
        )
        session.execute(
            insert(Order),
            [
                {
                    "workspace_id": workspace.id,
                    "customer_id": db_id[str(c)],
                    "external_id": f"cdnow-{i}",
                    "total": Decimal(f"{v:.2f}"),
                    "currency": "USD",
                    "placed_at": datetime.fromisoformat(f"{d[:4]}-{d[4:6]}-{d[6:]}T12:00:00+09:00"),
                    "properties": {},
                }
                for i, (c, d, v) in enumerate(zip(customer, day, value, strict=True))
            ],
        )
        return int(workspace.id)


def report(title: str, run: Any, seconds: float, currency: str) -> None:
    from cxloop.insights.churn import reasons_in_words

    m = run.metrics

    def auc(key: str) -> str:
        return "   –  " if m.get(key) is None else f"{m[key]:.4f}"

    # Compared on the same customers: the baseline's (the buyers) when the model covers more.
    comparable = m.get("auc_baseline_customers", m["auc"])
    verdict = (
        "above"
        if comparable is not None
        and m["baseline_auc"] is not None
        and comparable > m["baseline_auc"]
        else "NOT above"
    )
    print(f"\n{title}")
    print(
        f"  train {m['n_train']:,} customers (churn {m['train_positive_rate']:.1%}), "
        f"validation {m['n_validation']:,} (churn {m['positive_rate']:.1%}), "
        f"scored {m['n_scored']:,}; fit_churn {seconds:.1f} s"
    )
    print(
        f"  AUC model {auc('auc')} | baseline 1 − P(alive) {auc('baseline_auc')} "
        f"| BG/NBD expected purchases {auc('baseline_expected_auc')} → model {verdict} baseline"
    )
    if "auc_baseline_customers" in m:
        print(
            f"  on the {m['n_baseline']:,} buyers the baseline covers: model "
            f"{auc('auc_baseline_customers')}"
        )
    print(
        f"  Brier {m['brier']:.4f}, mean predicted risk {m['mean_predicted_risk']:.3f} "
        f"(actual {m['positive_rate']:.3f}); BG/NBD {m.get('baseline_parameters', {})}"
    )
    if len(run):
        i = int(np.argmax(run.risk))
        for language in ("ko", "en"):
            words = "; ".join(
                reasons_in_words(run.reasons(i), language=language, currency=currency)
            )
            print(f"  riskiest customer ({run.risk[i]:.2f}), {language}: {words}")


def cdnow(folder: Path, horizons: list[int]) -> None:
    from cxloop.insights.churn import ChurnFitError, fit_churn

    db = database(f"sqlite:///{folder / 'cdnow.db'}")
    workspace_id = load_cdnow(db)
    for horizon in horizons:
        as_of = CALIBRATION_END + timedelta(days=horizon)
        with db.session() as session:
            started = time.perf_counter()
            try:
                run = fit_churn(
                    session,
                    workspace_id=workspace_id,
                    as_of=as_of,
                    horizon_days=horizon,
                    currency="USD",
                )
            except ChurnFitError as error:
                print(f"\nCDNOW, {horizon}-day horizon: no model: {error}")
                continue
            seconds = time.perf_counter() - started
        report(
            f"CDNOW, {horizon}-day horizon: validation features to 1997-09-30, labels "
            f"{horizon} days after",
            run,
            seconds,
            "USD",
        )
    db.engine.dispose()


def demo(folder: Path, horizons: list[int]) -> None:
    """The demo workspace, built by the CLI unless ``folder`` already holds one."""
    db_path = folder / "demo.db"
    url = f"sqlite:///{db_path}"
    if not db_path.exists():
        started = time.perf_counter()
        cli(server_env(folder, url), "demo", "--no-serve", timeout=3600)
        print(f"\ndemo built in {time.perf_counter() - started:.0f} s into {folder}")
    os.environ["CXLOOP_DATA_DIR"] = str(folder)
    os.environ["CXLOOP_DATABASE_URL"] = url

    from cxloop.demo.calendar import demo_now
    from cxloop.insights.churn import ChurnFitError, fit_churn
    from cxloop.models import Event, Workspace

    db = database(url)
    with db.session() as session:
        workspace = session.scalar(select(Workspace).where(Workspace.slug == "demo"))
        assert workspace is not None, "no demo workspace"
        last = session.scalar(
            select(func.max(Event.timestamp)).where(Event.workspace_id == workspace.id)
        )
        as_of = demo_now(last) + timedelta(days=1)
        print(f"\ndemo: as of {as_of.isoformat()}")
        for horizon in horizons:
            for activity in ("purchase", "any"):
                started = time.perf_counter()
                try:
                    run = fit_churn(
                        session,
                        workspace_id=workspace.id,
                        as_of=as_of,
                        horizon_days=horizon,
                        activity=activity,
                    )
                except ChurnFitError as error:
                    print(f"\ndemo, {horizon}-day horizon, activity={activity}: no model: {error}")
                    continue
                seconds = time.perf_counter() - started
                report(f"demo, {horizon}-day horizon, activity={activity}", run, seconds, "KRW")
    db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Churn AUC against the BG/NBD baseline")
    parser.add_argument("--horizons", type=int, nargs="+", default=[90, 180], help="CDNOW")
    parser.add_argument("--demo-horizons", type=int, nargs="+", default=[90])
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-cdnow", action="store_true")
    parser.add_argument("--demo-dir", type=Path, help="build the demo here, or reuse it")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cxloop-churn-bench-"))
    # Only our own data directory and database, never the developer's (nor a test database).
    for key in [k for k in os.environ if k.startswith("CXLOOP_")]:
        del os.environ[key]
    os.environ["CXLOOP_ENV"] = "development"
    os.environ["CXLOOP_DATA_DIR"] = str(scratch)
    try:
        if not args.skip_cdnow:
            cdnow(scratch, args.horizons)
        if not args.skip_demo:
            demo_dir = args.demo_dir or scratch / "demo"
            demo_dir.mkdir(parents=True, exist_ok=True)
            demo(demo_dir, args.demo_horizons)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
