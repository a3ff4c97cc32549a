"""The retention page (/journeys/retention): cohorts by the period of each person's first start
event, and the share of them that came back in each later period, as a heat map whose cells
always print their number (periods not begun yet are left empty) with the average below."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.core.i18n import format_date, format_month, format_number
from cxloop.journeys import service
from cxloop.journeys.schemas import RetentionOut
from cxloop.web.journeys.charts import percent
from cxloop.web.journeys.forms import REFUSALS, RetentionForm, read_retention, refusal
from cxloop.web.journeys.funnels import event_names, interval_choices
from cxloop.web.rendering import render
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(prefix="/journeys", include_in_schema=False, dependencies=[Depends(verify_csrf)])


@dataclass(frozen=True)
class Cell:
    text: str  # the share, always printed
    count: str
    shade: int  # 0..10, for the colour; the number says the same
    title: str


@dataclass(frozen=True)
class Row:
    label: str
    persons: str
    cells: list[Cell | None]  # None: the period has not begun


def _cell(page: WebContext, rate: float | None, count: int | None, column: str) -> Cell | None:
    if rate is None and count is not None:  # the period began, but the cohort is empty
        return Cell("—", "", 0, f"{column}: {page.t('journeys.ret.empty_cohort')}")
    if rate is None:
        return None
    shown = percent(page.locale, rate)
    n = "" if count is None else format_number(count, page.locale)
    title = f"{column}: {shown}" + (f" ({page.t('journeys.persons_n', n=n)})" if n else "")
    return Cell(shown, n, max(0, min(10, round(rate * 10))), title)


def _columns(page: WebContext, period: str, n: int) -> list[str]:
    if period == "day":
        return [page.t("journeys.ret.col_day", n=i) for i in range(1, n + 1)]
    if period == "month":
        return [page.t("journeys.ret.col_month", n=i) for i in range(1, n + 1)]
    return [page.t("journeys.ret.col_week", n=i) for i in range(1, n + 1)]


def _cohort_label(page: WebContext, period: str, start: Any) -> str:
    if period == "month":
        return format_month(start, page.locale)
    if period == "week":
        return page.t("journeys.ret.week_of", day=format_date(start, page.locale))
    return format_date(start, page.locale)


def _view(page: WebContext, out: RetentionOut, periods: int) -> dict[str, Any]:
    columns = _columns(page, out.period, periods)
    rows = [
        Row(
            label=_cohort_label(page, out.period, cohort.start),
            persons=format_number(cohort.persons, page.locale),
            cells=[
                _cell(page, rate, count, columns[i])
                for i, (rate, count) in enumerate(zip(cohort.rates, cohort.retained, strict=True))
            ],
        )
        for cohort in out.cohorts
    ]
    average = [_cell(page, rate, None, columns[i]) for i, rate in enumerate(out.average)]
    return {"out": out, "columns": columns, "rows": rows, "average": average}


@router.get("/retention")
def retention_page(page: Page) -> Response:
    """The cohort table the query asks for (the form alone when it names no start event)."""
    require(page.principal, "journeys:read")
    params = page.request.query_params
    form = RetentionForm.of(params)
    values: dict[str, Any] = {}
    status = 200
    if "start_event" in params:
        try:
            question = read_retention(form, locale=page.locale)
            report = service.run_retention(
                page.db, workspace_id=page.workspace.id, spec=question.spec, start=question.start
            )
            values = _view(page, RetentionOut.of(report), question.spec.periods)
        except REFUSALS as exc:
            values, status = {"problem": refusal(page.locale, exc)}, 422
    return render(
        page.request,
        "journeys/retention.html",
        page=page,
        section="journeys",
        journeys_tab="retention",
        status=status,
        form=form,
        names=event_names(page),
        units=interval_choices(page),
        **{"out": None, "problem": "", "rows": [], "columns": [], "average": [], **values},
    )
