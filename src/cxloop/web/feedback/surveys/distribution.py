"""A survey's distribution settings: channels, the event that triggers it with its filters,
delay, sampling, expiry, reminders and the public link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import utcnow
from cxloop.feedback.distribution import service as distribution_service
from cxloop.feedback.distribution import triggers
from cxloop.feedback.settings import MAX_DELAY_MINUTES, parse_distribution
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Survey
from cxloop.web import errors
from cxloop.web.feedback.surveys.shared import (
    OPERATORS,
    PostedForm,
    _field,
    _load,
    _number,
    _value_text,
)
from cxloop.web.rendering import redirect, render
from cxloop.web.session import Page, WebContext, settings_of, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

CHANNELS = ("email", "widget", "link")
DELAY_UNITS = {"minutes": 1, "hours": 60, "days": 1440}
EXTRA_FILTER_ROWS = 2
COUNTS_DAYS = 30  # the invitations the page counts: those made in the last 30 days


def public_url(request: Request, page: WebContext, survey: Survey) -> str:
    base = settings_of(request).public_url.rstrip("/")
    return f"{base}/p/{page.workspace.slug}/{survey.key}"


# --- distribution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyChoice:
    """A property the filter can name, in words: ``products → 1번째 → category (예: 뷰티)``."""

    path: str
    label: str


def property_words(page: WebContext, path: str, example: Any = None) -> str:
    """A dotted path in the reader's words, with an example value when there is one."""
    words = " → ".join(
        page.t("surveys.nth_item", n=int(part) + 1) if part.isdigit() else part
        for part in path.split(".")
    )
    if example is None or example == "":
        return words
    shown = str(example).lower() if isinstance(example, bool) else str(example)
    if len(shown) > 40:
        shown = shown[:39] + "…"
    return f"{words} ({page.t('surveys.example_value', value=shown)})"


def property_choices(page: WebContext, event_name: str) -> list[PropertyChoice]:
    """The properties seen on the workspace's recent events of this name."""
    return [
        PropertyChoice(p.path, property_words(page, p.path, p.example))
        for p in triggers.observed_properties(
            page.db, workspace_id=page.workspace.id, event_name=event_name
        )
    ]


@dataclass
class FilterRow:
    property: str = ""
    op: str = "=="
    value: str = ""


@dataclass
class DistributionForm:
    channels: list[str]
    trigger_event: str
    filters: list[FilterRow]
    delay_value: str
    delay_unit: str
    sample_percent: str
    expires_days: str
    reminder_after_days: str
    public_link: bool


def _delay_parts(minutes: int) -> tuple[str, str]:
    for unit in ("days", "hours"):
        size = DELAY_UNITS[unit]
        if minutes and minutes % size == 0:
            return str(minutes // size), unit
    return str(minutes), "minutes"


def _percent(rate: float) -> str:
    text = f"{rate * 100:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def distribution_form_of(survey: Survey) -> DistributionForm:
    settings = parse_distribution(survey.distribution)
    delay_value, delay_unit = _delay_parts(settings.delay_minutes)
    filters = [
        FilterRow(f.property, f.op, _value_text(f.value))
        for f in (settings.trigger.where if settings.trigger else [])
    ]
    return DistributionForm(
        channels=list(settings.channels),
        trigger_event=settings.trigger.event if settings.trigger else "",
        filters=filters,
        delay_value=delay_value,
        delay_unit=delay_unit,
        sample_percent=_percent(settings.sample_rate),
        expires_days=str(settings.expires_days),
        reminder_after_days=_value_text(settings.reminder_after_days),
        public_link=settings.public_link,
    )


def distribution_form_from(form: FormData) -> DistributionForm:
    count = _field(form, "filter_count", 3)
    total = min(int(count), 20) if count.isdigit() else 0
    filters = [
        FilterRow(
            _field(form, f"filter-{i}-property", 300).strip(),
            _field(form, f"filter-{i}-op", 4),
            _field(form, f"filter-{i}-value", 2000).strip(),
        )
        for i in range(total)
    ]
    return DistributionForm(
        channels=[c for c in form.getlist("channels") if isinstance(c, str)][:5],
        trigger_event=_field(form, "trigger_event", 300).strip(),
        filters=[f for f in filters if f.property],
        delay_value=_field(form, "delay_value", 20).strip(),
        delay_unit=_field(form, "delay_unit", 10),
        sample_percent=_field(form, "sample_percent", 20).strip(),
        expires_days=_field(form, "expires_days", 20).strip(),
        reminder_after_days=_field(form, "reminder_after_days", 20).strip(),
        public_link=form.get("public_link") == "on",
    )


def _filter_value(op: str, text: str) -> Any:
    if op == "in":
        return [_number(part.strip()) for part in text.split(",") if part.strip()]
    if text in ("true", "false"):
        return text == "true"
    return _number(text)


def settings_of_form(data: DistributionForm) -> dict[str, Any]:
    """The DistributionSettings the form describes (the service checks them)."""
    delay: Any = _number(data.delay_value or "0")
    if isinstance(delay, int) and data.delay_unit in DELAY_UNITS:
        delay = min(delay * DELAY_UNITS[data.delay_unit], MAX_DELAY_MINUTES + 1)
    percent = _number(data.sample_percent or "100")
    settings: dict[str, Any] = {
        "channels": data.channels,
        "delay_minutes": delay,
        "sample_rate": percent / 100 if isinstance(percent, int | float) else percent,
        "expires_days": _number(data.expires_days or "14"),
        "reminder_after_days": (
            _number(data.reminder_after_days) if data.reminder_after_days else None
        ),
        "public_link": data.public_link,
    }
    if data.trigger_event or data.filters:
        settings["trigger"] = {
            "event": data.trigger_event,
            "where": [
                {"property": f.property, "op": f.op, "value": _filter_value(f.op, f.value)}
                for f in data.filters
            ],
        }
    return settings


def distribution_field(name: str) -> str:
    parts = name.removeprefix("distribution.").split(".")
    head = parts[0]
    if head == "trigger":
        if len(parts) > 2 and parts[1] == "where" and parts[2].isdigit():
            return f"filter-{parts[2]}"
        return "trigger_event"
    return {
        "channels": "channels",
        "delay_minutes": "delay",
        "sample_rate": "sample_percent",
        "expires_days": "expires_days",
        "reminder_after_days": "reminder_after_days",
        "public_link": "public_link",
    }.get(head, "general")


def _distribution_error(page: WebContext, field: str, error: dict[str, Any]) -> str:
    """A distribution problem in the form's own terms: the form asks for a percentage and a
    delay in the unit chosen, where the settings hold a rate and minutes."""
    if field == "sample_percent" and error.get("code") != "value.float_parsing":
        return page.t("fielderr.percent")
    if field == "delay" and error.get("code") != "value.int_parsing":
        return page.t("fielderr.delay", days=MAX_DELAY_MINUTES // (60 * 24))
    return errors.field_message(page.locale, error)


def _distribution_page(
    page: WebContext,
    survey: Survey,
    data: DistributionForm,
    *,
    problems: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    rows = list(data.filters) + [FilterRow() for _ in range(EXTRA_FILTER_ROWS)]
    choices = property_choices(page, data.trigger_event)
    known = {c.path for c in choices}
    # A saved filter on a property the recent events lack stays pickable (and selected).
    choices += [
        PropertyChoice(f.property, property_words(page, f.property))
        for f in data.filters
        if f.property not in known
    ]
    return render(
        page.request,
        "feedback/survey_distribution.html",
        page=page,
        section="surveys",
        survey=survey,
        data=data,
        filter_rows=rows,
        property_choices=choices,
        observed=bool(known),
        event_names=triggers.observed_event_names(page.db, workspace_id=page.workspace.id),
        problems=problems or {},
        channels=CHANNELS,
        operators=OPERATORS,
        units=tuple(DELAY_UNITS),
        public_url=public_url(page.request, page, survey),
        editable=page.can("surveys:write"),
        counts=distribution_service.invitation_counts(
            page.db, survey_id=survey.id, since=utcnow() - timedelta(days=COUNTS_DAYS)
        ),
        counts_days=COUNTS_DAYS,
        skip_reasons=distribution_service.SKIP_REASONS,
        status=status,
    )


@router.get("/surveys/{survey_id:int}/distribution")
def distribution(page: Page, survey_id: int) -> Response:
    """How the survey goes out: channels, trigger, delay, sample, expiry, reminder, link."""
    require(page.principal, "surveys:read")
    survey = _load(page, survey_id)
    return _distribution_page(page, survey, distribution_form_of(survey))


@router.post("/surveys/{survey_id:int}/distribution")
def distribution_post(page: Page, survey_id: int, form: PostedForm) -> Response:
    require(page.principal, "surveys:write")
    survey = _load(page, survey_id)
    data = distribution_form_from(form)
    if _field(form, "action", 20) == "refresh":  # the event changed: show its properties
        return _distribution_page(page, survey, data)
    try:
        with page.db.begin_nested():
            survey_service.update_survey(
                page.db, survey=survey, distribution=settings_of_form(data)
            )
    except ValidationFailed as exc:
        page.db.refresh(survey)
        problems: dict[str, list[str]] = {}
        for error in exc.errors or [{"field": "general", "message": exc.detail}]:
            field = distribution_field(str(error.get("field", "")))
            problems.setdefault(field, []).append(_distribution_error(page, field, error))
        return _distribution_page(page, survey, data, problems=problems, status=422)
    page.flash("success", "surveys.distribution_saved")
    return redirect(f"/surveys/{survey.id}/distribution")
