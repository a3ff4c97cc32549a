"""Consent histories as a shop keeps them under PIPA: what each member agreed to, on which
channel, when and how, and the later withdrawals."""

from __future__ import annotations

from datetime import UTC, datetime
from random import Random

from sqlalchemy import select

from cxloop.demo.calendar import DAY
from cxloop.demo.context import DemoContext
from cxloop.demo.people import Person
from cxloop.models import Customer
from cxloop.models.customer import CONSENT_CHANNELS
from cxloop.profiles.service import record_consent

MARKETING_SHARE = 0.6
NIGHT_SHARE = 0.15  # of those who agreed to marketing
WITHDRAWAL_SHARE = 0.2  # of those who agreed to marketing, later withdraw on one channel
TERMS = "회원가입 이용약관 및 개인정보 수집·이용 동의 (약관 v3.2)"
MARKETING_TEXT = "[선택] 광고성 정보 수신 동의"
NIGHT_TEXT = "[선택] 야간(21시~08시) 광고성 정보 수신 동의"
# The signup terms cover the channels that carry messages out of the shop; in-app messages
# need no service grant (with no record, service messages are allowed), and TalkTalk is a chat
# the customer opens with the shop, not a channel the shop signs them up to.
SIGNUP_CHANNELS = tuple(c for c in CONSENT_CHANNELS if c not in ("in_app", "talktalk"))
WITHDRAWAL_SOURCES = {
    "email": ("unsubscribe_link", "이메일 하단 수신거부 링크"),
    "sms": ("sms_optout", "080 무료 수신거부"),
    "kakao": ("kakao_block", "카카오톡 채널 차단"),
    "push": ("app_settings", "앱 설정 > 알림 > 광고성 알림 끄기"),
}

# (purpose, channel, granted, source, evidence, epoch seconds)
ConsentChange = tuple[str, str, bool, str, str, float]


def consent_plan(person: Person, rng: Random, *, now: float) -> list[ConsentChange]:
    """The consent changes of one member, oldest first."""
    assert person.signup_at is not None
    joined = person.signup_at
    source = "app_signup" if person.devices[0].platform != "web" else "web_signup"
    changes: list[ConsentChange] = [
        ("service", channel, True, source, TERMS, joined) for channel in SIGNUP_CHANNELS
    ]
    if rng.random() >= MARKETING_SHARE:
        return changes
    reachable = ["email", "push"] if any(d.platform != "web" for d in person.devices) else ["email"]
    if person.phone:
        reachable += ["sms", "kakao"]
    channels = [c for c in CONSENT_CHANNELS if c in reachable and rng.random() < 0.75]
    channels = channels or [rng.choice(reachable)]
    if rng.random() < 0.7:
        granted_at, how = joined, source
    else:  # agreed later, for a coupon on an event page
        granted_at = min(joined + rng.uniform(1, 120) * DAY, now - DAY)
        how = "event_page"
    changes += [("marketing", c, True, how, MARKETING_TEXT, granted_at) for c in channels]
    night = [c for c in channels if c in ("sms", "push")]
    if night and rng.random() < NIGHT_SHARE:
        changes.append(("night_marketing", rng.choice(night), True, how, NIGHT_TEXT, granted_at))
    if rng.random() < WITHDRAWAL_SHARE:
        channel = rng.choice(channels)
        withdrawn_at = granted_at + rng.uniform(7.0, max(8.0, (now - granted_at) / DAY - 1)) * DAY
        withdrawn_source, evidence = WITHDRAWAL_SOURCES[channel]
        changes.append(
            ("marketing", channel, False, withdrawn_source, evidence, min(withdrawn_at, now - 3600))
        )
    return sorted(changes, key=lambda change: change[5])


def record_consents(ctx: DemoContext) -> None:
    """Phase: each member's consent history, through the profiles service."""
    rng = ctx.rng("consents")
    members = ctx.members_only
    task = ctx.task("Consent history", len(members))
    now = ctx.calendar.end
    for start in range(0, len(members), 500):
        chunk = members[start : start + 500]
        with ctx.database.session() as session:
            customers = {
                c.id: c
                for c in session.scalars(
                    select(Customer).where(Customer.id.in_([p.customer_id for p in chunk]))
                )
            }
            for person in chunk:
                customer = customers[person.customer_id or 0]
                for purpose, channel, granted, source, evidence, at in consent_plan(
                    person, rng, now=now
                ):
                    record_consent(
                        session,
                        customer=customer,
                        purpose=purpose,
                        channel=channel,
                        granted=granted,
                        source=source,
                        evidence=evidence,
                        at=datetime.fromtimestamp(at, UTC),
                        flush=False,  # the chunk's records are inserted together at commit
                    )
        task.advance(len(chunk))
