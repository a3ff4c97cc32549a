"""Demo phase: a month of the support team's conversations on every channel — email, the web
chat, Naver TalkTalk, SMS, phone calls, Instagram posts and shop reviews — in Korean and
English, about the customers' real orders (and the payment chats of the demo's stories),
through the real care services with the moment each step happened: the inboxes and their teams
(customer service, delivery, marketing), each team's business hours and SLA targets, answers in
and out of hours, most conversations resolved, some waiting, a few reopened, and the CSAT
answers after resolutions, so the inbox, its clocks and /care/metrics have a history.

The demo reaches nobody: what it queues counts as sent, its CSAT requests are settled at once,
its clocks are swept (see ``answers``)."""

from __future__ import annotations

from datetime import timedelta

from cxloop.demo.care.answers import keep_quiet, moods, settle_csat
from cxloop.demo.care.month import DAYS, Month, answered_channels, payment_chats
from cxloop.demo.care.platforms import calls, posts_and_reviews
from cxloop.demo.care.setup import set_routing, set_up
from cxloop.demo.context import DemoContext

__all__ = ["add_conversations", "quiet_care"]


def add_conversations(ctx: DemoContext) -> None:
    """Phase: the support team's month on every channel."""
    month_start = ctx.now - timedelta(days=DAYS)
    members = [
        p
        for p in ctx.members_only
        if p.email and p.customer_id is not None and p.active_at(month_start)
    ]
    visitors = [p for p in ctx.people if not p.is_member]
    task = ctx.task("Conversations", None)
    with ctx.database.session() as session:
        month = Month(ctx, session, set_up(ctx, session))
        done = answered_channels(month, members, visitors)
        done += payment_chats(month, members)
        done += calls(month, members)
        done += posts_and_reviews(month, members, moods(session, ctx.workspace_id))
        task.advance(done)
        people = {p.customer_id: p for p in members if p.customer_id is not None}
        settle_csat(ctx, session, month.setup, people)
    task.finish()


def quiet_care(ctx: DemoContext) -> None:
    """Phase, once the bus has analysed the month's messages (which may have told agents of
    an angry customer): nothing queued reaches anyone, the SLA clocks are swept to the build's
    moment, and routing hands out the conversations that come after the build."""
    with ctx.database.session() as session:
        keep_quiet(ctx, session)
        set_routing(ctx, session)
