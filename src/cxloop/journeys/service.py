"""What the API, the CLI and the pages call: funnels and retention over a period given in the
workspace's own dates, with a time limit on PostgreSQL so no question runs unbounded, and the
persons at a funnel step kept as a list segment."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.core.errors import Conflict, ValidationFailed
from cxloop.core.i18n import gettext
from cxloop.core.stats import Change
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.insights.segments import describe_properties
from cxloop.insights.segments import service as segments
from cxloop.journeys.attempts import Period
from cxloop.journeys.funnels import (
    FunnelGroup,
    FunnelReport,
    conversion_change,
    funnel_persons,
    funnel_report,
)
from cxloop.journeys.map import JourneyMap, journey_map
from cxloop.journeys.paths import (
    CleaningRule,
    PathReport,
    PathSpec,
    dropoff_paths,
    path_report,
)
from cxloop.journeys.periods import Unit, instants, period_days
from cxloop.journeys.retention import RetentionReport, RetentionSpec, retention_report
from cxloop.journeys.saved import list_funnels, spec_of
from cxloop.journeys.spec import FunnelSpec
from cxloop.journeys.stages import stages_of, touchpoints_of
from cxloop.models import SavedFunnel, Segment, Workspace
from cxloop.profiles.consent import zone_named

DEFAULT_DAYS = 30
MAX_DAYS = 400
MAX_BUCKETS = 400
QUERY_SECONDS = 120  # a journey question that takes longer is stopped (PostgreSQL)


def workspace_zone(session: Session, *, workspace_id: int) -> str:
    """The workspace's time zone name (Asia/Seoul when it names none known)."""
    name = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    return zone_named(name).key


def period_of_dates(
    *, start: date | None, end: date | None, tz: str, now: datetime | None = None
) -> Period:
    """[start, end] as whole local days (both included); the last 30 days when absent."""
    today = as_utc(now or utcnow()).astimezone(zone_named(tz)).date()
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise ValidationFailed("The period must end on or after its first day.")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"A period spans at most {MAX_DAYS} days.")
    first, after = instants([start, end + timedelta(days=1)], tz)
    return Period(first, after)


def _time_limit(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL statement_timeout = '{QUERY_SECONDS}s'"))


def bucket_edges(period: Period, unit: Unit, tz: str) -> list[datetime]:
    """The edges of the days, weeks or months that cover ``period``."""
    days = [period_days(period.start, unit, 1, tz)[0]]
    while instants([days[-1]], tz)[0] < period.end:
        if len(days) > MAX_BUCKETS:
            raise ValidationFailed(f"At most {MAX_BUCKETS} buckets: pick a longer interval.")
        days.append(period_days(instants([days[-1]], tz)[0], unit, 1, tz)[1])
    return instants(days, tz)


def run_funnel(
    session: Session,
    *,
    workspace_id: int,
    spec: FunnelSpec,
    start: date | None = None,
    end: date | None = None,
    interval: Unit | None = None,
    now: datetime | None = None,
) -> FunnelReport:
    """The funnel of the persons whose first step falls on the local days [start, end]."""
    tz = workspace_zone(session, workspace_id=workspace_id)
    period = period_of_dates(start=start, end=end, tz=tz, now=now)
    edges = bucket_edges(period, interval, tz) if interval else None
    _time_limit(session)
    return funnel_report(
        session, workspace_id=workspace_id, spec=spec, period=period, buckets=edges
    )


def funnel_people(
    session: Session,
    *,
    workspace_id: int,
    spec: FunnelSpec,
    start: date | None,
    end: date | None,
    step: int,
    dropped: bool = False,
    value: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[int]:
    """Profile ids of the persons at a step of the funnel (or dropped before it), a page."""
    tz = workspace_zone(session, workspace_id=workspace_id)
    period = period_of_dates(start=start, end=end, tz=tz)
    _time_limit(session)
    return funnel_persons(
        session,
        workspace_id=workspace_id,
        spec=spec,
        period=period,
        step=step,
        dropped=dropped,
        value=value,
        after=after,
        limit=limit,
    )


FUNNEL_SEGMENT_SOURCE = "journeys.funnel"


def _funnel_words(spec: FunnelSpec, language: str) -> str:
    """The funnel's steps in words: 'A → B (its conditions) → C'."""
    return " → ".join(
        f"{step.title} ({describe_properties(step.where, language)})" if step.where else step.title
        for step in spec.steps
    )


def funnel_segment_origin(
    *,
    spec: FunnelSpec,
    start: date,
    end: date,
    step: int,
    dropped: bool,
    value: str | None,
    saved_on: date,
) -> dict[str, object]:
    """Where the persons of a funnel step came from, as a list segment records it: in words
    in both languages, and the question itself."""
    by = spec.breakdown.key if spec.breakdown is not None else ""
    description = {}
    for language in ("ko", "en"):
        words = gettext(
            language,
            "journeys_segment.origin_dropped" if dropped else "journeys_segment.origin_reached",
            steps=_funnel_words(spec, language),
            n=step,
            start=start.isoformat(),
            end=end.isoformat(),
            saved=saved_on.isoformat(),
        )
        if value is not None:
            words += gettext(language, "journeys_segment.origin_value", property=by, value=value)
        description[language] = words
    return {
        "source": FUNNEL_SEGMENT_SOURCE,
        "description": description,
        "detail": {
            "spec": spec.model_dump(mode="json", exclude_defaults=True),
            "start": start.isoformat(),
            "end": end.isoformat(),
            "step": step,
            "dropped": dropped,
            "value": value,
        },
    }


def save_funnel_segment(
    session: Session,
    *,
    principal: Principal,
    spec: FunnelSpec,
    start: date | None,
    end: date | None,
    step: int,
    dropped: bool = False,
    value: str | None = None,
    name: str,
    description: str = "",
    now: datetime | None = None,
) -> Segment:
    """Keep the persons at a step of the funnel (or dropped before it) as a list segment: a
    snapshot of who they are now, with the funnel and the period it came from."""
    workspace_id = principal.workspace_id
    tz = workspace_zone(session, workspace_id=workspace_id)
    now = now or utcnow()
    period = period_of_dates(start=start, end=end, tz=tz, now=now)
    first_day = as_utc(period.start).astimezone(zone_named(tz)).date()
    last_day = as_utc(period.end).astimezone(zone_named(tz)).date() - timedelta(days=1)
    limit = segments.MAX_LIST_MEMBERS
    ids = funnel_people(
        session,
        workspace_id=workspace_id,
        spec=spec,
        start=first_day,
        end=last_day,
        step=step,
        dropped=dropped,
        value=value,
        limit=limit + 1,
    )
    if len(ids) > limit:
        raise Conflict(
            f"More than {limit:,} persons are at this step; a list segment holds at most "
            f"{limit:,}. Narrow the funnel or its period."
        )
    origin = funnel_segment_origin(
        spec=spec,
        start=first_day,
        end=last_day,
        step=step,
        dropped=dropped,
        value=value,
        saved_on=as_utc(now).astimezone(zone_named(tz)).date(),
    )
    return segments.create_list_segment(
        session,
        principal=principal,
        name=name,
        description=description,
        customer_ids=ids,
        origin=origin,
        now=now,
    )


def _group(report: FunnelReport, value: str | None) -> FunnelGroup:
    for group in report.breakdown:
        if group.value == value:
            return group
    raise ValidationFailed(f"The breakdown has no value {value!r} in this period.")


def compare_periods(before: FunnelReport, after: FunnelReport) -> Change | None:
    """The change of the whole funnel's conversion from one period to another."""
    return conversion_change(before.overall, after.overall)


def compare_values(report: FunnelReport, first: str | None, second: str | None) -> Change | None:
    """The difference of conversion between two breakdown values (second − first)."""
    return conversion_change(_group(report, first), _group(report, second))


def run_retention(
    session: Session,
    *,
    workspace_id: int,
    spec: RetentionSpec,
    start: date | None = None,
    now: datetime | None = None,
) -> RetentionReport:
    """The cohort table from the period holding ``start`` (the last periods when absent)."""
    tz = workspace_zone(session, workspace_id=workspace_id)
    first = instants([start], tz)[0] if start else None
    _time_limit(session)
    return retention_report(
        session, workspace_id=workspace_id, spec=spec, tz=tz, start=first, now=now
    )


def run_paths(
    session: Session,
    *,
    workspace_id: int,
    spec: PathSpec,
    start: date | None = None,
    end: date | None = None,
) -> PathReport:
    """The paths after (or before) the persons' first anchor event on the days [start, end]."""
    tz = workspace_zone(session, workspace_id=workspace_id)
    period = period_of_dates(start=start, end=end, tz=tz)
    _time_limit(session)
    return path_report(session, workspace_id=workspace_id, spec=spec, period=period)


def run_dropoff_paths(
    session: Session,
    *,
    workspace_id: int,
    funnel: FunnelSpec,
    step: int,
    steps: int = 5,
    window_hours: float = 24,
    cleaning: list[CleaningRule] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> PathReport:
    """What the persons who dropped off before ``step`` of the funnel did instead."""
    if not 2 <= step <= len(funnel.steps):
        raise ValidationFailed(f"step must be between 2 and {len(funnel.steps)}.")
    tz = workspace_zone(session, workspace_id=workspace_id)
    period = period_of_dates(start=start, end=end, tz=tz)
    spec = PathSpec(
        event=funnel.steps[step - 2].event,
        steps=steps,
        window_hours=window_hours,
        cleaning=cleaning or [],
    )
    _time_limit(session)
    return dropoff_paths(
        session, workspace_id=workspace_id, funnel=funnel, period=period, step=step, spec=spec
    )


def run_journey_map(
    session: Session,
    *,
    workspace_id: int,
    start: date | None = None,
    end: date | None = None,
) -> JourneyMap:
    """The journey map of the local days [start, end] (the last 30 days when absent)."""
    tz = workspace_zone(session, workspace_id=workspace_id)
    period = period_of_dates(start=start, end=end, tz=tz)
    stages = stages_of(session, workspace_id=workspace_id)
    touchpoints = touchpoints_of(session, workspace_id=workspace_id)
    _time_limit(session)
    return journey_map(
        session,
        workspace_id=workspace_id,
        stages=stages,
        touchpoints=touchpoints,
        period=period,
    )


def run_saved_funnel(
    session: Session, *, funnel: SavedFunnel, now: datetime | None = None
) -> FunnelReport:
    """A saved funnel over its last ``days`` local days, up to today."""
    tz = workspace_zone(session, workspace_id=funnel.workspace_id)
    today = as_utc(now or utcnow()).astimezone(zone_named(tz)).date()
    return run_funnel(
        session,
        workspace_id=funnel.workspace_id,
        spec=spec_of(funnel),
        start=today - timedelta(days=funnel.days - 1),
        end=today,
        now=now,
    )


DASHBOARD_FUNNELS = 4


def dashboard_funnels(
    session: Session, *, workspace_id: int, start: datetime, end: datetime
) -> list[tuple[SavedFunnel, FunnelReport]]:
    """The funnels pinned to the dashboard (the newest four), each over [start, end)."""
    pinned, _ = list_funnels(
        session, workspace_id=workspace_id, on_dashboard=True, limit=DASHBOARD_FUNNELS
    )
    period = Period(start, end)
    _time_limit(session)
    return [
        (
            funnel,
            funnel_report(session, workspace_id=workspace_id, spec=spec_of(funnel), period=period),
        )
        for funnel in pinned
    ]
