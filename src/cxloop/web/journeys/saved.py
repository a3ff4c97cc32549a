"""Saved funnels in the pages: saving the funnel on screen (/journeys/funnels/save, its query in
hidden fields), the list of saved funnels (/journeys/funnels/saved, newest first, cursor pages)
with pin/unpin and delete after confirming, and the "pinned funnels" block of the CX dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from cxloop.accounts.access import require
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.journeys import saved, service
from cxloop.journeys.spec import FunnelSpec
from cxloop.models import SavedFunnel
from cxloop.web import errors
from cxloop.web.journeys.charts import percent
from cxloop.web.journeys.forms import REFUSALS, FunnelForm, condition_pairs, read_funnel, refusal
from cxloop.web.journeys.funnels import funnel_link, today_of
from cxloop.web.journeys.settings import PostedForm
from cxloop.web.rendering import redirect, render
from cxloop.web.session import Page, WebContext, flash_text, verify_csrf

router = APIRouter(prefix="/journeys", include_in_schema=False, dependencies=[Depends(verify_csrf)])

LIST_PAGE = 25
MAX_ID = 2**63 - 1


def spec_link(spec: FunnelSpec, start: date, end: date) -> str:
    """The funnel page asking ``spec`` (its steps with their conditions, window, order and
    property breakdown) over the local days [start, end]."""
    pairs = [("event", step.event) for step in spec.steps]
    pairs += condition_pairs(spec.steps)
    pairs += [("window", f"{spec.window_days:g}"), ("order", spec.order)]
    if spec.breakdown is not None and spec.breakdown.kind == "property":
        pairs.append(("by", spec.breakdown.key))
    pairs += [("from", start.isoformat()), ("to", end.isoformat())]
    return "/journeys/funnels?" + urlencode(pairs)


def _days(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or not 1 <= int(text) <= saved.MAX_DAYS:
        raise ValidationFailed(f"A saved funnel looks back 1 to {saved.MAX_DAYS} days.")
    return int(text)


@router.post("/funnels/save")
def save_funnel_page(page: Page, form: PostedForm) -> Response:
    """Keep the funnel on screen by name; back to it with a message either way."""
    require(page.principal, "journeys:write")
    params = QueryParams([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    funnel_form = FunnelForm.of(params)
    back = funnel_link("/journeys/funnels", funnel_form)
    name = str(form.get("name") or "")[:300]
    try:
        question = read_funnel(funnel_form, locale=page.locale, today=today_of(page))
        with page.db.begin_nested():
            kept = saved.save_funnel(
                page.db,
                principal=page.principal,
                workspace_id=page.workspace.id,
                name=name,
                spec=question.spec,
                days=_days(str(form.get("days") or "30")[:10]),
                on_dashboard=form.get("pin") == "1",
            )
    except REFUSALS as exc:
        flash_text(page.request, "error", refusal(page.locale, exc))
        return redirect(back)
    page.flash(
        "success",
        "journeys.saved.saved_pinned" if kept.on_dashboard else "journeys.saved.saved",
        name=kept.name,
    )
    return redirect(back)


@dataclass(frozen=True)
class SavedRow:
    id: int
    name: str
    steps: str
    days: int
    pinned: bool
    link: str
    created_at: datetime


def _row(page: WebContext, funnel: SavedFunnel, today: date) -> SavedRow:
    spec = saved.spec_of(funnel)
    return SavedRow(
        id=funnel.id,
        name=funnel.name,
        steps=" → ".join(step.title for step in spec.steps),
        days=funnel.days,
        pinned=funnel.on_dashboard,
        link=spec_link(spec, today - timedelta(days=funnel.days - 1), today),
        created_at=funnel.created_at,
    )


@router.get("/funnels/saved")
def saved_funnels_page(page: Page) -> Response:
    """The workspace's saved funnels, newest first, a page at a time."""
    require(page.principal, "journeys:read")
    cursor = (page.request.query_params.get("cursor") or "")[:200] or None
    problem, status = "", 200
    rows: list[SavedRow] = []
    next_cursor = None
    try:
        found, next_cursor = saved.list_funnels(
            page.db, workspace_id=page.workspace.id, cursor=cursor, limit=LIST_PAGE
        )
        today = today_of(page)
        rows = [_row(page, funnel, today) for funnel in found]
    except ValidationFailed as exc:
        problem, status = errors.describe(page.locale, exc), 422
    return render(
        page.request,
        "journeys/saved.html",
        page=page,
        section="journeys",
        journeys_tab="saved",
        status=status,
        problem=problem,
        rows=rows,
        cursor=cursor,
        next_cursor=next_cursor,
        editable=page.can("journeys:write"),
        confirm=None,
    )


def _load(page: WebContext, funnel_id: int) -> SavedFunnel:
    if not 0 < funnel_id <= MAX_ID:
        raise NotFound("No such saved funnel.")
    return saved.get_funnel(page.db, workspace_id=page.workspace.id, funnel_id=funnel_id)


@router.post("/funnels/saved/{funnel_id:int}/pin")
def pin_funnel(page: Page, funnel_id: int, form: PostedForm) -> Response:
    """Pin the funnel to the CX dashboard (``on=1``) or take it off."""
    require(page.principal, "journeys:write")
    funnel = _load(page, funnel_id)
    pinned = form.get("on") == "1"
    saved.change_funnel(page.db, principal=page.principal, funnel=funnel, on_dashboard=pinned)
    page.flash(
        "success",
        "journeys.saved.pinned" if pinned else "journeys.saved.unpinned",
        name=funnel.name,
    )
    return redirect("/journeys/funnels/saved")


@router.post("/funnels/saved/{funnel_id:int}/delete")
def delete_funnel(page: Page, funnel_id: int, form: PostedForm) -> Response:
    """Ask first; with ``confirm=1``, delete the saved funnel."""
    require(page.principal, "journeys:write")
    funnel = _load(page, funnel_id)
    if form.get("confirm") != "1":
        return render(
            page.request,
            "journeys/saved.html",
            page=page,
            section="journeys",
            journeys_tab="saved",
            problem="",
            rows=[],
            cursor=None,
            next_cursor=None,
            editable=True,
            confirm=_row(page, funnel, today_of(page)),
        )
    name = funnel.name
    saved.delete_funnel(page.db, principal=page.principal, funnel=funnel)
    page.flash("success", "journeys.saved.deleted", name=name)
    return redirect("/journeys/funnels/saved")


# --- the CX dashboard's block ------------------------------------------------------------------


@dataclass(frozen=True)
class PinnedFunnel:
    """A pinned funnel over the dashboard's period, as plain values (read in a session of the
    dashboard's own that is gone before the page renders)."""

    id: int
    name: str
    spec: FunnelSpec
    steps: str
    entered: int
    converted: int
    conversion: float | None


def pinned_funnels(
    session: Session, *, workspace_id: int, start: datetime, end: datetime
) -> list[PinnedFunnel]:
    """The funnels pinned to the dashboard, each run over [start, end)."""
    return [
        PinnedFunnel(
            id=funnel.id,
            name=funnel.name,
            spec=(spec := saved.spec_of(funnel)),
            steps=" → ".join(step.title for step in spec.steps),
            entered=report.overall.entered,
            converted=report.overall.converted,
            conversion=report.overall.conversion,
        )
        for funnel, report in service.dashboard_funnels(
            session, workspace_id=workspace_id, start=start, end=end
        )
    ]


def dashboard_funnel_cards(
    page: WebContext, pinned: list[PinnedFunnel], first: date, last: date
) -> list[dict[str, str]]:
    """What the dashboard shows of each pinned funnel, linking to it over the same days."""
    return [
        {
            "name": funnel.name,
            "steps": funnel.steps,
            "entered": f"{funnel.entered:,}",
            "converted": f"{funnel.converted:,}",
            "conversion": percent(page.locale, funnel.conversion),
            "link": spec_link(funnel.spec, first, last),
        }
        for funnel in pinned
    ]
