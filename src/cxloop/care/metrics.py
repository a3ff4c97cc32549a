"""Care metrics of a workspace and period, filtered by channel, team and agent: volume by
channel; first-response, next-response and resolution times on the wall clock and in the
team's business hours (median and p90); first-contact resolution; reopen rate; SLA met per
target; CSAT per agent and team with Wilson intervals; and the backlog by age.

Which conversations count:
- volume: conversations started in the period, and the messages written in it (the
  customer's in, replies out; automatic ones and notes not counted);
- times, first-contact resolution, reopen rate and SLA: the conversations started in the
  period (the agent filter is the assignee). First response runs from the start to the first
  reply; next response from a customer message that follows a reply to the next reply;
  resolution from the start to the (last) resolution;
- first-contact resolution: resolved with exactly one agent reply and never reopened, among
  the conversations resolved at least once (resolved now, or reopened since); the reopen rate
  is the share of those reopened;
- SLA met: of the conversations whose target fell due (stopped, or its time passed), those
  that did not miss it;
- CSAT: answers to the surveys sent after the resolutions in the period, counted for the agent
  (assignee at resolution) and team of each;
- backlog: open and pending conversations now, by age since they started.

Aggregates run in SQL; the times are read as a few numbers per conversation (epoch seconds,
through the connection: no ORM row handling for 100,000 rows) and their percentiles (linear
interpolation, as PostgreSQL's ``percentile_cont``) computed here, business time through each
team's calendar measured once over the span of the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from cxloop.care.durations import Durations, TeamClocks, epoch
from cxloop.care.sla import TARGETS
from cxloop.core import stats
from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import OLDEST_EVENT, as_utc, utcnow
from cxloop.feedback.responses.summaries import csat_counts_by
from cxloop.models import (
    CareInbox,
    CareTeamHours,
    Conversation,
    ConversationMessage,
    CsatRequest,
    SlaPolicy,
)
from cxloop.models.care import INBOX_CHANNELS

MAX_PERIOD = timedelta(days=366)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# Backlog age buckets: (key, upper bound), the last open-ended.
BACKLOG_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("under_1h", timedelta(hours=1)),
    ("1h_4h", timedelta(hours=4)),
    ("4h_24h", timedelta(hours=24)),
    ("1d_3d", timedelta(days=3)),
    ("3d_7d", timedelta(days=7)),
    ("over_7d", None),
)
BACKLOG_STATUSES = ("open", "pending")


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsFilter:
    channel: str | None = None
    team: str | None = None
    agent_id: int | None = None


@dataclass(frozen=True)
class TimeMetric:
    wall: Durations
    business: Durations


@dataclass(frozen=True)
class ChannelVolume:
    channel: str
    conversations: int
    messages_in: int
    messages_out: int


@dataclass(frozen=True)
class Share:
    """``part`` of ``whole`` in percent with its Wilson interval (None when whole is 0)."""

    part: int
    whole: int
    estimate: stats.ProportionEstimate | None


@dataclass(frozen=True)
class SlaMet:
    target: str
    met: int
    due: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.met / self.due if self.due else None


@dataclass(frozen=True)
class CsatGroup:
    """CSAT (percent satisfied) of one agent (``key`` their user id, None: unassigned) or team."""

    key: Any
    estimate: stats.ProportionEstimate


@dataclass(frozen=True)
class Backlog:
    buckets: list[tuple[str, int]]
    total: int
    oldest_id: int | None
    oldest_started_at: datetime | None
    oldest_age: float | None  # seconds


@dataclass(frozen=True)
class CareMetrics:
    workspace_id: int
    start: datetime
    end: datetime
    filters: MetricsFilter
    volume: list[ChannelVolume]
    first_response: TimeMetric
    next_response: TimeMetric
    resolution: TimeMetric
    first_contact_resolution: Share
    reopened: Share
    sla: list[SlaMet]
    csat: stats.ProportionEstimate | None
    csat_by_agent: list[CsatGroup]
    csat_by_team: list[CsatGroup]
    backlog: Backlog
    conversations: int = field(default=0)


# --- arithmetic ---------------------------------------------------------------------------------


def share(part: int, whole: int) -> Share:
    estimate = stats.proportion_interval(part, whole, scale=100.0) if whole else None
    return Share(part=part, whole=whole, estimate=estimate)


# --- the queries --------------------------------------------------------------------------------


def check_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = as_utc(start), as_utc(end)
    if start < OLDEST_EVENT or end > LATEST:
        raise ValidationFailed(
            "The period must lie between 2000 and 2100.",
            errors=[
                {"field": "since" if start < OLDEST_EVENT else "until", "message": "2000–2100"}
            ],
        )
    if end <= start:
        raise ValidationFailed(
            "The period must end after it starts.",
            errors=[{"field": "until", "message": "must be after since"}],
        )
    if end - start > MAX_PERIOD:
        raise ValidationFailed(
            "The period is at most 366 days.",
            errors=[{"field": "since", "message": "at most 366 days before until"}],
        )
    return start, end


def check_filters(filters: MetricsFilter) -> MetricsFilter:
    if filters.channel is not None and filters.channel not in INBOX_CHANNELS:
        raise ValidationFailed(
            f"channel must be one of {', '.join(INBOX_CHANNELS)}.",
            errors=[{"field": "channel", "message": "unknown channel"}],
        )
    return filters


def _scope(filters: MetricsFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.channel is not None:
        clauses.append(Conversation.channel == filters.channel)
    if filters.team is not None:
        clauses.append(Conversation.team == filters.team)
    if filters.agent_id is not None:
        clauses.append(Conversation.assignee_id == filters.agent_id)
    return clauses


def _started(
    workspace_id: int, start: datetime, end: datetime, filters: MetricsFilter
) -> list[ColumnElement[bool]]:
    return [
        Conversation.workspace_id == workspace_id,
        Conversation.created_at >= start,
        Conversation.created_at < end,
        *_scope(filters),
    ]


def _count_when(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def volume(
    session: Session,
    *,
    workspace_id: int,
    start: datetime,
    end: datetime,
    filters: MetricsFilter = MetricsFilter(),
) -> list[ChannelVolume]:
    """Conversations started and messages in and out in the period, by channel."""
    started = {
        channel: int(count)
        for channel, count in session.connection().execute(
            select(Conversation.channel, func.count())
            .where(*_started(workspace_id, start, end, filters))
            .group_by(Conversation.channel)
        )
    }
    m = ConversationMessage
    messages = {
        channel: (int(inbound), int(outbound))
        for channel, inbound, outbound in session.connection().execute(
            select(
                Conversation.channel,
                _count_when(m.direction == "in"),
                _count_when(m.direction == "out"),
            )
            .join(Conversation, Conversation.id == m.conversation_id)
            .where(
                m.workspace_id == workspace_id,
                m.created_at >= start,
                m.created_at < end,
                m.direction.in_(("in", "out")),
                m.automatic.is_(False),
                Conversation.workspace_id == workspace_id,
                *_scope(filters),
            )
            .group_by(Conversation.channel)
        )
    }
    channels = sorted(set(started) | set(messages))
    return [
        ChannelVolume(
            channel=c,
            conversations=int(started.get(c, 0)),
            messages_in=messages.get(c, (0, 0))[0],
            messages_out=messages.get(c, (0, 0))[1],
        )
        for c in channels
    ]


def _next_response_spans(
    session: Session, clauses: list[ColumnElement[bool]]
) -> list[tuple[int, str, float, float]]:
    """(conversation, team, customer message, next reply) for every customer message that came
    after a reply, with the reply that answered it (epoch seconds)."""
    m = ConversationMessage
    is_reply = m.direction == "out"
    partition, order = m.conversation_id, (m.created_at, m.id)
    ordered = (
        select(
            m.conversation_id,
            Conversation.team,
            m.direction,
            epoch(m.created_at).label("at"),
            func.lag(m.direction).over(partition_by=partition, order_by=order).label("before"),
            func.min(case((is_reply, epoch(m.created_at))))
            .over(partition_by=partition, order_by=order, rows=(1, None))
            .label("next_reply_at"),
        )
        .join(Conversation, Conversation.id == m.conversation_id)
        .where(
            *clauses,
            # only a conversation whose customer wrote after the first reply has such a span
            Conversation.last_customer_message_at > Conversation.first_response_at,
            m.automatic.is_(False),
            or_(m.direction == "in", and_(is_reply, m.author == "agent")),
        )
        .subquery()
    )
    rows = session.connection().execute(
        select(
            ordered.c.conversation_id, ordered.c.team, ordered.c.at, ordered.c.next_reply_at
        ).where(
            ordered.c.direction == "in",
            ordered.c.before == "out",
            ordered.c.next_reply_at.is_not(None),
        )
    )
    return [(cid, team, a, b) for cid, team, a, b in rows]


class _Row(NamedTuple):
    """What the period's conversation metrics read of each conversation (times in epoch
    seconds; ``missed``: the JSON text of the targets it missed; ``replies``: its agent
    replies, counted only when it is resolved and was never reopened)."""

    id: int
    team: str
    resolved: bool
    created: float
    first_response: float | None
    resolved_at: float | None
    reopened: int
    first_response_due: float | None
    next_response_due: float | None
    resolution_due: float | None
    missed: str
    replies: int

    def missed_target(self, target: str) -> bool:
        return f'"{target}"' in (self.missed or "")


def _conversations(session: Session, clauses: list[ColumnElement[bool]]) -> list[_Row]:
    c, m = Conversation, ConversationMessage
    # Per row through the conversation's index of messages, and only where first-contact
    # resolution asks: cheaper than counting every conversation's replies.
    replies = (
        select(func.count())
        .where(
            m.conversation_id == c.id,
            m.direction == "out",
            m.author == "agent",
            m.automatic.is_(False),
        )
        .correlate(c)
        .scalar_subquery()
    )
    query = select(
        c.id,
        c.team,
        case((c.status == "resolved", 1), else_=0),
        epoch(c.created_at),
        epoch(c.first_response_at),
        epoch(c.resolved_at),
        c.reopened_count,
        epoch(c.first_response_due_at),
        epoch(c.next_response_due_at),
        epoch(c.resolution_due_at),
        # The JSON list as text on both databases: '["first_response", "resolution"]'.
        cast(c.sla_missed, String),
        case((and_(c.status == "resolved", c.reopened_count == 0), replies), else_=0),
    ).where(*clauses)
    return [_Row._make(row) for row in session.connection().execute(query)]


def _sla_met(
    rows: list[_Row],
    next_spans: set[int],
    has_next_target: Callable[[str], bool],
    now: float,
) -> list[SlaMet]:
    """Per target: conversations whose target fell due, and of those the ones that met it."""
    due = dict.fromkeys(TARGETS, 0)
    met = dict.fromkeys(TARGETS, 0)

    def settle(target: str, missed: bool) -> None:
        due[target] += 1
        met[target] += not missed

    for r in rows:
        if (when := r.first_response_due) is not None:
            if r.first_response is not None:
                missed = r.missed_target("first_response") or r.first_response > when
                settle("first_response", missed)
            elif when <= now:
                settle("first_response", True)
        if (when := r.resolution_due) is not None:
            if r.resolved and r.resolved_at is not None:
                settle("resolution", r.missed_target("resolution") or r.resolved_at > when)
            elif when <= now:
                settle("resolution", True)
        waiting = r.next_response_due
        if r.missed_target("next_response") or (waiting is not None and waiting <= now):
            settle("next_response", True)
        elif r.id in next_spans and waiting is None and has_next_target(r.team):
            settle("next_response", False)
    return [SlaMet(target=t, met=met[t], due=due[t]) for t in TARGETS]


def _next_response_targets(session: Session, workspace_id: int) -> Callable[[str], bool]:
    """Whether a team's policy (its own, else the workspace's default) has a next-response
    target."""
    policies = {
        p.team: p.next_response_minutes is not None
        for p in session.scalars(select(SlaPolicy).where(SlaPolicy.workspace_id == workspace_id))
    }
    return lambda team: policies.get(team, policies.get("", False))


def _csat_requests(
    workspace_id: int, start: datetime, end: datetime, filters: MetricsFilter, key: Any
) -> Select[tuple[int, Any]]:
    r = CsatRequest
    query = select(r.invitation_id, key).where(
        r.workspace_id == workspace_id,
        r.resolved_at >= start,
        r.resolved_at < end,
        r.invitation_id.is_not(None),
    )
    if filters.channel is not None:
        query = query.where(r.channel == filters.channel)
    if filters.team is not None:
        query = query.where(r.team == filters.team)
    if filters.agent_id is not None:
        query = query.where(r.agent_id == filters.agent_id)
    return query


def csat_by(
    session: Session,
    *,
    workspace_id: int,
    start: datetime,
    end: datetime,
    filters: MetricsFilter = MetricsFilter(),
    by: str,
) -> list[CsatGroup]:
    """CSAT of the answers to the surveys sent after the period's resolutions, per ``agent``
    (assignee at resolution) or ``team``, with 95% Wilson intervals; most answers first."""
    key = CsatRequest.agent_id if by == "agent" else CsatRequest.team
    counts = csat_counts_by(
        session,
        workspace_id=workspace_id,
        invitations=_csat_requests(workspace_id, start, end, filters, key),
    )
    groups = [
        CsatGroup(key=k, estimate=stats.csat_from_counts(satisfied=s, total=n))
        for k, (s, n) in counts.items()
        if n
    ]
    return sorted(groups, key=lambda g: (-g.estimate.n, str(g.key)))


def backlog(
    session: Session,
    *,
    workspace_id: int,
    filters: MetricsFilter = MetricsFilter(),
    now: datetime | None = None,
) -> Backlog:
    """Open and pending conversations now, by how long ago they started, and the oldest."""
    now = as_utc(now or utcnow())
    clauses = [
        Conversation.workspace_id == workspace_id,
        Conversation.status.in_(BACKLOG_STATUSES),
        Conversation.created_at <= now,
        *_scope(filters),
    ]
    columns = []
    lower: datetime | None = None
    for _key, bound in BACKLOG_BUCKETS:
        upper = now - bound if bound is not None else None  # started after this
        condition = [Conversation.created_at > upper] if upper is not None else []
        if lower is not None:
            condition.append(Conversation.created_at <= lower)
        columns.append(_count_when(and_(*condition)) if condition else func.count())
        lower = upper
    counts = session.execute(select(*columns).where(*clauses)).one()
    oldest = session.execute(
        select(Conversation.id, Conversation.created_at)
        .where(*clauses)
        .order_by(Conversation.created_at, Conversation.id)
        .limit(1)
    ).first()
    buckets = [(key, int(n)) for (key, _b), n in zip(BACKLOG_BUCKETS, counts, strict=True)]
    started = as_utc(oldest[1]) if oldest else None
    return Backlog(
        buckets=buckets,
        total=sum(n for _k, n in buckets),
        oldest_id=oldest[0] if oldest else None,
        oldest_started_at=started,
        oldest_age=(now - started).total_seconds() if started else None,
    )


@dataclass(frozen=True)
class _Period:
    """What every view of a period's conversations reads: their rows, the business clocks
    over them, and the outcomes made of the rows alone."""

    rows: list[_Row]
    clocks: TeamClocks
    first_response: TimeMetric
    resolution: TimeMetric
    first_contact_resolution: Share
    reopened: Share


def _period(
    session: Session,
    *,
    workspace_id: int,
    start: datetime,
    end: datetime,
    clauses: list[ColumnElement[bool]],
    later: list[float],
) -> _Period:
    rows = _conversations(session, clauses)
    ends = [t for r in rows for t in (r.first_response, r.resolved_at) if t is not None]
    clocks = TeamClocks(
        session,
        workspace_id=workspace_id,
        start=start.timestamp(),
        end=max([end.timestamp(), *ends, *later]),
    )
    first = clocks.spans((r.team, r.created, r.first_response) for r in rows if r.first_response)
    resolution = clocks.spans(
        (r.team, r.created, r.resolved_at) for r in rows if r.resolved and r.resolved_at
    )
    ever_resolved = [r for r in rows if r.resolved or r.reopened > 0]
    one_touch = sum(1 for r in ever_resolved if r.resolved and not r.reopened and r.replies == 1)
    return _Period(
        rows=rows,
        clocks=clocks,
        first_response=TimeMetric(*first),
        resolution=TimeMetric(*resolution),
        first_contact_resolution=share(one_touch, len(ever_resolved)),
        reopened=share(sum(1 for r in ever_resolved if r.reopened), len(ever_resolved)),
    )


def _overall_csat(teams: list[CsatGroup]) -> stats.ProportionEstimate | None:
    satisfied = sum(g.estimate.successes for g in teams)
    answered = sum(g.estimate.n for g in teams)
    return stats.csat_from_counts(satisfied=satisfied, total=answered) if answered else None


def care_metrics(
    session: Session,
    *,
    workspace_id: int,
    start: datetime,
    end: datetime,
    filters: MetricsFilter = MetricsFilter(),
    now: datetime | None = None,
) -> CareMetrics:
    """Every care metric of the period [start, end) (see the module's definitions)."""
    start, end = check_period(start, end)
    filters = check_filters(filters)
    now = as_utc(now or utcnow())
    clauses = _started(workspace_id, start, end, filters)
    spans = _next_response_spans(session, clauses)
    period = _period(
        session,
        workspace_id=workspace_id,
        start=start,
        end=end,
        clauses=clauses,
        later=[b for _c, _t, _a, b in spans],
    )
    following = period.clocks.spans((team, a, b) for _c, team, a, b in spans)
    teams = csat_by(
        session, workspace_id=workspace_id, start=start, end=end, filters=filters, by="team"
    )
    return CareMetrics(
        workspace_id=workspace_id,
        start=start,
        end=end,
        filters=filters,
        volume=volume(session, workspace_id=workspace_id, start=start, end=end, filters=filters),
        conversations=len(period.rows),
        first_response=period.first_response,
        next_response=TimeMetric(*following),
        resolution=period.resolution,
        first_contact_resolution=period.first_contact_resolution,
        reopened=period.reopened,
        sla=_sla_met(
            period.rows,
            {c for c, _t, _a, _b in spans},
            _next_response_targets(session, workspace_id),
            now.timestamp(),
        ),
        csat=_overall_csat(teams),
        csat_by_agent=csat_by(
            session, workspace_id=workspace_id, start=start, end=end, filters=filters, by="agent"
        ),
        csat_by_team=teams,
        backlog=backlog(session, workspace_id=workspace_id, filters=filters, now=now),
    )


@dataclass(frozen=True)
class Headline:
    """The few care figures the CX dashboard shows: no next response, volume or SLA."""

    start: datetime
    end: datetime
    conversations: int
    first_response: TimeMetric
    resolution: TimeMetric
    first_contact_resolution: Share
    csat: stats.ProportionEstimate | None
    backlog: int


def headline(
    session: Session,
    *,
    workspace_id: int,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> Headline:
    """Conversations, first-response and resolution times, first-contact resolution and CSAT
    of the period, and the backlog now: the CX dashboard's care card."""
    start, end = check_period(start, end)
    clauses = _started(workspace_id, start, end, MetricsFilter())
    period = _period(
        session, workspace_id=workspace_id, start=start, end=end, clauses=clauses, later=[]
    )
    teams = csat_by(session, workspace_id=workspace_id, start=start, end=end, by="team")
    return Headline(
        start=start,
        end=end,
        conversations=len(period.rows),
        first_response=period.first_response,
        resolution=period.resolution,
        first_contact_resolution=period.first_contact_resolution,
        csat=_overall_csat(teams),
        backlog=backlog(session, workspace_id=workspace_id, now=now).total,
    )


def teams_of(session: Session, *, workspace_id: int) -> list[str]:
    """The teams named by the workspace's inboxes, hours and SLA policies (for filters)."""
    names: set[str] = set()
    for column, model in (
        (CareInbox.team, CareInbox),
        (CareTeamHours.team, CareTeamHours),
        (SlaPolicy.team, SlaPolicy),
    ):
        names.update(
            session.scalars(select(column).where(model.workspace_id == workspace_id).distinct())
        )
    return sorted(n for n in names if n)
