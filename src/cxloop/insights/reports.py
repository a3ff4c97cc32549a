"""What the insights pages show: the RFM grid with each cell's share of customers and revenue
and the movement between cells over the last month, the clusters of the last run in words,
the registry's runs with their models, and a customer's current predictions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import as_utc
from cxloop.insights import rfm
from cxloop.insights.features import load_purchase_history
from cxloop.models import CustomerPrediction, InsightsModelFit, InsightsRun, Product, Workspace

MOVEMENT_DAYS = 30


@dataclass(frozen=True)
class RfmCellRow:
    key: str
    names: dict[str, str]
    descriptions: dict[str, str]
    customers: int
    share: float  # of the buyers
    revenue: float
    revenue_share: float


@dataclass(frozen=True)
class RfmReport:
    as_of: datetime
    since: datetime  # the earlier snapshot of the movement
    buyers: int
    cells: list[RfmCellRow]
    # movement[earlier][later] = customers; "new" rows: first bought since ``since``
    movement: dict[str, dict[str, int]]
    newcomers: dict[str, int]


def latest_run(session: Session, *, workspace_id: int) -> InsightsRun | None:
    """The workspace's last run that finished."""
    return session.scalar(
        select(InsightsRun)
        .where(InsightsRun.workspace_id == workspace_id, InsightsRun.status == "ready")
        .order_by(InsightsRun.id.desc())
        .limit(1)
    )


def rfm_report(
    session: Session, *, workspace_id: int, as_of: datetime, days: int = MOVEMENT_DAYS
) -> RfmReport:
    """The RFM cells as of ``as_of`` and how customers moved between them since ``days``
    earlier (both snapshots scored on the purchases known at their moment)."""
    workspace = session.get(Workspace, workspace_id)
    tz = workspace.timezone if workspace else "Asia/Seoul"
    currency = workspace.default_currency if workspace else "KRW"
    as_of = as_utc(as_of)
    since = as_of - timedelta(days=days)
    now_history = load_purchase_history(
        session, workspace_id=workspace_id, as_of=as_of, currency=currency, tz=tz
    )
    then_history = load_purchase_history(
        session, workspace_id=workspace_id, as_of=since, currency=currency, tz=tz
    )
    now_scores = _scores(now_history)
    then_scores = _scores(then_history)
    summary = (
        rfm.cell_summary(now_scores.cell, now_history.revenue)
        if now_scores
        else rfm.cell_summary([], [])
    )
    buyers = len(now_history)
    cells = [
        RfmCellRow(
            key=row.key,
            names=cell.names,
            descriptions=cell.descriptions,
            customers=row.customers,
            share=row.customers / buyers if buyers else 0.0,
            revenue=row.revenue,
            revenue_share=row.revenue_share,
        )
        for row, cell in zip(summary, rfm.CELLS, strict=True)
    ]
    movement: dict[str, dict[str, int]] = {}
    newcomers: dict[str, int] = {}
    if now_scores and then_scores:
        moved = rfm.cell_movement(
            then_history.customer, then_scores.cell, now_history.customer, now_scores.cell
        )
        for i, before in enumerate(rfm.CELL_KEYS):
            row = {after: int(moved.matrix[i, j]) for j, after in enumerate(rfm.CELL_KEYS)}
            if any(row.values()):
                movement[before] = row
        newcomers = {key: int(moved.entered[j]) for j, key in enumerate(rfm.CELL_KEYS)}
    elif now_scores:
        newcomers = {row.key: row.customers for row in summary}
    return RfmReport(
        as_of=as_of,
        since=since,
        buyers=buyers,
        cells=cells,
        movement=movement,
        newcomers=newcomers,
    )


def _scores(history: Any) -> rfm.RfmScores | None:
    if not len(history):
        return None
    return rfm.rfm_scores(history.days_since_last_purchase, history.orders, history.revenue)


def model_fits(
    session: Session, *, workspace_id: int, kind: str, limit: int = 30
) -> list[InsightsModelFit]:
    """The last fits of one model, newest first: the model page's history."""
    return list(
        session.scalars(
            select(InsightsModelFit)
            .where(InsightsModelFit.workspace_id == workspace_id, InsightsModelFit.kind == kind)
            .order_by(InsightsModelFit.id.desc())
            .limit(limit)
        )
    )


def latest_fit(session: Session, *, workspace_id: int, kind: str) -> InsightsModelFit | None:
    """The model of this kind in use: its last activated fit."""
    return session.scalar(
        select(InsightsModelFit)
        .where(
            InsightsModelFit.workspace_id == workspace_id,
            InsightsModelFit.kind == kind,
            InsightsModelFit.activated.is_(True),
        )
        .order_by(InsightsModelFit.id.desc())
        .limit(1)
    )


def runs_page(
    session: Session, *, workspace_id: int, before_id: int | None = None, limit: int = 10
) -> tuple[list[tuple[InsightsRun, list[InsightsModelFit]]], int | None]:
    """A page of the workspace's runs, newest first, each with its models in the order they
    were fitted; and the id to continue before, when there are more."""
    query = select(InsightsRun).where(InsightsRun.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(InsightsRun.id < before_id)
    found = list(session.scalars(query.order_by(InsightsRun.id.desc()).limit(limit + 1)))
    page = found[:limit]
    fits: dict[int, list[InsightsModelFit]] = {run.id: [] for run in page}
    if page:
        for fit in session.scalars(
            select(InsightsModelFit)
            .where(
                InsightsModelFit.workspace_id == workspace_id,
                InsightsModelFit.run_id.in_(list(fits)),
            )
            .order_by(InsightsModelFit.id)
        ):
            fits[fit.run_id].append(fit)
    more = page[-1].id if len(found) > limit else None
    return [(run, fits[run.id]) for run in page], more


def customer_prediction(
    session: Session, *, workspace_id: int, customer_id: int
) -> CustomerPrediction | None:
    """The customer's current scores (the last run's that scored them), if any."""
    return session.get(CustomerPrediction, (workspace_id, customer_id))


def products_by_id(
    session: Session, *, workspace_id: int, product_ids: list[int]
) -> dict[int, Product]:
    """The workspace's products among ``product_ids`` (recommendations name products by id)."""
    if not product_ids:
        return {}
    return {
        product.id: product
        for product in session.scalars(
            select(Product).where(
                Product.workspace_id == workspace_id, Product.id.in_(sorted(set(product_ids)))
            )
        )
    }
