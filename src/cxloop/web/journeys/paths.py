"""Path pages: what persons did after (or before) an event (/journeys/paths), and what the
persons who dropped off before a funnel step did instead (/journeys/funnels/dropoff, the
funnel's query string plus ``step``), each as a Sankey diagram and the top whole paths."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.core.i18n import format_number
from cxloop.journeys import service
from cxloop.journeys.paths import PathReport
from cxloop.journeys.schemas import PathsOut
from cxloop.web.journeys.charts import percent
from cxloop.web.journeys.forms import (
    REFUSALS,
    FunnelForm,
    PathFields,
    PathForm,
    read_funnel,
    read_paths,
    refusal,
    step_of,
)
from cxloop.web.journeys.funnels import event_names, funnel_link, today_of
from cxloop.web.journeys.sankey import sankey
from cxloop.web.rendering import render
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(prefix="/journeys", include_in_schema=False, dependencies=[Depends(verify_csrf)])


def node_label(page: WebContext, kind: str, name: str | None) -> str:
    if kind == "other":
        return page.t("journeys.paths.other")
    if kind == "end":
        return page.t("journeys.paths.ended")
    return name or ""


def _persons(page: WebContext, n: int) -> str:
    return page.t("journeys.persons_n", n=format_number(n, page.locale))


def _view(page: WebContext, report: PathReport, anchor: str) -> dict[str, Any]:
    out = PathsOut.of(report)
    title_key = (
        "journeys.paths.sankey_before"
        if out.direction == "before"
        else "journeys.paths.sankey_after"
    )
    chart = (
        sankey(
            out,
            anchor=anchor,
            label=lambda kind, name: node_label(page, kind, name),
            count=lambda n: _persons(page, n),
            title=page.t(title_key, event=anchor),
            desc=page.t(
                "journeys.paths.sankey_desc",
                n=format_number(out.persons, page.locale),
                steps=report.spec.steps,
            ),
        )
        if out.persons
        else None
    )
    top = [
        (
            " → ".join(p.events) if p.events else page.t("journeys.paths.nothing_after"),
            p.persons,
            percent(page.locale, p.persons / out.persons if out.persons else None),
        )
        for p in out.top
    ]
    return {"out": out, "chart": chart, "top": top}


def _page(page: WebContext, status: int, **values: Any) -> Response:
    return render(
        page.request,
        "journeys/paths.html",
        page=page,
        section="journeys",
        journeys_tab="paths",
        status=status,
        names=event_names(page),
        **{"out": None, "chart": None, "top": [], "problem": "", **values},
    )


@router.get("/paths")
def paths_page(page: Page) -> Response:
    """The paths after (or before) persons' first anchor event in the period."""
    require(page.principal, "journeys:read")
    params = page.request.query_params
    form = PathForm.of(params)
    form.period.fill(today_of(page))
    values: dict[str, Any] = {}
    status = 200
    if "event" in params:
        try:
            question = read_paths(form, locale=page.locale, today=today_of(page))
            report = service.run_paths(
                page.db,
                workspace_id=page.workspace.id,
                spec=question.spec,
                start=question.start,
                end=question.end,
            )
            values = _view(page, report, question.spec.event)
        except REFUSALS as exc:
            values, status = {"problem": refusal(page.locale, exc)}, 422
    return _page(page, status, mode="paths", form=form, fields=form.fields, **values)


@router.get("/funnels/dropoff")
def dropoff_page(page: Page) -> Response:
    """What the persons who reached the step before ``step`` and no further did next."""
    require(page.principal, "journeys:read")
    params = page.request.query_params
    funnel = FunnelForm.of(params)
    funnel.period.fill(today_of(page))
    fields = PathFields.of(params)
    values: dict[str, Any] = {}
    status, step = 200, None
    try:
        question = read_funnel(funnel, locale=page.locale, today=today_of(page))
        step = step_of(page.locale, params.get("step") or "", question.spec, low=2)
        steps, hours, rules = fields.read(page.locale)
        report = service.run_dropoff_paths(
            page.db,
            workspace_id=page.workspace.id,
            funnel=question.spec,
            step=step,
            steps=steps,
            window_hours=hours,
            cleaning=rules,
            start=question.start,
            end=question.end,
        )
        values = _view(page, report, question.spec.steps[step - 2].event)
    except REFUSALS as exc:
        values, status = {"problem": refusal(page.locale, exc)}, 422
    heading = (
        page.t(
            "journeys.dropoff.title",
            n=step,
            step=funnel.events[step - 1],
            previous=funnel.events[step - 2],
        )
        if step is not None
        else page.t("journeys.dropoff.title_plain")
    )
    return _page(
        page,
        status,
        mode="dropoff",
        heading=heading,
        fields=fields,
        step=step,
        funnel_pairs=funnel.query(),
        funnel_url=funnel_link("/journeys/funnels", funnel),
        persons_url=funnel_link("/journeys/funnels/persons", funnel, step=step, dropped="1")
        if step is not None
        else "",
        **values,
    )
