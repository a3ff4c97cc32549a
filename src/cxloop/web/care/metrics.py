"""The care metrics page (/care/metrics): volume by channel, response and resolution times on
the wall clock and in business hours, first-contact resolution, reopen rate, SLA met, CSAT per
agent and team with intervals, and the backlog by age; filtered by period, channel, team and
agent, drawn with the project's inline SVG charts. Also the care card of the CX dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from cxloop.accounts.access import require
from cxloop.care import metrics as care_metrics
from cxloop.care import views
from cxloop.core import stats
from cxloop.models.care import INBOX_CHANNELS
from cxloop.web.charts import interval_bar_chart
from cxloop.web.rendering import link, render, zone
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
# Catalog keys by value (every key written out here).
TIME_NAMES = {
    "first_response": "care_metrics.first_response",
    "next_response": "care_metrics.next_response",
    "resolution": "care_metrics.resolution",
}
SLA_NAMES = {
    "first_response": "care_metrics.first_response",
    "next_response": "care_metrics.next_response",
    "resolution": "care_metrics.resolution",
}
BUCKET_NAMES = {
    "under_1h": "care_metrics.bucket.under_1h",
    "1h_4h": "care_metrics.bucket.1h_4h",
    "4h_24h": "care_metrics.bucket.4h_24h",
    "1d_3d": "care_metrics.bucket.1d_3d",
    "3d_7d": "care_metrics.bucket.3d_7d",
    "over_7d": "care_metrics.bucket.over_7d",
}
CHANNEL_NAMES = {
    "email": "care_metrics.channels.email",
    "chat": "care_metrics.channels.chat",
    "sms": "care_metrics.channels.sms",
    "kakao": "care_metrics.channels.kakao",
    "talktalk": "care_metrics.channels.talktalk",
    "social": "care_metrics.channels.social",
    "review": "care_metrics.channels.review",
    "phone": "care_metrics.channels.phone",
}


def duration_words(page: WebContext, seconds: float | None) -> str:
    """How long, in the page's language: 3일 4시간, 2 h 05 min, 12분."""
    if seconds is None:
        return "–"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return page.t("care_metrics.days_hours", days=days, hours=hours)
    if hours:
        return page.t("care_metrics.hours_minutes", hours=hours, minutes=f"{mins:02d}")
    return page.t("care_metrics.minutes", minutes=mins)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"


# --- filters ------------------------------------------------------------------------------------


def _day(value: str, problems: list[str], page: WebContext) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        problems.append(page.t("care_metrics.bad_date"))
        return None


def _filters(
    page: WebContext, params: dict[str, str], problems: list[str]
) -> tuple[date, date, care_metrics.MetricsFilter]:
    tz = zone(page.workspace.timezone)
    today = datetime.now(UTC).astimezone(tz).date()
    last = _day(params.get("to", ""), problems, page) or today
    first = _day(params.get("from", ""), problems, page) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last or (last - first).days >= 366 or first.year < 2000 or last.year >= 2100:
        problems.append(page.t("care_metrics.bad_period"))
        first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    channel = params.get("channel", "")
    agent = params.get("agent", "")
    team = " ".join(params.get("team", "").split())[:64]
    return (
        first,
        last,
        care_metrics.MetricsFilter(
            channel=channel if channel in INBOX_CHANNELS else None,
            team=team or None,
            agent_id=int(agent) if agent.isdigit() and len(agent) < 10 else None,
        ),
    )


def _bounds(page: WebContext, first: date, last: date) -> tuple[datetime, datetime]:
    tz = zone(page.workspace.timezone)
    start = datetime.combine(first, time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


# --- charts -------------------------------------------------------------------------------------


def _bars(
    rows: list[tuple[str, float | None, float | None, float | None, bool]],
    *,
    hi: float,
    chart_id: str,
    title: str,
    desc: str,
    value_format: str,
) -> Markup:
    return interval_bar_chart(
        rows,
        lo=0.0,
        hi=hi or 1.0,
        chart_id=chart_id,
        title=title,
        desc=desc,
        value_format=value_format,
    )


def _volume_chart(page: WebContext, result: care_metrics.CareMetrics) -> Markup:
    rows: list[tuple[str, float | None, float | None, float | None, bool]] = [
        (page.t(CHANNEL_NAMES[v.channel]), float(v.conversations), None, None, False)
        for v in result.volume
    ]
    title = page.t("care_metrics.volume_chart")
    desc = "; ".join(
        page.t(
            "care_metrics.volume_line",
            channel=page.t(CHANNEL_NAMES[v.channel]),
            conversations=f"{v.conversations:,}",
            inbound=f"{v.messages_in:,}",
            outbound=f"{v.messages_out:,}",
        )
        for v in result.volume
    )
    peak = max((v.conversations for v in result.volume), default=0)
    return _bars(
        rows, hi=peak * 1.1, chart_id="care-volume", title=title, desc=desc, value_format="{:,.0f}"
    )


def _times_chart(page: WebContext, result: care_metrics.CareMetrics) -> Markup:
    """Business-hour medians (bars) with a whisker to the p90, in hours."""
    rows: list[tuple[str, float | None, float | None, float | None, bool]] = []
    described = []
    for key, metric in (
        ("first_response", result.first_response),
        ("next_response", result.next_response),
        ("resolution", result.resolution),
    ):
        d = metric.business
        name = page.t(TIME_NAMES[key])
        if d.median is None or d.p90 is None:
            rows.append((name, None, None, None, True))
            continue
        rows.append(
            (name, d.median / 3600, d.median / 3600, d.p90 / 3600, d.n < stats.DEFAULT_MIN_N)
        )
        described.append(
            page.t(
                "care_metrics.time_line",
                name=name,
                median=duration_words(page, d.median),
                p90=duration_words(page, d.p90),
                n=f"{d.n:,}",
            )
        )
    peak = max((r[3] or 0.0 for r in rows), default=0.0)
    return _bars(
        rows,
        hi=peak * 1.05,
        chart_id="care-times",
        title=page.t("care_metrics.times_chart"),
        desc="; ".join(described) or page.t("care_metrics.none"),
        value_format="{:,.1f}" + page.t("care_metrics.hours_unit"),
    )


def _sla_chart(page: WebContext, result: care_metrics.CareMetrics) -> Markup:
    rows: list[tuple[str, float | None, float | None, float | None, bool]] = []
    described = []
    for s in result.sla:
        name = page.t(SLA_NAMES[s.target])
        rows.append((name, s.percent, None, None, s.due < stats.DEFAULT_MIN_N))
        if s.percent is not None:
            described.append(f"{name} {s.percent:.1f}% ({s.met:,}/{s.due:,})")
    return _bars(
        rows,
        hi=100.0,
        chart_id="care-sla",
        title=page.t("care_metrics.sla_chart"),
        desc="; ".join(described) or page.t("care_metrics.none"),
        value_format="{:.1f}%",
    )


def _csat_chart(
    page: WebContext, groups: list[tuple[str, stats.ProportionEstimate]], chart_id: str, title: str
) -> Markup:
    rows: list[tuple[str, float | None, float | None, float | None, bool]] = [
        (label, e.estimate, e.ci_low, e.ci_high, e.too_few) for label, e in groups
    ]
    desc = "; ".join(
        page.t(
            "care_metrics.csat_line",
            name=label,
            value=f"{e.estimate:.1f}",
            low=f"{e.ci_low:.1f}",
            high=f"{e.ci_high:.1f}",
            n=f"{e.n:,}",
        )
        for label, e in groups
    )
    return _bars(
        rows,
        hi=100.0,
        chart_id=chart_id,
        title=title,
        desc=desc or page.t("care_metrics.no_csat"),
        value_format="{:.1f}%",
    )


def _backlog_chart(page: WebContext, backlog: care_metrics.Backlog) -> Markup:
    rows: list[tuple[str, float | None, float | None, float | None, bool]] = [
        (page.t(BUCKET_NAMES[key]), float(n), None, None, False) for key, n in backlog.buckets
    ]
    peak = max((n for _k, n in backlog.buckets), default=0)
    return _bars(
        rows,
        hi=peak * 1.1,
        chart_id="care-backlog",
        title=page.t("care_metrics.backlog_chart"),
        desc="; ".join(f"{label} {int(n or 0):,}" for label, n, *_ in rows),
        value_format="{:,.0f}",
    )


# --- views --------------------------------------------------------------------------------------


def care_card(page: WebContext, result: care_metrics.Headline) -> dict[str, Any]:
    """The care card of the CX dashboard: the period's headline numbers and a link here."""
    tz = zone(page.workspace.timezone)
    fcr = result.first_contact_resolution.estimate
    return {
        "conversations": f"{result.conversations:,}",
        "first_response": duration_words(page, result.first_response.business.median),
        "resolution": duration_words(page, result.resolution.business.median),
        "fcr": _percent(fcr.estimate if fcr else None),
        "csat": _percent(result.csat.estimate if result.csat else None),
        "csat_n": result.csat.n if result.csat else 0,
        "backlog": f"{result.backlog:,}",
        "link": link(
            "/care/metrics",
            **{
                "from": result.start.astimezone(tz).date().isoformat(),
                "to": (result.end.astimezone(tz) - timedelta(days=1)).date().isoformat(),
            },
        ),
    }


def dashboard_metrics(
    session: Session, *, workspace_id: int, start: datetime, end: datetime
) -> care_metrics.Headline:
    """The care figures of the dashboard's period (run in the dashboard's read sessions)."""
    return care_metrics.headline(session, workspace_id=workspace_id, start=start, end=end)


@router.get("/care/metrics")
def metrics_page(page: Page) -> Response:
    """The care metrics of a period, filtered by channel, team and agent."""
    require(page.principal, "care:work")
    problems: list[str] = []
    first, last, filters = _filters(page, dict(page.request.query_params), problems)
    start, end = _bounds(page, first, last)
    db, workspace_id = page.db, page.workspace.id
    # The filters are checked above: a bad date or period is reported and replaced, an unknown
    # channel or agent left out.
    result = care_metrics.care_metrics(
        db, workspace_id=workspace_id, start=start, end=end, filters=filters
    )
    members = views.assignable_members(db, workspace_id=workspace_id)
    names = {m.user_id: m.name for m in members}
    names.update(
        views.user_names(
            db, workspace_id=workspace_id, user_ids=[g.key for g in result.csat_by_agent]
        )
    )
    unassigned = page.t("care_metrics.unassigned")
    agents = [
        (names.get(g.key, f"#{g.key}") if g.key else unassigned, g.estimate)
        for g in result.csat_by_agent
    ]
    teams = [(g.key or page.t("care_metrics.no_team"), g.estimate) for g in result.csat_by_team]
    params = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "channel": filters.channel,
        "team": filters.team,
        "agent": filters.agent_id,
    }
    today = datetime.now(UTC).astimezone(zone(page.workspace.timezone)).date()
    times = [
        (key, page.t(TIME_NAMES[key]), metric)
        for key, metric in (
            ("first_response", result.first_response),
            ("next_response", result.next_response),
            ("resolution", result.resolution),
        )
    ]
    return render(
        page.request,
        "care/metrics.html",
        page=page,
        section="inbox",
        problems=problems,
        first=first,
        last=last,
        filters=filters,
        channels=[(c, page.t(CHANNEL_NAMES[c])) for c in INBOX_CHANNELS],
        teams=care_metrics.teams_of(db, workspace_id=workspace_id),
        members=members,
        presets=[
            (
                days,
                link(
                    "/care/metrics",
                    **{
                        **params,
                        "from": (today - timedelta(days=days - 1)).isoformat(),
                        "to": today.isoformat(),
                    },
                ),
            )
            for days in PRESETS
        ],
        result=result,
        channel_names={c: page.t(CHANNEL_NAMES[c]) for c in INBOX_CHANNELS},
        bucket_names={k: page.t(v) for k, v in BUCKET_NAMES.items()},
        sla_names={k: page.t(v) for k, v in SLA_NAMES.items()},
        times=times,
        duration=lambda seconds: duration_words(page, seconds),
        percent=_percent,
        volume_svg=_volume_chart(page, result),
        times_svg=_times_chart(page, result),
        sla_svg=_sla_chart(page, result),
        agents_svg=_csat_chart(
            page, agents, "care-csat-agents", page.t("care_metrics.csat_agents")
        ),
        teams_svg=_csat_chart(page, teams, "care-csat-teams", page.t("care_metrics.csat_teams")),
        agents=agents,
        teams_csat=teams,
        backlog_svg=_backlog_chart(page, result.backlog),
        tz=zone(page.workspace.timezone).key,
    )
