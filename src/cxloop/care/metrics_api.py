"""REST API of care metrics (/api/v1/care/metrics) and of each inbox's CSAT setting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as FastPath
from pydantic import BaseModel, Field

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.care import csat, metrics
from cxloop.care.views import user_names
from cxloop.core import stats
from cxloop.core.timeutil import utcnow

router = APIRouter(prefix="/api/v1/care", tags=["care"])

Channel = Literal["email", "chat", "sms", "kakao", "talktalk", "social", "review", "phone"]


class DurationsOut(BaseModel):
    n: int
    median_seconds: float | None
    p90_seconds: float | None


class TimeOut(BaseModel):
    wall_clock: DurationsOut
    business_hours: DurationsOut


class VolumeOut(BaseModel):
    channel: str
    conversations: int = Field(description="Conversations started in the period")
    messages_in: int
    messages_out: int


class EstimateOut(BaseModel):
    """A percentage with its 95% Wilson interval."""

    percent: float
    ci_low: float
    ci_high: float
    n: int
    too_few: bool = Field(description="Fewer than 30 in the sample: read with care")


class ShareOut(BaseModel):
    part: int
    whole: int
    estimate: EstimateOut | None


class SlaOut(BaseModel):
    target: str
    met: int
    due: int
    percent: float | None


class CsatGroupOut(EstimateOut):
    key: int | str | None = Field(description="The agent's user id (null: unassigned) or team")
    name: str | None = None


class BacklogOut(BaseModel):
    buckets: dict[str, int] = Field(description="Open and pending conversations by age")
    total: int
    oldest_id: int | None
    oldest_started_at: datetime | None
    oldest_age_seconds: float | None


class MetricsOut(BaseModel):
    since: datetime
    until: datetime
    conversations: int
    volume: list[VolumeOut]
    first_response: TimeOut
    next_response: TimeOut
    resolution: TimeOut
    first_contact_resolution: ShareOut
    reopen_rate: ShareOut
    sla: list[SlaOut]
    csat: EstimateOut | None
    csat_by_agent: list[CsatGroupOut]
    csat_by_team: list[CsatGroupOut]
    backlog: BacklogOut


def _estimate(e: stats.ProportionEstimate | None) -> EstimateOut | None:
    if e is None:
        return None
    return EstimateOut(
        percent=e.estimate, ci_low=e.ci_low, ci_high=e.ci_high, n=e.n, too_few=e.too_few
    )


def _time(t: metrics.TimeMetric) -> TimeOut:
    def out(d: metrics.Durations) -> DurationsOut:
        return DurationsOut(n=d.n, median_seconds=d.median, p90_seconds=d.p90)

    return TimeOut(wall_clock=out(t.wall), business_hours=out(t.business))


def _share(s: metrics.Share) -> ShareOut:
    return ShareOut(part=s.part, whole=s.whole, estimate=_estimate(s.estimate))


def _group(g: metrics.CsatGroup, name: str | None) -> CsatGroupOut:
    e = g.estimate
    return CsatGroupOut(
        key=g.key,
        name=name,
        percent=e.estimate,
        ci_low=e.ci_low,
        ci_high=e.ci_high,
        n=e.n,
        too_few=e.too_few,
    )


def metrics_out(result: metrics.CareMetrics, agent_names: dict[int, str]) -> MetricsOut:
    """The API's (and the CLI's JSON) shape of the care metrics."""
    b = result.backlog
    return MetricsOut(
        since=result.start,
        until=result.end,
        conversations=result.conversations,
        volume=[VolumeOut(**v.__dict__) for v in result.volume],
        first_response=_time(result.first_response),
        next_response=_time(result.next_response),
        resolution=_time(result.resolution),
        first_contact_resolution=_share(result.first_contact_resolution),
        reopen_rate=_share(result.reopened),
        sla=[SlaOut(target=s.target, met=s.met, due=s.due, percent=s.percent) for s in result.sla],
        csat=_estimate(result.csat),
        csat_by_agent=[
            _group(g, agent_names.get(g.key) if isinstance(g.key, int) else None)
            for g in result.csat_by_agent
        ],
        csat_by_team=[_group(g, g.key or None) for g in result.csat_by_team],
        backlog=BacklogOut(
            buckets=dict(b.buckets),
            total=b.total,
            oldest_id=b.oldest_id,
            oldest_started_at=b.oldest_started_at,
            oldest_age_seconds=b.oldest_age,
        ),
    )


@router.get("/metrics", response_model=MetricsOut)
def care_metrics(
    principal: ApiPrincipal,
    session: DbSession,
    since: Annotated[
        datetime | None, Query(description="Start of the period (default: 30 days ago)")
    ] = None,
    until: Annotated[datetime | None, Query(description="End of the period (default: now)")] = None,
    channel: Channel | None = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    agent_id: Annotated[int | None, Query(ge=1, le=2**31)] = None,
) -> MetricsOut:
    """Volume, response and resolution times (wall clock and business hours, median and p90),
    first-contact resolution, reopen rate, SLA met, CSAT per agent and team with 95% intervals
    and the backlog by age, for the conversations of [since, until)."""
    require(principal, "care:work")
    now = utcnow()
    end = until or now
    result = metrics.care_metrics(
        session,
        workspace_id=principal.workspace_id,
        start=since or end - timedelta(days=30),
        end=end,
        filters=metrics.MetricsFilter(channel=channel, team=team, agent_id=agent_id),
        now=now,
    )
    names = user_names(
        session,
        workspace_id=principal.workspace_id,
        user_ids=[g.key for g in result.csat_by_agent],
    )
    return metrics_out(result, names)


class CsatSettingIn(BaseModel):
    enabled: bool
    survey_id: int | None = Field(default=None, ge=1, le=2**31, description="A CSAT survey")


class CsatSettingOut(BaseModel):
    inbox_id: int
    csat_enabled: bool
    csat_survey_id: int | None


@router.put("/inboxes/{inbox_id}/csat", response_model=CsatSettingOut)
def set_inbox_csat(
    inbox_id: Annotated[int, FastPath(ge=1, le=2**31)],
    body: CsatSettingIn,
    principal: ApiPrincipal,
    session: DbSession,
) -> Any:
    """Send a CSAT survey after an agent resolves a conversation of this inbox (or stop)."""
    require(principal, "care:manage")
    inbox = csat.get_inbox(session, workspace_id=principal.workspace_id, inbox_id=inbox_id)
    # Turning CSAT off (or on again) without naming a survey keeps the one chosen before.
    survey_id = body.survey_id if "survey_id" in body.model_fields_set else inbox.csat_survey_id
    csat.set_inbox_csat(
        session, principal=principal, inbox=inbox, enabled=body.enabled, survey_id=survey_id
    )
    return CsatSettingOut(
        inbox_id=inbox.id, csat_enabled=inbox.csat_enabled, csat_survey_id=inbox.csat_survey_id
    )
