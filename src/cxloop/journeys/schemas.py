"""The shapes of journey answers, the same for the API and the CLI's JSON."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from cxloop.core.stats import Change, Estimate, ProportionEstimate
from cxloop.journeys.funnels import OTHER, FunnelGroup, FunnelReport, Times
from cxloop.journeys.map import Feeling, JourneyMap, MapCell, StageColumn
from cxloop.journeys.paths import ENDED, MAX_STEPS, CleaningRule, PathReport, PathSpec
from cxloop.journeys.paths import OTHER as OTHER_NAME
from cxloop.journeys.periods import Unit
from cxloop.journeys.retention import RetentionReport, RetentionSpec
from cxloop.journeys.spec import FunnelSpec
from cxloop.journeys.stages import Place


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


class PeriodIn(BaseModel):
    start: date | None = Field(None, description="First local day (default: 30 days ago)")
    end: date | None = Field(None, description="Last local day, included (default: today)")


class FunnelIn(PeriodIn):
    spec: FunnelSpec
    interval: Unit | None = Field(None, description="Conversion over time by day, week or month")


class FunnelPersonsIn(PeriodIn):
    spec: FunnelSpec
    step: Annotated[int, Field(ge=1, le=20)]
    dropped: bool = Field(False, description="Those who reached the step before and no further")
    value: str | None = Field(None, max_length=500, description="Only this breakdown value")
    after: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = Field(
        None, description="Cursor: the last id of the previous page"
    )
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class FunnelSegmentIn(FunnelPersonsIn):
    """The persons of ``/funnels/persons`` (every page of them) kept as a list segment."""

    name: str = Field(min_length=1, max_length=200, description="The segment's name")
    description: str = Field("", max_length=2_000)


class FunnelSegmentOut(BaseModel):
    id: int
    name: str
    description: str
    kind: str = Field(description="Always 'list': a fixed snapshot, never refreshed")
    members: int
    origin: dict[str, Any] = Field(description="source, description (ko, en) and detail")
    created_at: datetime


class FunnelCompareIn(BaseModel):
    spec: FunnelSpec
    before: PeriodIn | None = Field(None, description="Compare two periods: the first one")
    after: PeriodIn | None = Field(None, description="… and the second one")
    period: PeriodIn | None = Field(None, description="Compare two breakdown values in one period")
    values: list[str | None] | None = Field(None, min_length=2, max_length=2)


class RetentionIn(BaseModel):
    spec: RetentionSpec
    start: date | None = Field(
        None, description="A day in the first cohort (default: the last ones)"
    )


class DurationOut(BaseModel):
    n: int
    median_seconds: float | None
    p90_seconds: float | None

    @classmethod
    def of(cls, times: Times | None) -> DurationOut:
        if times is None:
            return cls(n=0, median_seconds=None, p90_seconds=None)
        return cls(n=times.n, median_seconds=times.median, p90_seconds=times.p90)


class StepOut(BaseModel):
    index: int
    label: str
    event: str
    persons: int
    dropped: int
    conversion_from_previous: float | None
    conversion_from_first: float | None
    time_from_previous: DurationOut | None


class GroupOut(BaseModel):
    value: str | None
    other: bool = Field(description="The values past the breakdown's limit, together")
    persons: list[int] = Field(description="Persons at each step")
    entered: int
    converted: int
    conversion: float | None
    time_to_convert: DurationOut

    @classmethod
    def of(cls, group: FunnelGroup) -> GroupOut:
        return cls(
            value=None if group.value == OTHER else group.value,
            other=group.value == OTHER,
            persons=[s.persons for s in group.steps],
            entered=group.entered,
            converted=group.converted,
            conversion=_rate(group.converted, group.entered),
            time_to_convert=DurationOut.of(group.time_to_convert),
        )


class BarOut(BaseModel):
    up_to_seconds: int | None
    persons: int


class OverTimeOut(BaseModel):
    start: date
    entered: int
    converted: int
    conversion: float | None


class FunnelOut(BaseModel):
    order: str
    window_days: float
    start: date
    end: date
    timezone: str
    steps: list[StepOut]
    entered: int
    converted: int
    conversion: float | None
    time_to_convert: DurationOut
    time_distribution: list[BarOut]
    breakdown: list[GroupOut] | None
    over_time: list[OverTimeOut] | None

    @classmethod
    def of(cls, report: FunnelReport, tz: str) -> FunnelOut:
        zone = ZoneInfo(tz)
        overall = report.overall
        return cls(
            order=report.spec.order,
            window_days=report.spec.window_days,
            start=report.period.start.astimezone(zone).date(),
            end=(report.period.end.astimezone(zone) - timedelta(microseconds=1)).date(),
            timezone=tz,
            steps=[
                StepOut(
                    index=s.index,
                    label=s.label,
                    event=s.event,
                    persons=s.persons,
                    dropped=s.dropped,
                    conversion_from_previous=s.from_previous,
                    conversion_from_first=s.from_first,
                    time_from_previous=(
                        DurationOut.of(s.time_from_previous) if s.index > 1 else None
                    ),
                )
                for s in overall.steps
            ],
            entered=overall.entered,
            converted=overall.converted,
            conversion=_rate(overall.converted, overall.entered),
            time_to_convert=DurationOut.of(overall.time_to_convert),
            time_distribution=[
                BarOut(up_to_seconds=b.up_to_seconds, persons=b.persons) for b in report.time_bars
            ],
            breakdown=[GroupOut.of(g) for g in report.breakdown] if report.spec.breakdown else None,
            over_time=[
                OverTimeOut(
                    start=o.start.astimezone(zone).date(),
                    entered=o.entered,
                    converted=o.converted,
                    conversion=_rate(o.converted, o.entered),
                )
                for o in report.over_time
            ]
            or None,
        )


class PersonsOut(BaseModel):
    ids: list[int]
    next_after: int | None = Field(description="Pass as `after` for the next page")


class ShareOut(BaseModel):
    n: int
    successes: int
    rate: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, estimate: ProportionEstimate) -> ShareOut:
        return cls(
            n=estimate.n,
            successes=estimate.successes,
            rate=round(estimate.estimate, 6),
            ci_low=round(estimate.ci_low, 6),
            ci_high=round(estimate.ci_high, 6),
        )


class ChangeOut(BaseModel):
    before: ShareOut
    after: ShareOut
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    test: str

    @classmethod
    def of(cls, change: Change) -> ChangeOut:
        assert isinstance(change.before, ProportionEstimate)
        assert isinstance(change.after, ProportionEstimate)
        return cls(
            before=ShareOut.of(change.before),
            after=ShareOut.of(change.after),
            difference=round(change.difference, 6),
            ci_low=round(change.ci_low, 6),
            ci_high=round(change.ci_high, 6),
            p_value=round(change.p_value, 6),
            significant=change.significant,
            test=change.test,
        )


class CohortOut(BaseModel):
    start: date
    persons: int
    retained: list[int | None]
    rates: list[float | None]


class RetentionOut(BaseModel):
    period: str
    bounded: bool
    timezone: str
    start_event: str
    return_event: str | None
    cohorts: list[CohortOut]
    average: list[float | None]

    @classmethod
    def of(cls, report: RetentionReport) -> RetentionOut:
        spec = report.spec
        return cls(
            period=spec.period,
            bounded=spec.bounded,
            timezone=report.timezone,
            start_event=spec.start_event,
            return_event=spec.return_event,
            cohorts=[
                CohortOut(
                    start=c.start,
                    persons=c.persons,
                    retained=list(c.retained),
                    rates=[c.rate(i) for i in range(1, len(c.retained) + 1)],
                )
                for c in report.cohorts
            ],
            average=[None if a is None else round(a, 6) for a in report.average],
        )


class PathsIn(PeriodIn):
    spec: PathSpec


class DropoffPathsIn(PeriodIn):
    spec: FunnelSpec
    step: Annotated[int, Field(ge=2, le=20, description="Dropped off before this step")]
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 5
    window_hours: Annotated[float, Field(gt=0, le=24 * 31)] = 24
    cleaning: Annotated[list[CleaningRule], Field(max_length=20)] = []


def _kind(name: str) -> str:
    return "other" if name == OTHER_NAME else "end" if name == ENDED else "event"


def _shown(name: str) -> str | None:
    return None if name in (OTHER_NAME, ENDED) else name


class PathNodeOut(BaseModel):
    step: int
    kind: str = Field(description="event, other (the rest of that step) or end (paths ended)")
    name: str | None
    persons: int


class PathLinkOut(BaseModel):
    step: int
    source: str | None
    source_kind: str
    target: str | None
    target_kind: str
    persons: int


class WholePathOut(BaseModel):
    events: list[str]
    persons: int


class PathsOut(BaseModel):
    direction: str
    persons: int
    nodes: list[PathNodeOut]
    links: list[PathLinkOut]
    top: list[WholePathOut]

    @classmethod
    def of(cls, report: PathReport) -> PathsOut:
        return cls(
            direction=report.spec.direction,
            persons=report.persons,
            nodes=[
                PathNodeOut(step=n.step, kind=_kind(n.name), name=_shown(n.name), persons=n.persons)
                for n in report.nodes
            ],
            links=[
                PathLinkOut(
                    step=link.step,
                    source=_shown(link.source),
                    source_kind=_kind(link.source),
                    target=_shown(link.target),
                    target_kind=_kind(link.target),
                    persons=link.persons,
                )
                for link in report.links
            ],
            top=[WholePathOut(events=list(path), persons=n) for path, n in report.top],
        )


class EstimateOut(BaseModel):
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    too_few: bool

    @classmethod
    def of(cls, value: Estimate | None) -> EstimateOut | None:
        if value is None:
            return None
        return cls(
            n=value.n,
            estimate=round(value.estimate, 4),
            ci_low=round(value.ci_low, 4),
            ci_high=round(value.ci_high, 4),
            too_few=value.too_few,
        )


class FeelingOut(BaseModel):
    nps: EstimateOut | None
    csat: EstimateOut | None
    sentiment: EstimateOut | None

    @classmethod
    def of(cls, feeling: Feeling) -> FeelingOut:
        return cls(
            nps=EstimateOut.of(feeling.nps),
            csat=EstimateOut.of(feeling.csat),
            sentiment=EstimateOut.of(feeling.sentiment),
        )


class PlaceOut(BaseModel):
    key: str
    name: str = Field(description="Empty: the default's name in the reader's language")


class StageOut(PlaceOut):
    persons: int
    moved_on: int
    conversion: float | None
    time_to_next: DurationOut
    feeling: FeelingOut

    @classmethod
    def of(cls, column: StageColumn) -> StageOut:
        return cls(
            key=column.place.key,
            name=column.place.name,
            persons=column.persons,
            moved_on=column.moved_on,
            conversion=_rate(column.moved_on, column.persons),
            time_to_next=DurationOut.of(column.time_to_next),
            feeling=FeelingOut.of(column.feeling),
        )


class CellOut(BaseModel):
    stage: str
    touchpoint: str
    persons: int
    moved_on: int
    conversion: float | None
    feeling: FeelingOut
    flagged: bool
    behind_p_value: float | None = Field(
        description="When it moves on less than its stage: the test's p-value"
    )

    @classmethod
    def of(cls, cell: MapCell) -> CellOut:
        return cls(
            stage=cell.stage,
            touchpoint=cell.touchpoint,
            persons=cell.persons,
            moved_on=cell.moved_on,
            conversion=_rate(cell.moved_on, cell.persons),
            feeling=FeelingOut.of(cell.feeling),
            flagged=cell.flagged,
            behind_p_value=round(cell.behind.p_value, 6) if cell.behind else None,
        )


class JourneyMapOut(BaseModel):
    start: date
    end: date
    timezone: str
    stages: list[StageOut]
    touchpoints: list[PlaceOut]
    cells: list[CellOut]

    @classmethod
    def of(cls, found: JourneyMap, tz: str) -> JourneyMapOut:
        zone = ZoneInfo(tz)
        return cls(
            start=found.period.start.astimezone(zone).date(),
            end=(found.period.end.astimezone(zone) - timedelta(microseconds=1)).date(),
            timezone=tz,
            stages=[StageOut.of(column) for column in found.stages],
            touchpoints=[PlaceOut(key=p.key, name=p.name) for p in found.touchpoints],
            cells=[CellOut.of(cell) for cell in found.cells.values()],
        )


class RuleOut(BaseModel):
    event: str | None
    where: list[dict[str, object]]
    page: bool
    nth: int


class PlaceRulesOut(PlaceOut):
    rules: list[RuleOut]

    @classmethod
    def of(cls, place: Place) -> PlaceRulesOut:
        return cls(
            key=place.key,
            name=place.name,
            rules=[RuleOut.model_validate(rule.model_dump(mode="json")) for rule in place.rules],
        )


class SavedFunnelIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    spec: FunnelSpec
    days: Annotated[int, Field(ge=1, le=400, description="It looks back this many days")] = 30
    on_dashboard: bool = False


class SavedFunnelChange(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    spec: FunnelSpec | None = None
    days: Annotated[int, Field(ge=1, le=400)] | None = None
    on_dashboard: bool | None = None


class SavedFunnelOut(BaseModel):
    id: int
    name: str
    spec: dict[str, object]
    days: int
    on_dashboard: bool
    created_at: datetime
    updated_at: datetime


class SavedFunnelPage(BaseModel):
    items: list[SavedFunnelOut]
    next_cursor: str | None
