"""The journey map page (/journeys/map, and the journeys home /journeys): the stages as columns
with their persons, how many moved on and how fast, their scores, sentiment with intervals and
top themes; the emotion curve across the stages; the touchpoints as rows whose cells say what
happened there, the lagging ones in red with the reason in words. A stage or cell links to its
customers and to what they wrote there (``map_drill``), a cell also to the funnel from that
touchpoint to the next stage. The grid downloads as CSV (/journeys/map.csv) and SVG
(/journeys/map.svg) for the same query, and as PNG drawn from that SVG in the browser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse
from markupsafe import Markup
from starlette.datastructures import QueryParams

from cxloop.accounts.access import require
from cxloop.core.csvfile import csv_chunks
from cxloop.core.errors import ValidationFailed
from cxloop.core.i18n import format_number
from cxloop.core.stats import Estimate
from cxloop.journeys import service
from cxloop.journeys.map import JourneyMap, MapCell, StageColumn, ThemeCount
from cxloop.journeys.stages import EventRule, Place
from cxloop.web.charts import interval_trend_chart
from cxloop.web.exports import column_names
from cxloop.web.journeys.charts import duration, percent
from cxloop.web.journeys.forms import REFUSALS, FormProblem, PeriodFields, refusal
from cxloop.web.journeys.funnels import today_of
from cxloop.web.journeys.map_svg import MAP_CSV_HEADER, csv_rows, grid_svg
from cxloop.web.rendering import render, zone
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(prefix="/journeys", include_in_schema=False, dependencies=[Depends(verify_csrf)])


def place_name(page: WebContext, place: Place, kind: str) -> str:
    """The place's own name, or a default's catalog words (``journey_stage.<key>`` or
    ``journey_touchpoint.<key>``), or its key when the catalog has none."""
    if place.name:
        return place.name
    key = f"journey_{kind}.{place.key}"
    words = page.t(key)
    return place.key if words == key else words


@dataclass
class MapForm:
    """``from``/``to`` (whole local days; blank: the last 30) and ``compare`` (with the period
    of the same length just before)."""

    period: PeriodFields = field(default_factory=PeriodFields)
    compare: bool = False

    @classmethod
    def of(cls, params: QueryParams) -> MapForm:
        return cls(
            period=PeriodFields((params.get("from") or "")[:20], (params.get("to") or "")[:20]),
            compare=params.get("compare") == "1",
        )

    def query(self) -> str:
        pairs = [("from", self.period.start), ("to", self.period.end)]
        return urlencode(pairs + ([("compare", "1")] if self.compare else []))


@dataclass(frozen=True)
class Question:
    start: date
    end: date
    previous: tuple[date, date] | None


def read_map(page: WebContext, form: MapForm) -> Question:
    start, end = form.period.read(page.locale, today_of(page))
    if not form.compare:
        return Question(start, end, None)
    length = end - start + timedelta(days=1)
    return Question(start, end, (start - length, start - timedelta(days=1)))


def run_map(page: WebContext, start: date, end: date) -> JourneyMap:
    return service.run_journey_map(page.db, workspace_id=page.workspace.id, start=start, end=end)


# --- words -------------------------------------------------------------------------------------


def _n(page: WebContext, value: float) -> str:
    return format_number(value, page.locale)


def estimate_words(page: WebContext, value: Estimate | None, decimals: int) -> str:
    """ "20 (95% −34–74, n = 10)"; empty when nobody answered."""
    if value is None:
        return ""

    def shown(x: float) -> str:
        return _n(page, round(x, decimals))

    return page.t(
        "journeys.map.estimate",
        value=shown(value.estimate),
        low=shown(value.ci_low),
        high=shown(value.ci_high),
        n=_n(page, value.n),
    )


def _points(page: WebContext, value: float) -> str:
    return f"{'+' if value > 0 else ''}{_n(page, round(value * 100, 1))}%p"


def change_words(page: WebContext, now: StageColumn, before: StageColumn | None) -> str:
    """The stage's change in persons and conversion since the previous period."""
    if before is None:
        return ""
    persons = now.persons - before.persons
    words = page.t(
        "journeys.map.change_persons",
        delta=f"{'+' if persons > 0 else ''}{_n(page, persons)}",
        before=_n(page, before.persons),
    )
    if now.conversion is not None and before.conversion is not None:
        words += " · " + page.t(
            "journeys.map.change_conversion",
            delta=_points(page, now.conversion - before.conversion),
            before=percent(page.locale, before.conversion),
        )
    return words


def why_flagged(page: WebContext, cell: MapCell, stage: StageColumn) -> str:
    """Why the cell is red: it moves on less than its stage (both rates and the p-value), or
    its sentiment lies below zero."""
    reasons = []
    if cell.behind is not None:
        p = cell.behind.p_value
        reasons.append(
            page.t(
                "journeys.map.why_behind",
                rate=percent(page.locale, cell.conversion),
                moved=_n(page, cell.moved_on),
                persons=_n(page, cell.persons),
                stage_rate=percent(page.locale, stage.conversion),
                stage_moved=_n(page, stage.moved_on),
                stage_persons=_n(page, stage.persons),
                p=f"p = {p:.3f}" if p >= 0.001 else "p < 0.001",
            )
        )
    sentiment = cell.feeling.sentiment
    if sentiment is not None and sentiment.ci_high < 0:
        reasons.append(
            page.t(
                "journeys.map.why_unhappy",
                mean=_n(page, round(sentiment.estimate, 2)),
                high=_n(page, round(sentiment.ci_high, 2)),
            )
        )
    return " ".join(reasons)


# --- the funnel behind a cell ------------------------------------------------------------------


def _first_event(place: Place) -> EventRule | None:
    return next((rule for rule in place.rules if rule.event), None)


@dataclass(frozen=True)
class FunnelLink:
    url: str  # empty: no funnel can be drawn from this cell
    note: str  # what the funnel page leaves out, or why there is no link


def funnel_of_cell(
    page: WebContext, question: Question, touchpoint: Place, next_stage: Place | None
) -> FunnelLink:
    """The funnel page from the touchpoint's first rule event to the next stage's first rule
    event, over the map's period (property filters and "n-th" left out: the page takes neither,
    and the link's title says so)."""
    if next_stage is None:
        return FunnelLink("", page.t("journeys.map.no_next_stage"))
    start, end = _first_event(touchpoint), _first_event(next_stage)
    if start is None or end is None or start.event is None or end.event is None:
        return FunnelLink("", page.t("journeys.map.no_funnel_pages"))
    pairs = [
        ("event", start.event),
        ("event", end.event),
        ("from", question.start.isoformat()),
        ("to", question.end.isoformat()),
    ]
    note = page.t("journeys.map.funnel_title", first=start.event, last=end.event)
    if start.where or end.where or end.nth > 1:
        note += " " + page.t("journeys.map.funnel_filters_dropped")
    return FunnelLink("/journeys/funnels?" + urlencode(pairs), note)


# --- the page's shapes -------------------------------------------------------------------------


@dataclass(frozen=True)
class ThemeChip:
    label: str
    count: str
    url: str  # the texts of the stage or cell that show the theme


@dataclass(frozen=True)
class Drill:
    """Where a stage or cell leads: its customers and its texts (``texts``: how many)."""

    persons_url: str
    texts_url: str
    texts: int
    themes: list[ThemeChip]


def drill_of(
    page: WebContext,
    question: Question,
    stage: str,
    touchpoint: str | None,
    texts: int,
    themes: tuple[ThemeCount, ...],
) -> Drill:
    pairs = [
        ("from", question.start.isoformat()),
        ("to", question.end.isoformat()),
        ("stage", stage),
        *([("touchpoint", touchpoint)] if touchpoint else []),
    ]
    texts_url = "/journeys/map/verbatims?" + urlencode(pairs)
    return Drill(
        persons_url="/journeys/map/persons?" + urlencode(pairs),
        texts_url=texts_url,
        texts=texts,
        themes=[
            ThemeChip(t.label, _n(page, t.count), f"{texts_url}&{urlencode([('theme', t.id)])}")
            for t in themes
        ],
    )


@dataclass(frozen=True)
class StageView:
    key: str
    name: str
    persons: str
    moved_on: str
    conversion: str
    times: str
    nps: str
    csat: str
    sentiment: str
    change: str
    drill: Drill


@dataclass(frozen=True)
class CellView:
    persons: str
    moved_share: str
    nps: str
    csat: str
    sentiment: str
    flagged: bool
    why: str
    link: FunnelLink
    drill: Drill


@dataclass(frozen=True)
class RowView:
    key: str
    name: str
    cells: list[CellView | None]


def _times(page: WebContext, column: StageColumn) -> str:
    times = column.time_to_next
    if not times.n:
        return ""
    return page.t(
        "journeys.funnel.median_p90",
        median=duration(page.locale, times.median),
        p90=duration(page.locale, times.p90),
    )


def stage_views(
    page: WebContext, found: JourneyMap, previous: JourneyMap | None, question: Question
) -> list[StageView]:
    before = {c.place.key: c for c in previous.stages} if previous else {}
    return [
        StageView(
            key=column.place.key,
            name=place_name(page, column.place, "stage"),
            persons=_n(page, column.persons),
            moved_on=_n(page, column.moved_on),
            conversion=percent(page.locale, column.conversion),
            times=_times(page, column),
            nps=estimate_words(page, column.feeling.nps, 0),
            csat=estimate_words(page, column.feeling.csat, 1),
            sentiment=estimate_words(page, column.feeling.sentiment, 2),
            change=change_words(page, column, before.get(column.place.key)) if previous else "",
            drill=drill_of(page, question, column.place.key, None, column.texts, column.themes),
        )
        for column in found.stages
    ]


def row_views(page: WebContext, found: JourneyMap, question: Question) -> list[RowView]:
    stages = list(found.stages)
    rows = []
    for touchpoint in found.touchpoints:
        cells: list[CellView | None] = []
        for i, column in enumerate(stages):
            cell = found.cells.get((column.place.key, touchpoint.key))
            if cell is None:
                cells.append(None)
                continue
            next_stage = stages[i + 1].place if i + 1 < len(stages) else None
            cells.append(
                CellView(
                    persons=_n(page, cell.persons),
                    moved_share=percent(page.locale, cell.conversion),
                    nps=estimate_words(page, cell.feeling.nps, 0),
                    csat=estimate_words(page, cell.feeling.csat, 1),
                    sentiment=estimate_words(page, cell.feeling.sentiment, 2),
                    flagged=cell.flagged,
                    why=why_flagged(page, cell, column) if cell.flagged else "",
                    link=funnel_of_cell(page, question, touchpoint, next_stage),
                    drill=drill_of(
                        page, question, cell.stage, cell.touchpoint, cell.texts, cell.themes
                    ),
                )
            )
        rows.append(RowView(touchpoint.key, place_name(page, touchpoint, "touchpoint"), cells))
    return rows


def emotion_curve(page: WebContext, found: JourneyMap) -> Markup | None:
    """The mean sentiment of each stage in the band of its 95 % interval (None: no texts)."""
    points = []
    for column in found.stages:
        s = column.feeling.sentiment
        name = place_name(page, column.place, "stage")
        points.append((name, s.estimate, s.ci_low, s.ci_high) if s else (name, None, None, None))
    if all(p[1] is None for p in points):
        return None
    words = ", ".join(
        f"{name} {_n(page, round(mean, 2))}" for name, mean, _, _ in points if mean is not None
    )
    return interval_trend_chart(
        points,
        lo=-1.0,
        hi=1.0,
        chart_id="emotion-curve",
        title=page.t("journeys.map.emotion_title"),
        desc=page.t("journeys.map.emotion_desc", words=words),
        height=220,
    )


def _is_empty(found: JourneyMap) -> bool:
    return not found.cells and not any(column.persons for column in found.stages)


# --- the pages ---------------------------------------------------------------------------------


@router.get("")
@router.get("/map")
def journey_map_page(page: Page) -> Response:
    """The journey map of the asked period (the last 30 days when it asks none)."""
    require(page.principal, "journeys:read")
    form = MapForm.of(page.request.query_params)
    form.period.fill(today_of(page))
    values: dict[str, Any] = {}
    problem, status = "", 200
    try:
        question = read_map(page, form)
        found = run_map(page, question.start, question.end)
        previous = run_map(page, *question.previous) if question.previous else None
    except REFUSALS as exc:
        problem, status = refusal(page.locale, exc), 422
    else:
        values = {
            "question": question,
            "empty": _is_empty(found),
            "stages": stage_views(page, found, previous, question),
            "rows": row_views(page, found, question),
            "curve": emotion_curve(page, found),
            "flagged": sum(1 for cell in found.cells.values() if cell.flagged),
        }
    return render(
        page.request,
        "journeys/map.html",
        page=page,
        section="journeys",
        journeys_tab="map",
        status=status,
        form=form,
        problem=problem,
        query=form.query(),
        png_name=f"journey-map-{today_of(page).isoformat()}.png",
        **{"question": None, "stages": [], "rows": [], "curve": None, **values},
    )


def _export_map(page: WebContext) -> tuple[Question, JourneyMap]:
    require(page.principal, "journeys:read")
    form = MapForm.of(page.request.query_params)
    form.period.fill(today_of(page))
    try:
        question = read_map(page, form)
    except FormProblem as exc:  # a download answers problem+json, in the user's language
        raise ValidationFailed(exc.message) from None
    return question, run_map(page, question.start, question.end)


def _download(name: str, question: Question) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{name}-{question.start}-{question.end}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


@router.get("/map.csv")
def journey_map_csv(page: Page) -> Response:
    """The grid as CSV (UTF-8 with BOM): one row per stage, then one per cell."""
    question, found = _export_map(page)

    def named(place: Place, kind: str) -> str:
        return place_name(page, place, kind)

    rows = csv_rows(found, named)
    headers = _download("journey-map", question)
    headers["Content-Disposition"] = headers["Content-Disposition"][:-1] + '.csv"'
    return StreamingResponse(
        csv_chunks(column_names(page, MAP_CSV_HEADER), rows, tz=zone(page.workspace.timezone)),
        media_type="text/csv; charset=utf-8",
        headers=headers,
    )


@router.get("/map.svg")
def journey_map_svg(page: Page) -> Response:
    """The grid drawn as a standalone SVG file (every text escaped)."""
    question, found = _export_map(page)
    svg = grid_svg(
        found,
        name=lambda place, kind: place_name(page, place, kind),
        title=page.t("journeys.map.svg_title", start=question.start, end=question.end),
        percent=lambda share: percent(page.locale, share),
        persons=lambda n: page.t("journeys.persons_n", n=_n(page, n)),
        flag=page.t("journeys.map.flag_marker"),
    )
    headers = _download("journey-map", question)
    headers["Content-Disposition"] = headers["Content-Disposition"][:-1] + '.svg"'
    return Response(svg, media_type="image/svg+xml; charset=utf-8", headers=headers)
