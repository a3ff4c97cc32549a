"""Funnel pages (/journeys/funnels): a GET form (so a funnel is a URL to share) whose answer is the
steps drawn as bars with conversion, drop-off and time between steps, the time to convert,
conversion over time, the breakdown with its worst value named, the test of a difference
between two periods or two values, and the persons behind each step
(/journeys/funnels/persons), which may be kept as a list segment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from cxloop.accounts.access import require
from cxloop.core.errors import Conflict, CxloopError, NotFound
from cxloop.core.i18n import format_number
from cxloop.core.timeutil import utcnow
from cxloop.insights.segments import describe_properties
from cxloop.insights.segments import service as segments
from cxloop.journeys import catalogue, service
from cxloop.journeys.funnels import FunnelReport
from cxloop.journeys.schemas import ChangeOut, FunnelOut, GroupOut
from cxloop.journeys.spec import FunnelSpec
from cxloop.models import Customer
from cxloop.web import errors
from cxloop.web.care.routing import PostedForm
from cxloop.web.journeys.charts import (
    duration,
    funnel_bars,
    over_time_chart,
    percent,
    time_bars_chart,
)
from cxloop.web.journeys.forms import (
    CONDITION_OPS,
    REFUSALS,
    FormProblem,
    FunnelForm,
    FunnelQuestion,
    PeriodFields,
    read_funnel,
    refusal,
    step_of,
)
from cxloop.web.rendering import redirect, render, zone
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(prefix="/journeys", include_in_schema=False, dependencies=[Depends(verify_csrf)])

PERSONS_PAGE = 50
MAX_ID = 2**63 - 1


def today_of(page: WebContext) -> date:
    """Today in the workspace's time zone (the default period ends on it)."""
    return utcnow().astimezone(zone(page.workspace.timezone)).date()


def event_names(page: WebContext) -> list[str]:
    return catalogue.event_names(page.db, workspace_id=page.workspace.id)


def funnel_link(path: str, form: FunnelForm, **extra: Any) -> str:
    """``path`` with the funnel's query string and ``extra`` (None values left out)."""
    pairs = form.query() + [(k, str(v)) for k, v in extra.items() if v is not None]
    return f"{path}?{urlencode(pairs)}"


def order_choices(page: WebContext) -> list[tuple[str, str, str]]:
    return [
        ("ordered", page.t("journeys.order.ordered"), page.t("journeys.order.ordered_help")),
        ("strict", page.t("journeys.order.strict"), page.t("journeys.order.strict_help")),
        ("unordered", page.t("journeys.order.unordered"), page.t("journeys.order.unordered_help")),
    ]


def condition_ops(page: WebContext) -> list[tuple[str, str]]:
    """The operators a step's condition offers, in the user's language."""
    return [(op, page.t(f"insights.op.{op}")) for op in CONDITION_OPS]


def step_words(page: WebContext, spec: FunnelSpec) -> list[str]:
    """Each step's conditions in words ("" for a step without any)."""
    language = "ko" if page.locale == "ko" else "en"
    return [describe_properties(step.where, language) for step in spec.steps]


def interval_choices(page: WebContext) -> list[tuple[str, str]]:
    return [
        ("day", page.t("journeys.unit.day")),
        ("week", page.t("journeys.unit.week")),
        ("month", page.t("journeys.unit.month")),
    ]


def value_label(page: WebContext, group: GroupOut) -> str:
    if group.other:
        return page.t("journeys.funnel.other_values")
    return page.t("journeys.funnel.no_value") if group.value is None else group.value


@dataclass(frozen=True)
class Worst:
    """The breakdown value that converts worst, and why it is the one named."""

    index: int
    reason: str


def worst_value(page: WebContext, out: FunnelOut) -> Worst | None:
    """The value with the lowest conversion (ties: the one with more persons), among values
    with anyone in them, when it converts below the funnel as a whole."""
    groups = [
        (i, g)
        for i, g in enumerate(out.breakdown or [])
        if not g.other and g.entered and g.conversion is not None
    ]
    if len(groups) < 2 or out.conversion is None:
        return None
    i, group = min(groups, key=lambda item: (item[1].conversion, -item[1].entered, item[0]))
    if group.conversion is None or group.conversion >= out.conversion:
        return None
    reason = page.t(
        "journeys.funnel.worst_reason",
        value=value_label(page, group),
        rate=percent(page.locale, group.conversion),
        converted=format_number(group.converted, page.locale),
        entered=format_number(group.entered, page.locale),
        overall=percent(page.locale, out.conversion),
    )
    return Worst(i, reason)


# --- comparing ---------------------------------------------------------------------------------


@dataclass
class CompareForm:
    """``compare`` = periods (``before_from``…``after_to``) or values (``a`` and ``b``)."""

    kind: str = ""
    before: PeriodFields | None = None
    after: PeriodFields | None = None
    a: str = ""
    b: str = ""

    @classmethod
    def of(cls, params: QueryParams) -> CompareForm:
        def text(name: str) -> str:
            return (params.get(name) or "")[:500]

        return cls(
            kind=text("compare"),
            before=PeriodFields(text("before_from")[:20], text("before_to")[:20]),
            after=PeriodFields(text("after_from")[:20], text("after_to")[:20]),
            a=text("a"),
            b=text("b"),
        )

    def suggest(self, period: PeriodFields) -> None:
        """Offer the funnel's period as "after" and the as long one before it as "before"."""
        assert self.before is not None and self.after is not None
        if self.kind or self.before.start or self.after.start:
            return
        try:
            start, end = date.fromisoformat(period.start), date.fromisoformat(period.end)
        except ValueError:
            return
        length = end - start + timedelta(days=1)
        self.after = PeriodFields(period.start, period.end)
        self.before = PeriodFields((start - length).isoformat(), (end - length).isoformat())


@dataclass(frozen=True)
class Comparison:
    first: str
    second: str
    change: ChangeOut | None
    sentence: str


def _points(locale: str, value: float) -> str:
    return f"{'+' if value > 0 else ''}{format_number(round(value * 100, 1), locale)}%p"


def _compare(
    page: WebContext, form: CompareForm, question: FunnelQuestion, report: FunnelReport
) -> Comparison:
    locale, today = page.locale, today_of(page)
    if form.kind == "periods":
        assert form.before is not None and form.after is not None
        periods = [form.before.read(locale, today), form.after.read(locale, today)]
        first, second = (
            service.run_funnel(
                page.db,
                workspace_id=page.workspace.id,
                spec=question.spec,
                start=start,
                end=end,
            )
            for start, end in periods
        )
        change = service.compare_periods(first, second)
        names = [page.t("journeys.cmp.period_span", start=s, end=e) for s, e in periods]
    elif form.kind == "values":
        if question.spec.breakdown is None:
            raise FormProblem(page.t("journeys.err.compare_needs_breakdown"))
        known = {g.value for g in report.breakdown}
        for value in (form.a, form.b):
            if value not in known:
                raise FormProblem(page.t("journeys.err.no_value", value=value))
        change = service.compare_values(report, form.a, form.b)
        names = [form.a, form.b]
    else:
        raise FormProblem(page.t("journeys.err.compare_kind"))
    if change is None:
        return Comparison(names[0], names[1], None, page.t("journeys.cmp.nobody"))
    out = ChangeOut.of(change)
    sentence = page.t(
        "journeys.cmp.significant" if out.significant else "journeys.cmp.not_significant",
        first=names[0],
        second=names[1],
        difference=_points(locale, out.difference),
        low=_points(locale, out.ci_low),
        high=_points(locale, out.ci_high),
        p=f"{out.p_value:.3f}" if out.p_value >= 0.001 else "< 0.001",
    )
    if change.too_few:
        sentence += " " + page.t("journeys.cmp.too_few")
    return Comparison(names[0], names[1], out, sentence)


# --- the funnel page ---------------------------------------------------------------------------


def _bucket_labels(out: FunnelOut, interval: str) -> list[str]:
    if interval == "month":
        return [o.start.strftime("%Y-%m") for o in out.over_time or []]
    return [o.start.strftime("%m-%d") for o in out.over_time or []]


@router.get("/funnels")
def funnel_page(page: Page) -> Response:
    """The funnel the query asks for (the form alone when it asks none)."""
    require(page.principal, "journeys:read")
    params = page.request.query_params
    form = FunnelForm.of(params)
    form.period.fill(today_of(page))
    compare_form = CompareForm.of(params)
    compare_form.suggest(form.period)
    values: dict[str, Any] = {"step_words": []}
    problem, compare_problem, status = "", "", 200
    if "event" in params:
        try:
            question = read_funnel(form, locale=page.locale, today=today_of(page))
            report = service.run_funnel(
                page.db,
                workspace_id=page.workspace.id,
                spec=question.spec,
                start=question.start,
                end=question.end,
                interval=question.interval,
            )
        except REFUSALS as exc:
            problem, status = refusal(page.locale, exc), 422
        else:
            out = FunnelOut.of(
                report, service.workspace_zone(page.db, workspace_id=page.workspace.id)
            )
            values = {
                "out": out,
                "bars": funnel_bars(report, locale=page.locale),
                "ttc": time_bars_chart(report, locale=page.locale),
                "over_time": over_time_chart(
                    report, locale=page.locale, labels=_bucket_labels(out, question.interval)
                ),
                "worst": worst_value(page, out),
                "step_words": step_words(page, question.spec),
            }
            if compare_form.kind:
                try:
                    values["comparison"] = _compare(page, compare_form, question, report)
                except REFUSALS as exc:
                    compare_problem, status = refusal(page.locale, exc), 422
    return render(
        page.request,
        "journeys/funnels.html",
        page=page,
        section="journeys",
        journeys_tab="funnels",
        status=status,
        form=form,
        compare_form=compare_form,
        problem=problem,
        compare_problem=compare_problem,
        names=event_names(page),
        orders=order_choices(page),
        intervals=interval_choices(page),
        condition_ops=condition_ops(page),
        link_to=lambda path, **extra: funnel_link(path, form, **extra),
        duration=lambda seconds: duration(page.locale, seconds),
        percent=lambda share: percent(page.locale, share),
        value_label=lambda group: value_label(page, group),
        **{"out": None, "comparison": None, "worst": None, **values},
    )


# --- the persons behind a step -----------------------------------------------------------------


@dataclass
class SegmentFields:
    """The "save as a segment" form of the persons page as typed, and why it was refused."""

    name: str = ""
    problem: str = ""


def _persons_page(
    page: WebContext,
    params: QueryParams,
    *,
    segment: SegmentFields | None = None,
    status: int = 200,
) -> Response:
    """The persons page for the funnel, step, drop-off and value in ``params``."""
    form = FunnelForm.of(params)
    form.period.fill(today_of(page))
    dropped = params.get("dropped") == "1"
    value = (params.get("value") or "")[:500] or None
    after_text = (params.get("after") or "")[:20]
    after = int(after_text) if after_text.isdigit() and int(after_text) <= MAX_ID else None
    people: list[Customer] = []
    problem, step, next_after, where = "", None, None, ""
    try:
        question = read_funnel(form, locale=page.locale, today=today_of(page))
        step = step_of(
            page.locale, params.get("step") or "", question.spec, low=2 if dropped else 1
        )
        ids = service.funnel_people(
            page.db,
            workspace_id=page.workspace.id,
            spec=question.spec,
            start=question.start,
            end=question.end,
            step=step,
            dropped=dropped,
            value=value,
            after=after,
            limit=PERSONS_PAGE,
        )
        people = catalogue.customers_by_id(page.db, workspace_id=page.workspace.id, ids=ids)
        next_after = ids[-1] if len(ids) == PERSONS_PAGE else None
        where = "; ".join(
            page.t("journeys.cond.step_words", n=n, words=words)
            for n, words in enumerate(step_words(page, question.spec), 1)
            if words
        )
    except REFUSALS as exc:
        problem, status = refusal(page.locale, exc), 422
    label = form.events[step - 1] if step is not None else ""
    heading = (
        page.t("journeys.persons.dropped_title", n=step or "", step=label)
        if dropped
        else page.t("journeys.persons.reached_title", n=step or "", step=label)
    )
    which = {"step": step, "dropped": "1" if dropped else None, "value": value}
    asked = [(k, str(v)) for k, v in which.items() if v is not None]
    if segment is None:
        suggested = heading if value is None else f"{heading} · {form.by} = {value}"
        segment = SegmentFields(name=suggested[: segments.MAX_NAME])
    return render(
        page.request,
        "journeys/persons.html",
        page=page,
        section="journeys",
        journeys_tab="funnels",
        status=status,
        problem=problem,
        heading=heading,
        where=where,
        value=value,
        by=form.by,
        people=people,
        after=after,
        funnel_url=funnel_link("/journeys/funnels", form),
        first_url=funnel_link("/journeys/funnels/persons", form, **which),
        next_url=funnel_link("/journeys/funnels/persons", form, **which, after=next_after)
        if next_after is not None
        else "",
        segment=segment,
        segment_pairs=form.query() + asked,
        max_name=segments.MAX_NAME,
    )


@router.get("/funnels/persons")
def funnel_persons_page(page: Page) -> Response:
    """The customers who reached a step of the funnel (or dropped off just before it), a page
    at a time in id order, each linking to their customer page."""
    require(page.principal, "journeys:read")
    return _persons_page(page, page.request.query_params)


def _segment_refusal(page: WebContext, exc: Exception) -> str:
    """Why the persons were not saved as a segment, in the user's language."""
    if isinstance(exc, CxloopError):
        detail = exc.detail
        if detail.startswith("More than"):
            return page.t("journeys_segment.err_too_many", n=f"{segments.MAX_LIST_MEMBERS:,}")
        if detail.startswith("A workspace keeps at most"):
            return page.t("journeys_segment.err_full", n=segments.MAX_SEGMENTS)
        if detail == "No such segment.":
            return page.t("journeys_segment.err_no_segment")
        return errors.describe(page.locale, exc)
    return refusal(page.locale, exc)


@router.post("/funnels/persons/segment")
def save_persons_segment(page: Page, form: PostedForm) -> Response:
    """Keep the persons of the page (every page of them) as a list segment, then show it; a
    refusal shows the persons page again with the name as typed and the reason."""
    require(page.principal, "journeys:read")
    require(page.principal, "insights:write")
    params = QueryParams([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    name = str(form.get("name") or "")[: segments.MAX_NAME + 1]
    dropped = params.get("dropped") == "1"
    try:
        if not name.strip():
            raise FormProblem(page.t("journeys_segment.err_name"))
        if len(name.strip()) > segments.MAX_NAME:
            raise FormProblem(page.t("journeys_segment.err_name_long", n=segments.MAX_NAME))
        question = read_funnel(FunnelForm.of(params), locale=page.locale, today=today_of(page))
        step = step_of(
            page.locale, params.get("step") or "", question.spec, low=2 if dropped else 1
        )
        with page.db.begin_nested():
            saved = service.save_funnel_segment(
                page.db,
                principal=page.principal,
                spec=question.spec,
                start=question.start,
                end=question.end,
                step=step,
                dropped=dropped,
                value=(params.get("value") or "")[:500] or None,
                name=name,
            )
    except (*REFUSALS, Conflict, NotFound) as exc:
        status = 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 422
        typed = SegmentFields(name=name, problem=_segment_refusal(page, exc))
        return _persons_page(page, params, segment=typed, status=status)
    page.flash("success", "journeys_segment.saved", name=saved.name, n=f"{saved.members:,}")
    return redirect(f"/insights/segments/{saved.id}")
