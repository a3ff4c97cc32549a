"""A shop for the insights pages: named customers with orders, NPS answers and predictions, one
finished run with every model in the registry (a BG/NBD holdout check, clusters in words), and
the example segment's rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.insights.clusters import RECORD_VERSION
from cxloop.models import (
    Customer,
    CustomerPrediction,
    InsightsModelFit,
    InsightsRun,
    Order,
    Product,
    Response,
    Survey,
    Workspace,
)
from tests.factories import make_customer, unique

# "VIP tier or predicted CLV in the top 10%, bought in the last 90 days, last NPS ≤ 6".
EXAMPLE_RULE: dict[str, Any] = {
    "type": "all",
    "rules": [
        {
            "type": "any",
            "rules": [
                {"type": "trait", "key": "tier", "op": "eq", "value": "VIP"},
                {"type": "prediction", "field": "clv_percentile", "op": "top_percent", "value": 10},
            ],
        },
        {"type": "order", "measure": "count", "op": "gte", "value": 1, "within_days": 90},
        {"type": "score", "metric": "nps", "op": "lte", "value": 6},
    ],
}

CLUSTERS = [
    {
        "label": 0,
        "size": 600,
        "share": 0.6,
        "value_mean": 45_000.0,
        "value_total": 27_000_000.0,
        "value_share": 0.3,
        "centroid": {},
        "centre": {},
        "standardised": {},
        "distinguishing": [
            {"feature": "days_since_last_purchase", "direction": "high", "effect": 1.4}
        ],
    },
    {
        "label": 1,
        "size": 400,
        "share": 0.4,
        "value_mean": 160_000.0,
        "value_total": 64_000_000.0,
        "value_share": 0.7,
        "centroid": {},
        "centre": {},
        "standardised": {},
        "distinguishing": [{"feature": "orders", "direction": "high", "effect": 2.1}],
    },
]


@dataclass
class InsightsShop:
    workspace: Workspace
    run: InsightsRun
    people: dict[str, Customer] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)


def ago(days: float) -> datetime:
    return utcnow() - timedelta(days=days)


def _order(session: Session, workspace: Workspace, customer: Customer, days: float) -> None:
    session.add(
        Order(
            workspace_id=workspace.id,
            customer_id=customer.id,
            external_id=unique("O-"),
            total=Decimal(50_000),
            currency="KRW",
            status="completed",
            placed_at=ago(days),
            properties={},
        )
    )


def _nps(session: Session, survey: Survey, customer: Customer, days: float, score: int) -> None:
    session.add(
        Response(
            workspace_id=survey.workspace_id,
            survey_id=survey.id,
            version=1,
            customer_id=customer.id,
            nps=score,
            completed=True,
            submitted_at=ago(days),
            started_at=ago(days),
        )
    )


def insights_shop(session: Session, workspace: Workspace) -> InsightsShop:
    """Five customers: two match the example rule ("vip": a VIP who bought 10 days ago and
    answered NPS 5; "top": in the top 10% by CLV, bought 30 days ago, NPS 3), three do not
    ("happy" answered 10, "old" bought 200 days ago, "plain" did nothing); one finished run."""
    run = InsightsRun(
        workspace_id=workspace.id,
        status="ready",
        trigger="cli",
        as_of=utcnow(),
        customers=4,
        currency="KRW",
        finished_at=utcnow(),
    )
    survey = Survey(workspace_id=workspace.id, key=unique("nps"), name="NPS", kind="nps")
    session.add_all([run, survey])
    session.flush()
    shop = InsightsShop(workspace, run)
    for name, traits, bought, score in (
        ("vip", {"tier": "VIP"}, 10, 5),
        ("top", {"tier": "basic"}, 30, 3),
        ("happy", {"tier": "VIP"}, 5, 10),
        ("old", {"tier": "VIP"}, 200, 2),
        ("plain", {}, None, None),
    ):
        customer = make_customer(
            session, workspace=workspace, user_id=unique(f"{name}-"), traits=traits
        )
        customer.display_name = f"{name} 고객"
        shop.people[name] = customer
        session.flush()
        if bought is not None:
            _order(session, workspace, customer, bought)
        if score is not None:
            _nps(session, survey, customer, 2, score)
    for key, name in (("shoes", "러닝화"), ("socks", "양말")):
        product = Product(workspace_id=workspace.id, external_id=unique(key), sku=key, name=name)
        session.add(product)
        shop.products[key] = product
    session.flush()
    for name, percentile in (("vip", 0.5), ("top", 0.95), ("happy", 0.3), ("old", 0.1)):
        session.add(
            CustomerPrediction(
                workspace_id=workspace.id,
                customer_id=shop.people[name].id,
                run_id=run.id,
                rfm_cell="champions" if name != "old" else "at_risk",
                cluster=1,
                p_alive=0.82,
                clv_3m=90_000.0,
                clv_6m=170_000.0,
                clv_12m=312_000.0,
                clv_percentile=percentile,
                churn_risk=0.71,
                churn_reasons=[
                    {"feature": "days_since_last_purchase", "value": 120.0, "effect": 0.2},
                    {"feature": "orders_last_90d", "value": 0.0, "effect": 0.1},
                    {"feature": "last_nps", "value": 3.0, "effect": 0.05},
                ],
                recommendations=[
                    {
                        "product_id": shop.products["socks"].id,
                        "sku": "socks",
                        "score": 0.9,
                        "reason": {"kind": "bought_with", "product_id": shop.products["shoes"].id},
                    },
                    {
                        "product_id": shop.products["shoes"].id,
                        "sku": "shoes",
                        "score": 0.5,
                        "reason": {"kind": "popular"},
                    },
                ],
            )
        )
    _fits(session, workspace, run)
    session.flush()
    return shop


def _fits(session: Session, workspace: Workspace, run: InsightsRun) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    fits = [
        InsightsModelFit(
            kind="rfm",
            metrics={"customers": 4, "cells": {"champions": {"customers": 3}}},
            activated=True,
        ),
        InsightsModelFit(
            kind="bgnbd",
            parameters={"unit": "week", "r": 0.61, "alpha": 3.02, "a": 0.79, "b": 2.48},
            metrics={
                "customers": 4,
                "log_likelihood": -1234.5,
                "holdout": {
                    "calibration_end": "2026-01-01T00:00:00+00:00",
                    "days": 90,
                    "customers": 1500,
                    "expected_purchases": 812.4,
                    "actual_purchases": 797,
                    "ratio": 1.0193,
                    "mean_absolute_error": 0.4211,
                    "by_repeat_purchases": [
                        {"repeat_purchases": 0, "customers": 900, "expected": 0.21, "actual": 0.19},
                        {"repeat_purchases": "6+", "customers": 40, "expected": 3.1, "actual": 3.4},
                    ],
                },
            },
            activated=True,
        ),
        InsightsModelFit(
            kind="gamma_gamma",
            parameters={"currency": "KRW", "p": 6.1, "q": 3.9, "v": 15_000.0},
            metrics={"repeat_customers": 2},
            activated=True,
        ),
        InsightsModelFit(
            kind="clusters",
            parameters={
                "version": RECORD_VERSION,
                "k": 2,
                "silhouette": {"2": 0.41},
                "features": ["days_since_last_purchase", "orders"],
                "log_features": [],
                "highest_label": 1,
                "clusters": CLUSTERS,
            },
            metrics={"customers": 1000, "k": 2, "silhouette": 0.41},
            activated=True,
        ),
        InsightsModelFit(kind="churn", note="Too few customers to learn churn from.", metrics={}),
    ]
    for fit in fits:
        fit.workspace_id = workspace.id
        fit.run_id = run.id
        fit.window_start = start
        fit.window_end = run.as_of
        session.add(fit)
