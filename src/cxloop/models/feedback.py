"""Voice of the customer: surveys and their versions, invitations, responses, follow-ups and
the improvements that answer them ("you said, we did")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxloop.core.timeutil import utcnow
from cxloop.models.base import Base, BigId, Timestamped

SURVEY_KINDS = ("nps", "csat", "ces", "custom")
SURVEY_STATUSES = ("draft", "live", "closed")
QUESTION_TYPES = ("nps", "csat", "ces", "rating", "single", "multiple", "text")
INVITATION_CHANNELS = ("email", "link", "widget", "sms", "kakao")
INVITATION_STATUSES = ("scheduled", "sent", "opened", "answered", "expired", "skipped")
FOLLOW_UP_STATUSES = ("open", "in_progress", "done", "dismissed")


class Survey(Timestamped, Base):
    """A survey; what it asks lives in its versions, so edits never rewrite collected answers."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # The version new respondents see; older versions stay for the answers given to them.
    current_version: Mapped[int] = mapped_column(default=1)
    # Distribution: trigger event, property filter, delay, sampling, channels, reminders.
    distribution: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner_team: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SurveyVersion(Timestamped, Base):
    """One immutable version of a survey's questions, branching and messages (ko and en)."""

    __tablename__ = "survey_versions"
    __table_args__ = (UniqueConstraint("survey_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    number: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Invitation(Timestamped, Base):
    """One customer asked once: a personal token (stored hashed), its channel and its fate."""

    __tablename__ = "survey_invitations"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        # The bus consumer creates at most one invitation per survey and triggering event, so
        # a replay of the log never invites twice.
        UniqueConstraint("survey_id", "trigger_event_id"),
        Index("ix_survey_invitations_customer", "customer_id", "workspace_id", "created_at"),
        Index("ix_survey_invitations_due", "status", "send_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    trigger_event_id: Mapped[int | None] = mapped_column(BigId)
    hidden: Mapped[dict[str, Any]] = mapped_column(default=dict)
    send_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]


class Response(Base):
    """Answers to one survey version; partial answers are kept. The headline score of each
    kind is copied to its own column so dashboards aggregate without reading JSON."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("invitation_id"),
        # One response per external id and survey: imports and public-link submissions both
        # carry one, so a retried or concurrent submission never stores a second answer.
        UniqueConstraint("survey_id", "external_id"),
        Index("ix_survey_responses_survey_submitted", "survey_id", "submitted_at"),
        Index("ix_survey_responses_workspace_submitted", "workspace_id", "submitted_at"),
        # The CX dashboard's scans: every column its aggregates read after the period, so
        # scores, trends and most breakdowns are answered from the index alone.
        Index(
            "ix_survey_responses_dashboard",
            "workspace_id",
            "submitted_at",
            "completed",
            "survey_id",
            "nps",
            "csat",
            "ces",
            "touchpoint",
            "channel",
            "customer_id",
        ),
        Index("ix_survey_responses_customer", "customer_id", "workspace_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    version: Mapped[int]
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_invitations.id", ondelete="SET NULL")
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16), default="link")
    touchpoint: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(8), default="ko")
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hidden: Mapped[dict[str, Any]] = mapped_column(default=dict)
    nps: Mapped[int | None]
    csat: Mapped[int | None]
    ces: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    completed: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(32), default="cxloop")
    external_id: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class FollowUp(Timestamped, Base):
    """The task an unhappy answer creates, owned by a team until someone closes the loop."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        UniqueConstraint("response_id"),
        Index("ix_follow_ups_workspace_status_due", "workspace_id", "status", "due_at"),
        # Bursts: how many follow-ups a team got in the last minutes.
        Index("ix_follow_ups_workspace_team_created", "workspace_id", "team", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    team: Mapped[str] = mapped_column(String(64), default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    due_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(Text, default="")
    # When the overdue job told about it (alone, or in a team's overdue digest).
    overdue_told_at: Mapped[datetime | None]


class FollowUpDigest(Base):
    """One notice for a burst of new follow-ups of one survey and team: those beyond the first
    few in a window are counted here, and the team is told once when the window closes."""

    __tablename__ = "follow_up_digests"
    __table_args__ = (
        Index("ix_follow_up_digests_open", "workspace_id", "survey_id", "team", "closes_at"),
        Index("ix_follow_up_digests_due", "sent_at", "closes_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    team: Mapped[str] = mapped_column(String(64), default="")
    # Follow-ups counted in this digest (not announced one by one).
    answers: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Improvement(Timestamped, Base):
    """What changed because customers asked for it, in both languages."""

    __tablename__ = "improvements"
    __table_args__ = (Index("ix_improvements_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    title_ko: Mapped[str] = mapped_column(String(200), default="")
    title_en: Mapped[str] = mapped_column(String(200), default="")
    body_ko: Mapped[str] = mapped_column(Text, default="")
    body_en: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The filter the linked responses were picked by (survey, score range, words, dates), kept
    # so the page can say how they were chosen; responses picked by hand are links only.
    criteria: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    announced_at: Mapped[datetime | None]


class ImprovementLink(Base):
    """A response an improvement answers; its customer is told (once) when it is announced."""

    __tablename__ = "improvement_links"
    __table_args__ = (
        UniqueConstraint("improvement_id", "response_id"),
        Index("ix_improvement_links_customer", "customer_id", "workspace_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    improvement_id: Mapped[int] = mapped_column(ForeignKey("improvements.id", ondelete="CASCADE"))
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    notified_at: Mapped[datetime | None]
    notified_channel: Mapped[str | None] = mapped_column(String(16))
    # When the customer's survey widget showed the notice (shown once, besides any email).
    widget_shown_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
