"""The insights report pages: the RFM grid with each cell's share of customers and revenue and
the movement between cells (/insights/rfm), the clusters of the model in use in plain words
(/insights/clusters), and the model registry — every run with each model's window,
parameters, figures and holdout check — with a "run now" button (/insights/models)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.core.errors import ValidationFailed
from cxloop.insights import reports, runs
from cxloop.insights.clusters import describe_cluster
from cxloop.insights.rfm import CELL_KEYS, cell_name
from cxloop.insights.tasks import queue_run
from cxloop.models import InsightsModelFit, InsightsRun
from cxloop.models.insights import MODEL_KINDS
from cxloop.web import errors
from cxloop.web.insights.words import feature_label
from cxloop.web.rendering import redirect, render
from cxloop.web.session import Page, WebContext, flash_text, verify_csrf

router = APIRouter(prefix="/insights", include_in_schema=False, dependencies=[Depends(verify_csrf)])

RUNS_PAGE = 10


def figure(value: Any) -> str:
    """A model figure as the page shows it: whole numbers grouped, others to 4 digits."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("✓" if value else "✕")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class FitView:
    kind: str
    window_start: datetime | None
    window_end: datetime | None
    parameters: list[tuple[str, Any]]
    metrics: list[tuple[str, Any]]
    holdout: dict[str, Any] | None
    activated: bool
    note: str


def _fit_view(fit: InsightsModelFit) -> FitView:
    parameters = dict(fit.parameters or {})
    if fit.kind == "clusters":  # the clusters themselves are on their own page
        parameters = {
            "k": parameters.get("k"),
            "features": len(parameters.get("features") or []),
        }
    metrics = dict(fit.metrics or {})
    holdout = metrics.pop("holdout", None)
    metrics.pop("cells", None)  # the RFM cells are the RFM page
    return FitView(
        kind=fit.kind,
        window_start=fit.window_start,
        window_end=fit.window_end,
        parameters=sorted(parameters.items()),
        metrics=sorted(metrics.items()),
        holdout=holdout if isinstance(holdout, dict) else None,
        activated=fit.activated,
        note=fit.note,
    )


def _no_run_yet(page: WebContext) -> dict[str, Any]:
    """What every insights page shows before the first run: how to start one."""
    return {
        "can_run": page.can("insights:write"),
        "cli_command": f"cxloop insights run -w {page.workspace.slug}",
    }


# --- RFM ---------------------------------------------------------------------------------------


@router.get("/rfm")
def rfm_page(page: Page) -> Response:
    """The eight RFM cells with their customers and revenue, and last month's movement."""
    require(page.principal, "insights:read")
    run = reports.latest_run(page.db, workspace_id=page.workspace.id)
    report = (
        reports.rfm_report(page.db, workspace_id=page.workspace.id, as_of=run.as_of)
        if run is not None
        else None
    )
    return render(
        page.request,
        "insights/rfm.html",
        page=page,
        section="insights",
        insights_tab="rfm",
        run=run,
        report=report,
        cell_keys=CELL_KEYS,
        cell_label=lambda key: cell_name(key, page.locale),
        **_no_run_yet(page),
    )


# --- clusters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterView:
    label: int
    words: str
    size: int
    share: float
    value_mean: float | None
    value_share: float
    distinctions: list[tuple[str, str, float]]  # (feature in words, "high"/"low", effect)


def _clusters(page: WebContext, fit: InsightsModelFit) -> list[ClusterView]:
    language = "ko" if page.locale == "ko" else "en"
    shown = []
    for profile in (fit.parameters or {}).get("clusters") or []:
        if not isinstance(profile, dict):
            continue
        shown.append(
            ClusterView(
                label=int(profile.get("label", 0)),
                words=describe_cluster(profile, language),
                size=int(profile.get("size", 0)),
                share=float(profile.get("share", 0.0)),
                value_mean=profile.get("value_mean"),
                value_share=float(profile.get("value_share", 0.0)),
                distinctions=[
                    (
                        feature_label(str(d.get("feature")), language),
                        str(d.get("direction")),
                        float(d.get("effect", 0.0)),
                    )
                    for d in profile.get("distinguishing") or []
                    if isinstance(d, dict)
                ],
            )
        )
    return sorted(shown, key=lambda c: (-c.size, c.label))


@router.get("/clusters")
def clusters_page(page: Page) -> Response:
    """The clusters of the model in use, each described in plain words with its size and
    value."""
    require(page.principal, "insights:read")
    fit = reports.latest_fit(page.db, workspace_id=page.workspace.id, kind="clusters")
    run = reports.latest_run(page.db, workspace_id=page.workspace.id)
    last_try = next(
        iter(reports.model_fits(page.db, workspace_id=page.workspace.id, kind="clusters", limit=1)),
        None,
    )
    fit_run = page.db.get(InsightsRun, fit.run_id) if fit is not None else None
    return render(
        page.request,
        "insights/clusters.html",
        page=page,
        section="insights",
        insights_tab="clusters",
        run=run,
        fit=fit,
        fit_run=fit_run,
        last_try=last_try,
        clusters=_clusters(page, fit) if fit is not None else [],
        currency=fit_run.currency if fit_run else page.workspace.default_currency,
        **_no_run_yet(page),
    )


# --- the model registry ------------------------------------------------------------------------


@router.get("/models")
def models_page(page: Page, before: str = "") -> Response:
    """Every run, newest first: when, on what window, with which parameters, how well each
    model predicted, and whether it was put in use."""
    require(page.principal, "insights:read")
    before_id = int(before) if before.isdigit() and len(before) < 11 else None
    listed, more = reports.runs_page(
        page.db, workspace_id=page.workspace.id, before_id=before_id, limit=RUNS_PAGE
    )
    order = {kind: i for i, kind in enumerate(MODEL_KINDS)}
    return render(
        page.request,
        "insights/models.html",
        page=page,
        section="insights",
        insights_tab="models",
        runs=[
            (run, sorted((_fit_view(f) for f in fits), key=lambda v: order.get(v.kind, 99)))
            for run, fits in listed
        ],
        before=before_id,
        more=more,
        figure=figure,
        model_kinds=MODEL_KINDS,
        **_no_run_yet(page),
    )


@router.post("/models/run")
def run_now(page: Page) -> Response:
    """Queue a run of every model as of now; a worker executes it."""
    require(page.principal, "insights:write")
    try:
        run = runs.start_run(page.db, principal=page.principal, workspace_id=page.workspace.id)
    except ValidationFailed as exc:
        flash_text(page.request, "error", errors.describe(page.locale, exc))
        return redirect("/insights/models")
    queue_run(page.db, run.id)
    page.flash("success", "insights.models.queued", id=run.id)
    return redirect("/insights/models")
