"""The journeys pages' GET forms: the fields as typed (so a refused question is shown again as it
was, and a question is a shareable URL), read into the engine's specs with a clear message in
the user's language for anything the engine would refuse."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, cast, get_args

from pydantic import ValidationError
from starlette.datastructures import QueryParams

from cxloop.core.errors import ValidationFailed
from cxloop.core.i18n import gettext
from cxloop.insights.segments.language import (
    MAX_FILTERS,
    MAX_LIST,
    KeyPath,
    PropertyFilter,
    ValueOp,
)
from cxloop.insights.segments.language import MAX_TEXT as MAX_VALUE_TEXT
from cxloop.journeys.paths import MAX_RULES, CleaningRule, PathSpec
from cxloop.journeys.paths import MAX_STEPS as MAX_PATH_STEPS
from cxloop.journeys.periods import UNITS, Unit
from cxloop.journeys.retention import MAX_PERIODS, RetentionSpec
from cxloop.journeys.service import DEFAULT_DAYS, MAX_DAYS
from cxloop.journeys.spec import (
    DEFAULT_WINDOW_DAYS,
    MAX_STEPS,
    MAX_WINDOW_DAYS,
    MIN_STEPS,
    FunnelBreakdown,
    FunnelOrder,
    FunnelSpec,
    FunnelStep,
)
from cxloop.web import errors

ORDERS: tuple[str, ...] = get_args(FunnelOrder)
# The operators a step's condition offers, in the order the page lists them.
CONDITION_OPS: tuple[str, ...] = get_args(ValueOp)
_ORDERING_OPS = ("gt", "gte", "lt", "lte")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
MAX_TEXT = 200
MAX_PATH_HOURS = 24 * 31
MAX_CLEANING_TEXT = 20_000
_KEY = re.compile(str(KeyPath.__metadata__[0].pattern))  # type: ignore[attr-defined]


class FormProblem(Exception):
    """A question the page cannot ask, with the reason in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


REFUSALS = (FormProblem, ValidationFailed)  # what a page answers with the form and a message


def refusal(locale: str, exc: Exception) -> str:
    """Why the question was refused, in the user's language (the engine's own words, when
    they are not known to the catalog, as they are)."""
    if isinstance(exc, FormProblem):
        return exc.message
    assert isinstance(exc, ValidationFailed)
    return errors.describe(locale, exc)


def _one(params: QueryParams, name: str, limit: int = MAX_TEXT + 1) -> str:
    return (params.get(name) or "")[:limit]


def _number(locale: str, text: str, *, label: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low < value <= high:  # NaN fails too
        raise FormProblem(
            gettext(locale, "journeys.err.number", field=label, low=f"{low:g}", high=f"{high:g}")
        )
    return value


def _whole(locale: str, text: str, *, label: str, low: int, high: int) -> int:
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise FormProblem(gettext(locale, "journeys.err.whole", field=label, low=low, high=high))
    return int(text)


def _day(locale: str, text: str, label: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise FormProblem(gettext(locale, "journeys.err.date", field=label, value=text)) from None


@dataclass
class PeriodFields:
    """From and to, whole local days; blank means the last 30 days."""

    start: str = ""
    end: str = ""

    def fill(self, today: date) -> None:
        if not self.start and not self.end:
            self.end = today.isoformat()
            self.start = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()

    def read(self, locale: str, today: date) -> tuple[date, date]:
        end = _day(locale, self.end, gettext(locale, "journeys.form.to")) if self.end else today
        start = (
            _day(locale, self.start, gettext(locale, "journeys.form.from"))
            if self.start
            else end - timedelta(days=DEFAULT_DAYS - 1)
        )
        if end < start:
            raise FormProblem(gettext(locale, "journeys.err.backwards"))
        if (end - start).days + 1 > MAX_DAYS:
            raise FormProblem(gettext(locale, "journeys.err.too_long", n=MAX_DAYS))
        return start, end


def _spec_problem(locale: str, exc: ValidationError) -> FormProblem:
    """The engine's own refusal (rare once the fields were checked), in the user's language
    with its detail."""
    detail = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())
    return FormProblem(gettext(locale, "journeys.err.spec", detail=detail[:400]))


# --- funnels -----------------------------------------------------------------------------------


@dataclass
class ConditionFields:
    """One property condition of a step as typed: ``s<n>_key``, ``s<n>_op`` and ``s<n>_value``
    (repeated per condition of step ``n``)."""

    key: str = ""
    op: str = "eq"
    value: str = ""

    @property
    def typed(self) -> bool:
        return bool(self.key.strip() or self.value.strip())


def _conditions(params: QueryParams, slot: int) -> list[ConditionFields]:
    """The conditions typed for step input ``slot`` (rows left blank are no condition)."""
    keys = params.getlist(f"s{slot}_key")[: MAX_FILTERS + 5]
    ops = params.getlist(f"s{slot}_op")
    values = params.getlist(f"s{slot}_value")
    rows = [
        ConditionFields(
            key=key[: MAX_TEXT + 1].strip(),
            op=(ops[i] if i < len(ops) else "eq")[:20] or "eq",
            value=(values[i] if i < len(values) else "")[: MAX_VALUE_TEXT * 4 + 1],
        )
        for i, key in enumerate(keys)
    ]
    return [row for row in rows if row.typed]


@dataclass
class FunnelForm:
    """A funnel's fields: ``event`` once per step, each step's conditions (``s<n>_key``,
    ``s<n>_op``, ``s<n>_value`` for step ``n``), ``window`` (days), ``order``, ``by`` (the
    breakdown property), ``from``/``to`` and ``interval``."""

    events: list[str] = field(default_factory=list)
    window: str = str(DEFAULT_WINDOW_DAYS)
    order: str = "ordered"
    by: str = ""
    period: PeriodFields = field(default_factory=PeriodFields)
    interval: str = "day"
    # The conditions of each step, parallel to ``events``.
    where: list[list[ConditionFields]] = field(default_factory=list)

    @classmethod
    def of(cls, params: QueryParams) -> FunnelForm:
        typed = [e[: MAX_TEXT + 1].strip() for e in params.getlist("event")[: MAX_STEPS + 5]]
        events: list[str] = []
        where: list[list[ConditionFields]] = []
        for slot, event in enumerate(typed, 1):
            conditions = _conditions(params, slot)
            # A blank step input is skipped, unless conditions were typed for it: then it
            # stays, to be refused and shown again as it was.
            if event or conditions:
                events.append(event)
                where.append(conditions)
        return cls(
            events=events,
            window=_one(params, "window", 20) or str(DEFAULT_WINDOW_DAYS),
            order=_one(params, "order", 20) or "ordered",
            by=_one(params, "by").strip(),
            period=PeriodFields(_one(params, "from", 20), _one(params, "to", 20)),
            interval=_one(params, "interval", 20) or "day",
            where=where,
        )

    @property
    def asked(self) -> bool:
        return bool(self.events)

    def conditions_of(self, index: int) -> list[ConditionFields]:
        """The conditions of step ``index`` (0-based)."""
        return self.where[index] if index < len(self.where) else []

    def slots(self) -> list[tuple[str, list[ConditionFields]]]:
        """The step inputs to show, each with its conditions: the typed steps and a few empty
        ones (at most 20)."""
        shown = max(len(self.events) + 1, 4)
        typed = [(e, self.conditions_of(i)) for i, e in enumerate(self.events)]
        blank: list[tuple[str, list[ConditionFields]]] = [("", []) for _ in range(shown)]
        return (typed + blank)[: min(shown, MAX_STEPS)]

    def query(self) -> list[tuple[str, str]]:
        """The funnel's own query string, which the persons and drop-off pages extend."""
        pairs = [("event", e) for e in self.events]
        for n, _ in enumerate(self.events, 1):
            for condition in self.conditions_of(n - 1):
                pairs += [
                    (f"s{n}_key", condition.key),
                    (f"s{n}_op", condition.op),
                    (f"s{n}_value", condition.value),
                ]
        pairs += [("window", self.window), ("order", self.order)]
        if self.by:
            pairs.append(("by", self.by))
        pairs += [("from", self.period.start), ("to", self.period.end)]
        pairs.append(("interval", self.interval))
        return pairs


def typed_value(text: str) -> str | int | float | bool:
    """A condition's value as the segment builder reads it: ``mobile`` stays text, ``10`` is a
    number, ``true``/``false`` booleans, and ``"10"`` in double quotes stays text."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if value in ("true", "false"):
        return value == "true"
    if _NUMBER.match(value):
        number = float(value)
        return int(number) if "." not in value and abs(number) < 2**53 else number
    return value


def value_text(value: object) -> str:
    """A condition's value as it is typed (``typed_value`` reads it back the same): text that
    would read as a number or true/false is quoted, a list is joined with commas."""
    if isinstance(value, list):
        return ", ".join(value_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format(value, "g") if isinstance(value, float) else str(value)
    text = "" if value is None else str(value)
    return f'"{text}"' if typed_value(text) != text else text


def condition_pairs(steps: Sequence[FunnelStep]) -> list[tuple[str, str]]:
    """The steps' conditions as the page's query (``s<n>_key``, ``s<n>_op``, ``s<n>_value``)."""
    pairs: list[tuple[str, str]] = []
    for n, step in enumerate(steps, 1):
        for condition in step.where:
            pairs += [
                (f"s{n}_key", condition.key),
                (f"s{n}_op", condition.op),
                (f"s{n}_value", "" if condition.op == "exists" else value_text(condition.value)),
            ]
    return pairs


def _condition(locale: str, step: int, number: int, typed: ConditionFields) -> PropertyFilter:
    """One typed condition of step ``step`` as the spec's property filter, or a FormProblem
    naming the step and the condition."""

    def problem(key: str, **values: object) -> FormProblem:
        where = gettext(locale, "journeys.cond.where", step=step, n=number)
        return FormProblem(f"{where}: {gettext(locale, key, **values)}")

    key = typed.key.strip()
    if not key:
        raise problem("journeys.cond.err_key_missing")
    if len(key) > MAX_TEXT or not _KEY.match(key):
        raise problem("journeys.cond.err_key", value=key[:MAX_TEXT])
    if typed.op not in CONDITION_OPS:
        raise problem("journeys.err.choice", value=typed.op)
    value: object = None
    if typed.op == "in":
        items = [part.strip() for part in typed.value.split(",")]
        if not typed.value.strip() or any(not item for item in items):
            raise problem("journeys.cond.err_list")
        if len(items) > MAX_LIST:
            raise problem("journeys.cond.err_list_long", n=MAX_LIST)
        listed = [typed_value(item) for item in items]
        if any(isinstance(v, bool) for v in listed):
            raise problem("journeys.cond.err_list_bool")
        value = listed
    elif typed.op != "exists":  # exists takes no value: whatever was typed is not asked
        if not typed.value.strip():
            raise problem("journeys.cond.err_value_missing")
        value = typed_value(typed.value)
        if isinstance(value, bool) and typed.op in (*_ORDERING_OPS, "contains"):
            raise problem("journeys.cond.err_bool", op=gettext(locale, f"insights.op.{typed.op}"))
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(v, str) and len(v) > MAX_VALUE_TEXT for v in texts):
        raise problem("journeys.cond.err_value_long", n=MAX_VALUE_TEXT)
    try:
        return PropertyFilter(key=key, op=cast(ValueOp, typed.op), value=value)
    except ValidationError as exc:
        raise _spec_problem(locale, exc) from None


def read_steps(form: FunnelForm, *, locale: str) -> list[FunnelStep]:
    """The steps the form asks for, with their conditions, or a FormProblem saying what to
    fix."""
    steps = []
    for index, event in enumerate(form.events):
        conditions = form.conditions_of(index)
        if not event:
            raise FormProblem(gettext(locale, "journeys.cond.err_no_event", step=index + 1))
        if len(conditions) > MAX_FILTERS:
            raise FormProblem(
                gettext(locale, "journeys.cond.err_too_many", step=index + 1, n=MAX_FILTERS)
            )
        where = [
            _condition(locale, index + 1, number, typed)
            for number, typed in enumerate(conditions, 1)
        ]
        steps.append(FunnelStep(event=event, where=where))
    return steps


@dataclass(frozen=True)
class FunnelQuestion:
    spec: FunnelSpec
    start: date
    end: date
    interval: Unit


def read_funnel(form: FunnelForm, *, locale: str, today: date) -> FunnelQuestion:
    """The funnel the form asks for, or a FormProblem saying what to fix."""
    if not MIN_STEPS <= len(form.events) <= MAX_STEPS:
        raise FormProblem(
            gettext(locale, "journeys.err.steps", low=MIN_STEPS, high=MAX_STEPS, n=len(form.events))
        )
    if any(len(e) > MAX_TEXT for e in form.events):
        raise FormProblem(gettext(locale, "journeys.err.long_name", n=MAX_TEXT))
    steps = read_steps(form, locale=locale)
    window = _number(
        locale,
        form.window,
        label=gettext(locale, "journeys.form.window"),
        low=0,
        high=MAX_WINDOW_DAYS,
    )
    if form.order not in ORDERS:
        raise FormProblem(gettext(locale, "journeys.err.choice", value=form.order))
    if form.order == "unordered" and len(set(form.events)) != len(form.events):
        raise FormProblem(gettext(locale, "journeys.err.unordered_twice"))
    if form.by and not _KEY.match(form.by):
        raise FormProblem(gettext(locale, "journeys.err.property", value=form.by))
    if form.interval not in UNITS:
        raise FormProblem(gettext(locale, "journeys.err.choice", value=form.interval))
    start, end = form.period.read(locale, today)
    try:
        spec = FunnelSpec(
            steps=steps,
            window_days=window,
            order=cast(FunnelOrder, form.order),  # checked against ORDERS above
            breakdown=FunnelBreakdown(key=form.by) if form.by else None,
        )
    except ValidationError as exc:
        raise _spec_problem(locale, exc) from None
    return FunnelQuestion(spec, start, end, form.interval)


def step_of(locale: str, text: str, spec: FunnelSpec, *, low: int = 1) -> int:
    """A step number of the funnel (``low`` is 2 where something drops off before it)."""
    return _whole(
        locale,
        text,
        label=gettext(locale, "journeys.form.step_number"),
        low=low,
        high=len(spec.steps),
    )


# --- paths -------------------------------------------------------------------------------------


@dataclass
class PathFields:
    """How far to follow the paths: ``steps``, ``hours`` and the cleaning rules (``clean``,
    one ``regex => name`` a line)."""

    steps: str = "5"
    hours: str = "24"
    clean: str = ""

    @classmethod
    def of(cls, params: QueryParams) -> PathFields:
        return cls(
            steps=_one(params, "steps", 20) or "5",
            hours=_one(params, "hours", 20) or "24",
            clean=_one(params, "clean", MAX_CLEANING_TEXT),
        )

    def query(self) -> list[tuple[str, str]]:
        pairs = [("steps", self.steps), ("hours", self.hours)]
        return pairs + ([("clean", self.clean)] if self.clean.strip() else [])

    def read(self, locale: str) -> tuple[int, float, list[CleaningRule]]:
        steps = _whole(
            locale,
            self.steps,
            label=gettext(locale, "journeys.paths.steps"),
            low=1,
            high=MAX_PATH_STEPS,
        )
        hours = _number(
            locale,
            self.hours,
            label=gettext(locale, "journeys.paths.hours"),
            low=0,
            high=MAX_PATH_HOURS,
        )
        return steps, hours, cleaning_rules(locale, self.clean.splitlines())


def cleaning_rules(locale: str, lines: Iterable[str]) -> list[CleaningRule]:
    """``regex => name`` lines (blank lines skipped) as cleaning rules."""
    rules = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        pattern, arrow, name = line.partition("=>")
        pattern, name = pattern.strip(), name.strip()
        if not arrow or not pattern or not name:
            raise FormProblem(gettext(locale, "journeys.err.rule_line", line=number))
        if len(pattern) > 200 or len(name) > 120:
            raise FormProblem(gettext(locale, "journeys.err.rule_long", line=number))
        try:  # RE2 syntax, which runs in linear time whatever the pattern
            rules.append(CleaningRule(pattern=pattern, name=name))
        except ValidationError as exc:
            error = str(exc.errors()[0].get("msg", "")).removeprefix("Value error, ")
            raise FormProblem(
                gettext(locale, "journeys.err.regex", line=number, error=error)
            ) from None
    if len(rules) > MAX_RULES:
        raise FormProblem(gettext(locale, "journeys.err.rules", n=MAX_RULES))
    return rules


@dataclass
class PathForm:
    """The paths page: an ``event``, ``direction`` (after or before), the path fields and the
    period."""

    event: str = ""
    direction: str = "after"
    fields: PathFields = field(default_factory=PathFields)
    period: PeriodFields = field(default_factory=PeriodFields)

    @classmethod
    def of(cls, params: QueryParams) -> PathForm:
        return cls(
            event=_one(params, "event").strip(),
            direction=_one(params, "direction", 20) or "after",
            fields=PathFields.of(params),
            period=PeriodFields(_one(params, "from", 20), _one(params, "to", 20)),
        )


@dataclass(frozen=True)
class PathQuestion:
    spec: PathSpec
    start: date
    end: date


def read_paths(form: PathForm, *, locale: str, today: date) -> PathQuestion:
    if not form.event or len(form.event) > MAX_TEXT:
        raise FormProblem(gettext(locale, "journeys.err.event", n=MAX_TEXT))
    if form.direction not in ("after", "before"):
        raise FormProblem(gettext(locale, "journeys.err.choice", value=form.direction))
    steps, hours, rules = form.fields.read(locale)
    start, end = form.period.read(locale, today)
    try:
        spec = PathSpec(
            event=form.event,
            direction=cast(Literal["after", "before"], form.direction),  # checked above
            steps=steps,
            window_hours=hours,
            cleaning=rules,
        )
    except ValidationError as exc:
        raise _spec_problem(locale, exc) from None
    return PathQuestion(spec, start, end)


# --- retention ---------------------------------------------------------------------------------


@dataclass
class RetentionForm:
    """``start_event``, ``return_event`` (blank: any), ``period``, ``periods``, ``cohorts``,
    ``mode`` (bounded or onward) and ``from`` (a day in the first cohort; blank: the last)."""

    start_event: str = ""
    return_event: str = ""
    period: str = "week"
    periods: str = "8"
    cohorts: str = "8"
    mode: str = "bounded"
    start: str = ""

    @classmethod
    def of(cls, params: QueryParams) -> RetentionForm:
        return cls(
            start_event=_one(params, "start_event").strip(),
            return_event=_one(params, "return_event").strip(),
            period=_one(params, "period", 20) or "week",
            periods=_one(params, "periods", 20) or "8",
            cohorts=_one(params, "cohorts", 20) or "8",
            mode=_one(params, "mode", 20) or "bounded",
            start=_one(params, "from", 20),
        )


@dataclass(frozen=True)
class RetentionQuestion:
    spec: RetentionSpec
    start: date | None


def read_retention(form: RetentionForm, *, locale: str) -> RetentionQuestion:
    if not form.start_event or len(form.start_event) > MAX_TEXT:
        raise FormProblem(gettext(locale, "journeys.err.event", n=MAX_TEXT))
    if len(form.return_event) > MAX_TEXT:
        raise FormProblem(gettext(locale, "journeys.err.long_name", n=MAX_TEXT))
    for value, allowed in ((form.period, UNITS), (form.mode, ("bounded", "onward"))):
        if value not in allowed:
            raise FormProblem(gettext(locale, "journeys.err.choice", value=value))
    limit = MAX_PERIODS[form.period]
    periods = _whole(
        locale, form.periods, label=gettext(locale, "journeys.ret.periods"), low=1, high=limit
    )
    cohorts = _whole(
        locale, form.cohorts, label=gettext(locale, "journeys.ret.cohorts"), low=1, high=limit
    )
    start = _day(locale, form.start, gettext(locale, "journeys.ret.first")) if form.start else None
    try:
        spec = RetentionSpec(
            start_event=form.start_event,
            return_event=form.return_event or None,
            period=form.period,
            periods=periods,
            cohorts=cohorts,
            bounded=form.mode == "bounded",
        )
    except ValidationError as exc:
        raise _spec_problem(locale, exc) from None
    return RetentionQuestion(spec, start)
