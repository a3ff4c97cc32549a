"""The settings page of a team's business hours and SLA targets (/settings/sla, admins): whether
the team is open now and any manual override, the coming Korean public holidays, the weekly hours
form, the targets form and the "open now / close now / follow the schedule" buttons. Every change
goes through care.sla, which audits it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.care import metrics as care_metrics
from cxloop.care import sla
from cxloop.care.business_hours import korean_holiday_names
from cxloop.core.errors import ValidationFailed
from cxloop.core.i18n import format_date, format_datetime
from cxloop.core.timeutil import utcnow
from cxloop.models import CareTeamHours, SlaPolicy
from cxloop.web import errors
from cxloop.web.accounts.admin import settings_page
from cxloop.web.care.routing import PostedForm
from cxloop.web.rendering import link, redirect
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(
    prefix="/settings/sla", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

# The zones offered (Seoul first); a zone stored through the API is offered too.
ZONES = (
    "Asia/Seoul",
    "UTC",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Bangkok",
    "Asia/Ho_Chi_Minh",
    "Asia/Jakarta",
    "Asia/Manila",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
DAYS = 7
DAY_NAMES = tuple(f"sla_settings.day_{n}" for n in range(DAYS))  # keys, Monday first
TARGETS = ("first_response", "next_response", "resolution")
UNITS = {"minutes": 1, "hours": 60}
HOLIDAY_DAYS = 60  # how far ahead the coming public holidays are listed
MAX_CLOSED_DAYS = 400
TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::00(?:\.0+)?)?$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _field(form: FormData, name: str, limit: int = 100) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _team(value: str) -> str:
    """A team name as care stores it (spaces collapsed, at most 64 characters)."""
    return " ".join(value.replace("\x00", "").split())[:64]


def _back(team: str) -> str:
    return link("/settings/sla", team=team) if team else "/settings/sla"


# --- times as the form shows them ----------------------------------------------------------------


def _clock(minute: int, *, end: bool = False) -> str:
    """Minutes from midnight as HH:MM; the end of the day is 00:00 in a time field."""
    if minute >= 24 * 60:
        return "00:00" if end else "24:00"
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _span(interval: list[int]) -> str:
    return f"{_clock(interval[0])}–{_clock(interval[1])}"


def _hours_form(hours: CareTeamHours | None) -> dict[str, Any]:
    weekly = hours.weekly if hours else sla.OFFICE_WEEK
    days = []
    for intervals in weekly:
        first = intervals[0] if intervals else [9 * 60, 18 * 60]
        days.append(
            {
                "open": bool(intervals),
                "start": _clock(first[0]),
                "end": _clock(intervals[-1][1] if intervals else first[1], end=True),
                "edit": False,
            }
        )
    return {
        "zone": hours.zone if hours else "Asia/Seoul",
        "public_holidays": hours.public_holidays if hours else True,
        "closed_days": "\n".join(hours.closed_days) if hours else "",
        "days": days,
    }


def _policy_form(policy: SlaPolicy | None) -> dict[str, Any]:
    form: dict[str, Any] = {
        "business_hours": policy.business_hours if policy else True,
        "warn_minutes": str(policy.warn_minutes) if policy else "30",
    }
    for target in TARGETS:
        minutes = getattr(policy, f"{target}_minutes") if policy else None
        if minutes is None:
            form[target], form[f"{target}_unit"] = "", "hours"
        elif minutes % 60 == 0:
            form[target], form[f"{target}_unit"] = str(minutes // 60), "hours"
        else:
            form[target], form[f"{target}_unit"] = str(minutes), "minutes"
    return form


# --- the state of the team now -------------------------------------------------------------------


@dataclass(frozen=True)
class TeamState:
    open_now: bool
    override: bool | None  # True: opened by hand, False: closed by hand, None: the schedule
    since: str
    until: str  # "" when the override lasts until it is lifted
    next_change: str  # when the schedule next opens (closed) or closes (open); "" if not soon
    zone: str
    public_holidays: bool
    holidays: list[tuple[str, str]]  # (date, name) of the coming public holidays


def _state(page: WebContext, hours: CareTeamHours | None) -> TeamState:
    calendar = sla.calendar_of(hours)
    now = utcnow()
    zone = calendar.zone

    def shown(moment: datetime | None) -> str:
        return format_datetime(moment, page.locale, zone) if moment else ""

    open_now = calendar.is_open(now)
    next_change = None
    if open_now:
        week = now + timedelta(days=8)
        for _start, end in calendar.open_intervals(now, week):
            next_change = end if end < week else None
            break
    else:
        next_change = calendar.next_open(now)
    holidays: list[tuple[str, str]] = []
    if calendar.public_holidays:
        today = now.astimezone(zone).date()
        last = today + timedelta(days=HOLIDAY_DAYS)
        language = "ko" if page.locale == "ko" else "en_US"
        names: dict[date, str] = {}
        for year in sorted({today.year, last.year}):
            names.update(korean_holiday_names(year, language=language))
        holidays = [
            (format_date(day, page.locale), name)
            for day, name in sorted(names.items())
            if today <= day <= last
        ]
    override = calendar.override
    return TeamState(
        open_now=open_now,
        override=override.open if override else None,
        since=shown(override.since) if override else "",
        until=shown(calendar.override_until()),
        next_change=shown(next_change),
        zone=zone.key,
        public_holidays=calendar.public_holidays,
        holidays=holidays,
    )


def _page(
    page: WebContext,
    team: str,
    *,
    hours_form: dict[str, Any] | None = None,
    policy_form: dict[str, Any] | None = None,
    hours_error: str = "",
    policy_error: str = "",
    override_error: str = "",
    status: int = 200,
) -> HTMLResponse:
    workspace_id = page.workspace.id
    hours = sla.hours_for(page.db, workspace_id=workspace_id, team=team)
    policy = sla.policy_for(page.db, workspace_id=workspace_id, team=team)
    teams = sorted(
        {
            *sla.member_teams(page.db, workspace_id=workspace_id),
            *care_metrics.teams_of(page.db, workspace_id=workspace_id),  # inboxes, hours, SLA
            *([team] if team else []),
        }
    )
    form = hours_form or _hours_form(hours)
    zones = list(ZONES)
    if form["zone"] not in zones and _known_zone(form["zone"]):
        zones.append(form["zone"])  # set through the API
    return settings_page(
        page,
        "care/settings_sla.html",
        section="sla",
        status=status,
        team=team,
        teams=teams,
        state=_state(page, hours),
        own_hours=hours is not None and hours.team == team,
        any_hours=hours is not None,
        own_policy=policy is not None and policy.team == team,
        any_policy=policy is not None,
        kept=[[_span(i) for i in day] if len(day) > 1 else [] for day in _weekly(hours)],
        hours_form=form,
        policy_form=policy_form or _policy_form(policy),
        zones=zones,
        hours_error=hours_error,
        policy_error=policy_error,
        override_error=override_error,
        max_target=sla.MAX_TARGET_MINUTES,
    )


def _weekly(hours: CareTeamHours | None) -> list[list[list[int]]]:
    return list(hours.weekly) if hours else list(sla.OFFICE_WEEK)


@router.get("")
def sla_page(page: Page, team: str = "") -> Response:
    """A team's state now, business hours, SLA targets and manual override."""
    require(page.principal, "care:manage")
    return _page(page, _team(team[:200]))


# --- business hours ------------------------------------------------------------------------------


def _read_hours(form: FormData) -> dict[str, Any]:
    """The posted hours, as typed (kept for showing the form again)."""
    return {
        "zone": _field(form, "zone", 64),
        "public_holidays": _field(form, "public_holidays") == "1",
        "closed_days": _field(form, "closed_days", 20_000),
        "days": [
            {
                "open": _field(form, f"open-{i}") == "1",
                "start": _field(form, f"start-{i}", 12),
                "end": _field(form, f"end-{i}", 12),
                "edit": _field(form, f"edit-{i}") == "1",
            }
            for i in range(DAYS)
        ],
    }


def _minute(page: WebContext, day: str, text: str, *, end: bool) -> int:
    match = TIME.match(text)
    if match is None:
        raise ValidationFailed(page.t("sla_settings.err_time", day=day, value=text or "—"))
    minute = int(match[1]) * 60 + int(match[2])
    return 24 * 60 if end and minute == 0 else minute


def _weekly_of(
    page: WebContext, typed: list[dict[str, Any]], stored: list[list[list[int]]]
) -> list[list[list[int]]]:
    """Seven days of hours: one interval where the day is open, the stored intervals of a day
    that has several unless the admin chose to change it."""
    names = [page.t(key) for key in DAY_NAMES]
    weekly: list[list[list[int]]] = []
    for number, day in enumerate(typed):
        if len(stored[number]) > 1 and not day["edit"]:
            weekly.append([list(i) for i in stored[number]])
            continue
        if not day["open"]:
            weekly.append([])
            continue
        start = _minute(page, names[number], day["start"], end=False)
        end = _minute(page, names[number], day["end"], end=True)
        if end <= start:
            raise ValidationFailed(
                page.t(
                    "sla_settings.err_order", day=names[number], start=day["start"], end=day["end"]
                )
            )
        weekly.append([[start, end]])
    return weekly


def _closed_days(page: WebContext, text: str) -> list[date]:
    lines = text.splitlines()
    if len([line for line in lines if line.strip()]) > MAX_CLOSED_DAYS:
        raise ValidationFailed(page.t("sla_settings.err_too_many_days", n=MAX_CLOSED_DAYS))
    days = []
    for number, line in enumerate(lines, start=1):
        value = line.strip()
        if not value:
            continue
        try:
            if not ISO_DATE.match(value):
                raise ValueError(value)
            days.append(date.fromisoformat(value))
        except ValueError:
            raise ValidationFailed(
                page.t("sla_settings.err_day_line", line=number, value=value[:40])
            ) from None
    return days


def _known_zone(name: str) -> bool:
    try:
        return bool(name) and ZoneInfo(name).key == name
    except (ZoneInfoNotFoundError, ValueError):
        return False


def _zone(page: WebContext, name: str) -> str:
    if not _known_zone(name):
        raise ValidationFailed(page.t("sla_settings.err_zone", zone=name[:64] or "—"))
    return name


@router.post("/hours")
def save_hours(page: Page, form: PostedForm) -> Response:
    """Store the team's weekly hours, time zone, holidays and closed days."""
    require(page.principal, "care:manage")
    team = _team(_field(form, "team", 200))
    typed = _read_hours(form)
    current = sla.hours_for(page.db, workspace_id=page.workspace.id, team=team)
    try:
        with page.db.begin_nested():
            sla.set_hours(
                page.db,
                principal=page.principal,
                workspace_id=page.workspace.id,
                team=team,
                zone=_zone(page, typed["zone"]),
                weekly=_weekly_of(page, typed["days"], _weekly(current)),
                public_holidays=typed["public_holidays"],
                closed_days=_closed_days(page, typed["closed_days"]),
            )
    except ValidationFailed as exc:
        error = errors.describe(page.locale, exc)
        return _page(page, team, hours_form=typed, hours_error=error, status=422)
    page.flash("success", "sla_settings.hours_saved")
    return redirect(_back(team))


# --- SLA targets ---------------------------------------------------------------------------------


def _target(page: WebContext, label: str, text: str, unit: str) -> int | None:
    if not text:
        return None
    problem = page.t("sla_settings.err_target", target=label, max=sla.MAX_TARGET_MINUTES)
    try:
        minutes = Decimal(text) * UNITS.get(unit, 0)
    except InvalidOperation:
        raise ValidationFailed(problem) from None
    if not minutes.is_finite() or minutes != minutes.to_integral_value():
        raise ValidationFailed(problem)
    if not 1 <= minutes <= sla.MAX_TARGET_MINUTES:
        raise ValidationFailed(problem)
    return int(minutes)


def _read_policy(form: FormData) -> dict[str, Any]:
    typed: dict[str, Any] = {
        "business_hours": _field(form, "clock") != "wall",
        "warn_minutes": _field(form, "warn_minutes", 12),
    }
    for target in TARGETS:
        typed[target] = _field(form, target, 24)
        typed[f"{target}_unit"] = _field(form, f"{target}_unit", 12)
    return typed


@router.post("/policy")
def save_policy(page: Page, form: PostedForm) -> Response:
    """Store the team's first response, next response and resolution targets."""
    require(page.principal, "care:manage")
    team = _team(_field(form, "team", 200))
    typed = _read_policy(form)
    try:
        warn = typed["warn_minutes"]
        if not (warn.isdigit() and int(warn) <= 24 * 60):
            raise ValidationFailed(page.t("sla_settings.err_warn"))
        targets = {
            f"{target}_minutes": _target(
                page,
                label,
                typed[target],
                typed[f"{target}_unit"],
            )
            for target, label in (
                ("first_response", page.t("sla_settings.first_response")),
                ("next_response", page.t("sla_settings.next_response")),
                ("resolution", page.t("sla_settings.resolution")),
            )
        }
        with page.db.begin_nested():
            sla.set_policy(
                page.db,
                principal=page.principal,
                workspace_id=page.workspace.id,
                team=team,
                business_hours=typed["business_hours"],
                warn_minutes=int(warn),
                **targets,
            )
    except ValidationFailed as exc:
        error = errors.describe(page.locale, exc)
        return _page(page, team, policy_form=typed, policy_error=error, status=422)
    page.flash("success", "sla_settings.policy_saved")
    return redirect(_back(team))


# --- the manual override -------------------------------------------------------------------------

OVERRIDES = {"open": True, "closed": False, "schedule": None}


@router.post("/override")
def override(page: Page, form: PostedForm) -> Response:
    """Open or close the team now, until the schedule next changes, or follow the schedule."""
    require(page.principal, "care:manage")
    team = _team(_field(form, "team", 200))
    state = _field(form, "state", 20)
    if state not in OVERRIDES:
        return _page(page, team, override_error=page.t("sla_settings.err_override"), status=422)
    sla.set_override(
        page.db,
        principal=page.principal,
        workspace_id=page.workspace.id,
        team=team,
        open_now=OVERRIDES[state],
    )
    if state == "open":
        page.flash("success", "sla_settings.opened")
    elif state == "closed":
        page.flash("success", "sla_settings.closed")
    else:
        page.flash("success", "sla_settings.scheduled")
    return redirect(_back(team))
