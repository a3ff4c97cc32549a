"""The CSAT answers after the month's resolutions, and what keeps the demo from reaching anyone.

Each resolution by an agent in an inbox with CSAT on asked for the survey (``care.csat``); the
demo settles those requests at once instead of leaving them to the job that would mail or text
the customer: about 60 % were sent and answered (mostly 4–5, lower after a reopening or a late
answer), some sent and not answered, the rest skipped as the rules would have (fatigue, not in
the sample). Answers go through feedback's import like any collected elsewhere.

Then (once the bus has analysed the month) every reply the month queued is recorded as sent
when it was written, the notices it would have mailed the team are cancelled, and the SLA
clocks are brought up to the build's moment: misses recorded, and the targets still running
counted as warned, so no job tells the team about a conversation of the demo."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxloop.care import csat, sla
from cxloop.core.i18n import normalise_locale
from cxloop.core.settings import get_settings
from cxloop.core.timeutil import as_utc
from cxloop.demo.care.setup import Setup
from cxloop.demo.context import DemoContext
from cxloop.demo.people import Person
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.distribution.links import invitation_token
from cxloop.feedback.followups import service as followups
from cxloop.feedback.responses import service as response_service
from cxloop.models import (
    Conversation,
    ConversationMessage,
    CsatRequest,
    FollowUp,
    Invitation,
    OutboundMessage,
    Response,
    Survey,
)

EXPIRES_DAYS = 7
HAPPY = (2, 2, 6, 30, 60)  # weights of scores 1…5
UNHAPPY = (15, 20, 25, 25, 15)  # after a reopening or a late answer
COMMENTS = {
    True: ("친절하게 빨리 해결해 주셨어요.", "Quick and friendly help, thank you."),
    False: (
        "답변이 너무 늦었고 같은 걸 여러 번 물어봐야 했어요.",
        "Slow answers; I had to ask twice.",
    ),
}


@dataclass
class Asked:
    request: CsatRequest
    person: Person
    invitation: Invitation
    answer: dict[str, int | str] | None
    answered_at: datetime


def moods(session: Session, workspace_id: int) -> dict[str, int]:
    """Each order's score in the post-purchase CSAT, where its customer answered."""
    rows = session.execute(
        select(Response.hidden, Response.csat)
        .join(Survey, Survey.id == Response.survey_id)
        .where(
            Response.workspace_id == workspace_id,
            Survey.key == "post-purchase-csat",
            Response.csat.is_not(None),
        )
    )
    return {str(h["order_id"]): int(s) for h, s in rows if h and h.get("order_id")}


def _invitation(ctx: DemoContext, request: CsatRequest, person: Person, status: str) -> Invitation:
    sent = as_utc(request.resolved_at) + timedelta(minutes=2)
    channel = csat.INVITATION_CHANNELS[request.channel]
    assert person.customer_id is not None and request.survey_id is not None
    return Invitation(
        workspace_id=ctx.workspace_id,
        survey_id=request.survey_id,
        customer_id=person.customer_id,
        # Unique until the id is known; the real token's hash follows the flush.
        token_hash=hashlib.sha256(f"demo-care-csat:{ctx.seed}:{request.id}".encode()).hexdigest(),
        channel=channel,
        status=status,
        hidden={
            "touchpoint": csat.TOUCHPOINT,
            "channel": request.channel,
            "conversation_id": request.conversation_id,
        },
        send_at=sent,
        sent_at=sent,
        expires_at=sent + timedelta(days=EXPIRES_DAYS),
        created_at=sent,
    )


def settle_csat(ctx: DemoContext, session: Session, setup: Setup, people: dict[int, Person]) -> int:
    """Send, skip and answer the CSAT requests of the month's resolutions; how many answered."""
    rng = ctx.rng("care:csat")
    requests = session.scalars(
        select(CsatRequest)
        .where(CsatRequest.workspace_id == ctx.workspace_id, CsatRequest.status == "pending")
        .order_by(CsatRequest.id)
    ).all()
    asked: list[Asked] = []
    for request in requests:
        conversation = session.get(Conversation, request.conversation_id)
        assert conversation is not None
        person = people.get(conversation.customer_id or 0)
        roll = rng.random()
        if person is None or roll >= 0.85:  # an anonymous visitor has nothing to answer with
            request.status, request.skip_reason = "skipped", "not_sampled"
            continue
        if roll >= 0.7:
            request.status, request.skip_reason = "skipped", "fatigue"
            continue
        answered = as_utc(request.resolved_at) + timedelta(minutes=3 + rng.expovariate(1 / 300))
        answer: dict[str, int | str] | None = None
        if roll < 0.6 and answered < ctx.now:
            slow = {"first_response", "next_response"} & set(conversation.sla_missed)
            bad = conversation.reopened_count > 0 or bool(slow)
            score = rng.choices(range(1, 6), weights=UNHAPPY if bad else HAPPY)[0]
            answer = {"csat": score}
            if rng.random() < 0.4:
                answer["comment"] = COMMENTS[score >= 4][0 if person.korean else 1]
            status = "answered"
        else:
            expired = as_utc(request.resolved_at) + timedelta(days=EXPIRES_DAYS) <= ctx.now
            status = "expired" if expired else "sent"
        invitation = _invitation(ctx, request, person, status)
        session.add(invitation)
        asked.append(Asked(request, person, invitation, answer, answered))
    session.flush()
    secret = get_settings().resolved_secret_key()
    for item in asked:
        item.request.status = "sent"
        item.request.invitation_id = item.invitation.id
        item.request.sent_at = item.invitation.sent_at
        token = invitation_token(item.invitation, secret=secret)
        item.invitation.token_hash = invitation_links.hash_token(token)
    return _import(ctx, session, setup, [a for a in asked if a.answer is not None], rng)


def _import(
    ctx: DemoContext, session: Session, setup: Setup, answered: list[Asked], rng: Random
) -> int:
    survey = session.get(Survey, setup.survey_id)
    assert survey is not None
    rows = [
        response_service.ImportRow(
            external_id=f"demo-care-csat-{a.request.id}",
            answers=dict(a.answer or {}),
            submitted_at=a.answered_at,
            locale=normalise_locale(a.person.locale),
            channel=a.invitation.channel,
            hidden=dict(a.invitation.hidden),
            user_id=a.person.user_id,
        )
        for a in answered
    ]
    if not rows:
        return 0
    result = response_service.import_responses(session, survey=survey, rows=rows, source="cxloop")
    for response, item in zip(result.created, answered, strict=True):
        response.invitation_id = item.invitation.id
    _work_follow_ups(ctx, session, setup, [r.id for r in result.created], rng)
    return len(rows)


def _work_follow_ups(
    ctx: DemoContext, session: Session, setup: Setup, response_ids: list[int], rng: Random
) -> None:
    """The customer service team's follow-ups of unhappy answers: dated to the answer and due
    two working days later, the older ones called back and closed, the recent ones being
    worked — counted as told when they fall due, so the overdue job mails nobody."""
    rows = session.execute(
        select(FollowUp, Response.submitted_at)
        .join(Response, Response.id == FollowUp.response_id)
        .where(FollowUp.workspace_id == ctx.workspace_id, FollowUp.response_id.in_(response_ids))
        .order_by(FollowUp.id)
    ).all()
    for follow_up, answered_at in rows:
        follow_up.created_at = answered_at
        follow_up.due_at = followups.add_business_days(answered_at, 2)
        follow_up.assignee_id = rng.choice(setup.agents["cs"])
        if ctx.now - as_utc(answered_at) > timedelta(days=3):
            follow_up.status = "done"
            follow_up.closed_at = as_utc(answered_at) + timedelta(hours=rng.uniform(2, 48))
            follow_up.note = "고객님께 전화드려 사과드리고 처리 결과를 안내했습니다."
        else:
            follow_up.status = "in_progress"
            follow_up.overdue_told_at = follow_up.due_at


def keep_quiet(ctx: DemoContext, session: Session) -> None:
    """Nothing of the month reaches anyone: the replies it queued count as sent when they were
    written, the notices it would have mailed the team are cancelled (they stay in the app),
    and its SLA clocks are swept to the build's moment with the running ones counted as
    warned (a later sweep only records what it finds missed)."""
    written = session.execute(
        select(ConversationMessage.outbound_message_id, ConversationMessage.created_at).where(
            ConversationMessage.workspace_id == ctx.workspace_id,
            ConversationMessage.outbound_message_id.is_not(None),
        )
    ).all()
    for outbound_id, at in written:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == outbound_id)
            .values(status="sent", created_at=at, send_after=at, sent_at=at, attempts=1)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.workspace_id == ctx.workspace_id,
            OutboundMessage.status.in_(("queued", "sending")),
        )
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    running = session.scalars(
        select(Conversation).where(
            Conversation.workspace_id == ctx.workspace_id, Conversation.status != "resolved"
        )
    ).all()
    for conversation in running:
        due = {
            "first_response": conversation.first_response_due_at,
            "next_response": conversation.next_response_due_at,
            "resolution": conversation.resolution_due_at,
        }
        later = [t for t, at in due.items() if at is not None and as_utc(at) > ctx.now]
        conversation.sla_warned = sorted({*conversation.sla_warned, *later})
    session.flush()
    sla.sweep(session, now=ctx.now, workspace_id=ctx.workspace_id)
