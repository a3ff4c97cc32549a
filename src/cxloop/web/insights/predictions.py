"""The predictions panel of the customer 360 page: predicted CLV over 12 months, the
probability of being active, churn risk with its top reasons in words, the next best products
with why, the RFM cell and cluster, and the segments the customer is in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cxloop.insights import reports
from cxloop.insights.clusters import describe_cluster
from cxloop.insights.rfm import CELL_KEYS, cell_name
from cxloop.insights.segments import service as segments
from cxloop.models import Customer
from cxloop.web.insights.words import churn_reasons
from cxloop.web.session import WebContext

RECOMMENDATIONS_SHOWN = 5
# Why a product is recommended (insights.recommend.REASON_KINDS), as the page words them.
REASON_KINDS = ("bought_with", "similar_to", "popular_in_segment", "popular")


@dataclass(frozen=True)
class Recommendation:
    name: str
    sku: str | None
    why: str


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _recommendations(page: WebContext, items: list[Any]) -> list[Recommendation]:
    shown = [i for i in items if isinstance(i, dict)][:RECOMMENDATIONS_SHOWN]
    reasons = [i["reason"] if isinstance(i.get("reason"), dict) else {} for i in shown]
    ids = [_id(i.get("product_id")) for i in shown] + [_id(r.get("product_id")) for r in reasons]
    products = reports.products_by_id(
        page.db, workspace_id=page.workspace.id, product_ids=[i for i in ids if i is not None]
    )

    def label(product_id: int | None) -> str:
        product = products.get(product_id) if product_id is not None else None
        if product is None:
            return f"#{product_id}"
        return str(product.name or product.sku or product.external_id)

    found = []
    for item, reason in zip(shown, reasons, strict=True):
        kind = str(reason.get("kind", "popular"))
        product_id, other = _id(item.get("product_id")), _id(reason.get("product_id"))
        if kind in ("bought_with", "similar_to") and other is not None:
            why = page.t(f"insights.why.{kind}", product=label(other))
        elif kind in REASON_KINDS:
            why = page.t(f"insights.why.{kind}", product="")
        else:
            why = kind
        product = products.get(product_id) if product_id is not None else None
        sku = item.get("sku") or (product.sku if product else None)
        found.append(Recommendation(label(product_id), str(sku) if sku else None, why))
    return found


def _top_percent(percentile: float | None) -> int | None:
    """0.95 → 5: the customer is in the top 5% by predicted 12-month CLV."""
    if percentile is None:
        return None
    return max(1, math.ceil(round((1 - percentile) * 100, 6)))


def customer_predictions(page: WebContext, customer: Customer) -> dict[str, Any]:
    """What the customer page shows of insights (nothing for a role that may not read it)."""
    if not page.can("insights:read"):
        return {"insights_panel": False}
    prediction = reports.customer_prediction(
        page.db, workspace_id=page.workspace.id, customer_id=customer.id
    )
    language = "ko" if page.locale == "ko" else "en"
    run = reports.latest_run(page.db, workspace_id=page.workspace.id)
    currency = run.currency if run else page.workspace.default_currency
    cluster_words = None
    if prediction is not None and prediction.cluster is not None:
        fit = reports.latest_fit(page.db, workspace_id=page.workspace.id, kind="clusters")
        for profile in ((fit.parameters or {}).get("clusters") or []) if fit else []:
            if isinstance(profile, dict) and profile.get("label") == prediction.cluster:
                cluster_words = describe_cluster(profile, language)
    return {
        "insights_panel": True,
        "prediction": prediction,
        "prediction_currency": currency,
        "prediction_run": run,
        "churn_words": churn_reasons(
            prediction.churn_reasons if prediction else [], language=language, currency=currency
        )[:3],
        "recommended": _recommendations(page, prediction.recommendations) if prediction else [],
        "rfm_cell_name": (
            cell_name(prediction.rfm_cell, language)
            if prediction is not None and prediction.rfm_cell in CELL_KEYS
            else None
        ),
        "cluster_words": cluster_words,
        "clv_top_percent": _top_percent(prediction.clv_percentile if prediction else None),
        "customer_segments": segments.segments_of_customer(
            page.db, workspace_id=page.workspace.id, customer_id=customer.id
        ),
    }
