"""The support team's setup in the demo: an inbox per channel with the team that works it, the
agents in those teams, each team's business hours and SLA targets, the CSAT survey sent after a
resolution (on the channels it can reach) and the routing that hands new conversations out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.accounts.access import Principal

# Imported first, cxloop.care.routing runs into a circular import (routing → service → texts →
# assignment → routing); assignment imported before it resolves the cycle.
from cxloop.care import assignment, csat, routing, sla  # noqa: F401
from cxloop.care import service as care
from cxloop.demo.context import DemoContext
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import CareInbox, Survey, User

# (channel, name, address, team)
INBOXES = (
    ("email", "고객센터", "help@demo.cxloop.dev", "cs"),
    ("chat", "웹 채팅", "", "cs"),
    ("talktalk", "네이버 톡톡", "", "cs"),
    ("sms", "배송 문자", "+82215880000", "delivery"),
    ("phone", "배송 전화 상담", "1588-0000", "delivery"),
    ("social", "SNS 멘션", "", "marketing"),
    ("review", "상품 리뷰", "", "marketing"),
)
# Each agent's teams: who works which inboxes.
AGENT_TEAMS = {
    "agent@demo.cxloop.dev": ["cs", "delivery"],
    "agent2@demo.cxloop.dev": ["cs", "marketing"],
    "admin@demo.cxloop.dev": ["cx", "delivery", "marketing"],
}
_WEEKDAYS = [[[9 * 60, 18 * 60]]] * 5
HOURS = {
    "cs": [*_WEEKDAYS, [[10 * 60, 15 * 60]], []],  # Saturday mornings too
    "delivery": [*_WEEKDAYS, [], []],
    "marketing": [[[10 * 60, 19 * 60]]] * 5 + [[], []],
}
# team: (first response, next response, resolution) in business minutes; social posts and
# reviews are answered on their platform, so their team has only a resolution target.
POLICIES: dict[str, tuple[int | None, int | None, int | None]] = {
    "": (4 * 60, 8 * 60, 3 * 9 * 60),
    "cs": (2 * 60, 4 * 60, 2 * 9 * 60),
    "delivery": (3 * 60, 6 * 60, 2 * 9 * 60),
    "marketing": (None, None, 2 * 9 * 60),
}
CSAT_SURVEY_KEY = "care-csat"
CSAT_DEFINITION: dict[str, Any] = {
    "questions": [
        {
            "id": "csat",
            "type": "csat",
            "required": True,
            "text": {
                "ko": "상담에 얼마나 만족하셨나요?",
                "en": "How satisfied are you with the help you got?",
            },
        },
        {
            "id": "comment",
            "type": "text",
            "text": {"ko": "상담원에게 남기실 말씀이 있나요?", "en": "Anything to tell the agent?"},
        },
    ],
    "hidden_fields": ["touchpoint", "channel", "conversation_id"],
}


@dataclass
class Setup:
    inboxes: dict[str, CareInbox]
    agents: dict[str, list[int]]  # team: its agents' user ids
    emails: dict[int, str]  # user id: email
    survey_id: int


def _csat_survey(ctx: DemoContext, session: Session) -> Survey:
    survey = survey_service.create_survey(
        session,
        workspace_id=ctx.workspace_id,
        key=CSAT_SURVEY_KEY,
        name="상담 후 만족도 (CSAT)",
        kind="csat",
        definition=CSAT_DEFINITION,
        owner_team="cs",
        distribution={"channels": ["email", "link"], "expires_days": 7},
    )
    survey_service.set_status(session, survey=survey, status="live")
    survey.created_at = ctx.now - timedelta(days=45)
    return survey


def set_up(ctx: DemoContext, session: Session) -> Setup:
    """Inboxes, teams, hours, SLA policies and the CSAT survey (routing comes last, see
    :func:`set_routing`)."""
    owner = Principal(workspace_id=ctx.workspace_id, role="owner", user_id=ctx.owner_id)
    users = {
        u.email: u.id for u in session.scalars(select(User).where(User.email.in_(AGENT_TEAMS)))
    }
    agents: dict[str, list[int]] = {}
    for email, teams in AGENT_TEAMS.items():
        accounts.set_member_teams(
            session, workspace_id=ctx.workspace_id, user_id=users[email], teams=teams
        )
        for team in teams:
            agents.setdefault(team, []).append(users[email])
    for team, weekly in HOURS.items():
        sla.set_hours(
            session, workspace_id=ctx.workspace_id, team=team, weekly=weekly, principal=owner
        )
    for team, (first, following, resolution) in POLICIES.items():
        sla.set_policy(
            session,
            workspace_id=ctx.workspace_id,
            team=team,
            first_response_minutes=first,
            next_response_minutes=following,
            resolution_minutes=resolution,
            principal=owner,
        )
    survey = _csat_survey(ctx, session)
    inboxes: dict[str, CareInbox] = {}
    for channel, name, address, team in INBOXES:
        inbox = care.create_inbox(
            session, principal=owner, name=name, channel=channel, address=address, team=team
        ).inbox
        if channel in csat.INVITATION_CHANNELS:
            csat.set_inbox_csat(
                session, principal=owner, inbox=inbox, enabled=True, survey_id=survey.id
            )
        inboxes[channel] = inbox
    return Setup(inboxes, agents, {v: k for k, v in users.items()}, survey.id)


def set_routing(ctx: DemoContext, session: Session) -> None:
    """From now on the customer service team's new conversations go round the agents online,
    the delivery team's to the least busy; the marketing team takes its own."""
    owner = Principal(workspace_id=ctx.workspace_id, role="owner", user_id=ctx.owner_id)
    routing.set_routing(
        session,
        principal=owner,
        methods={"cs": "round_robin", "delivery": "least_busy", "marketing": "manual"},
        default_capacity=8,
    )
