"""Text analytics over the stored analyses: weekly volume and sentiment per category and per
theme, spikes of negative comments (and the notice to the team that owns the category), the
"fix first" priority with its parts, the emotion curve by journey stage and touchpoint, and the
verbatims behind each number.

Every query counts one workspace's analyses and aggregates in the database, so Python only sees
a few rows per category and week. Weeks are ISO weeks (Monday first) in the workspace's time
zone; a window is half-open, ``start <= occurred_at < end``, and holds the current week.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scipy.stats import poisson
from sqlalchemy import ColumnElement, Select, case, distinct, exists, func, literal, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, scoped
from cxloop.core.errors import ValidationFailed
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import Customer, TextAnalysis, TextAnalysisCategory, TextCategory, Workspace
from cxloop.models.customer import LIFECYCLE_STAGES
from cxloop.models.text import SENTIMENTS, TextTheme, TextThemeMember
from cxloop.text.sources import TouchpointSource, sources
from cxloop.text.taxonomy import service as text_taxonomy

DEFAULT_WEEKS = 12
MAX_WEEKS = 104
LANGS = ("ko", "en", "other")
DEFAULT_TZ = "Asia/Seoul"
# Spikes: this week's negative texts of a category against the weeks before it.
SPIKE_BASELINE_WEEKS = 8
SPIKE_MIN_COUNT = 5  # fewer negative texts than this are never a spike
SPIKE_MIN_RATIO = 1.5  # and at least half as many again as the baseline expects
SPIKE_ALPHA = 0.01  # Poisson tail probability below which the count is unusual
SPIKE_FLOOR = 0.5  # the expected weekly count of a category that had none before
NOTICE_KIND = "text_spike"
MAX_TOUCHPOINTS = 12
Z95 = 1.959964


# --- windows -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """The weeks a page or a query counts: ``weeks`` Monday dates (local), oldest first, and
    their UTC bounds (one more than the weeks: the last is the end of the window)."""

    workspace_id: int
    tz: str
    weeks: tuple[date, ...]
    bounds: tuple[datetime, ...]

    @property
    def start(self) -> datetime:
        return self.bounds[0]

    @property
    def end(self) -> datetime:
        return self.bounds[-1]


def zone_of(session: Session, *, workspace_id: int) -> ZoneInfo:
    """The workspace's time zone (Asia/Seoul when unset or unknown)."""
    name = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def week_start(moment: datetime, tz: ZoneInfo) -> date:
    """The Monday of the local week ``moment`` falls in."""
    local = as_utc(moment).astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def make_window(
    *, workspace_id: int, tz: ZoneInfo, weeks: int = DEFAULT_WEEKS, now: datetime | None = None
) -> Window:
    """The ``weeks`` local weeks up to and including the one holding ``now``."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValidationFailed(
            f"A window has 1 to {MAX_WEEKS} weeks.",
            errors=[{"field": "weeks", "message": f"must be from 1 to {MAX_WEEKS}"}],
        )
    last = week_start(now or utcnow(), tz)
    starts = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    bounds = [_midnight(day, tz) for day in [*starts, last + timedelta(weeks=1)]]
    return Window(workspace_id, tz.key, tuple(starts), tuple(bounds))


def workspace_window(
    session: Session, *, workspace_id: int, weeks: int = DEFAULT_WEEKS, now: datetime | None = None
) -> Window:
    """:func:`make_window` in the workspace's time zone."""
    return make_window(
        workspace_id=workspace_id,
        tz=zone_of(session, workspace_id=workspace_id),
        weeks=weeks,
        now=now,
    )


def check_lang(lang: str | None) -> str | None:
    if lang in (None, ""):
        return None
    if lang not in LANGS:
        raise ValidationFailed(
            "lang must be ko, en or other.",
            errors=[{"field": "lang", "message": "ko, en or other"}],
        )
    return lang


def _week_index(column: Any, inner: Sequence[datetime]) -> ColumnElement[int]:
    """The index of the week a timestamp falls in, from the bounds between weeks."""
    if not inner:
        return literal(0)
    whens = [(column >= bound, i + 1) for i, bound in reversed(list(enumerate(inner)))]
    return case(*whens, else_=0)


def _negative(column: Any) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((column == "negative", 1), else_=0)), 0)


# --- weekly series -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Week:
    start: date
    volume: int
    negative: int
    score_sum: float

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.volume if self.volume else None

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.volume if self.volume else None


@dataclass(frozen=True, slots=True)
class Series:
    """Weekly volume and sentiment of one category, theme or of every text."""

    key: str
    weeks: tuple[Week, ...]

    @property
    def volume(self) -> int:
        return sum(w.volume for w in self.weeks)

    @property
    def negative(self) -> int:
        return sum(w.negative for w in self.weeks)

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.volume if self.volume else None

    @property
    def mean_score(self) -> float | None:
        total = sum(w.score_sum for w in self.weeks)
        return total / self.volume if self.volume else None


def _series(window: Window, key: str, cells: dict[int, tuple[int, int, float]]) -> Series:
    return Series(
        key,
        tuple(Week(start, *cells.get(i, (0, 0, 0.0))) for i, start in enumerate(window.weeks)),
    )


def _in_window(window: Window, lang: str | None) -> list[ColumnElement[bool]]:
    clauses = [
        TextAnalysis.workspace_id == window.workspace_id,
        TextAnalysis.occurred_at >= window.start,
        TextAnalysis.occurred_at < window.end,
    ]
    if lang is not None:
        clauses.append(TextAnalysis.lang == lang)
    return clauses


def overall_trend(session: Session, *, window: Window, lang: str | None = None) -> Series:
    """Weekly volume and sentiment of every analysed text of the workspace."""
    index = _week_index(TextAnalysis.occurred_at, window.bounds[1:-1]).label("week")
    rows = session.execute(
        select(
            index,
            func.count(),
            _negative(TextAnalysis.sentiment),
            func.coalesce(func.sum(TextAnalysis.score), 0.0),
        )
        .where(*_in_window(window, check_lang(lang)))
        .group_by(index)
    )
    cells = {int(r[0]): (int(r[1]), int(r[2]), float(r[3])) for r in rows}
    return _series(window, "all", cells)


def category_trends(
    session: Session, *, window: Window, lang: str | None = None
) -> dict[str, Series]:
    """Weekly volume and sentiment per category (every category with texts in the window)."""
    tac = TextAnalysisCategory
    index = _week_index(tac.occurred_at, window.bounds[1:-1]).label("week")
    query = (
        select(
            tac.category,
            index,
            func.count(),
            _negative(tac.sentiment),
            func.coalesce(func.sum(TextAnalysis.score), 0.0),
        )
        .join(TextAnalysis, TextAnalysis.id == tac.analysis_id)
        .where(
            tac.workspace_id == window.workspace_id,
            tac.occurred_at >= window.start,
            tac.occurred_at < window.end,
            *_in_window(window, check_lang(lang)),
        )
        .group_by(tac.category, index)
    )
    cells: dict[str, dict[int, tuple[int, int, float]]] = defaultdict(dict)
    for category, week, volume, negative, score_sum in session.execute(query):
        cells[category][int(week)] = (int(volume), int(negative), float(score_sum))
    return {key: _series(window, key, c) for key, c in sorted(cells.items())}


def theme_trends(session: Session, *, window: Window, lang: str | None = None) -> dict[int, Series]:
    """Weekly volume and sentiment of the texts of each current theme."""
    index = _week_index(TextAnalysis.occurred_at, window.bounds[1:-1]).label("week")
    query = (
        select(
            TextThemeMember.theme_id,
            index,
            func.count(),
            _negative(TextAnalysis.sentiment),
            func.coalesce(func.sum(TextAnalysis.score), 0.0),
        )
        .join(TextAnalysis, TextAnalysis.id == TextThemeMember.analysis_id)
        .where(TextThemeMember.workspace_id == window.workspace_id, *_in_window(window, lang))
        .group_by(TextThemeMember.theme_id, index)
    )
    cells: dict[int, dict[int, tuple[int, int, float]]] = defaultdict(dict)
    for theme_id, week, volume, negative, score_sum in session.execute(query):
        cells[int(theme_id)][int(week)] = (int(volume), int(negative), float(score_sum))
    return {key: _series(window, str(key), c) for key, c in sorted(cells.items())}


def categories_of(session: Session, *, workspace_id: int) -> list[TextCategory]:
    """The workspace's taxonomy in its order (inactive categories too: old texts carry them)."""
    text_taxonomy.ensure_taxonomy(session, workspace_id=workspace_id)
    return list(
        session.scalars(
            scoped(select(TextCategory), TextCategory, workspace_id).order_by(
                TextCategory.position, TextCategory.id
            )
        )
    )


# --- spikes --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spike:
    """A category whose negative texts this week are far above what its recent weeks lead one
    to expect."""

    category: str
    week: date
    count: int
    expected: float  # mean negative texts per week in the baseline weeks (at least the floor)
    p_value: float  # P(X >= count) for X ~ Poisson(expected)
    z: float  # (count - expected) / sqrt(expected)

    @property
    def ratio(self) -> float:
        return self.count / self.expected


def spike_test(
    category: str,
    week: date,
    count: int,
    baseline: Sequence[int],
    *,
    min_count: int = SPIKE_MIN_COUNT,
    min_ratio: float = SPIKE_MIN_RATIO,
    alpha: float = SPIKE_ALPHA,
) -> Spike | None:
    """A spike when ``count`` is at least ``min_count`` and ``min_ratio`` times the baseline's
    weekly mean, and a Poisson count with that mean reaches it with probability below
    ``alpha``; None otherwise."""
    expected = max(sum(baseline) / len(baseline) if baseline else 0.0, SPIKE_FLOOR)
    if count < min_count or count < min_ratio * expected:
        return None
    p_value = float(poisson.sf(count - 1, expected))
    if p_value >= alpha:
        return None
    z = (count - expected) / math.sqrt(expected)
    return Spike(category, week, count, round(expected, 4), p_value, round(z, 3))


def detect_spikes(
    session: Session,
    *,
    workspace_id: int,
    now: datetime | None = None,
    lang: str | None = None,
    baseline_weeks: int = SPIKE_BASELINE_WEEKS,
) -> list[Spike]:
    """Categories with a spike of negative texts in the current week, largest ratio first."""
    window = workspace_window(session, workspace_id=workspace_id, weeks=baseline_weeks + 1, now=now)
    found = []
    for key, series in category_trends(session, window=window, lang=lang).items():
        counts = [w.negative for w in series.weeks]
        spike = spike_test(key, window.weeks[-1], counts[-1], counts[:-1])
        if spike is not None:
            found.append(spike)
    return sorted(found, key=lambda s: (-s.ratio, s.category))


@dataclass(frozen=True)
class SpikeNotice:
    """What text says when a category spikes; whoever tells people (``channels``) listens."""

    workspace_id: int
    kind: str
    params: dict[str, Any]
    link: str
    dedupe_key: str
    team: str | None


# Each listener tells the notice's team and says whether anyone new was told. Registered by
# the domain registry: text is a library and sends nothing itself.
SpikeListener = Callable[[Session, SpikeNotice], bool]
spike_listeners: list[SpikeListener] = []


def notify_spikes(
    session: Session, *, workspace_id: int, now: datetime | None = None
) -> list[Spike]:
    """Tell each spiking category's team (its owners and admins when it has none) once per
    category and week, through the spike listeners; the spikes that made a new notice are
    returned."""
    spikes = detect_spikes(session, workspace_id=workspace_id, now=now)
    if not spikes:
        return []
    by_key = {c.key: c for c in categories_of(session, workspace_id=workspace_id)}
    told = []
    for spike in spikes:
        category = by_key.get(spike.category)
        names = (
            (category.name_ko, category.name_en) if category else (spike.category, spike.category)
        )
        name = names[0] if names[0] == names[1] else f"{names[0]} / {names[1]}"
        notice = SpikeNotice(
            workspace_id=workspace_id,
            kind=NOTICE_KIND,
            params={
                "category": name,
                "count": spike.count,
                "expected": f"{spike.expected:.1f}",
                "week": spike.week.isoformat(),
            },
            link=f"/text/verbatims?category={spike.category}&sentiment=negative&weeks=1",
            dedupe_key=f"{NOTICE_KIND}:{workspace_id}:{spike.category}:{spike.week.isoformat()}",
            team=(category.team if category is not None else "") or None,
        )
        told_someone = False
        for listener in spike_listeners:
            told_someone = listener(session, notice) or told_someone
        if told_someone:
            told.append(spike)
    return told


def set_category_team(
    session: Session,
    *,
    workspace_id: int,
    key: str,
    team: str,
    principal: Principal | None = None,
) -> TextCategory:
    """Name the team that owns a category (its spikes notify that team); "" for the admins.
    Audited when it changes."""
    name = " ".join(team.split())
    if len(name) > 64:
        raise ValidationFailed(
            "A team name is at most 64 characters.",
            errors=[{"field": "team", "message": "at most 64 characters"}],
        )
    category = text_taxonomy.get_category(session, workspace_id=workspace_id, key=key)
    if category.team != name:
        category.team = name
        session.flush()
        if principal is not None:
            text_taxonomy.audit_category(session, principal, "text_category.team", category)
    return category


# --- priority ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Priority:
    """Why a category is worth fixing: how many texts, how negative, how valuable the customers
    who complained; ``score`` is volume × negativity × value, 100 for the first of the list."""

    category: str
    volume: int
    negative: int
    negativity: float  # negative / volume
    customers: int  # distinct customers with a negative text in the category
    mean_value: float | None  # their mean historical revenue
    value_index: float  # mean_value / the mean of every customer who wrote in the window
    raw: float
    score: float


def priority(session: Session, *, window: Window, lang: str | None = None) -> list[Priority]:
    """The "fix first" list: categories with negative texts in the window, highest score first."""
    lang = check_lang(lang)
    trends = category_trends(session, window=window, lang=lang)
    tac = TextAnalysisCategory
    affected = (
        select(tac.category.label("category"), Customer.id.label("customer_id"))
        .join(TextAnalysis, TextAnalysis.id == tac.analysis_id)
        .join(Customer, Customer.id == TextAnalysis.customer_id)
        .where(
            tac.workspace_id == window.workspace_id,
            tac.occurred_at >= window.start,
            tac.occurred_at < window.end,
            tac.sentiment == "negative",
            Customer.workspace_id == window.workspace_id,
            *_in_window(window, lang),
        )
        .distinct()
        .subquery()
    )
    values = {
        row.category: (int(row.customers), row.mean)
        for row in session.execute(
            select(
                affected.c.category,
                func.count().label("customers"),
                func.avg(Customer.total_revenue).label("mean"),
            )
            .join(Customer, Customer.id == affected.c.customer_id)
            .group_by(affected.c.category)
        )
    }
    everyone = session.scalar(
        select(func.avg(Customer.total_revenue)).where(
            Customer.id.in_(
                select(distinct(TextAnalysis.customer_id)).where(*_in_window(window, lang))
            ),
            Customer.workspace_id == window.workspace_id,
        )
    )
    baseline = float(everyone) if everyone else 0.0
    rows = []
    for key, series in trends.items():
        if not series.negative:
            continue
        customers, mean = values.get(key, (0, None))
        mean_value = float(mean) if mean is not None else None
        # Without known customers or revenue the value part is neutral, not zero.
        index = mean_value / baseline if mean_value is not None and baseline > 0 else 1.0
        negativity = series.negative / series.volume
        rows.append((key, series, negativity, customers, mean_value, index))
    raws = [series.volume * negativity * index for _, series, negativity, _, _, index in rows]
    top = max(raws, default=0.0) or 1.0
    out = [
        Priority(
            category=key,
            volume=series.volume,
            negative=series.negative,
            negativity=round(negativity, 4),
            customers=customers,
            mean_value=round(mean_value, 2) if mean_value is not None else None,
            value_index=round(index, 4),
            raw=round(raw, 4),
            score=round(100 * raw / top, 1),
        )
        for (key, series, negativity, customers, mean_value, index), raw in zip(
            rows, raws, strict=True
        )
    ]
    return sorted(out, key=lambda p: (-p.raw, p.category))


# --- emotion curve -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmotionPoint:
    """Mean sentiment score (-1 to 1) of the texts written at one stage or touchpoint, with a
    95% interval."""

    key: str
    n: int
    mean: float
    ci_low: float
    ci_high: float
    negative_share: float


@dataclass(frozen=True, slots=True)
class EmotionCurve:
    stages: tuple[EmotionPoint, ...]  # in journey order
    touchpoints: tuple[EmotionPoint, ...]  # most texts first


def _point(key: str, n: int, total: float, squares: float, negative: int) -> EmotionPoint:
    mean = total / n
    variance = max(squares / n - mean * mean, 0.0) * (n / (n - 1)) if n > 1 else 0.0
    half = Z95 * math.sqrt(variance / n) if n > 1 else 0.0
    return EmotionPoint(
        key=key,
        n=n,
        mean=round(mean, 4),
        ci_low=round(max(mean - half, -1.0), 4),
        ci_high=round(min(mean + half, 1.0), 4),
        negative_share=round(negative / n, 4),
    )


def emotion_curve(
    session: Session,
    *,
    workspace_id: int,
    start: datetime,
    end: datetime,
    lang: str | None = None,
    max_touchpoints: int = MAX_TOUCHPOINTS,
) -> EmotionCurve:
    """How customers feel at each journey stage (their lifecycle stage) and touchpoint (where
    the text was asked for, as its source knows it), from the texts written in [start, end).
    The journey map and the CX dashboard call this with their own period."""
    lang = check_lang(lang)
    clauses = [
        TextAnalysis.workspace_id == workspace_id,
        TextAnalysis.occurred_at >= as_utc(start),
        TextAnalysis.occurred_at < as_utc(end),
    ]
    if lang is not None:
        clauses.append(TextAnalysis.lang == lang)
    # Tallied per customer first (from the covering index), so each profile is read once.
    per_customer = (
        select(
            TextAnalysis.customer_id.label("customer_id"),
            func.count().label("n"),
            func.sum(TextAnalysis.score).label("total"),
            func.sum(TextAnalysis.score * TextAnalysis.score).label("squares"),
            _negative(TextAnalysis.sentiment).label("negative"),
        )
        .where(*clauses, TextAnalysis.customer_id.is_not(None))
        .group_by(TextAnalysis.customer_id)
        .subquery("per_customer")
    )
    stage_rows = session.execute(
        select(
            Customer.lifecycle_stage,
            func.sum(per_customer.c.n),
            func.sum(per_customer.c.total),
            func.sum(per_customer.c.squares),
            func.sum(per_customer.c.negative),
        )
        .select_from(per_customer)
        .join(Customer, Customer.id == per_customer.c.customer_id)
        .where(Customer.workspace_id == workspace_id)
        .group_by(Customer.lifecycle_stage)
    ).all()
    order = {stage: i for i, stage in enumerate(LIFECYCLE_STAGES)}
    stages = sorted(
        (_point(str(r[0]), int(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in stage_rows),
        key=lambda p: (order.get(p.key, len(order)), p.key),
    )
    tallies: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0])
    for source_type, source in sorted(sources.items()):
        if not isinstance(source, TouchpointSource):
            continue
        places = source.touchpoints(workspace_id=workspace_id).subquery("places")
        for place, n, total, squares, negative in session.execute(
            select(
                places.c.touchpoint,
                func.count(),
                func.sum(TextAnalysis.score),
                func.sum(TextAnalysis.score * TextAnalysis.score),
                _negative(TextAnalysis.sentiment),
            )
            .select_from(TextAnalysis)
            .join(places, places.c.source_id == TextAnalysis.source_id)
            .where(*clauses, TextAnalysis.source_type == source_type)
            .group_by(places.c.touchpoint)
        ):
            tally = tallies[str(place)]  # sources may name the same touchpoint
            tally[0] += int(n)
            tally[1] += float(total)
            tally[2] += float(squares)
            tally[3] += int(negative)
    touchpoints = sorted(
        (_point(k, int(t[0]), t[1], t[2], int(t[3])) for k, t in tallies.items()),
        key=lambda p: (-p.n, p.key),
    )[:max_touchpoints]
    return EmotionCurve(stages=tuple(stages), touchpoints=tuple(touchpoints))


def scored_texts(*, workspace_id: int, start: datetime, end: datetime) -> Select[Any]:
    """The analysed texts of known customers written in [start, end): ``customer_id``,
    ``occurred_at``, ``score`` (−1..1) and ``touchpoint`` (where the source knows it, else
    NULL) — a statement other domains join, as the journey map does by stage."""
    places = [
        select(
            literal(source_type).label("source_type"),
            statement.c.source_id,
            statement.c.touchpoint,
        )
        for source_type, source in sorted(sources.items())
        if isinstance(source, TouchpointSource)
        for statement in [source.touchpoints(workspace_id=workspace_id).subquery()]
    ]
    query = select(
        TextAnalysis.customer_id,
        TextAnalysis.occurred_at,
        TextAnalysis.score,
    ).where(
        TextAnalysis.workspace_id == workspace_id,
        TextAnalysis.customer_id.is_not(None),
        TextAnalysis.occurred_at >= as_utc(start),
        TextAnalysis.occurred_at < as_utc(end),
    )
    if not places:
        return query.add_columns(literal(None).label("touchpoint"))
    known = (
        places[0].union_all(*places[1:]).subquery("places")
        if len(places) > 1
        else places[0].subquery("places")
    )
    return query.add_columns(known.c.touchpoint).outerjoin(
        known,
        (known.c.source_type == TextAnalysis.source_type)
        & (known.c.source_id == TextAnalysis.source_id),
    )


# --- verbatims -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verbatim:
    """One analysed text and its words (None when its source no longer has them)."""

    analysis: TextAnalysis
    text: str | None


def verbatims(
    session: Session,
    *,
    workspace_id: int,
    category: str | None = None,
    theme_id: int | None = None,
    sentiment: str | None = None,
    lang: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[Verbatim], str | None]:
    """The texts behind a number (a category, a theme, a sentiment), newest first, with their
    words from their source; cursor pagination."""
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ValidationFailed(
            "sentiment must be positive, neutral or negative.",
            errors=[{"field": "sentiment", "message": "positive, neutral or negative"}],
        )
    lang = check_lang(lang)
    query: Select[Any] = scoped(select(TextAnalysis), TextAnalysis, workspace_id)
    if category is not None:
        query = query.where(
            exists().where(
                TextAnalysisCategory.analysis_id == TextAnalysis.id,
                TextAnalysisCategory.workspace_id == workspace_id,
                TextAnalysisCategory.category == category,
            )
        )
    if theme_id is not None:
        query = query.where(
            exists().where(
                TextThemeMember.analysis_id == TextAnalysis.id,
                TextThemeMember.workspace_id == workspace_id,
                TextThemeMember.theme_id == theme_id,
            )
        )
    if sentiment is not None:
        query = query.where(TextAnalysis.sentiment == sentiment)
    if lang is not None:
        query = query.where(TextAnalysis.lang == lang)
    if since is not None:
        query = query.where(TextAnalysis.occurred_at >= as_utc(since))
    if until is not None:
        query = query.where(TextAnalysis.occurred_at < as_utc(until))
    rows, next_cursor = newest_first(
        session,
        query,
        time=TextAnalysis.occurred_at,
        id=TextAnalysis.id,
        cursor=cursor,
        limit=max(1, min(limit, 200)),
    )
    texts: dict[tuple[str, int], str] = {}
    wanted: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        wanted[row.source_type].append(row.source_id)
    for source_type, ids in wanted.items():
        source = sources.get(source_type)
        if source is None:
            continue
        for item in source.fetch(session, workspace_id=workspace_id, ids=ids):
            texts[(source_type, item.source_id)] = item.text
    return [Verbatim(a, texts.get((a.source_type, a.source_id))) for a in rows], next_cursor


def theme_of(session: Session, *, workspace_id: int, theme_id: int) -> TextTheme | None:
    return session.scalar(
        scoped(select(TextTheme), TextTheme, workspace_id).where(TextTheme.id == theme_id)
    )
