"""`cxloop insights run` and `export`: a run fits the purchase models on the data before its
``--as-of`` only, records every model in the registry, replaces the predictions and prints its
summary; bad options get a one-line error."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.insights import clv
from cxloop.models import (
    AuditEntry,
    ConsentRecord,
    Customer,
    CustomerPrediction,
    Identity,
    InsightsModelFit,
    InsightsRun,
    Order,
    OrderItem,
    Product,
)
from tests.factories import make_customer, make_workspace
from tests.helpers.cli import Cli, workspace_id

KST = ZoneInfo("Asia/Seoul")
AS_OF = datetime(2026, 7, 1, tzinfo=KST)
TRUE_BGNBD = clv.BgNbdParams(r=0.6, alpha=3.0, a=0.8, b=2.5)
BUYERS = 1_500


def populate(database: Database, ws: int, *, seed: int = 7) -> dict[str, int]:
    """Buyers whose repeat purchases follow BG/NBD with known parameters, over 78 weeks before
    AS_OF (one purchase per day at most), plus orders after AS_OF that a run must not see."""
    rng = np.random.default_rng(seed)
    age_days = rng.integers(7, 546, size=BUYERS)
    x, t_x = clv.simulate_bgnbd(TRUE_BGNBD, age_days / 7.0, seed=seed)
    customers, orders, identities = [], [], []
    with database.session() as session:
        first_id = (
            session.scalar(select(Customer.id).order_by(Customer.id.desc()).limit(1)) or 0
        ) + 1
        for i in range(BUYERS):
            cid = first_id + i
            customers.append({"id": cid, "workspace_id": ws, "traits": {}, "touchpoints": {}})
            identities.append(
                {"workspace_id": ws, "customer_id": cid, "kind": "user_id", "value": f"u{cid}"}
            )
            first_day = AS_OF - timedelta(days=int(age_days[i]))
            days = {0}
            if x[i]:
                last = max(1, round(t_x[i] * 7))
                days.add(last)
                spread = rng.choice(
                    np.arange(1, last + 1), size=min(int(x[i]), last), replace=False
                )
                days.update(int(d) for d in spread[: int(x[i]) - 1])
            for d in sorted(days):
                orders.append(
                    {
                        "workspace_id": ws,
                        "customer_id": cid,
                        "external_id": f"O-{cid}-{d}",
                        "total": Decimal(int(rng.gamma(6.0, 5_000.0))),
                        "currency": "KRW",
                        "status": "completed",
                        "placed_at": (first_day + timedelta(days=d, hours=3)).astimezone(UTC),
                        "properties": {},
                    }
                )
        # After AS_OF: a new customer's first order and one more order of the first buyer.
        late = first_id + BUYERS
        customers.append({"id": late, "workspace_id": ws, "traits": {}, "touchpoints": {}})
        for cid, key in ((late, "late-new"), (first_id, "late-again")):
            orders.append(
                {
                    "workspace_id": ws,
                    "customer_id": cid,
                    "external_id": key,
                    "total": Decimal(99_000),
                    "currency": "KRW",
                    "status": "completed",
                    "placed_at": AS_OF.astimezone(UTC) + timedelta(hours=1),
                    "properties": {},
                }
            )
        session.execute(insert(Customer), customers)
        session.execute(insert(Identity), identities)
        session.execute(insert(Order), orders)
    return {"first": first_id, "late": late}


def test_a_run_fits_as_of_a_date_records_the_registry_and_exports_each_customer(
    cli: Cli, slug: str, database: Database
) -> None:
    ws = workspace_id(database, slug)
    ids = populate(database, ws)

    ran = cli("insights", "run", "--workspace", slug, "--as-of", "2026-07-01")
    exported = cli("insights", "export", "--workspace", slug)

    assert ran.code == 0, ran.output
    summary = json.loads(ran.out.strip().splitlines()[-1])
    assert summary["unit"] == "week" and summary["customers"] == BUYERS
    fitted = summary["bgnbd"]
    # The simulated population's parameters, recovered from the orders table.
    assert fitted["r"] == pytest.approx(TRUE_BGNBD.r, rel=0.25)
    assert fitted["alpha"] == pytest.approx(TRUE_BGNBD.alpha, rel=0.3)
    assert set(summary["gamma_gamma"]) >= {"p", "q", "v", "activated"}
    assert summary["gamma_gamma"]["activated"] is True
    assert summary["clusters"]["activated"] is True and 3 <= summary["clusters"]["k"] <= 8
    # Churn is judged on the period after its training against the BG/NBD baseline.
    churn = summary["churn"]
    assert churn["activated"] is True and churn["auc"] > churn["baseline_auc"]
    assert summary["recommendations"]["activated"] is False
    assert "catalogue" in summary["recommendations"]["note"]
    holdout = fitted["holdout"]
    assert holdout["days"] == 90 and holdout["customers"] > 0
    assert holdout["ratio"] == pytest.approx(1.0, abs=0.35)
    rows = [json.loads(line) for line in exported.out.splitlines()]
    assert exported.code == 0 and len(rows) == BUYERS
    by_id = {row["customer_id"]: row for row in rows}
    assert ids["late"] not in by_id  # first bought after --as-of
    first = by_id[ids["first"]]
    assert first["user_id"] == f"u{ids['first']}"
    assert set(first) == {
        "user_id",
        "customer_id",
        "rfm_cell",
        "cluster",
        "clv_12m",
        "p_alive",
        "expected_purchases_12m",
        "churn_risk",
        "top_recommendations",
    }
    assert 0 <= first["p_alive"] <= 1 and first["clv_12m"] >= 0
    with database.session() as session:
        run = session.scalar(select(InsightsRun).where(InsightsRun.workspace_id == ws))
        assert run is not None and run.status == "ready" and run.trigger == "cli"
        assert run.as_of == AS_OF.astimezone(UTC)
        kinds = set(
            session.scalars(select(InsightsModelFit.kind).where(InsightsModelFit.run_id == run.id))
        )
        # No order names a catalogue product here: the recommender says so and stays off.
        assert kinds == {"rfm", "bgnbd", "gamma_gamma", "clusters", "churn", "recommendations"}
        audited = session.scalar(
            select(AuditEntry.action).where(
                AuditEntry.workspace_id == ws,
                AuditEntry.target_type == "insights_run",
                AuditEntry.target_id == str(run.id),
            )
        )
        assert audited == "insights.run"


def test_a_second_run_replaces_the_predictions(cli: Cli, slug: str, database: Database) -> None:
    ws = workspace_id(database, slug)
    populate(database, ws)

    first = cli("insights", "run", "--workspace", slug, "--as-of", "2026-06-01")
    second = cli("insights", "run", "--workspace", slug, "--as-of", "2026-07-01")

    assert first.code == second.code == 0
    with database.session() as session:
        runs = {
            row.run_id
            for row in session.scalars(
                select(CustomerPrediction).where(CustomerPrediction.workspace_id == ws)
            )
        }
        latest = session.scalar(
            select(InsightsRun.id)
            .where(InsightsRun.workspace_id == ws)
            .order_by(InsightsRun.id.desc())
        )
    assert runs == {latest}


def test_a_workspace_without_orders_runs_and_says_why_models_are_missing(
    cli: Cli, slug: str
) -> None:
    ran = cli("insights", "run", "--workspace", slug)

    assert ran.code == 0, ran.output
    summary = json.loads(ran.out.strip().splitlines()[-1])
    assert summary["customers"] == 0
    assert summary["rfm"]["activated"] is False and summary["rfm"]["note"]
    assert summary["bgnbd"]["activated"] is False and summary["bgnbd"]["note"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--as-of", "2999-01-01"], "future", id="future"),
        pytest.param(["--as-of", "yesterday"], "--as-of must be a date", id="not-a-date"),
        pytest.param(["--horizon-days", "0"], "horizon", id="zero-horizon"),
    ],
)
def test_bad_options_get_one_line(cli: Cli, slug: str, args: list[str], message: str) -> None:
    ran = cli("insights", "run", "--workspace", slug, *args)

    assert ran.code == 2
    assert len(ran.error_lines) == 1 and message in ran.err


def test_recommendations_go_to_customers_who_may_receive_marketing_and_skip_what_they_bought(
    session: Session,
) -> None:
    from cxloop.insights import runs

    workspace = make_workspace(session)
    products = [
        Product(workspace_id=workspace.id, external_id=f"P{i}", sku=f"SKU-{i}", name=f"P{i}")
        for i in range(12)
    ]
    session.add_all(products)
    session.flush()
    rng = np.random.default_rng(3)
    buyers = [make_customer(session, workspace=workspace) for _ in range(60)]
    for n, customer in enumerate(buyers):
        # Two tastes: even customers buy from the first six products, odd from the last six.
        taste = products[:6] if n % 2 == 0 else products[6:]
        for k, product in enumerate(rng.choice(len(taste), size=3, replace=False)):
            order = Order(
                workspace_id=workspace.id,
                customer_id=customer.id,
                external_id=f"O-{customer.id}-{k}",
                total=Decimal(20_000),
                placed_at=datetime(2026, 3, 1 + k * 7 + n % 5, tzinfo=UTC),
                properties={},
            )
            session.add(order)
            session.flush()
            session.add(
                OrderItem(
                    order_id=order.id,
                    workspace_id=workspace.id,
                    product_id=taste[int(product)].id,
                    sku=taste[int(product)].sku,
                    price=Decimal(20_000),
                )
            )
    consented = buyers[:40]
    session.add_all(
        ConsentRecord(
            workspace_id=workspace.id,
            customer_id=c.id,
            purpose="marketing",
            channel="email",
            granted=True,
            source="signup",
            recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for c in consented
    )
    session.flush()

    run = runs.start_run(
        session, principal=None, workspace_id=workspace.id, as_of=datetime(2026, 6, 1, tzinfo=UTC)
    )
    runs.execute_run(session, run_id=run.id)

    fit = session.scalar(
        select(InsightsModelFit).where(
            InsightsModelFit.run_id == run.id, InsightsModelFit.kind == "recommendations"
        )
    )
    assert fit is not None and fit.activated, fit.note if fit else None
    assert fit.metrics["customers"] == 40 and fit.metrics["served"] in ("als", "popularity")
    assert fit.metrics["baseline_precision_at_10"] is not None
    predicted = {
        p.customer_id: p.recommendations
        for p in session.scalars(
            select(CustomerPrediction).where(CustomerPrediction.workspace_id == workspace.id)
        )
    }
    bought = {
        c.id: set(
            session.scalars(
                select(OrderItem.product_id)
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.customer_id == c.id)
            )
        )
        for c in buyers
    }
    for customer in buyers:
        items = predicted[customer.id]
        if customer in consented:
            assert items and len(items) <= 10
            assert not {i["product_id"] for i in items} & bought[customer.id]
            assert all(i["sku"].startswith("SKU-") and i["reason"]["kind"] for i in items)
        else:
            assert items == []
