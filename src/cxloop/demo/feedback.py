"""Phase: the voice of the customer. Three live surveys (CSAT after an order, a quarterly NPS,
CES after a support contact), a year of invitations and answers through the real import path
(follow-ups and timeline events included), the follow-ups the team worked, and one improvement
recorded for the customers who complained about slow deliveries.

Scores differ by touchpoint (deliveries and returns disappoint more than checkout does), drop
around the holiday rush, and deliveries get better after the improvement; comments come from
``demo.comments`` in the customer's language.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxloop.core.i18n import normalise_locale
from cxloop.core.settings import get_settings
from cxloop.core.timeutil import KST, as_utc
from cxloop.demo.calendar import DAY, occasion_of
from cxloop.demo.comments import comment
from cxloop.demo.context import DemoContext
from cxloop.demo.people import Person
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.distribution.links import invitation_token
from cxloop.feedback.followups import service as followup_service
from cxloop.feedback.improvements import service as improvements
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import (
    FollowUp,
    ImprovementLink,
    Invitation,
    Membership,
    Order,
    OrderItem,
    Response,
    Survey,
    User,
)

IMPORT_BATCH = 1000
FATIGUE_DAYS = 30
# The improvement: the warehouse cut-off moved later, so next-day deliveries went up.
IMPROVEMENT_DAYS_AGO = 120
QUARTER_DAYS = 91

L = dict[str, str]


def _t(ko: str, en: str) -> L:
    return {"ko": ko, "en": en}


REASONS = (
    ("delivery", _t("배송", "Delivery")),
    ("price", _t("가격", "Price")),
    ("product_quality", _t("상품 품질", "Product quality")),
    ("customer_service", _t("고객 상담", "Customer service")),
    ("website_app", _t("웹사이트·앱", "Website and app")),
)
_OPTIONS = [{"id": key, "label": label} for key, label in REASONS]
# How much each part of the experience moves a customer's NPS in the demo (deliveries most):
# the key-driver analysis on the dashboard should find this order again.
DRIVER_WEIGHTS = {"delivery": 0.45, "customer_service": 0.25, "price": 0.2, "website_app": 0.1}

CSAT_DEFINITION: dict[str, Any] = {
    "questions": [
        {
            "id": "csat",
            "type": "csat",
            "required": True,
            "text": _t(
                "이번 주문에 얼마나 만족하셨나요?", "How satisfied are you with this order?"
            ),
        },
        {
            "id": "reason",
            "type": "single",
            "text": _t("어떤 점이 아쉬우셨나요?", "What disappointed you?"),
            "options": _OPTIONS,
            "show_if": {"question": "csat", "op": "<=", "value": 3},
        },
        {
            "id": "comment",
            "type": "text",
            "text": _t("더 하고 싶은 말씀이 있나요?", "Anything else you'd like to tell us?"),
        },
    ],
    "hidden_fields": ["order_id", "touchpoint", "product"],
    "thank_you": {
        "detractor": _t(
            "불편을 드려 죄송합니다. 담당 팀이 곧 연락드릴게요.",
            "We're sorry. The team in charge will contact you shortly.",
        ),
        "default": _t("소중한 의견 감사합니다!", "Thank you for your feedback!"),
    },
}

NPS_DEFINITION: dict[str, Any] = {
    "questions": [
        {
            "id": "nps",
            "type": "nps",
            "required": True,
            "text": _t(
                "데모몰을 친구나 동료에게 추천할 가능성은 얼마나 되나요?",
                "How likely are you to recommend Demo Mall to a friend or colleague?",
            ),
        },
        *(
            {
                "id": f"{key}_rating",
                "type": "rating",
                "min": 1,
                "max": 5,
                "text": _t(f"{label['ko']}에 대한 만족도", f"Your rating of {label['en'].lower()}"),
            }
            for key, label in REASONS
            if key in DRIVER_WEIGHTS
        ),
        {
            "id": "reason",
            "type": "single",
            "required": True,
            "text": _t("가장 아쉬운 점은 무엇인가요?", "What let you down the most?"),
            "options": _OPTIONS,
            "show_if": {"question": "nps", "op": "<=", "value": 6},
        },
        {
            "id": "comment",
            "type": "text",
            "text": _t(
                "점수를 주신 이유를 알려 주세요.", "What is the main reason for your score?"
            ),
        },
    ],
    "hidden_fields": ["touchpoint", "wave"],
    "thank_you": {
        "promoter": _t("추천해 주셔서 감사합니다!", "Thanks for recommending us!"),
        "detractor": _t(
            "실망을 드려 죄송합니다. 말씀해 주신 내용을 꼭 개선하겠습니다.",
            "Sorry we let you down. We will act on what you told us.",
        ),
        "default": _t("의견 감사합니다.", "Thank you for your feedback."),
    },
}

CES_DEFINITION: dict[str, Any] = {
    "questions": [
        {
            "id": "ces",
            "type": "ces",
            "required": True,
            "text": _t(
                "문제를 해결하기가 얼마나 쉬웠나요? (7 = 매우 쉬움)",
                "How easy was it to get your issue resolved? (7 = very easy)",
            ),
        },
        {
            "id": "comment",
            "type": "text",
            "text": _t("상담에 대해 남기실 말씀이 있나요?", "Anything to add about the support?"),
        },
    ],
    "hidden_fields": ["touchpoint"],
}

SURVEYS = (
    (
        "post-purchase-csat",
        "구매 후 만족도 (CSAT)",
        "csat",
        "delivery",
        CSAT_DEFINITION,
        {
            "channels": ["email", "widget"],
            "trigger": {"event": "Order Completed", "where": []},
            "delay_minutes": 3 * 24 * 60,
            "sample_rate": 0.6,
            "expires_days": 14,
            "reminder_after_days": 3,
        },
    ),
    (
        "quarterly-nps",
        "분기 고객 추천 지수 (NPS)",
        "nps",
        "cx",
        NPS_DEFINITION,
        {"channels": ["email"], "expires_days": 21, "public_link": True},
    ),
    (
        "support-ces",
        "상담 후 고객 노력 점수 (CES)",
        "ces",
        "cs",
        CES_DEFINITION,
        {"channels": ["email"], "expires_days": 7},
    ),
)

# Score weights (lowest score first) by touchpoint.
CSAT_WEIGHTS = {
    "checkout_app": (2, 3, 8, 37, 50),
    "checkout_web": (3, 5, 12, 40, 40),
    "delivery": (9, 11, 18, 34, 28),
    "delivery_improved": (4, 6, 14, 38, 38),
    "returns": (15, 15, 20, 30, 20),
}
CES_WEIGHTS = {
    "chat": (2, 3, 5, 10, 20, 30, 30),
    "phone": (4, 6, 8, 14, 24, 24, 20),
    "email_support": (8, 10, 12, 18, 22, 18, 12),
}
NPS_WEIGHTS = {  # scores 0…10
    "vip": (1, 0, 1, 1, 2, 4, 5, 10, 18, 26, 32),
    "gold": (1, 1, 1, 2, 3, 5, 7, 12, 20, 22, 26),
    "silver": (2, 1, 2, 3, 4, 6, 8, 14, 20, 20, 20),
    "basic": (3, 2, 3, 4, 5, 8, 9, 15, 19, 17, 15),
}
FOLLOW_UP_NOTES = (
    _t("고객님께 전화드려 사과드리고 적립금을 지급했습니다.", "Called, apologised, gave points."),
    _t("배송사에 확인 후 재발송 처리했습니다.", "Checked with the carrier and re-shipped."),
    _t("교환 접수를 도와드렸습니다.", "Helped the customer file an exchange."),
    _t("환불을 바로 처리해 드렸습니다.", "Processed the refund right away."),
    _t("상품팀에 품질 이슈로 전달했습니다.", "Passed to the product team as a quality issue."),
)


@dataclass
class Ask:
    """One invitation the demo sends, and the answer it gets (if any)."""

    survey: str
    person: Person
    sent_at: datetime
    channel: str
    hidden: dict[str, Any]
    answers: dict[str, Any] | None = None
    completed: bool = True
    responded_at: datetime | None = None
    invitation_id: int = 0


@dataclass
class Plan:
    asks: list[Ask] = field(default_factory=list)
    last_asked: dict[int, datetime] = field(default_factory=dict)

    def may_ask(self, person: Person, at: datetime) -> bool:
        """The workspace's fatigue rule: one invitation per customer per 30 days."""
        assert person.customer_id is not None
        last = self.last_asked.get(person.customer_id)
        return last is None or abs((at - last).total_seconds()) >= FATIGUE_DAYS * DAY

    def add(self, ask: Ask) -> None:
        assert ask.person.customer_id is not None
        self.last_asked[ask.person.customer_id] = ask.sent_at
        self.asks.append(ask)


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _score(rng: Random, weights: Sequence[float], low: int) -> int:
    return rng.choices(range(low, low + len(weights)), weights=weights)[0]


def _holiday_rush(at: datetime) -> bool:
    return occasion_of(at.astimezone(KST).date()) is not None


def _answer_csat(rng: Random, ask: Ask, improved_at: datetime) -> None:
    touchpoint = ask.hidden["touchpoint"]
    key = touchpoint
    if touchpoint == "delivery" and ask.sent_at >= improved_at:
        key = "delivery_improved"
    weights = list(CSAT_WEIGHTS[key])
    if touchpoint == "delivery" and _holiday_rush(ask.sent_at):
        weights[0] += 8
        weights[1] += 6
    score = _score(rng, weights, 1)
    answers: dict[str, Any] = {"csat": score}
    topic = {
        "delivery": "delivery",
        "returns": "payment_refund",
        "checkout_app": "website_app",
        "checkout_web": rng.choice(("website_app", "price")),
    }[touchpoint]
    if score <= 3:
        topic = topic if rng.random() < 0.7 else rng.choice([k for k, _ in REASONS])
        answers["reason"] = topic if topic in dict(REASONS) else "delivery"
    elif rng.random() < 0.5:
        topic = rng.choice(("product_quality", "delivery", "price", topic))
    if rng.random() < (0.55 if score <= 3 else 0.25):
        answers["comment"] = comment(
            rng, korean=ask.person.korean, topic=topic, positive=score >= 4, mixed=0.25
        )
    ask.answers = answers


def _answer_nps(rng: Random, ask: Ask) -> None:
    """Ratings of each part of the experience first; the NPS follows from them (deliveries
    weigh most) and from the customer's tier; the reason is the worst-rated part."""
    weights = NPS_WEIGHTS.get(ask.person.tier, NPS_WEIGHTS["basic"])
    mood = _score(rng, weights, 0) - 7.5  # the tier's usual leaning
    ratings = {key: min(5, max(1, round(rng.gauss(3.8 + mood / 6, 1.0)))) for key in DRIVER_WEIGHTS}
    latent = sum(w * (ratings[k] - 3.5) for k, w in DRIVER_WEIGHTS.items()) + rng.gauss(0, 0.5)
    score = min(10, max(0, round(7.5 + 2.6 * latent + mood / 4)))
    answers: dict[str, Any] = {"nps": score}
    if rng.random() < 0.75:
        answers.update({f"{key}_rating": value for key, value in ratings.items()})
    topic = min(ratings, key=lambda k: (ratings[k], rng.random()))
    if score <= 6:
        answers["reason"] = topic
    elif score >= 9:
        topic = max(ratings, key=lambda k: (ratings[k], rng.random()))
    if rng.random() < (0.6 if score <= 6 else 0.3):
        positive = score >= 9 or (score >= 7 and rng.random() < 0.5)
        answers["comment"] = comment(
            rng, korean=ask.person.korean, topic=topic, positive=positive, mixed=0.3
        )
    ask.answers = answers


def _answer_ces(rng: Random, ask: Ask) -> None:
    score = _score(rng, CES_WEIGHTS[ask.hidden["touchpoint"]], 1)
    answers: dict[str, Any] = {"ces": score}
    if rng.random() < (0.5 if score <= 3 else 0.2):
        topic = rng.choice(("customer_service", "customer_service", "payment_refund"))
        answers["comment"] = comment(
            rng, korean=ask.person.korean, topic=topic, positive=score >= 5, mixed=0.15
        )
    ask.answers = answers


def _respond(rng: Random, ask: Ask, now: datetime, rate: float, expires_days: int) -> None:
    """Whether and when the customer answers (some leave after the first question)."""
    if rng.random() >= rate:
        return
    # Most answer within hours; a few after the reminder, days later.
    delay = rng.expovariate(1 / 9) if rng.random() < 0.8 else rng.uniform(72, 24 * expires_days)
    moment = ask.sent_at + timedelta(hours=delay)
    if moment >= now or not ask.person.active_at(moment):
        return
    ask.responded_at = moment
    ask.completed = rng.random() >= 0.07


def _orders(ctx: DemoContext) -> dict[str, tuple[str | None, str | None]]:
    """Each order's channel and the department of its first item."""
    with ctx.database.session() as session:
        channels: dict[str, str | None] = {
            external_id: channel
            for external_id, channel in session.execute(
                select(Order.external_id, Order.channel).where(
                    Order.workspace_id == ctx.workspace_id
                )
            )
        }
        categories: dict[str, str | None] = {}
        for external_id, category in session.execute(
            select(Order.external_id, OrderItem.category)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .where(Order.workspace_id == ctx.workspace_id)
            .order_by(OrderItem.id)
        ):
            categories.setdefault(external_id, category)
    return {oid: (channels[oid], categories.get(oid)) for oid in channels}


def plan_asks(ctx: DemoContext, rng: Random) -> Plan:
    now, plan = ctx.now, Plan()
    start = ctx.calendar.start
    improved_at = now - timedelta(days=IMPROVEMENT_DAYS_AGO)
    members = [p for p in ctx.members_only if p.customer_id is not None]
    orders = _orders(ctx)
    # CSAT three days after each order, to 60 % of them.
    placed = sorted(
        ((at, order_id, person) for person in members for order_id, at, _ in person.orders),
        key=lambda row: row[0],
    )
    for at, order_id, person in placed:
        sent = _when(at + 3 * DAY)
        if sent >= now or rng.random() >= 0.6 or not plan.may_ask(person, sent):
            continue
        channel_of_order, department = orders.get(order_id, (None, None))
        touchpoint = rng.choices(("delivery", "checkout", "returns"), weights=(50, 40, 10))[0]
        if touchpoint == "checkout":
            touchpoint = (
                "checkout_app"
                if channel_of_order in ("ios", "android", "app")
                else ("checkout_web")
            )
        hidden = {"order_id": order_id, "touchpoint": touchpoint}
        if department:
            hidden["product"] = department
        ask = Ask(
            "post-purchase-csat", person, sent, rng.choice(("email",) * 4 + ("widget",)), hidden
        )
        _respond(rng, ask, now, 0.62, 14)
        if ask.responded_at is not None:
            _answer_csat(rng, ask, improved_at)
        plan.add(ask)
    # The relationship NPS asks each member once a quarter on a rolling schedule (a day of
    # the quarter of their own), so some answers come in every week of the year.
    for person in members:
        offset = rng.uniform(0, QUARTER_DAYS)
        for wave in range(1, 5):
            day = (now - timedelta(days=QUARTER_DAYS * (5 - wave) - offset)).astimezone(KST)
            sent = day.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(
                minutes=rng.uniform(0, 120)
            )
            joined = person.signup_at is None or _when(person.signup_at) <= sent
            if sent >= now or not joined or rng.random() >= 0.6:
                continue
            if not plan.may_ask(person, sent):
                continue
            ask = Ask(
                "quarterly-nps",
                person,
                sent,
                "email",
                {"touchpoint": "relationship", "wave": f"Q{wave}"},
            )
            _respond(rng, ask, now, 0.38, 21)
            if ask.responded_at is not None:
                _answer_nps(rng, ask)
            plan.add(ask)
    # CES after support contacts, spread over the year.
    contacts = int(len(members) * 0.85)
    for _ in range(contacts):
        person = rng.choice(members)
        sent = _when(rng.uniform(start, now.timestamp() - DAY))
        if not plan.may_ask(person, sent):
            continue
        touchpoint = rng.choices(("chat", "phone", "email_support"), weights=(50, 30, 20))[0]
        ask = Ask("support-ces", person, sent, "email", {"touchpoint": touchpoint})
        _respond(rng, ask, now, 0.6, 7)
        if ask.responded_at is not None:
            _answer_ces(rng, ask)
        plan.add(ask)
    return plan


def _create_surveys(ctx: DemoContext) -> dict[str, Survey]:
    surveys: dict[str, Survey] = {}
    with ctx.database.session() as session:
        for key, name, kind, team, definition, distribution in SURVEYS:
            survey = survey_service.create_survey(
                session,
                workspace_id=ctx.workspace_id,
                key=key,
                name=name,
                kind=kind,
                definition=definition,
                owner_team=team,
                distribution=distribution,
            )
            survey_service.set_status(session, survey=survey, status="live")
            survey.created_at = _when(ctx.calendar.start) - timedelta(days=7)
            surveys[key] = survey
    return surveys


def _placeholder_hash(ctx: DemoContext, index: int) -> str:
    """Unique until the row has the id its real token is made from."""
    return hashlib.sha256(f"cxloop-demo:{ctx.seed}:{ctx.now}:{index}".encode()).hexdigest()


def _store_invitations(ctx: DemoContext, surveys: dict[str, Survey], asks: list[Ask]) -> None:
    expiry = {s[0]: int(s[5].get("expires_days", 14)) for s in SURVEYS}  # type: ignore[call-overload]
    reminder = {s[0]: s[5].get("reminder_after_days") for s in SURVEYS}
    with ctx.database.session() as session:
        rows = []
        for index, ask in enumerate(asks):
            expires = ask.sent_at + timedelta(days=expiry[ask.survey])
            if ask.responded_at is not None and ask.completed:
                status = "answered"
            elif expires <= ctx.now:
                status = "expired"
            else:
                status = "opened" if ask.responded_at is not None else "sent"
            assert ask.person.customer_id is not None
            # The reminder went out to those who had not answered by then.
            remind_days = reminder[ask.survey]
            reminded_at = None
            if remind_days and ask.channel == "email":
                remind_at = ask.sent_at + timedelta(days=int(remind_days))  # type: ignore[call-overload]
                unanswered = ask.responded_at is None or ask.responded_at > remind_at
                if unanswered and remind_at < min(expires, ctx.now):
                    reminded_at = remind_at
            rows.append(
                Invitation(
                    workspace_id=ctx.workspace_id,
                    survey_id=surveys[ask.survey].id,
                    customer_id=ask.person.customer_id,
                    token_hash=_placeholder_hash(ctx, index),
                    channel=ask.channel,
                    status=status,
                    hidden=ask.hidden,
                    send_at=ask.sent_at,
                    sent_at=ask.sent_at,
                    reminded_at=reminded_at,
                    expires_at=expires,
                    created_at=ask.sent_at,
                )
            )
        session.add_all(rows)
        session.flush()
        secret = get_settings().resolved_secret_key()
        for ask, row in zip(asks, rows, strict=True):
            ask.invitation_id = row.id
            # The token its links carry, as the distribution would have made it.
            row.token_hash = invitation_links.hash_token(invitation_token(row, secret=secret))


def _import_answers(
    ctx: DemoContext, surveys: dict[str, Survey], asks: list[Ask], task: Any
) -> None:
    answered = [a for a in asks if a.answers is not None and a.responded_at is not None]
    by_survey: dict[str, list[Ask]] = defaultdict(list)
    for ask in answered:
        by_survey[ask.survey].append(ask)
    for key, group in by_survey.items():
        for offset in range(0, len(group), IMPORT_BATCH):
            chunk = group[offset : offset + IMPORT_BATCH]
            rows = [
                response_service.ImportRow(
                    external_id=f"demo-invitation-{ask.invitation_id}",
                    answers=ask.answers or {},
                    submitted_at=ask.responded_at,
                    completed=ask.completed,
                    locale=normalise_locale(ask.person.locale),
                    channel=ask.channel,
                    hidden=ask.hidden,
                    user_id=ask.person.user_id,
                )
                for ask in chunk
            ]
            with ctx.database.session() as session:
                survey = session.get(Survey, surveys[key].id)
                assert survey is not None
                result = response_service.import_responses(
                    session, survey=survey, rows=rows, source="cxloop"
                )
                for response, ask in zip(result.created, chunk, strict=True):
                    response.invitation_id = ask.invitation_id
            task.advance(len(chunk))


def _work_follow_ups(ctx: DemoContext, rng: Random) -> None:
    """Back-date the follow-ups to their answers and work them as a team keeping up would:
    the older ones closed, last week's mostly closed or being worked (a few of them now past
    their two business days), the newest still open; and the notices the team got about them."""
    now = ctx.now
    with ctx.database.session() as session:
        staff: dict[str, list[int]] = defaultdict(list)
        for user_id, role, teams in session.execute(
            select(User.id, Membership.role, Membership.teams)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == ctx.workspace_id)
        ):
            for team in teams or []:
                staff[team].append(user_id)
            if role in ("owner", "admin"):
                staff["cx"].append(user_id)
        rows = session.execute(
            select(FollowUp, Response.submitted_at)
            .join(Response, Response.id == FollowUp.response_id)
            .where(FollowUp.workspace_id == ctx.workspace_id)
            .order_by(FollowUp.id)
        ).all()
        for follow_up, answered_at in rows:
            follow_up.created_at = answered_at
            follow_up.due_at = followup_service.add_business_days(answered_at, 2)
            people = staff.get(follow_up.team) or staff["cx"]
            status = _follow_up_status((now - answered_at).total_seconds() / DAY, rng.random())
            follow_up.status = status
            if status != "open" or rng.random() < 0.5:
                follow_up.assignee_id = rng.choice(people)
            if status in ("done", "dismissed"):
                closed = answered_at + timedelta(hours=rng.uniform(2, 60))
                follow_up.closed_at = min(closed, now)
                note = rng.choice(FOLLOW_UP_NOTES)
                follow_up.note = note["ko"] if rng.random() < 0.85 else note["en"]
        session.flush()
        _tell_the_team(session, [f for f, _ in rows], now)


def _follow_up_status(age_days: float, roll: float) -> str:
    if age_days > 10:
        return "done" if roll < 0.9 else "dismissed"
    if age_days > 3:
        return (
            "done"
            if roll < 0.6
            else "dismissed"
            if roll < 0.68
            else "in_progress"
            if roll < 0.9
            else "open"
        )
    return "open" if roll < 0.6 else "in_progress"


NOTICE_DAYS = 14  # the bell holds the last two weeks' notices about follow-ups
READ_AFTER = timedelta(days=2)  # notices older than this were read


def _tell_the_team(session: Session, follow_ups: Sequence[FollowUp], now: datetime) -> None:
    """The notices of the last two weeks' follow-ups, in the app (the demo sends no mail): a
    new one to its team, an assigned one to its assignee, an overdue open one to whoever has
    it; read when they are older than two days, unread otherwise."""
    recent = [f for f in follow_ups if now - as_utc(f.created_at) <= timedelta(days=NOTICE_DAYS)]
    for follow_up in recent:
        made = as_utc(follow_up.created_at)
        told = [
            (
                made,
                followup_service.notify_follow_up(
                    session, follow_up=follow_up, kind="followup_new", email=False
                ),
            )
        ]
        if follow_up.assignee_id is not None:
            told.append(
                (
                    made + timedelta(hours=1),
                    followup_service.notify_follow_up(
                        session,
                        follow_up=follow_up,
                        kind="followup_assigned",
                        user_ids=[follow_up.assignee_id],
                        email=False,
                    ),
                )
            )
        due = as_utc(follow_up.due_at)
        if follow_up.status in ("open", "in_progress") and due < now:
            owner = [follow_up.assignee_id] if follow_up.assignee_id is not None else None
            told.append(
                (
                    due,
                    followup_service.notify_follow_up(
                        session,
                        follow_up=follow_up,
                        kind="followup_overdue",
                        user_ids=owner,
                        email=False,
                    ),
                )
            )
            follow_up.overdue_told_at = due
        for when, notices in told:
            for notice in notices:
                notice.created_at = when
                notice.read_at = when + timedelta(hours=3) if now - when > READ_AFTER else None


def _record_improvement(ctx: DemoContext) -> None:
    """The delivery improvement, linked (by the same filter a manager would use) to the
    unhappy post-purchase answers that mention deliveries, from before the change."""
    made_at = ctx.now - timedelta(days=IMPROVEMENT_DAYS_AGO)
    with ctx.database.session() as session:
        survey_id = session.scalar(
            select(Survey.id).where(
                Survey.workspace_id == ctx.workspace_id, Survey.key == "post-purchase-csat"
            )
        )
        improvement = improvements.create_improvement(
            session,
            workspace_id=ctx.workspace_id,
            title_ko="주문 마감 시간을 오후 6시로 늦추고 다음 날 도착을 늘렸습니다",
            title_en="Orders placed by 6 pm now ship the same day",
            body_ko=(
                "배송이 늦다는 의견을 많이 주셨습니다. 물류센터 출고 마감을 오후 3시에서 "
                "6시로 늦추고 배송사를 한 곳 더 두어, 다음 날 받아 보시는 주문이 늘었습니다."
            ),
            body_en=(
                "Many of you told us deliveries were slow. The warehouse cut-off moved from "
                "3 pm to 6 pm and a second carrier joined, so more orders arrive the next day."
            ),
            created_by_id=ctx.owner_id,
        )
        improvement.created_at = made_at
        criteria = improvements.parse_criteria(
            session,
            workspace_id=ctx.workspace_id,
            raw={
                "survey_id": survey_id,
                "metric": "csat",
                "score_max": 2,
                "words": "배송",
                "until": made_at.isoformat(),
            },
        )
        improvements.link_by_filter(session, improvement=improvement, criteria=criteria)
        session.execute(
            update(ImprovementLink)
            .where(ImprovementLink.improvement_id == improvement.id)
            .values(created_at=made_at)
        )


def add_feedback(ctx: DemoContext) -> None:
    """Phase: surveys, invitations, answers, follow-ups and one improvement."""
    rng = ctx.rng("feedback")
    plan = plan_asks(ctx, rng)
    answered = sum(1 for a in plan.asks if a.answers is not None)
    task = ctx.task("Survey answers", answered)
    surveys = _create_surveys(ctx)
    _store_invitations(ctx, surveys, plan.asks)
    _import_answers(ctx, surveys, plan.asks, task)
    _work_follow_ups(ctx, rng)
    _record_improvement(ctx)
