"""Insights runs: fit and score a workspace's customer models as of a moment, record each model
in the registry, and replace the customers' current predictions.

A run reads only data from before its ``as_of``, so a run "as of" a past date sees what was
known then and its holdout figures can be checked against what happened after. Each model is
fitted on its own: one that cannot be fitted (too few buyers, no repeat purchases) is recorded
with its reason and leaves the others alone. The caller (the CLI, the nightly job) commits;
until then readers keep the previous predictions.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.db import Database, rowcount
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.insights import churn, clusters, clv, recommend, recommend_data, rfm
from cxloop.insights.behaviour import Behaviour, load_behaviour
from cxloop.insights.features import load_purchase_history
from cxloop.insights.segments import service as segments
from cxloop.insights.segments.compiler import compile_rule
from cxloop.models import (
    Customer,
    CustomerPrediction,
    Identity,
    InsightsModelFit,
    InsightsRun,
    Product,
    Workspace,
)
from cxloop.models.base import table_of
from cxloop.models.customer import CONSENT_CHANNELS

log = logging.getLogger(__name__)
DEFAULT_HORIZON_DAYS = 90
MAX_HORIZON_DAYS = 730
CLV_HORIZONS = (3, 6, 12)  # months
_INSERT_CHUNK = 5_000
TOP_RECOMMENDATIONS = 10
# Customers whose last purchase is held out to measure the recommendations.
QUALITY_SAMPLE = 20_000
PREDICTION_COLUMNS = (
    "rfm_cell",
    "recency_score",
    "frequency_score",
    "monetary_score",
    "cluster",
    "p_alive",
    "expected_purchases_3m",
    "expected_purchases_6m",
    "expected_purchases_12m",
    "clv_3m",
    "clv_6m",
    "clv_12m",
    "clv_percentile",
    "churn_risk",
    "churn_reasons",
    "recommendations",
)


@dataclass
class Scores:
    """What the models of one run said, column by column: the customer ids a model scored and
    its values in the same order — an array, or a function of the position giving the value
    (lists such as recommendations are built only when their rows are written, a chunk at a
    time, so a million customers' lists never sit in memory at once)."""

    columns: dict[str, tuple[npt.NDArray[np.int64], Any]] = field(default_factory=dict)

    def put(self, name: str, customers: npt.ArrayLike, values: npt.ArrayLike) -> None:
        ids = np.asarray(customers, dtype=np.int64).reshape(-1)
        cells = np.asarray(values)
        if cells.shape[0] != ids.shape[0]:
            raise ValueError(f"{name}: one value per customer")
        self.columns[name] = (ids, cells)

    def put_lazy(self, name: str, customers: npt.ArrayLike, value: Callable[[int], Any]) -> None:
        self.columns[name] = (np.asarray(customers, dtype=np.int64).reshape(-1), value)

    def customers(self) -> npt.NDArray[np.int64]:
        if not self.columns:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate([ids for ids, _ in self.columns.values()]))

    def positions(self, name: str, customers: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Where each customer's value is in the column (-1: the model did not score them)."""
        ids = self.columns[name][0]
        if ids.size == 0:
            return np.full(customers.shape, -1, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        at = np.minimum(np.searchsorted(ids[order], customers), ids.size - 1)
        return np.where(ids[order][at] == customers, order[at], -1)


def _cell(value: Any) -> Any:
    """A numpy value as a plain Python one (what the driver and JSON take); NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class ModelOutcome:
    kind: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    activated: bool = False
    note: str = ""


def start_run(
    session: Session,
    *,
    principal: Principal | None,
    workspace_id: int,
    as_of: datetime | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    trigger: str = "manual",
) -> InsightsRun:
    """Record a new run of the workspace's models, queued (``perform_run`` executes it)."""
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise ValidationFailed(f"The horizon must be 1 to {MAX_HORIZON_DAYS} days.")
    now = utcnow()
    moment = as_utc(as_of) if as_of is not None else now
    if moment > now:
        raise ValidationFailed("A run cannot be as of a moment in the future.")
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("No such workspace.")
    run = InsightsRun(
        workspace_id=workspace_id,
        as_of=moment,
        horizon_days=horizon_days,
        trigger=trigger,
        requested_by_id=principal.user_id if principal else None,
        currency=workspace.default_currency,
        status="queued",
    )
    session.add(run)
    session.flush()
    record_audit(
        session,
        principal=principal,
        workspace_id=workspace_id,
        action="insights.run",
        target_type="insights_run",
        target_id=run.id,
        detail={"as_of": moment.isoformat(), "horizon_days": horizon_days, "trigger": trigger},
    )
    return run


def execute_run(session: Session, *, run_id: int) -> InsightsRun:
    """Fit every model of the run, record them and replace the workspace's predictions."""
    run = session.get(InsightsRun, run_id)
    if run is None:
        raise NotFound("No such insights run.")
    workspace = session.get(Workspace, run.workspace_id)
    assert workspace is not None
    context = RunContext(
        session=session,
        workspace_id=run.workspace_id,
        as_of=as_utc(run.as_of),
        horizon_days=run.horizon_days,
        tz=workspace.timezone,
        currency=run.currency,
    )
    scores = Scores()
    outcomes = [*_purchase_models(context, scores), *_behaviour_models(context, scores)]
    churn_fit = next(o for o in outcomes if o.kind == "churn")
    if not churn_fit.activated:
        _keep_churn_scores(session, workspace_id=run.workspace_id, scores=scores)
    for outcome in outcomes:
        session.add(
            InsightsModelFit(
                workspace_id=run.workspace_id,
                run_id=run.id,
                kind=outcome.kind,
                window_start=outcome.window_start,
                window_end=outcome.window_end,
                parameters=outcome.parameters,
                metrics=outcome.metrics,
                activated=outcome.activated,
                note=outcome.note,
            )
        )
    run.customers = _replace_predictions(session, run=run, scores=scores)
    # Rules on predictions (CLV, churn risk, RFM cell) see the new scores at once.
    segments.refresh_workspace(session, workspace_id=run.workspace_id)
    run.summary = _summary(run, outcomes)
    run.status = "ready"
    run.finished_at = utcnow()
    session.flush()
    return run


@dataclass(frozen=True)
class RunContext:
    session: Session
    workspace_id: int
    as_of: datetime
    horizon_days: int
    tz: str
    currency: str

    def history(self, as_of: datetime) -> clv.PurchaseHistory:
        return load_purchase_history(
            self.session,
            workspace_id=self.workspace_id,
            as_of=as_of,
            currency=self.currency,
            tz=self.tz,
        )


def _purchase_models(context: RunContext, scores: Scores) -> Iterator[ModelOutcome]:
    """RFM, BG/NBD and Gamma–Gamma on the buyers' purchase histories."""
    history = context.history(context.as_of)
    window_start = _first_day(history) if len(history) else None
    yield _rfm(history, scores, window_start=window_start, window_end=context.as_of)
    summary = history.summary()
    bgnbd = ModelOutcome("bgnbd", window_start=window_start, window_end=context.as_of)
    gamma = ModelOutcome("gamma_gamma", window_start=window_start, window_end=context.as_of)
    try:
        fit = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)
    except clv.FitError as exc:
        bgnbd.note = gamma.note = str(exc)
        yield bgnbd
        yield gamma
        return
    bgnbd.parameters = {"unit": "week", **_rounded(vars(fit.params))}
    bgnbd.metrics = {"customers": len(history), "log_likelihood": _number(fit.log_likelihood, 2)}
    bgnbd.metrics.update(_bgnbd_holdout(context, days=context.horizon_days))
    bgnbd.activated = True
    repeat = summary.frequency > 0
    try:
        spend = clv.fit_gamma_gamma(summary.frequency[repeat], summary.monetary[repeat])
    except clv.FitError as exc:
        gamma.note = str(exc)
        scores.put("p_alive", summary.customer, clv.probability_alive(fit.params, *_xtT(summary)))
        yield bgnbd
        yield gamma
        return
    # ``v`` is the scale γ of the paper's ν ~ Gamma(q, γ) (named as the run summary reports it).
    gamma.parameters = {
        "currency": context.currency,
        **_rounded({"p": spend.params.p, "q": spend.params.q, "v": spend.params.gamma}),
    }
    gamma.metrics = {
        "repeat_customers": int(repeat.sum()),
        "log_likelihood": _number(spend.log_likelihood, 2),
        "frequency_value_correlation": _number(spend.frequency_value_correlation, 4),
        "population_mean_order_value": _number(spend.params.population_mean, 2),
    }
    gamma.activated = True
    value = clv.score_customers(fit.params, spend.params, summary, horizons_months=CLV_HORIZONS)
    scores.put("p_alive", summary.customer, value.p_alive)
    for months in CLV_HORIZONS:
        scores.put(
            f"expected_purchases_{months}m", summary.customer, value.expected_purchases[months]
        )
        scores.put(f"clv_{months}m", summary.customer, np.round(value.clv[months]))
    scores.put("clv_percentile", summary.customer, _percentile_rank(value.clv[12]))
    yield bgnbd
    yield gamma


def _behaviour_models(context: RunContext, scores: Scores) -> Iterator[ModelOutcome]:
    """Clusters of the customers' behaviour, and churn risk against the BG/NBD baseline."""
    behaviour = load_behaviour(
        context.session,
        workspace_id=context.workspace_id,
        as_of=context.as_of,
        tz=context.tz,
        currency=context.currency,
    )
    yield _clusters(context, behaviour, scores)
    yield _churn(context, scores)
    yield _recommendations(context, scores)


def _last_fit(context: RunContext, kind: str) -> InsightsModelFit | None:
    """The model of this kind in use: the last activated fit."""
    return context.session.scalar(
        select(InsightsModelFit)
        .where(
            InsightsModelFit.workspace_id == context.workspace_id,
            InsightsModelFit.kind == kind,
            InsightsModelFit.activated.is_(True),
        )
        .order_by(InsightsModelFit.id.desc())
        .limit(1)
    )


def _clusters(context: RunContext, behaviour: Behaviour, scores: Scores) -> ModelOutcome:
    outcome = ModelOutcome("clusters", window_end=context.as_of)
    previous = _last_fit(context, "clusters")
    value = behaviour.column("revenue") if "revenue" in behaviour.names else None
    try:
        result = clusters.fit_clusters(
            behaviour.values,
            behaviour.names,
            value=value if value is not None else np.full(len(behaviour), np.nan),
            previous=previous.parameters if previous else None,
            customer_ids=behaviour.customer,
        )
    except clusters.ClusterError as exc:
        outcome.note = str(exc)
        return outcome
    scores.put("cluster", behaviour.customer, result.labels)
    outcome.parameters = result.record()
    outcome.metrics = {
        "customers": len(behaviour),
        "k": result.k,
        "silhouette": _number(result.silhouette.get(result.k, float("nan")), 4),
    }
    outcome.activated = True
    return outcome


def _churn(context: RunContext, scores: Scores) -> ModelOutcome:
    """Churn risk; put in use only if it predicts no worse than the model in use did."""
    outcome = ModelOutcome("churn", window_end=context.as_of)
    try:
        result = churn.fit_churn(
            context.session,
            workspace_id=context.workspace_id,
            as_of=context.as_of,
            horizon_days=context.horizon_days,
            tz=context.tz,
            currency=context.currency,
        )
    except clv.FitError as exc:
        outcome.note = str(exc)
        return outcome
    outcome.window_start = result.windows.train_features_at
    outcome.parameters = result.parameters
    outcome.metrics = _json_ready(result.metrics)
    in_use = _last_fit(context, "churn")
    outcome.activated = churn.is_not_worse(result.metrics, in_use.metrics if in_use else None)
    if not outcome.activated:
        outcome.note = "Not put in use: it predicted worse than the baseline or the model in use."
        return outcome
    scores.put("churn_risk", result.customer, np.round(result.risk, 6))
    scores.put_lazy("churn_reasons", result.customer, result.reasons)
    return outcome


def _recommendations(context: RunContext, scores: Scores) -> ModelOutcome:
    """The next best products of every customer who may receive marketing, with a reason,
    and how well the model ranks each customer's last purchase held out (on a sample)."""
    outcome = ModelOutcome("recommendations", window_end=context.as_of)
    session, workspace_id = context.session, context.workspace_id
    interactions = recommend_data.load_interactions(
        session, workspace_id=workspace_id, as_of=context.as_of
    )
    if interactions.purchases.nnz == 0:
        outcome.note = "No order names a product of the catalogue yet."
        return outcome
    settings = recommend.RecommenderSettings()
    model = recommend.fit_recommender(interactions, settings)
    available = recommend_data.load_available_products(
        session, workspace_id=workspace_id, products=model.product
    )
    # Recommendations are marketing: only customers the consent policy lets receive it on
    # some channel get a list (the send itself asks the policy again, per channel and hour).
    reachable = np.fromiter(
        session.scalars(
            compile_rule(
                {
                    "type": "any",
                    "rules": [
                        {"type": "consent", "purpose": "marketing", "channel": channel}
                        for channel in CONSENT_CHANNELS
                    ],
                },
                workspace_id=workspace_id,
                now=context.as_of,
                tz=context.tz,
            )
        ),
        dtype=np.int64,
    )
    labelled, cell_keys = scores.columns.get(
        "rfm_cell", (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=str))
    )
    cell_index = {key: i for i, key in enumerate(rfm.CELL_KEYS)}
    labels = recommend.SegmentLabels(
        customer=labelled,
        segment=np.array([cell_index[key] for key in cell_keys.tolist()], dtype=np.int64),
    )
    quality = _recommendation_quality(context, settings)
    # Where the factor model ranks held-out purchases worse than popularity does, customers
    # get the popular products (of their RFM cell) instead: never a list worse than that.
    lift = quality.get("precision_lift")
    served = "als" if lift is None or lift >= 1.0 else "popularity"
    if served == "popularity":
        empty = np.zeros((0, settings.factors), dtype=np.float32)
        model = dataclasses.replace(model, user_factors=empty, item_factors=empty)
    found = recommend.recommend_customers(
        model, reachable, n=TOP_RECOMMENDATIONS, available=available, segments=labels
    )
    skus = {
        product_id: sku
        for product_id, sku in session.execute(
            select(Product.id, Product.sku).where(
                Product.workspace_id == workspace_id, Product.id.in_(model.product.tolist())
            )
        )
    }

    def listed(row: int) -> list[dict[str, Any]]:
        items = found.items(row)
        for item in items:
            item["sku"] = skus.get(item["product_id"])
            item["score"] = round(item["score"], 4)
        return items

    scores.put_lazy("recommendations", found.customer, listed)
    outcome.parameters = _json_ready(vars(settings))
    outcome.metrics = {
        "customers": len(found),
        "products": int(model.product.shape[0]),
        "buyers": int(np.count_nonzero(np.diff(model.bought.indptr))),
        "served": served,
        **quality,
    }
    outcome.activated = True
    return outcome


def _recommendation_quality(
    context: RunContext, settings: recommend.RecommenderSettings
) -> dict[str, Any]:
    """precision@10, recall@10 and coverage of the model and of the popularity baseline, each
    customer's last purchase day held out, on at most ``QUALITY_SAMPLE`` customers."""
    log_ = recommend_data.load_interaction_log(
        context.session, workspace_id=context.workspace_id, as_of=context.as_of, tz=context.tz
    )
    buyers = np.unique(log_.purchase_customer)
    if buyers.size > QUALITY_SAMPLE:
        # A fixed sample (by a hash of the id), so two nights measure nearly the same customers.
        order = np.argsort((buyers * 2654435761) % (2**32), kind="stable")
        buyers = np.sort(buyers[order[:QUALITY_SAMPLE]])
    keep = np.isin(log_.purchase_customer, buyers)
    seen = np.isin(log_.view_customer, buyers)
    try:
        quality = recommend.evaluate_leave_last_out(
            log_.purchase_customer[keep],
            log_.purchase_product[keep],
            log_.purchase_day[keep],
            view_customer=log_.view_customer[seen],
            view_product=log_.view_product[seen],
            view_time=log_.view_day[seen],
            settings=settings,
        )
    except ValueError as exc:
        return {"quality_note": str(exc)}
    return {
        "evaluated_customers": quality.customers,
        "precision_at_10": _number(quality.als.precision, 4),
        "recall_at_10": _number(quality.als.recall, 4),
        "coverage": _number(quality.als.coverage, 4),
        "baseline_precision_at_10": _number(quality.popularity.precision, 4),
        "baseline_recall_at_10": _number(quality.popularity.recall, 4),
        "baseline_coverage": _number(quality.popularity.coverage, 4),
        "precision_lift": _number(quality.precision_lift, 3),
    }


def _keep_churn_scores(session: Session, *, workspace_id: int, scores: Scores) -> None:
    """The churn scores in use stay when a new churn model is not put in use."""
    kept = session.execute(
        select(
            CustomerPrediction.customer_id,
            CustomerPrediction.churn_risk,
            CustomerPrediction.churn_reasons,
        ).where(
            CustomerPrediction.workspace_id == workspace_id,
            CustomerPrediction.churn_risk.is_not(None),
        )
    ).all()
    ids = np.array([row[0] for row in kept], dtype=np.int64)
    scores.put("churn_risk", ids, np.array([row[1] for row in kept], dtype=np.float64))
    reasons = [row[2] for row in kept]
    scores.put_lazy("churn_reasons", ids, reasons.__getitem__)


def _json_ready(value: Any) -> Any:
    """Numbers from numpy as plain JSON numbers, non-finite ones as None, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _number(float(value))
    return value


def _xtT(summary: clv.CustomerSummary) -> tuple[Any, Any, Any]:
    return summary.frequency, summary.recency, summary.age


def _rfm(
    history: clv.PurchaseHistory,
    scores: Scores,
    *,
    window_start: datetime | None,
    window_end: datetime,
) -> ModelOutcome:
    outcome = ModelOutcome("rfm", window_start=window_start, window_end=window_end)
    if not len(history):
        outcome.note = "No customer has bought yet."
        return outcome
    result = rfm.rfm_scores(history.days_since_last_purchase, history.orders, history.revenue)
    scores.put("rfm_cell", history.customer, result.cell_keys)
    scores.put("recency_score", history.customer, result.recency)
    scores.put("frequency_score", history.customer, result.frequency)
    scores.put("monetary_score", history.customer, result.monetary)
    outcome.metrics = {
        "customers": len(history),
        "cells": {
            cell.key: {"customers": cell.customers, "revenue_share": round(cell.revenue_share, 4)}
            for cell in rfm.cell_summary(result.cell, history.revenue)
        },
    }
    outcome.activated = True
    return outcome


def _bgnbd_holdout(context: RunContext, *, days: int) -> dict[str, Any]:
    """How well BG/NBD fitted ``days`` earlier predicted the repeat purchases of those days.

    The model is fitted on the histories as of ``as_of − days`` (the calibration period) and
    its expected purchases over the next ``days`` are compared with the purchase days the same
    customers actually had, in total and by number of repeat purchases in calibration (the
    check of Fader, Hardie & Lee, 2005, figure 4).
    """
    calibration_end = context.as_of - timedelta(days=days)
    before = context.history(calibration_end)
    if len(before) == 0:
        return {"holdout": {"note": "No buyer before the holdout period."}}
    summary = before.summary()
    try:
        fit = clv.fit_bgnbd(summary.frequency, summary.recency, summary.age)
    except clv.FitError as exc:
        return {"holdout": {"note": str(exc)}}
    predicted = clv.expected_purchases(fit.params, days / clv.DAYS_PER_WEEK, *_xtT(summary))
    after = context.history(context.as_of)
    # A customer merged since has another survivor id: left out of the comparison.
    position = np.minimum(np.searchsorted(after.customer, before.customer), len(after) - 1)
    kept = after.customer[position] == before.customer
    summary, predicted = _subset(summary, kept), predicted[kept]
    actual = after.purchase_days[position[kept]] - before.purchase_days[kept]
    by_frequency = []
    for x in range(0, 7):
        chosen = summary.frequency == x if x < 6 else summary.frequency >= x
        if chosen.any():
            by_frequency.append(
                {
                    "repeat_purchases": x if x < 6 else f"{x}+",
                    "customers": int(chosen.sum()),
                    "expected": round(float(predicted[chosen].mean()), 4),
                    "actual": round(float(actual[chosen].mean()), 4),
                }
            )
    total_actual = float(actual.sum())
    return {
        "holdout": {
            "calibration_end": calibration_end.isoformat(),
            "days": days,
            "customers": int(kept.sum()),
            "expected_purchases": round(float(predicted.sum()), 2),
            "actual_purchases": int(total_actual),
            "ratio": round(float(predicted.sum()) / total_actual, 4) if total_actual else None,
            "mean_absolute_error": round(float(np.abs(predicted - actual).mean()), 4),
            "by_repeat_purchases": by_frequency,
        }
    }


def _subset(summary: clv.CustomerSummary, kept: npt.NDArray[np.bool_]) -> clv.CustomerSummary:
    return clv.CustomerSummary(
        customer=summary.customer[kept],
        frequency=summary.frequency[kept],
        recency=summary.recency[kept],
        age=summary.age[kept],
        monetary=summary.monetary[kept],
        unit_days=summary.unit_days,
    )


def _percentile_rank(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each value's share of the others that are lower or equal (0 to 1; ties share a rank)."""
    n = values.shape[0]
    if n <= 1:
        return np.ones(n)
    ordered = np.sort(values)
    at_most = np.searchsorted(ordered, values, side="right")
    return np.round((at_most - 1) / (n - 1), 6)


def _first_day(history: clv.PurchaseHistory) -> datetime:
    """The first local purchase day of the window, as midnight UTC of that date."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=int(history.first_day.min()))


def _number(value: float, digits: int = 6) -> float | None:
    """A figure for the registry's JSON: rounded, and None when it is not finite."""
    return round(float(value), digits) if math.isfinite(value) else None


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _number(value) if isinstance(value, float) else value for key, value in values.items()
    }


def _replace_predictions(session: Session, *, run: InsightsRun, scores: Scores) -> int:
    """Write the run's predictions in place of the previous ones, in chunks of bulk inserts."""
    session.execute(
        delete(CustomerPrediction).where(CustomerPrediction.workspace_id == run.workspace_id)
    )
    customers = scores.customers()
    table = table_of(CustomerPrediction)
    now = utcnow()
    connection = session.connection()
    where = {name: scores.positions(name, customers) for name in scores.columns}
    for start in range(0, customers.size, _INSERT_CHUNK):
        chunk = slice(start, start + _INSERT_CHUNK)
        rows: list[dict[str, Any]] = [
            {
                "workspace_id": run.workspace_id,
                "customer_id": customer,
                "run_id": run.id,
                "updated_at": now,
            }
            for customer in customers[chunk].tolist()
        ]
        for name in PREDICTION_COLUMNS:
            empty: list[Any] | None = [] if name in ("churn_reasons", "recommendations") else None
            if name not in scores.columns:
                for row in rows:
                    row[name] = empty
                continue
            cells = scores.columns[name][1]
            for row, at in zip(rows, where[name][chunk].tolist(), strict=True):
                if at < 0:
                    row[name] = empty
                elif callable(cells):
                    row[name] = cells(at)
                else:
                    row[name] = _cell(cells[at])
        connection.execute(table.insert(), rows)
    return int(customers.size)


def _summary(run: InsightsRun, outcomes: list[ModelOutcome]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "run": run.id,
        "as_of": as_utc(run.as_of).isoformat(),
        "horizon_days": run.horizon_days,
        "unit": "week",
        "currency": run.currency,
        "customers": run.customers,
    }
    for outcome in outcomes:
        # A clustering's parameters are its clusters (on the model page), not a line's worth.
        parameters = {} if outcome.kind == "clusters" else outcome.parameters
        entry = {key: value for key, value in parameters.items() if key != "unit"}
        entry.update({key: value for key, value in outcome.metrics.items() if key != "cells"})
        entry["activated"] = outcome.activated
        if outcome.note:
            entry["note"] = outcome.note
        summary[outcome.kind] = entry
    return summary


def perform_run(database: Database, *, run_id: int) -> InsightsRun | None:
    """Claim a queued run and execute it in its own transaction; a failure rolls its work back
    and is recorded on the run. None when the run was not queued (another worker has it)."""
    with database.session() as session:
        claimed = rowcount(
            session.execute(
                update(InsightsRun)
                .where(InsightsRun.id == run_id, InsightsRun.status == "queued")
                .values(status="running")
            )
        )
    if not claimed:
        return None
    try:
        with database.session() as session:
            return execute_run(session, run_id=run_id)
    except Exception as exc:
        log.exception("insights run %s failed", run_id)
        with database.session() as session:
            session.execute(
                update(InsightsRun)
                .where(InsightsRun.id == run_id)
                .values(
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    finished_at=utcnow(),
                )
            )
            return session.get(InsightsRun, run_id)


def queued_runs(session: Session) -> list[int]:
    """Runs still queued (their job lost with a restarted worker), oldest first."""
    return list(
        session.scalars(
            select(InsightsRun.id).where(InsightsRun.status == "queued").order_by(InsightsRun.id)
        )
    )


def export_predictions(session: Session, *, workspace_id: int) -> Iterator[dict[str, Any]]:
    """Every scored customer's current predictions, one dict each, in customer order."""
    user_id = (
        select(Identity.value)
        .where(
            Identity.customer_id == CustomerPrediction.customer_id,
            Identity.workspace_id == workspace_id,
            Identity.kind == "user_id",
        )
        .order_by(Identity.id)
        .limit(1)
        .scalar_subquery()
    )
    statement = (
        select(CustomerPrediction, user_id)
        .join(Customer, Customer.id == CustomerPrediction.customer_id)
        .where(CustomerPrediction.workspace_id == workspace_id, Customer.erased_at.is_(None))
        .order_by(CustomerPrediction.customer_id)
        .execution_options(yield_per=2_000)
    )
    for prediction, user in session.execute(statement):
        yield {
            "user_id": user,
            "customer_id": prediction.customer_id,
            "rfm_cell": prediction.rfm_cell,
            "cluster": prediction.cluster,
            "clv_12m": prediction.clv_12m,
            "p_alive": prediction.p_alive,
            "expected_purchases_12m": prediction.expected_purchases_12m,
            "churn_risk": prediction.churn_risk,
            "top_recommendations": [
                item.get("sku") or item.get("product_id") for item in prediction.recommendations
            ],
        }
