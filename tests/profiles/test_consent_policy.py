"""The consent policy (``cxloop.profiles.consent``): property-based over random times (across
midnight, in KST and zones with daylight saving and half-hour offsets) and random consent
histories (grants and withdrawals per purpose and channel, erasure, merges), then through the
API: survey invitations by email and improvement announcements obey it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.service import cli_principal
from cxloop.core.errors import ValidationFailed
from cxloop.models import (
    Customer,
    Identity,
    Improvement,
    ImprovementLink,
    Invitation,
    OutboundMessage,
    Response,
)
from cxloop.models.customer import CONSENT_CHANNELS, CONSENT_PURPOSES
from cxloop.profiles import consent, identity
from cxloop.profiles import service as profiles
from tests.factories import Tenant, make_customer, unique

SEND_PURPOSES = ("service", "marketing", "third_party")
ZONES = ("Asia/Seoul", "America/New_York", "Europe/London", "Asia/Kolkata")
KST = ZoneInfo("Asia/Seoul")

# One consent change: (purpose, channel, granted).
changes = st.tuples(
    st.sampled_from(CONSENT_PURPOSES), st.sampled_from(CONSENT_CHANNELS), st.booleans()
)
histories = st.lists(changes, max_size=12)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


def in_force(history: list[tuple[str, str, bool]]) -> dict[tuple[str, str], bool]:
    """The state a history leaves: the last change per (purpose, channel)."""
    state: dict[tuple[str, str], bool] = {}
    for purpose, channel, granted in history:
        state[(purpose, channel)] = granted
    return state


def expected(
    state: dict[tuple[str, str], bool],
    *,
    purpose: str,
    channel: str,
    at: datetime,
    zone: ZoneInfo,
    erased: bool = False,
    merged: bool = False,
) -> tuple[str, str | None]:
    """The rules as the README states them: (outcome, reason)."""
    if erased:
        return "denied", "erased"
    if merged:
        return "denied", "merged"
    latest = state.get((purpose, channel))
    if purpose == "service":
        return ("denied", "opted_out") if latest is False else ("allowed", None)
    if latest is None:
        return "denied", "no_opt_in"
    if latest is False:
        return "denied", "opted_out"
    hour = at.astimezone(zone).hour
    at_night = hour >= 21 or hour < 8
    if purpose == "marketing" and at_night and not state.get(("night_marketing", channel)):
        return "held", "night"
    return "allowed", None


def assert_hold_ends_at_the_next_eight_local(
    decision: consent.Decision, at: datetime, zone: ZoneInfo
) -> None:
    assert decision.hold_until is not None
    until = decision.hold_until
    assert until.utcoffset() == timedelta(0)
    assert until.astimezone(zone).time() == time(8)
    # the first 08:00 after ``at``: within the night (at most 11 hours, 12 across a clock change)
    assert at < until <= at + timedelta(hours=12)


# --- the rules, over random histories and times -------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    history=histories,
    purpose=st.sampled_from(SEND_PURPOSES),
    channel=st.sampled_from(CONSENT_CHANNELS),
    at=moments,
    zone_name=st.sampled_from(ZONES),
    erased=st.booleans(),
    merged=st.booleans(),
)
def test_the_policy_decides_as_the_rules_say(
    history: list[tuple[str, str, bool]],
    purpose: str,
    channel: str,
    at: datetime,
    zone_name: str,
    erased: bool,
    merged: bool,
) -> None:
    zone = ZoneInfo(zone_name)
    state = in_force(history)
    customer = Customer(
        id=1,
        workspace_id=1,
        erased_at=at if erased else None,
        merged_into_id=2 if merged else None,
    )
    decision = consent.decide(
        customer=customer, purpose=purpose, channel=channel, at=at, state=state, zone=zone
    )
    assert (decision.outcome, decision.reason) == expected(
        state, purpose=purpose, channel=channel, at=at, zone=zone, erased=erased, merged=merged
    )
    if decision.held:
        assert_hold_ends_at_the_next_eight_local(decision, at, zone)
    else:
        assert decision.hold_until is None


@settings(max_examples=300, deadline=None)
@given(
    local=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31)),
    zone_name=st.sampled_from(ZONES),
)
@example(local=datetime(2026, 3, 1, 20, 59, 59, 999999), zone_name="Asia/Seoul")
@example(local=datetime(2026, 3, 1, 21, 0), zone_name="Asia/Seoul")
@example(local=datetime(2026, 3, 1, 23, 59, 59), zone_name="Asia/Seoul")
@example(local=datetime(2026, 3, 2, 0, 0), zone_name="Asia/Seoul")
@example(local=datetime(2026, 3, 2, 7, 59, 59, 999999), zone_name="Asia/Seoul")
@example(local=datetime(2026, 3, 2, 8, 0), zone_name="Asia/Seoul")
@example(local=datetime(2026, 3, 7, 22, 30), zone_name="America/New_York")  # DST starts 3/8
@example(local=datetime(2026, 10, 31, 23, 0), zone_name="America/New_York")  # DST ends 11/1
@example(local=datetime(2026, 3, 28, 21, 0), zone_name="Europe/London")  # BST starts 3/29
def test_marketing_without_night_consent_waits_for_eight_local(
    local: datetime, zone_name: str
) -> None:
    # given a marketing opt-in on SMS but no night consent
    zone = ZoneInfo(zone_name)
    at = local.replace(tzinfo=zone).astimezone(UTC)
    state = {("marketing", "sms"): True}
    customer = Customer(id=1, workspace_id=1)

    decision = consent.decide(
        customer=customer, purpose="marketing", channel="sms", at=at, state=state, zone=zone
    )
    with_night = consent.decide(
        customer=customer,
        purpose="marketing",
        channel="sms",
        at=at,
        state={**state, ("night_marketing", "sms"): True},
        zone=zone,
    )

    # then by day it goes, by night (21:00-08:00 local) it is held until 08:00, never refused
    hour = at.astimezone(zone).hour
    if 8 <= hour < 21:
        assert decision == consent.Decision("allowed")
    else:
        assert (decision.outcome, decision.reason) == ("held", "night")
        assert_hold_ends_at_the_next_eight_local(decision, at, zone)
    # and night consent on the channel lets it go at any hour
    assert with_night == consent.Decision("allowed")


def test_the_hold_in_kst_ends_at_eight_kst_given_in_utc() -> None:
    customer = Customer(id=1, workspace_id=1)
    state = {("marketing", "kakao"): True}
    for local, until in [
        (datetime(2026, 5, 4, 21, 0), datetime(2026, 5, 4, 23, 0, tzinfo=UTC)),
        (datetime(2026, 5, 4, 23, 59), datetime(2026, 5, 4, 23, 0, tzinfo=UTC)),
        (datetime(2026, 5, 5, 0, 30), datetime(2026, 5, 4, 23, 0, tzinfo=UTC)),
        (datetime(2026, 5, 5, 7, 59), datetime(2026, 5, 4, 23, 0, tzinfo=UTC)),
    ]:
        decision = consent.decide(
            customer=customer,
            purpose="marketing",
            channel="kakao",
            at=local.replace(tzinfo=KST),
            state=state,
        )
        assert decision == consent.Decision("held", "night", until), local


def test_night_consent_on_another_channel_does_not_count() -> None:
    at = datetime(2026, 5, 4, 22, 0, tzinfo=KST)
    state = {("marketing", "sms"): True, ("night_marketing", "push"): True}
    decision = consent.decide(
        customer=Customer(id=1, workspace_id=1),
        purpose="marketing",
        channel="sms",
        at=at,
        state=state,
    )
    assert decision.outcome == "held"


@pytest.mark.parametrize(
    ("purpose", "channel", "field"),
    [
        pytest.param("night_marketing", "sms", "purpose", id="night-is-a-ledger-purpose"),
        pytest.param("spam", "email", "purpose", id="unknown-purpose"),
        pytest.param("service", "fax", "channel", id="unknown-channel"),
    ],
)
def test_asking_about_an_unknown_purpose_or_channel_is_refused(
    purpose: str, channel: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        consent.decide(
            customer=Customer(id=1, workspace_id=1),
            purpose=purpose,
            channel=channel,
            at=datetime(2026, 1, 1, tzinfo=UTC),
            state={},
        )
    assert raised.value.errors[0]["field"] == field


# --- the same rules over the real ledger --------------------------------------------------------


@pytest.fixture
def ledger_customer(session: Session, tenant: Tenant) -> Iterator[Customer]:
    yield make_customer(session, workspace=tenant.workspace, email=f"{unique('c')}@example.com")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories, at=moments, zone_name=st.sampled_from(ZONES), erase=st.booleans())
def test_may_send_reads_the_ledger_as_the_rules_say(
    session: Session,
    tenant: Tenant,
    history: list[tuple[str, str, bool]],
    at: datetime,
    zone_name: str,
    erase: bool,
) -> None:
    savepoint = session.begin_nested()
    try:
        # given a customer in ``zone_name`` and a consent history recorded a minute apart
        customer = make_customer(session, workspace=tenant.workspace, email="x@example.com")
        customer.timezone = zone_name
        start = datetime(2019, 1, 1, tzinfo=UTC)
        for n, (purpose, channel, granted) in enumerate(history):
            profiles.record_consent(
                session,
                customer=customer,
                purpose=purpose,
                channel=channel,
                granted=granted,
                source="form",
                at=start + timedelta(minutes=n),
            )
        if erase:
            profiles.erase_customer(session, principal=cli_principal(tenant.id), customer=customer)
        state = in_force(history)
        zone = ZoneInfo(zone_name)
        for purpose in SEND_PURPOSES:
            for channel in CONSENT_CHANNELS:
                # when a sender asks, then it hears what the rules say
                decision = consent.may_send(
                    session, customer=customer, purpose=purpose, channel=channel, at=at
                )
                assert (decision.outcome, decision.reason) == expected(
                    state, purpose=purpose, channel=channel, at=at, zone=zone, erased=erase
                ), (purpose, channel)
                if decision.held:
                    assert_hold_ends_at_the_next_eight_local(decision, at, zone)
    finally:
        savepoint.rollback()


@pytest.mark.parametrize(
    ("customer_zone", "workspace_zone", "hold_until"),
    [
        pytest.param(None, "Asia/Seoul", datetime(2026, 5, 4, 23, 0, tzinfo=UTC), id="kst"),
        pytest.param(
            "Europe/London", "Asia/Seoul", datetime(2026, 5, 5, 7, 0, tzinfo=UTC), id="customer"
        ),
        pytest.param(
            None, "America/New_York", datetime(2026, 5, 5, 12, 0, tzinfo=UTC), id="workspace"
        ),
        pytest.param(
            "Mars/Olympus", "Nowhere", datetime(2026, 5, 4, 23, 0, tzinfo=UTC), id="unknown"
        ),
    ],
)
def test_the_customers_zone_then_the_workspaces_then_kst(
    session: Session,
    tenant: Tenant,
    ledger_customer: Customer,
    customer_zone: str | None,
    workspace_zone: str,
    hold_until: datetime,
) -> None:
    # given a marketing opt-in by email, no night consent
    ledger_customer.timezone = customer_zone
    tenant.workspace.timezone = workspace_zone
    profiles.record_consent(
        session,
        customer=ledger_customer,
        purpose="marketing",
        channel="email",
        granted=True,
        source="form",
    )
    # when asked at 03:00 UTC on 5 May (the middle of the night in every zone but Seoul's,
    # where it is noon) and at 22:00 UTC on 4 May (07:00 in Seoul, late evening elsewhere)
    noon_in_seoul = datetime(2026, 5, 5, 3, 0, tzinfo=UTC)
    night = datetime(2026, 5, 4, 22, 0, tzinfo=UTC)
    first = consent.may_send(
        session, customer=ledger_customer, purpose="marketing", channel="email", at=night
    )
    # then the hold ends at 08:00 in the zone that applies
    if hold_until == datetime(2026, 5, 4, 23, 0, tzinfo=UTC):
        assert first == consent.Decision("held", "night", hold_until)
        assert consent.may_send(
            session,
            customer=ledger_customer,
            purpose="marketing",
            channel="email",
            at=noon_in_seoul,
        ) == consent.Decision("allowed")
    else:
        later = consent.may_send(
            session,
            customer=ledger_customer,
            purpose="marketing",
            channel="email",
            at=noon_in_seoul,
        )
        assert later == consent.Decision("held", "night", hold_until)


def test_a_merged_profile_is_never_sent_to_and_its_survivor_holds_the_ledger(
    session: Session, tenant: Tenant
) -> None:
    survivor = make_customer(session, workspace=tenant.workspace, email="s@example.com")
    merged = make_customer(session, workspace=tenant.workspace, email="m@example.com")
    profiles.record_consent(
        session, customer=merged, purpose="marketing", channel="sms", granted=True, source="form"
    )
    identity.merge_customers(session, survivor=survivor, merged=merged, reason="manual")
    noon = datetime(2026, 5, 5, 3, 0, tzinfo=UTC)
    for purpose in SEND_PURPOSES:
        assert consent.may_send(
            session, customer=merged, purpose=purpose, channel="sms", at=noon
        ) == consent.Decision("denied", "merged")
    assert consent.may_send(
        session, customer=survivor, purpose="marketing", channel="sms", at=noon
    ) == consent.Decision("allowed")


# --- senders through the API --------------------------------------------------------------------


def live_survey(client: TestClient, tenant: Tenant) -> int:
    definition = {
        "questions": [
            {
                "id": "nps",
                "type": "nps",
                "required": True,
                "text": {"ko": "추천하시겠어요?", "en": "Would you recommend us?"},
            }
        ]
    }
    reply = client.post(
        "/api/v1/surveys",
        json={
            "key": unique("consent"),
            "name": "동의 정책 설문",
            "kind": "nps",
            "definition": definition,
            "distribution": {"channels": ["email", "widget"]},
        },
        headers=tenant.api,
    )
    assert reply.status_code == 201, reply.text
    survey_id = int(reply.json()["id"])
    live = client.post(
        f"/api/v1/surveys/{survey_id}/status", json={"status": "live"}, headers=tenant.api
    )
    assert live.status_code == 200, live.text
    return survey_id


def consent_change(
    client: TestClient,
    tenant: Tenant,
    customer: Customer,
    purpose: str,
    channel: str,
    granted: bool,
) -> None:
    reply = client.post(
        f"/api/v1/customers/{customer.id}/consent",
        json={"purpose": purpose, "channel": channel, "granted": granted, "source": "form"},
        headers=tenant.api,
    )
    assert reply.status_code == 201, reply.text


def people(session: Session, tenant: Tenant) -> dict[str, Customer]:
    """No record; service email withdrawn; withdrawn then given again; marketing withdrawn
    only; service withdrawn on SMS only; erased."""
    made = {
        name: make_customer(
            session, workspace=tenant.workspace, email=f"{name}-{unique('p')}@example.com"
        )
        for name in ("no_record", "opted_out", "back_in", "no_marketing", "no_sms", "erased")
    }
    session.commit()
    return made


def record_histories(client: TestClient, tenant: Tenant, made: dict[str, Customer]) -> None:
    consent_change(client, tenant, made["opted_out"], "service", "email", False)
    consent_change(client, tenant, made["back_in"], "service", "email", False)
    consent_change(client, tenant, made["back_in"], "service", "email", True)
    consent_change(client, tenant, made["no_marketing"], "marketing", "email", False)
    consent_change(client, tenant, made["no_sms"], "service", "sms", False)


def test_a_survey_invitation_by_email_obeys_the_policy(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given six customers with different consent histories
    survey_id = live_survey(client, tenant)
    made = people(session, tenant)
    record_histories(client, tenant, made)
    erased = client.post(f"/api/v1/customers/{made['erased'].id}/erase", headers=tenant.api)
    assert erased.status_code == 200, erased.text

    # when each is invited by email
    reply = client.post(
        f"/api/v1/surveys/{survey_id}/invitations",
        json={"customer_ids": [c.id for c in made.values()], "channel": "email"},
        headers=tenant.api,
    )

    # then service email goes wherever it was not withdrawn (no record is enough), and the
    # others are skipped with the policy's reason
    assert reply.status_code == 201, reply.text
    by_customer = {item["customer_id"]: item for item in reply.json()["items"]}
    assert {
        name: (by_customer[c.id]["status"], by_customer[c.id]["skip_reason"])
        for name, c in made.items()
    } == {
        "no_record": ("sent", None),
        "opted_out": ("skipped", "opted_out"),
        "back_in": ("sent", None),
        "no_marketing": ("sent", None),
        "no_sms": ("sent", None),
        "erased": ("skipped", "erased"),
    }
    session.expire_all()
    mailed = set(
        session.scalars(
            select(OutboundMessage.customer_id).where(
                OutboundMessage.workspace_id == tenant.id, OutboundMessage.purpose == "service"
            )
        )
    )
    assert mailed == {made[n].id for n in ("no_record", "back_in", "no_marketing", "no_sms")}
    stored = session.scalars(select(Invitation).where(Invitation.survey_id == survey_id)).all()
    assert {
        i.customer_id: i.hidden.get("skip_reason") for i in stored if i.status == "skipped"
    } == {
        made["opted_out"].id: "opted_out",
        made["erased"].id: "erased",
    }


def test_an_improvement_announcement_obeys_the_policy(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given the same six customers, each behind a response linked to an improvement
    survey_id = live_survey(client, tenant)
    made = people(session, tenant)
    response_ids: dict[str, int] = {}
    for name, customer in made.items():
        answered = client.post(
            f"/api/v1/surveys/{survey_id}/responses",
            json={"answers": {"nps": 3}, "locale": "ko", "customer_id": customer.id},
            headers=tenant.api,
        )
        assert answered.status_code == 201, answered.text
        response_ids[name] = int(answered.json()["response"]["id"])
    record_histories(client, tenant, made)
    assert (
        client.post(f"/api/v1/customers/{made['erased'].id}/erase", headers=tenant.api).status_code
        == 200
    )
    improvement: Any = client.post(
        "/api/v1/improvements",
        json={
            "title_ko": "배송이 빨라졌어요",
            "title_en": "Faster delivery",
            "body_ko": "당일 출고",
            "body_en": "Same day",
        },
        headers=tenant.api,
    ).json()
    linked = client.post(
        f"/api/v1/improvements/{improvement['id']}/links",
        json={"response_ids": list(response_ids.values())},
        headers=tenant.api,
    )
    assert linked.status_code in (200, 201), linked.text

    # when it is announced
    reply = client.post(f"/api/v1/improvements/{improvement['id']}/announce", headers=tenant.api)

    # then everyone the policy allows service email is told by email, now
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "emailed": 4,
        "widget_only": 0,
        "opted_out": 1,
        "erased": 1,
        "already_told": 0,
        "told_by_channel": {"email": 4},
    }
    session.expire_all()
    mails = session.scalars(
        select(OutboundMessage).where(OutboundMessage.workspace_id == tenant.id)
    ).all()
    assert {m.customer_id for m in mails} == {
        made[n].id for n in ("no_record", "back_in", "no_marketing", "no_sms")
    }
    assert all(m.send_after <= m.created_at + timedelta(seconds=1) for m in mails)
    told = {
        link.response_id: link.notified_channel
        for link in session.scalars(
            select(ImprovementLink).where(ImprovementLink.improvement_id == improvement["id"])
        )
    }
    assert told[response_ids["opted_out"]] is None and told[response_ids["no_record"]] == "email"


def visitor(client: TestClient, session: Session, tenant: Tenant) -> tuple[str, Customer]:
    """An anonymous visitor of the shop (known to the widget by their anonymous id)."""
    anonymous_id = unique("anon-")
    sent = client.post(
        "/v1/page",
        json={"anonymousId": anonymous_id, "name": "Home", "messageId": unique("m-")},
        headers=tenant.write,
    )
    assert sent.status_code == 200, sent.text
    session.expire_all()
    customer_id = session.scalar(
        select(Identity.customer_id).where(
            Identity.workspace_id == tenant.id, Identity.value == anonymous_id
        )
    )
    found = session.get(Customer, customer_id)
    assert found is not None
    return anonymous_id, found


def test_in_app_opt_out_hides_the_survey_widget_and_its_notices(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given a widget survey, an announced improvement linked to two visitors' answers, and
    # one visitor who withdrew in-app service messages
    survey_id = live_survey(client, tenant)
    (out_id, opted_out), (in_id, other) = (
        visitor(client, session, tenant),
        visitor(client, session, tenant),
    )
    improvement = Improvement(
        workspace_id=tenant.id,
        title_ko="배송이 빨라졌어요",
        title_en="Faster delivery",
        body_ko="이제 다음 날 도착합니다.",
        body_en="Orders now arrive the next day.",
        announced_at=datetime.now(UTC),
    )
    session.add(improvement)
    for person in (opted_out, other):
        response = Response(
            workspace_id=tenant.id, survey_id=survey_id, version=1, customer_id=person.id,
            answers={"nps": 3}, nps=3, completed=True,
        )  # fmt: skip
        session.add(response)
        session.flush()
        session.add(
            ImprovementLink(
                workspace_id=tenant.id,
                improvement_id=improvement.id,
                response_id=response.id,
                customer_id=person.id,
            )
        )
    session.commit()
    consent_change(client, tenant, opted_out, "service", "in_app", False)

    # when the widget asks for each of them
    def prompt(anonymous_id: str) -> dict[str, Any]:
        reply = client.get(
            "/widget/v1/prompt",
            params={"writeKey": tenant.write_secret, "anonymousId": anonymous_id},
        )
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    shown_out, shown_in = prompt(out_id), prompt(in_id)

    # then the opted-out visitor gets neither the survey nor the notice; the other gets both
    assert (shown_out["survey"], shown_out["notices"]) == (None, [])
    assert shown_in["survey"] is not None and shown_in["survey"]["survey_id"] == survey_id
    assert [n["title"] for n in shown_in["notices"]] == ["배송이 빨라졌어요"]
