"""Calls, posts and reviews: the delivery team's phone calls through ``care.phone`` and the
marketing team's Instagram posts and shop reviews through ``care.social`` — answered where the
customer wrote (on the line, on the platform), so the inbox holds the call logs and the team's
notes."""

from __future__ import annotations

from datetime import datetime, timedelta
from random import Random

from cxloop.accounts.access import Principal
from cxloop.care import phone, social
from cxloop.care import service as care
from cxloop.demo.care.month import Month, first_written, order_before, sample_for, topic_for
from cxloop.demo.care.scripts import (
    CALL_NOTES,
    DELIVERY_TOPICS,
    REVIEW_NOTES,
    REVIEWS,
    SOCIAL_POSTS,
)
from cxloop.demo.people import Person
from cxloop.models import Conversation
from cxloop.profiles.contact import normalise_phone

KINDS = ("mention", "comment")


def _call(
    month: Month,
    rng: Random,
    person: Person,
    agent: Principal,
    *,
    at: datetime,
    direction: str,
    outcome: str,
    notes: str,
) -> Conversation:
    logged = phone.log_call(
        month.session,
        inbox=month.setup.inboxes["phone"],
        call=phone.Call(
            call_id=f"demo-{next(month.numbers)}",
            phone=normalise_phone(person.phone or "") or "",
            agent_email=month.setup.emails[agent.user_id or 0],
            started_at=at,
            duration=rng.randint(40, 600) if outcome in phone.CONNECTED else 0,
            direction=direction,
            notes=notes,
            outcome=outcome,
        ),
        customer=month.profile(person),
        agent_id=agent.user_id,
    )
    return logged.conversation


def calls(month: Month, members: list[Person]) -> int:
    """Phone calls to the delivery team: most answered and settled on the line, some answered
    and called back, some missed and called back (or still waiting for the call back)."""
    ctx, session = month.ctx, month.session
    rng = ctx.rng("care:phone")
    callers = sample_for(rng, [p for p in members if p.phone and p.orders], "phone", ctx.members)
    for person in callers:
        agent = month.agent("delivery", rng)
        start = first_written(ctx, rng, person, after_order=True)
        outcome = rng.choices(("resolved", "follow_up", "no_answer"), weights=(6, 2, 2))[0]
        order = order_before(person, start)
        topic = topic_for(rng, DELIVERY_TOPICS, order)
        about = f"{topic.subject_ko} ({order})" if order else topic.subject_ko
        notes = f"{about}: {CALL_NOTES[outcome][0]}" if outcome in phone.CONNECTED else ""
        conversation = _call(
            month, rng, person, agent, at=start, direction="in", outcome=outcome, notes=notes
        )
        if conversation.assignee_id is None:
            care.update_conversation(session, conversation=conversation, assignee_id=agent.user_id)
        if outcome == "resolved" or rng.random() < 0.15:
            continue  # settled, or the call back is still to come
        back = start + timedelta(minutes=rng.choice((30, 90, 240, 1200)))
        if back < ctx.now:
            notes = f"{about}: {CALL_NOTES['resolved'][0]}"
            _call(
                month, rng, person, agent, at=back, direction="out", outcome="resolved", notes=notes
            )
    return len(callers)


def _note(
    month: Month, conversation: Conversation, agent: Principal, text: str, at: datetime
) -> None:
    note = care.add_note(month.session, conversation=conversation, principal=agent, text=text)
    note.created_at = at  # add_note takes no time: the demo dates it


def posts_and_reviews(month: Month, members: list[Person], moods: dict[str, int]) -> int:
    """Instagram mentions and shop reviews for the marketing team, who answer on the platform,
    note it and resolve; low reviews of the members' own orders rate as their CSAT did."""
    ctx, session, done = month.ctx, month.session, 0
    for channel in ("social", "review"):
        rng = ctx.rng(f"care:{channel}")
        inbox = month.setup.inboxes[channel]
        people = [p for p in members if channel == "social" or p.orders]
        for person in sample_for(rng, people, channel, ctx.members):
            at = first_written(ctx, rng, person, after_order=channel == "review")
            handle = f"{'demo_' if person.korean else 'dm_'}{person.index:05d}"
            if channel == "review":
                order = order_before(person, at) or max(person.orders, key=lambda o: o[1])[0]
                rating = moods.get(order) or rng.choices((5, 4, 3, 2, 1), (45, 30, 12, 8, 5))[0]
                text = REVIEWS[rating][0 if person.korean else 1]
                platform, kind, good = "naver_shopping", "review", rating >= 4
                note = REVIEW_NOTES[good][0 if person.korean else 1]
            else:
                post = rng.choice(SOCIAL_POSTS)
                text, note = post[0 if person.korean else 1], post[2 if person.korean else 3]
                platform, kind, rating, good = (
                    "instagram",
                    rng.choice(("mention", "comment")),
                    None,
                    True,
                )
            month.link(person, "social", f"{platform}:{handle}")
            item_id = f"demo-{next(month.numbers)}"
            received = social.take_item(
                session,
                inbox=inbox,
                item=social.SocialItem(
                    id=item_id,
                    kind=kind,
                    platform=platform,
                    author_name=person.name,
                    author_handle=handle,
                    author_url="",
                    text=text,
                    rating=rating,
                    url=f"https://{platform}.example/{item_id}",
                    posted_at=at,
                ),
                now=at,
            )
            conversation = received.conversation
            agent = month.agent("marketing", rng)
            care.update_conversation(session, conversation=conversation, assignee_id=agent.user_id)
            done += 1
            seen = at + timedelta(hours=rng.choice((1, 3, 8, 20, 50)))
            if seen >= ctx.now or rng.random() < 0.1:
                continue  # not looked at yet
            _note(month, conversation, agent, note, seen)
            if not good and rng.random() < 0.4:
                continue  # the coupon is on its way: kept open
            care.update_conversation(
                session,
                conversation=conversation,
                status="resolved",
                now=seen + timedelta(minutes=5),
            )
    return done
