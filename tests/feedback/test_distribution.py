"""Survey distribution: invitations through the API (email and link), the rules they pass
(live survey, fatigue, consent), the trigger consumer on the bus (filters, delay, sampling,
replays and crashes), due sending, expiry and reminders."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cxloop.channels.tasks import deliver_outbox
from cxloop.core.db import Database
from cxloop.core.errors import NotFound
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.events import bus
from cxloop.feedback.distribution import links as invitation_links
from cxloop.feedback.distribution import service as distribution
from cxloop.feedback.distribution import triggers
from cxloop.feedback.settings import PropertyFilter
from cxloop.models import BusCheckpoint, Customer, Invitation, OutboundMessage, Survey
from cxloop.profiles import service as profiles
from tests.factories import Tenant, make_user, unique
from tests.helpers.distribution import customer, invite, live_survey
from tests.helpers.smtp import SmtpInbox
from tests.helpers.surveys import create
from tests.helpers.web import get, login, text_of

CONSUMER = "survey_triggers"


def invitations(session: Session, survey_id: int) -> list[Invitation]:
    session.expire_all()
    return list(
        session.scalars(
            select(Invitation).where(Invitation.survey_id == survey_id).order_by(Invitation.id)
        )
    )


# --- invitations through the API ---------------------------------------------------------------


def test_email_invitations_go_out_in_each_customers_language_with_a_personal_link(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
) -> None:
    # given a live survey and four customers: Korean, English, no email, opted out
    survey_id = live_survey(client, tenant)
    ko = customer(session, tenant, email=f"{unique('ko')}@example.com", name="김민지")
    en = customer(session, tenant, email=f"{unique('en')}@example.com", locale="en-US")
    no_email = customer(session, tenant)
    opted_out = customer(session, tenant, email=f"{unique('out')}@example.com")
    profiles.record_consent(
        session, customer=opted_out, purpose="service", channel="email", granted=False,
        source="form",
    )  # fmt: skip
    ids = [ko.id, en.id, no_email.id, opted_out.id]

    # when they are invited by email
    reply = invite(client, tenant, survey_id, customer_ids=ids, channel="email")

    # then two are sent and two skipped with their reasons; links only for those sent
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["invited"], body["skipped"]) == (2, 2)
    items = {item["customer_id"]: item for item in body["items"]}
    assert [(items[i]["status"], items[i]["skip_reason"]) for i in ids] == [
        ("sent", None),
        ("sent", None),
        ("skipped", "no_email"),
        ("skipped", "opted_out"),
    ]
    assert items[no_email.id]["link"] is None
    for cid in (ko.id, en.id):
        link = items[cid]["link"]
        assert link.startswith(f"{settings.public_url}/s/")
        token = link.rsplit("/", 1)[1]
        survey = session.get(Survey, survey_id)
        assert survey is not None
        found = invitation_links.find_invitation(session, survey=survey, token=token)
        assert found.id == items[cid]["id"] and found.customer_id == cid

    # and the emails, once delivered over SMTP, speak each customer's language
    session.commit()
    server = SmtpInbox()
    server.start()
    try:
        deliver_outbox(tx_database, settings=server.settings(settings))
    finally:
        server.stop()
    [korean] = server.to(ko.email or "")
    [english] = server.to(en.email or "")
    assert korean["Subject"] == f"[{tenant.workspace.name}] 구매 후 설문 — 잠시 의견을 들려주세요"
    assert english["Subject"].endswith("could you spare a minute?")
    korean_text = korean.get_body(preferencelist=("plain",))
    assert korean_text is not None
    text = korean_text.get_content()
    assert "김민지 님, 안녕하세요." in text and items[ko.id]["link"] in text
    html = korean.get_body(preferencelist=("html",))
    assert html is not None and f'href="{items[ko.id]["link"]}"' in html.get_content()
    keys = set(
        session.scalars(
            select(OutboundMessage.dedupe_key).where(OutboundMessage.workspace_id == tenant.id)
        )
    )
    assert keys == {f"invitation:{items[ko.id]['id']}", f"invitation:{items[en.id]['id']}"}


def test_the_fatigue_window_spans_surveys_and_channels(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    first, second = live_survey(client, tenant), live_survey(client, tenant)
    person = customer(session, tenant, email=f"{unique('f')}@example.com")

    assert (
        invite(client, tenant, first, customer_ids=[person.id], channel="email").json()["invited"]
        == 1
    )
    again = invite(client, tenant, second, customer_ids=[person.id], channel="link").json()

    assert [(i["status"], i["skip_reason"], i["link"]) for i in again["items"]] == [
        ("skipped", "fatigue", None)
    ]


def test_a_skipped_invitation_does_not_count_toward_fatigue(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey_id = live_survey(client, tenant)
    person = customer(session, tenant)  # no email: the email invitation is skipped
    invite(client, tenant, survey_id, customer_ids=[person.id], channel="email")
    reply = invite(client, tenant, survey_id, customer_ids=[person.id], channel="link").json()
    assert reply["items"][0]["status"] == "sent"
    assert reply["items"][0]["link"] is not None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        pytest.param({"customer_ids": [], "channel": "email"}, 422, "customer_ids", id="no-ids"),
        pytest.param({"customer_ids": [1], "channel": "sms"}, 422, "channel", id="bad-channel"),
        pytest.param(
            {"customer_ids": [2**52], "channel": "link"}, 422, "customer_ids.0", id="unknown"
        ),
        pytest.param(
            {"customer_ids": "CUSTOMER", "channel": "link", "hidden": {"nope": 1}},
            422,
            "hidden.nope",
            id="undeclared-hidden",
        ),
    ],
)
def test_bad_invitation_requests_are_422_with_the_field(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    survey_id = live_survey(client, tenant)
    if body["customer_ids"] == "CUSTOMER":
        body["customer_ids"] = [customer(session, tenant).id]
    reply = invite(client, tenant, survey_id, **body)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in reply.json()["errors"]}


def test_a_draft_survey_sends_no_invitations(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = create(client, tenant, key=unique("d"))
    person = customer(session, tenant)
    reply = invite(client, tenant, survey["id"], customer_ids=[person.id], channel="link")
    assert reply.status_code == 409
    assert invitations(session, survey["id"]) == []


def test_inviting_needs_a_role_that_builds_surveys(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey_id = live_survey(client, tenant)
    person = customer(session, tenant)
    body = {"customer_ids": [person.id], "channel": "link"}
    assert (
        client.post(
            f"/api/v1/surveys/{survey_id}/invitations", json=body, headers=tenant.key("viewer")
        ).status_code
        == 403
    )
    listed = client.get(f"/api/v1/surveys/{survey_id}/invitations", headers=tenant.key("viewer"))
    assert listed.status_code == 200


def test_invitations_are_listed_newest_first_by_status_page_by_page(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey_id = live_survey(client, tenant)
    people = [customer(session, tenant) for _ in range(3)]
    invite(client, tenant, survey_id, customer_ids=[p.id for p in people], channel="link")
    invite(client, tenant, survey_id, customer_ids=[people[0].id], channel="email")  # skipped

    url = f"/api/v1/surveys/{survey_id}/invitations"
    first = client.get(f"{url}?status=sent&limit=2", headers=tenant.api).json()
    second = client.get(
        f"{url}?status=sent&limit=2&cursor={first['next_cursor']}", headers=tenant.api
    ).json()
    skipped = client.get(f"{url}?status=skipped", headers=tenant.api).json()

    sent_ids = [i["customer_id"] for i in first["items"] + second["items"]]
    assert sorted(sent_ids) == sorted(p.id for p in people)
    assert second["next_cursor"] is None
    assert [(i["customer_id"], i["skip_reason"]) for i in skipped["items"]] == [
        (people[0].id, "fatigue")
    ]
    assert "link" not in first["items"][0]
    assert client.get(f"{url}?status=nope", headers=tenant.api).status_code == 422


def test_distribution_settings_are_saved_shown_and_checked(
    client: TestClient, tenant: Tenant
) -> None:
    settings = {
        "channels": ["email", "widget"],
        "trigger": {
            "event": "Order Completed",
            "where": [{"property": "total", "op": ">=", "value": 50000}],
        },
        "delay_minutes": 4320,
        "sample_rate": 0.3,
    }
    survey = create(client, tenant, key=unique("x"), distribution=settings)
    assert survey["distribution"]["sample_rate"] == 0.3
    assert survey["distribution"]["trigger"]["event"] == "Order Completed"

    bad = client.patch(
        f"/api/v1/surveys/{survey['id']}",
        json={"distribution": {"sample_rate": 2}},
        headers=tenant.api,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "distribution.sample_rate"
    changed = client.patch(
        f"/api/v1/surveys/{survey['id']}",
        json={"distribution": {"channels": ["link"], "reminder_after_days": 3}},
        headers=tenant.api,
    ).json()
    assert changed["distribution"]["reminder_after_days"] == 3
    assert changed["distribution"]["trigger"] is None


# --- triggers on the bus -----------------------------------------------------------------------

NOW = utcnow()


def order(
    user: str, total: Any, order_id: str, hours_ago: float = 1.0, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "messageId": unique("m-"),
        "timestamp": (NOW - timedelta(hours=hours_ago)).isoformat(),
        "properties": {"order_id": order_id, "total": total, "currency": "KRW", **extra},
    }


def identify(user: str, email: str) -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": user,
        "messageId": unique("m-"),
        "traits": {"email": email},
    }


def send(client: TestClient, tenant: Tenant, events: list[dict[str, Any]]) -> None:
    reply = client.post("/v1/batch", json={"batch": events}, headers=tenant.write)
    assert reply.status_code == 200, reply.text


def drain(database: Database, batch_size: int = 1000) -> int:
    return bus.drain(database, names=[CONSUMER], batch_size=batch_size)


def rewind(session: Session, position: int) -> None:
    session.execute(
        update(BusCheckpoint).where(BusCheckpoint.consumer == CONSUMER).values(position=position)
    )
    session.commit()


def last_event_id(session: Session) -> int:
    from cxloop.models import Event

    return int(session.scalar(select(func.max(Event.id))) or 0)


TRIGGERED = {
    "channels": ["email"],
    "trigger": {
        "event": "Order Completed",
        "where": [{"property": "total", "op": ">=", "value": 50000}],
    },
    "delay_minutes": 4320,
    "expires_days": 14,
}


def test_a_matching_event_schedules_one_invitation_after_the_delay_and_a_replay_adds_none(
    client: TestClient, session: Session, tenant: Tenant, tx_database: Database
) -> None:
    # given a survey 3 days after an order of 50,000 won or more
    survey_id = live_survey(client, tenant, **TRIGGERED)
    drain(tx_database)  # whatever came before
    start = last_event_id(session)
    send(
        client,
        tenant,
        [
            identify("buyer-1", f"{unique('b')}@example.com"),
            order("buyer-1", 59000, "A-1"),
            order("buyer-2", 12000, "A-2"),  # below the filter
        ],
    )
    session.commit()

    # when the consumer runs, and runs again over the same events
    drain(tx_database)
    first = invitations(session, survey_id)
    rewind(session, start)
    drain(tx_database)

    # then one invitation, scheduled three days after the order, tied to its event
    assert invitations(session, survey_id) == first
    [invitation] = first
    assert invitation.status == "scheduled" and invitation.channel == "email"
    assert invitation.trigger_event_id is not None
    assert invitation.send_at == NOW - timedelta(hours=1) + timedelta(days=3)
    assert invitation.expires_at == invitation.send_at + timedelta(days=14)
    assert invitation.hidden == {"order_id": "A-1", "touchpoint": "Order Completed"}


def test_a_crash_in_the_middle_of_a_batch_leaves_nothing_then_a_rerun_invites_once(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    survey_id = live_survey(client, tenant, **{**TRIGGERED, "channels": ["widget"]})
    drain(tx_database)
    send(client, tenant, [order(f"crash-{i}", 60000, f"C-{i}") for i in range(5)])
    session.commit()
    real = triggers.create_invitation
    calls = {"n": 0}

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(triggers, "create_invitation", failing)
    with pytest.raises(RuntimeError):
        drain(tx_database)
    assert invitations(session, survey_id) == []

    monkeypatch.setattr(triggers, "create_invitation", real)
    drain(tx_database)
    drain(tx_database)
    made = invitations(session, survey_id)
    assert len(made) == 5
    assert len({i.trigger_event_id for i in made}) == 5


@pytest.mark.parametrize(
    ("properties", "condition", "expected"),
    [
        pytest.param({"total": 50000}, (">=", "total", 50000), True, id="number-ge"),
        pytest.param({"total": "59,000"}, (">", "total", 50000), True, id="numeric-text"),
        pytest.param({"total": 49999.5}, (">=", "total", 50000), False, id="below"),
        pytest.param({}, ("!=", "coupon", "X"), False, id="missing-never-matches"),
        pytest.param(
            {"products": [{"category": "신발"}]},
            ("==", "products.0.category", "신발"),
            True,
            id="dotted-index",
        ),
        pytest.param({"tags": ["vip", "new"]}, ("in", "tags", ["vip"]), True, id="list-in"),
        pytest.param({"tags": ["vip"]}, ("!=", "tags", "vip"), False, id="list-not-equal"),
        pytest.param({"store": "강남"}, ("in", "store", ["강남", "홍대"]), True, id="in"),
        pytest.param({"gift": True}, ("==", "gift", 1), False, id="bool-is-not-one"),
        pytest.param({"total": "abc"}, ("<", "total", 5), False, id="text-not-ordered"),
    ],
)
def test_property_filters(
    properties: dict[str, Any], condition: tuple[str, str, Any], expected: bool
) -> None:
    op, path, value = condition
    rule = PropertyFilter(property=path, op=op, value=value)  # type: ignore[arg-type]
    assert triggers.filter_matches(properties, rule) is expected


def test_sampling_thirty_percent_of_a_thousand_buyers_is_near_300_and_stable(
    client: TestClient, session: Session, tenant: Tenant, tx_database: Database
) -> None:
    # given a widget survey after any order, for 30 % of buyers
    survey_id = live_survey(
        client, tenant, channels=["widget"], trigger={"event": "Order Completed"}, sample_rate=0.3
    )
    drain(tx_database)
    start = last_event_id(session)
    for chunk in range(2):
        send(
            client,
            tenant,
            [order(f"s-{chunk}-{i}", 1000, f"S-{chunk}-{i}") for i in range(500)],
        )
    session.commit()

    # when the consumer reads the orders, and once more after a rewind
    drain(tx_database, batch_size=300)
    chosen = {i.customer_id for i in invitations(session, survey_id) if i.status != "skipped"}
    rewind(session, start)
    drain(tx_database, batch_size=300)

    # then about 30 % are invited (±3.3 standard deviations), the same ones, each once; the
    # others are recorded as skipped, outside the sample
    assert 250 <= len(chosen) <= 350
    again = [i for i in invitations(session, survey_id) if i.status != "skipped"]
    assert len(again) == len(chosen) == len({i.customer_id for i in again})
    left_out = [i for i in invitations(session, survey_id) if i.status == "skipped"]
    assert len(left_out) == 1000 - len(chosen)
    assert {i.hidden["skip_reason"] for i in left_out} == {"not_sampled"}
    counts = distribution.invitation_counts(
        session, survey_id=survey_id, since=utcnow() - timedelta(days=1)
    )
    assert counts.skipped_by_reason == {"not_sampled": 1000 - len(chosen)}
    assert counts.by_status["skipped"] == 1000 - len(chosen)
    buyers = session.scalars(select(Customer.id).where(Customer.workspace_id == tenant.id))
    expected = {
        cid
        for cid in buyers
        if distribution.is_sampled(survey_id=survey_id, customer_id=cid, rate=0.3)
    }
    assert chosen == expected


def test_triggered_invitations_respect_fatigue_and_consent(
    client: TestClient, session: Session, tenant: Tenant, tx_database: Database
) -> None:
    survey_id = live_survey(client, tenant, **{**TRIGGERED, "delay_minutes": 0})
    drain(tx_database)
    tired_email, out_email = f"{unique('t')}@example.com", f"{unique('o')}@example.com"
    send(client, tenant, [identify("tired", tired_email), identify("out", out_email)])
    tired = profiles.find_customer(session, workspace_id=tenant.id, kind="user_id", value="tired")
    out = profiles.find_customer(session, workspace_id=tenant.id, kind="user_id", value="out")
    assert tired is not None and out is not None
    other = live_survey(client, tenant)
    invite(client, tenant, other, customer_ids=[tired.id], channel="link")
    profiles.record_consent(
        session, customer=out, purpose="service", channel="email", granted=False, source="form"
    )
    send(client, tenant, [order("tired", 70000, "F-1"), order("out", 70000, "F-2")])
    session.commit()

    drain(tx_database)

    found = {
        i.customer_id: (i.status, i.hidden.get("skip_reason"))
        for i in invitations(session, survey_id)
    }
    assert found == {tired.id: ("skipped", "fatigue"), out.id: ("skipped", "opted_out")}


# --- due sending, expiry and reminders ---------------------------------------------------------


def test_due_invitations_go_out_then_expire_and_get_one_reminder(
    client: TestClient, session: Session, tenant: Tenant, tx_database: Database
) -> None:
    survey_id = live_survey(client, tenant, **{**TRIGGERED, "reminder_after_days": 3})
    drain(tx_database)
    email = f"{unique('r')}@example.com"
    send(client, tenant, [identify("rem", email), order("rem", 80000, "R-1")])
    session.commit()
    drain(tx_database)
    [invitation] = invitations(session, survey_id)
    due = invitation.send_at

    # not yet due: nothing happens
    assert distribution.send_due(session, now=due - timedelta(minutes=1)) == 0
    # due: the email is queued and the invitation is sent
    assert distribution.send_due(session, now=due) >= 1
    [invitation] = invitations(session, survey_id)
    assert (invitation.status, invitation.sent_at) == ("sent", due)
    # three days on, one reminder, not two (other workspaces' invitations may be due too)
    later = due + timedelta(days=3, minutes=1)
    assert distribution.send_reminders(session, now=later) >= 1
    distribution.send_reminders(session, now=later + timedelta(hours=1))
    keys = sorted(
        session.scalars(
            select(OutboundMessage.dedupe_key).where(OutboundMessage.workspace_id == tenant.id)
        )
    )
    assert keys == [f"invitation:{invitation.id}", f"reminder:{invitation.id}"]
    reminder = session.scalars(
        select(OutboundMessage).where(OutboundMessage.dedupe_key == f"reminder:{invitation.id}")
    ).one()
    assert reminder.subject.startswith(f"[{tenant.workspace.name}] 다시 한번 부탁드려요")
    # past its expiry it is expired, and never reminded again
    assert distribution.expire_passed(session, now=invitation.expires_at) >= 1
    assert invitations(session, survey_id)[0].status == "expired"


def test_an_answered_invitation_gets_no_reminder(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey_id = live_survey(client, tenant, channels=["email"], reminder_after_days=2)
    person = customer(session, tenant, email=f"{unique('a')}@example.com")
    invite(client, tenant, survey_id, customer_ids=[person.id], channel="email")
    [invitation] = invitations(session, survey_id)
    invitation.status = "answered"
    session.flush()
    distribution.send_reminders(session, now=utcnow() + timedelta(days=2, hours=1))
    assert invitations(session, survey_id)[0].reminded_at is None
    reminders = session.scalars(
        select(OutboundMessage.id).where(OutboundMessage.dedupe_key == f"reminder:{invitation.id}")
    ).all()
    assert reminders == []


def test_a_due_widget_invitation_becomes_available_without_email(
    client: TestClient, session: Session, tenant: Tenant, tx_database: Database
) -> None:
    survey_id = live_survey(client, tenant, **{**TRIGGERED, "channels": ["widget"]})
    drain(tx_database)
    send(client, tenant, [order("w-1", 90000, "W-1")])
    session.commit()
    drain(tx_database)
    [invitation] = invitations(session, survey_id)
    distribution.send_due(session, now=invitation.send_at)
    [invitation] = invitations(session, survey_id)
    assert (invitation.channel, invitation.status) == ("widget", "sent")
    assert (
        session.scalar(select(func.count()).where(OutboundMessage.workspace_id == tenant.id)) == 0
    )


def test_sampling_is_deterministic_per_survey_and_customer() -> None:
    decisions = [distribution.is_sampled(survey_id=7, customer_id=c, rate=0.5) for c in range(200)]
    assert decisions == [
        distribution.is_sampled(survey_id=7, customer_id=c, rate=0.5) for c in range(200)
    ]
    assert 70 <= sum(decisions) <= 130
    assert distribution.is_sampled(survey_id=7, customer_id=1, rate=0.0) is False
    assert distribution.is_sampled(survey_id=7, customer_id=1, rate=1.0) is True


# --- secret key rotation -----------------------------------------------------------------------


def test_links_survive_a_new_secret_key_while_the_old_one_is_listed_as_previous(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    survey_id = live_survey(client, tenant)
    who = customer(session, tenant, email=f"{unique('rot')}@example.com")
    reply = invite(client, tenant, survey_id, customer_ids=[who.id], channel="link")
    assert reply.status_code == 201, reply.text
    [item] = reply.json()["items"]
    first_link = item["link"]
    [invitation] = invitations(session, survey_id)
    old_key = settings.resolved_secret_key()

    # the key changes and the old one is kept as previous: a reminder carries the same link
    rotated = settings.model_copy(
        update={
            "secret_key": "a-new-secret-key-0123456789-abcdefghij",
            "previous_secret_keys": old_key,
        }
    )
    assert rotated.resolved_secret_key() != old_key
    assert invitation_links.invitation_link(invitation, settings=rotated) == first_link
    assert invitation_links.invitation_for_token(
        session, token=first_link.rsplit("/", 1)[1]
    ).id == (invitation.id)

    # the old key retired too early: the invitation gets a new link that works, the old one not
    retired = settings.model_copy(update={"secret_key": "a-new-secret-key-0123456789-abcdefghij"})
    new_link = invitation_links.invitation_link(invitation, settings=retired)
    session.flush()
    assert new_link != first_link
    assert invitation_links.invitation_for_token(session, token=new_link.rsplit("/", 1)[1]).id == (
        invitation.id
    )
    with pytest.raises(NotFound):
        invitation_links.invitation_for_token(session, token=first_link.rsplit("/", 1)[1])


def test_the_distribution_page_counts_invitations_and_says_why_some_were_not_sent(
    client: TestClient, session: Session, tenant: Tenant, tx_database: Database
) -> None:
    # given a survey after every order that samples nobody, and one order by a customer without
    # an address for an email survey
    sampled_out = live_survey(
        client, tenant, channels=["widget"], trigger={"event": "Order Completed"}, sample_rate=0
    )
    by_email = live_survey(client, tenant, **{**TRIGGERED, "delay_minutes": 0})
    drain(tx_database)
    send(client, tenant, [order("z-1", 60000, "Z-1"), order("z-2", 60000, "Z-2")])
    drain(tx_database)
    user = make_user(session, workspace=tenant.workspace, role="owner", locale="ko")
    session.flush()
    assert login(client, user.email).status_code == 303

    page = get(client, f"/surveys/{sampled_out}/distribution")
    other = get(client, f"/surveys/{by_email}/distribution")

    assert page.status_code == 200, page.text
    words = text_of(page)
    assert "최근 30일 발송 기록" in words
    assert re.search(r'id="invitations-skipped"><dt>보내지 않음</dt><dd>2</dd>', page.text)
    assert "표본에서 제외됨 (표본 비율) · 2" in words
    assert "이메일 주소 없음 · 2" in text_of(other)
