"""The persons and the texts behind a stage or a cell of the journey map: its customers a page
at a time, all of them or only those who moved on (or did not), each linking to their customer
page (/journeys/map/persons); and what they wrote there, newest first, with its sentiment and
themes, all of it or one theme's (/journeys/map/verbatims). The totals shown are the map's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from cxloop.accounts.access import require
from cxloop.core.errors import ValidationFailed
from cxloop.core.i18n import format_number
from cxloop.journeys import catalogue, map_drill
from cxloop.journeys.map_drill import OUTCOMES, Spot
from cxloop.models import Customer
from cxloop.web.journeys.forms import REFUSALS, FormProblem, refusal
from cxloop.web.journeys.funnels import today_of
from cxloop.web.journeys.map import MapForm, place_name, read_map
from cxloop.web.rendering import render
from cxloop.web.session import Page, WebContext, verify_csrf
from cxloop.web.text.analytics import SENTIMENT_NAMES

router = APIRouter(prefix="/journeys", include_in_schema=False, dependencies=[Depends(verify_csrf)])

PERSONS_PAGE = 50
TEXTS_PAGE = 20
MAX_ID = 2**63 - 1
MAX_THEME = 2**31 - 1


@dataclass
class DrillForm:
    """The map's period and the spot: ``stage`` and, for a cell, ``touchpoint`` (keys)."""

    map: MapForm = field(default_factory=MapForm)
    stage: str = ""
    touchpoint: str = ""

    @classmethod
    def of(cls, params: QueryParams) -> DrillForm:
        return cls(
            map=MapForm.of(params),
            stage=(params.get("stage") or "")[:40],
            touchpoint=(params.get("touchpoint") or "")[:40],
        )

    def link(self, path: str, **extra: Any) -> str:
        pairs = [
            ("from", self.map.period.start),
            ("to", self.map.period.end),
            ("stage", self.stage),
            *([("touchpoint", self.touchpoint)] if self.touchpoint else []),
            *((k, str(v)) for k, v in extra.items() if v not in (None, "")),
        ]
        return f"{path}?{urlencode(pairs)}"

    def map_url(self) -> str:
        return "/journeys/map?" + urlencode(
            [("from", self.map.period.start), ("to", self.map.period.end)]
        )


def spot_words(page: WebContext, spot: Spot) -> str:
    """ "'Consideration' stage" or "'Checkout' at the 'Consideration' stage"."""
    stage = place_name(page, spot.stage, "stage")
    if spot.touchpoint is None:
        return page.t("journeys_map.spot.stage", stage=stage)
    return page.t(
        "journeys_map.spot.cell",
        stage=stage,
        touchpoint=place_name(page, spot.touchpoint, "touchpoint"),
    )


def _refused(page: WebContext, exc: Exception) -> str:
    """Why the question was refused, a wrong stage, touchpoint or theme in the catalog's words."""
    if isinstance(exc, ValidationFailed):
        said = {
            "stage": page.t("journeys_map.bad.stage"),
            "touchpoint": page.t("journeys_map.bad.touchpoint"),
            "theme": page.t("journeys_map.bad.theme"),
            "outcome": page.t("journeys_map.bad.outcome"),
        }
        for error in exc.errors:
            if str(error.get("field", "")) in said:
                return said[str(error["field"])]
    return refusal(page.locale, exc)


def outcome_labels(page: WebContext, found: map_drill.PersonsPage | None) -> dict[str, str]:
    """ "All 6", "Moved on 5", "Did not move on 1"."""
    if found is None:
        return {}
    return {
        "all": page.t("journeys_map.outcome.all", n=_number(page, found.persons)),
        "moved_on": page.t("journeys_map.outcome.moved_on", n=_number(page, found.moved_on)),
        "dropped": page.t("journeys_map.outcome.dropped", n=_number(page, found.dropped)),
    }


def _number(page: WebContext, value: int) -> str:
    return format_number(value, page.locale)


def _read(page: WebContext, form: DrillForm) -> tuple[date, date]:
    """The asked local days, or a refusal (no stage is a refusal too)."""
    if not form.stage:
        raise FormProblem(page.t("journeys_map.bad.stage"))
    question = read_map(page, form.map)
    return question.start, question.end


def _whole(text: str, high: int) -> int | None:
    text = text[:20]
    return int(text) if text.isdigit() and int(text) <= high else None


def _drill_page(
    page: WebContext,
    template: str,
    title_key: str,
    *,
    form: DrillForm,
    found: map_drill.PersonsPage | map_drill.TextsPage | None,
    period: tuple[date, date] | None,
    problem: str,
    status: int,
    **values: Any,
) -> Response:
    """A drill-down page: its title names the spot; it links back to the map and across to the
    spot's other list."""
    return render(
        page.request,
        template,
        page=page,
        section="journeys",
        journeys_tab="map",
        status=status,
        problem=problem,
        heading=page.t(title_key, spot=spot_words(page, found.spot))
        if found
        else page.t("journeys.map.title"),
        found=found,
        period=period,
        map_url=form.map_url(),
        persons_url=form.link("/journeys/map/persons"),
        texts_url=form.link("/journeys/map/verbatims"),
        **values,
    )


@router.get("/map/persons")
def map_persons_page(page: Page) -> Response:
    """The customers behind a stage or cell of the map, a page at a time in id order."""
    require(page.principal, "journeys:read")
    params = page.request.query_params
    form = DrillForm.of(params)
    form.map.period.fill(today_of(page))
    outcome = (params.get("outcome") or "all")[:20]
    after = _whole(params.get("after") or "", MAX_ID)
    rows: list[tuple[Customer, bool]] = []
    found: map_drill.PersonsPage | None = None
    problem, status, period = "", 200, None
    try:
        period = start, end = _read(page, form)
        found = map_drill.map_persons(
            page.db,
            workspace_id=page.workspace.id,
            start=start,
            end=end,
            stage=form.stage,
            touchpoint=form.touchpoint or None,
            outcome=outcome,  # type: ignore[arg-type]  # checked by map_persons
            after=after,
            limit=PERSONS_PAGE,
        )
        moved = dict(found.ids)
        people = catalogue.customers_by_id(page.db, workspace_id=page.workspace.id, ids=list(moved))
        rows = [(customer, moved[customer.id]) for customer in people]
    except REFUSALS as exc:
        problem, status = _refused(page, exc), 422
    labels = outcome_labels(page, found)
    return _drill_page(
        page,
        "journeys/map_persons.html",
        "journeys_map.drill.persons_title",
        form=form,
        found=found,
        period=period,
        problem=problem,
        status=status,
        rows=rows,
        after=after,
        outcome=outcome,
        outcomes=[
            (o, labels.get(o, ""), form.link("/journeys/map/persons", outcome=o)) for o in OUTCOMES
        ],
        first_url=form.link("/journeys/map/persons", outcome=outcome),
        next_url=form.link("/journeys/map/persons", outcome=outcome, after=found.next_after)
        if found is not None and found.next_after is not None
        else "",
    )


@router.get("/map/verbatims")
def map_verbatims_page(page: Page) -> Response:
    """What customers wrote at a stage or cell of the map, newest first (one theme's, when
    asked), each with its date, writer, sentiment and themes."""
    require(page.principal, "journeys:read")
    params = page.request.query_params
    form = DrillForm.of(params)
    form.map.period.fill(today_of(page))
    theme_text = (params.get("theme") or "")[:20]
    theme = _whole(theme_text, MAX_THEME)
    cursor = (params.get("cursor") or "")[:500]
    found: map_drill.TextsPage | None = None
    problem, status, period = "", 200, None
    try:
        if theme_text and theme is None:
            raise ValidationFailed("bad theme", errors=[{"field": "theme"}])
        period = start, end = _read(page, form)
        found = map_drill.map_verbatims(
            page.db,
            workspace_id=page.workspace.id,
            start=start,
            end=end,
            stage=form.stage,
            touchpoint=form.touchpoint or None,
            theme=theme,
            cursor=cursor or None,
            limit=TEXTS_PAGE,
        )
    except REFUSALS as exc:
        problem, status = _refused(page, exc), 422
    url = "/journeys/map/verbatims"
    return _drill_page(
        page,
        "journeys/map_verbatims.html",
        "journeys_map.drill.texts_title",
        form=form,
        found=found,
        period=period,
        problem=problem,
        status=status,
        cursor=cursor,
        sentiment_names={k: page.t(v) for k, v in SENTIMENT_NAMES.items()},
        every_url=form.link(url),
        theme_url=lambda theme_id: form.link(url, theme=theme_id),
        first_url=form.link(url, theme=theme),
        next_url=form.link(url, theme=theme, cursor=found.next_cursor)
        if found is not None and found.next_cursor
        else "",
    )
