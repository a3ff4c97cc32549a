"""Text messages and KakaoTalk Alimtalk: the EUC-KR/CP949 byte rules decide SMS or LMS (or
refuse the text) when a message is queued; the Solapi adapter sends SMS/LMS and the NHN Cloud
adapter Alimtalk with its SMS/LMS fallback, each to a local server that speaks the provider's
format and checks its signature or secret; 5xx and timeouts are retried without a second send,
4xx are final; the providers' delivery webhooks are verified and applied once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cxloop.channels import outbox
from cxloop.channels import tasks as channel_tasks
from cxloop.channels.provider_hooks import hook_token
from cxloop.channels.sms_text import LMS_BYTES, SMS_BYTES, byte_length, plan_text, unencodable
from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.settings import Settings
from cxloop.models import OutboundMessage
from cxloop.profiles.service import record_consent
from tests.factories import Tenant, make_customer, unique
from tests.helpers.outbox import reload
from tests.helpers.providers import FakeNhnAlimtalk, FakeSolapi

PHONE = "010-1234-5678"
LATER = timedelta(minutes=2)
TEMPLATE = (
    "#{이름}님, 주문하신 #{상품}이(가) 발송되었습니다.\n운송장 번호: #{송장}\n"
    "배송 조회는 가나다몰 앱의 주문 내역에서 하실 수 있습니다."
)
VARIABLES = {"이름": "김민지", "상품": "무선 이어폰", "송장": "6012-3456-7890"}


@pytest.fixture
def solapi() -> Iterator[FakeSolapi]:
    server = FakeSolapi()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nhn() -> Iterator[FakeNhnAlimtalk]:
    server = FakeNhnAlimtalk()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def queue_sms(session: Session, tenant: Tenant, text: str, **extra: Any) -> OutboundMessage:
    message = outbox.queue_message(
        session,
        workspace_id=tenant.id,
        channel="sms",
        recipient=extra.pop("recipient", PHONE),
        text=text,
        dedupe_key=unique("sms:"),
        **extra,
    )
    session.flush()
    return message


def queue_alimtalk(
    session: Session, tenant: Tenant, *, variables: dict[str, str] | None = None, **extra: Any
) -> OutboundMessage:
    message = outbox.queue_message(
        session,
        workspace_id=tenant.id,
        channel="kakao",
        recipient=extra.pop("recipient", PHONE),
        text=extra.pop("text", TEMPLATE),
        dedupe_key=unique("alimtalk:"),
        details={"template_code": "ORDER_SHIPPED", "variables": variables or VARIABLES},
        **extra,
    )
    session.flush()
    return message


def deliver(database: Database, settings: Settings, now: datetime | None = None) -> Any:
    return channel_tasks.deliver_outbox(database, settings=settings, now=now)


# --- the byte rules ------------------------------------------------------------------------------


@given(st.text(alphabet=st.characters(codec="cp949"), max_size=300))
def test_bytes_are_counted_as_carriers_count_them(text: str) -> None:
    assert byte_length(text) == len(text.encode("cp949"))
    plan = plan_text(text)
    size = len(text.encode("cp949"))
    assert plan.byte_length == size
    expected = "SMS" if size <= SMS_BYTES else "LMS" if size <= LMS_BYTES else None
    assert plan.kind == expected


@given(st.text(max_size=60))
def test_the_characters_carriers_cannot_carry_are_named_exactly(text: str) -> None:
    def fails(ch: str) -> bool:
        try:
            ch.encode("cp949")
        except UnicodeEncodeError:
            return True
        return False

    assert unencodable(text) == list(dict.fromkeys(ch for ch in text if fails(ch)))
    assert plan_text(text).sendable == (not unencodable(text) and plan_text(text).kind is not None)


@pytest.mark.parametrize(
    ("text", "kind", "size", "subject"),
    [
        pytest.param("가" * 45, "SMS", 90, "", id="45-hangul-is-90-bytes-sms"),
        pytest.param("a" * 90, "SMS", 90, "", id="90-ascii-sms"),
        pytest.param("가" * 45 + "a", "LMS", 91, "가" * 20, id="91-bytes-lms"),
        pytest.param("똠방각하 " + "가" * 43, "LMS", 95, "똠방각하 " + "가" * 15, id="cp949"),
        pytest.param(
            "[가나다몰] 배송 안내\n" + "나" * 50, "LMS", 121, "[가나다몰] 배송 안내", id="line"
        ),
        pytest.param("가" * 1001, None, 2002, "", id="over-2000-bytes"),
    ],
)
def test_a_text_goes_as_sms_becomes_lms_or_cannot_go(
    text: str, kind: str | None, size: int, subject: str
) -> None:
    plan = plan_text(text)
    assert (plan.kind, plan.byte_length, plan.subject) == (kind, size, subject)


def test_queueing_refuses_what_carriers_cannot_send_naming_it(
    session: Session, tenant: Tenant
) -> None:
    with pytest.raises(ValidationFailed) as emoji:
        queue_sms(session, tenant, "주문 감사합니다 🎉 또 오세요 😀🎉")
    assert "'🎉' (U+1F389), '😀' (U+1F600)" in emoji.value.detail
    assert emoji.value.errors[0]["characters"] == ["🎉", "😀"]
    with pytest.raises(ValidationFailed) as long:
        queue_sms(session, tenant, "가" * 1001)
    assert "2,002 bytes" in long.value.detail
    with pytest.raises(ValidationFailed) as ad:
        queue_sms(session, tenant, "주말 특가 50% 할인!", purpose="marketing")
    assert "(광고)" in ad.value.detail


def test_an_alimtalk_needs_every_template_variable_and_no_advertising(
    session: Session, tenant: Tenant
) -> None:
    with pytest.raises(ValidationFailed) as missing:
        queue_alimtalk(session, tenant, variables={"이름": "김민지"})
    assert missing.value.detail == (
        "The template needs variables that were not given: #{상품}, #{송장}."
    )
    with pytest.raises(ValidationFailed) as marketing:
        queue_alimtalk(session, tenant, purpose="marketing")
    assert "never advertising" in marketing.value.detail


# --- SMS/LMS through Solapi ---------------------------------------------------------------------


def test_a_short_text_goes_as_a_signed_sms(
    session: Session, tenant: Tenant, tx_database: Database, settings: Settings, solapi: FakeSolapi
) -> None:
    message = queue_sms(session, tenant, "[가나다몰] 주문이 접수되었습니다.")
    report = deliver(tx_database, solapi.settings(settings))
    assert (report.sent, report.errors) == (1, [])
    assert solapi.sent == [
        {
            "to": "01012345678",
            "from": "0215880000",
            "text": "[가나다몰] 주문이 접수되었습니다.",
            "type": "SMS",
            "customFields": {"cxloopMessageId": str(message.id)},
            "messageId": "M4V00001TEST",
        }
    ]
    sent = reload(session, message)
    assert (sent.status, sent.provider_message_id) == ("sent", "M4V00001TEST")


def test_a_long_text_goes_as_lms_with_its_subject(
    session: Session, tenant: Tenant, tx_database: Database, settings: Settings, solapi: FakeSolapi
) -> None:
    text = "[가나다몰] 배송 지연 안내\n" + "고객님, 주문하신 상품의 배송이 하루 늦어집니다. " * 3
    queue_sms(session, tenant, text)
    deliver(tx_database, solapi.settings(settings))
    (sent,) = solapi.sent
    assert (sent["type"], sent["subject"], sent["text"]) == (
        "LMS",
        "[가나다몰] 배송 지연 안내",
        text,
    )


def test_a_5xx_is_retried_later_and_the_message_is_sent_once(
    session: Session, tenant: Tenant, tx_database: Database, settings: Settings, solapi: FakeSolapi
) -> None:
    message = queue_sms(session, tenant, "인증번호 [482913]")
    provider = solapi.settings(settings)
    solapi.fail_next(503)
    first = deliver(tx_database, provider)
    assert (first.sent, first.retrying) == (0, 1)
    assert "Solapi answered 503" in first.errors[0]
    assert reload(session, message).status == "queued"
    second = deliver(tx_database, provider, now=datetime.now(UTC) + LATER)
    third = deliver(tx_database, provider, now=datetime.now(UTC) + 2 * LATER)
    assert (second.sent, third.sent) == (1, 0)
    assert len(solapi.received) == 2 and len(solapi.sent) == 1
    assert reload(session, message).status == "sent"


def test_a_4xx_fails_for_good_and_a_lost_answer_is_never_resent(
    session: Session, tenant: Tenant, tx_database: Database, settings: Settings, solapi: FakeSolapi
) -> None:
    refused = queue_sms(session, tenant, "안내 문자입니다.")
    provider = solapi.settings(settings)
    solapi.fail_next(400)
    assert deliver(tx_database, provider).failed == 1
    assert reload(session, refused).status == "failed"
    assert "Solapi answered 400" in reload(session, refused).last_error

    lost = queue_sms(session, tenant, "두 번 가면 안 되는 문자")
    solapi.fail_next("slow")
    assert deliver(tx_database, provider).failed == 1
    solapi.wait_idle()
    assert deliver(tx_database, provider, now=datetime.now(UTC) + LATER).sent == 0
    assert "may have been sent" in reload(session, lost).last_error
    assert [m["text"] for m in solapi.sent] == ["두 번 가면 안 되는 문자"]


def test_a_wrong_secret_is_refused_by_the_signature_check(
    session: Session, tenant: Tenant, tx_database: Database, settings: Settings, solapi: FakeSolapi
) -> None:
    from pydantic import SecretStr

    message = queue_sms(session, tenant, "서명 확인")
    wrong = solapi.settings(settings).model_copy(update={"solapi_api_secret": SecretStr("x" * 20)})
    report = deliver(tx_database, wrong)
    assert report.retrying == 1 and "SignatureDoesNotMatch" in report.errors[0]
    assert solapi.sent == [] and reload(session, message).status == "queued"


# --- Alimtalk through NHN Cloud ------------------------------------------------------------------


def test_an_alimtalk_carries_its_template_and_the_filled_in_fallback(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    nhn: FakeNhnAlimtalk,
) -> None:
    message = queue_alimtalk(session, tenant)
    assert deliver(tx_database, nhn.settings(settings)).sent == 1
    (request,) = nhn.received
    assert request.body["templateCode"] == "ORDER_SHIPPED"
    assert request.headers["X-NC-API-IDEMPOTENCY-KEY"].endswith(f"-{message.id}")
    (recipient,) = request.body["recipientList"]
    filled = (
        "김민지님, 주문하신 무선 이어폰이(가) 발송되었습니다.\n운송장 번호: 6012-3456-7890\n"
        "배송 조회는 가나다몰 앱의 주문 내역에서 하실 수 있습니다."
    )
    assert recipient == {
        "recipientNo": "01012345678",
        "templateParameter": VARIABLES,
        "recipientGroupingKey": f"cxloop-{message.id}",
        "resendParameter": {
            "isResend": True,
            "resendType": "LMS",  # 138 bytes: over an SMS
            "resendTitle": "김민지님, 주문하신 무선 이어폰이(가) 발",
            "resendContent": filled,
            "resendSendNo": "0215880000",
        },
    }
    assert reload(session, message).provider_message_id == "202612060000000001:1"


def test_a_short_alimtalk_falls_back_as_sms_and_none_without_a_sender(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    nhn: FakeNhnAlimtalk,
) -> None:
    queue_alimtalk(session, tenant, text="#{이름}님 예약 확인", variables={"이름": "이서준"})
    deliver(tx_database, nhn.settings(settings))
    assert nhn.sent[0]["resendParameter"] == {
        "isResend": True,
        "resendType": "SMS",
        "resendContent": "이서준님 예약 확인",
        "resendSendNo": "0215880000",
    }
    queue_alimtalk(session, tenant)
    deliver(tx_database, nhn.settings(settings, sms_sender=None))
    assert nhn.sent[1]["resendParameter"] == {"isResend": False}


def test_a_timed_out_alimtalk_is_retried_and_the_idempotency_key_stops_a_second_send(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    nhn: FakeNhnAlimtalk,
) -> None:
    message = queue_alimtalk(session, tenant)
    provider = nhn.settings(settings)
    nhn.fail_next("slow")  # NHN Cloud takes it, but its answer does not come in time
    assert deliver(tx_database, provider).retrying == 1
    nhn.wait_idle()
    assert deliver(tx_database, provider, now=datetime.now(UTC) + LATER).failed == 1
    assert len(nhn.received) == 2 and len(nhn.sent) == 1
    failed = reload(session, message)
    assert failed.status == "failed"
    assert "duplicate request (idempotency key)" in failed.last_error


def test_an_alimtalk_5xx_is_retried_and_sent_once(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    nhn: FakeNhnAlimtalk,
) -> None:
    message = queue_alimtalk(session, tenant)
    provider = nhn.settings(settings)
    nhn.fail_next(500)
    assert deliver(tx_database, provider).retrying == 1
    assert deliver(tx_database, provider, now=datetime.now(UTC) + LATER).sent == 1
    assert deliver(tx_database, provider, now=datetime.now(UTC) + 2 * LATER).sent == 0
    assert len(nhn.sent) == 1 and reload(session, message).status == "sent"


# --- consent, asked per purpose and channel at sending time --------------------------------------


def test_consent_holds_night_advertising_and_honours_an_alimtalk_opt_out(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    solapi: FakeSolapi,
    nhn: FakeNhnAlimtalk,
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, phone=PHONE)
    record_consent(
        session, customer=customer, purpose="marketing", channel="sms", granted=True, source="form"
    )
    record_consent(
        session, customer=customer, purpose="service", channel="kakao", granted=False, source="form"
    )
    ad = queue_sms(
        session,
        tenant,
        "(광고) 주말 특가 50%\n무료수신거부 080-000-0000",
        purpose="marketing",
        customer_id=customer.id,
    )
    alimtalk = queue_alimtalk(session, tenant, customer_id=customer.id)
    night = datetime(2026, 12, 6, 13, 30, tzinfo=UTC)  # 22:30 in Seoul
    provider = nhn.settings(solapi.settings(settings))
    deliver(tx_database, provider, now=night)
    assert solapi.received == [] and nhn.received == []
    held = reload(session, ad)
    assert (held.status, held.send_after) == ("queued", datetime(2026, 12, 6, 23, 0, tzinfo=UTC))
    cancelled = reload(session, alimtalk)
    assert (cancelled.status, cancelled.last_error) == ("cancelled", "consent: opted_out")


# --- delivery reports through the webhooks -------------------------------------------------------


def _sent_sms(session: Session, tenant: Tenant, db: Database, settings: Settings) -> str:
    message = queue_sms(session, tenant, "배송이 시작되었습니다.")
    deliver(db, settings)
    provider_id = reload(session, message).provider_message_id
    assert provider_id is not None
    return provider_id


def test_solapi_reports_are_verified_and_applied_once(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    solapi: FakeSolapi,
) -> None:
    delivered_id = _sent_sms(session, tenant, tx_database, solapi.settings(settings))
    bounced_id = _sent_sms(session, tenant, tx_database, solapi.settings(settings))
    token = hook_token("solapi", workspace_id=tenant.id, settings=settings)
    reports = [
        {"messageId": delivered_id, "statusCode": "4000", "statusMessage": "수신완료"},
        {"messageId": bounced_id, "statusCode": "3104", "statusMessage": "수신거부 번호"},
        {"messageId": "M4V-UNKNOWN", "statusCode": "3000", "statusMessage": "이통사 접수"},
    ]
    forged = client.post(f"/hooks/solapi/{tenant.id}.forged-token", json=reports)
    assert forged.status_code == 401
    other = hook_token("solapi", workspace_id=tenant.id + 1, settings=settings)
    assert (
        client.post(
            f"/hooks/solapi/{other.replace(str(tenant.id + 1), str(tenant.id), 1)}", json=reports
        ).status_code
        == 401
    )
    assert {m.status for m in session.query(OutboundMessage).filter_by(workspace_id=tenant.id)} == {
        "sent"
    }

    answer = client.post(f"/hooks/solapi/{token}", json=reports)
    assert answer.status_code == 200
    assert answer.json() == {"reports": 2, "messages": 2}
    replay = client.post(f"/hooks/solapi/{token}", json=reports)
    assert replay.json() == {"reports": 2, "messages": 2}
    session.expire_all()
    by_id = {
        m.provider_message_id: m
        for m in session.query(OutboundMessage).filter_by(workspace_id=tenant.id)
    }
    assert by_id[delivered_id].status == "delivered"
    assert (by_id[bounced_id].status, by_id[bounced_id].last_error) == (
        "bounced",
        "3104 수신거부 번호",
    )
    assert client.post(f"/hooks/solapi/{token}", content=b"not json").status_code == 422


def test_nhn_results_count_the_fallback_and_check_the_signature(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    nhn: FakeNhnAlimtalk,
) -> None:
    from pydantic import SecretStr

    by_text = [queue_alimtalk(session, tenant) for _ in range(3)]
    deliver(tx_database, nhn.settings(settings))
    ids = [reload(session, m).provider_message_id or "" for m in by_text]
    request_ids = [i.split(":")[0] for i in ids]

    def hook(request_id: str, status: str, resend: str = "RSC01") -> dict[str, Any]:
        return {
            "hookId": unique("hook"),
            "requestId": request_id,
            "recipientSeq": 1,
            "recipientNo": "01012345678",
            "messageStatus": status,
            "resultCode": "1000" if status == "COMPLETED" else "3018",
            "resultCodeName": "성공" if status == "COMPLETED" else "메시지를 전송할 수 없음",
            "resendStatus": resend,
        }

    body = {
        "hooksId": unique("hooks"),
        "webhookConfigId": "cfg-1",
        "productName": "KakaoTalk Bizmessage",
        "appKey": "nhnTestAppKey01",
        "event": "MESSAGE_RESULT_UPDATE",
        "hooks": [
            hook(request_ids[0], "COMPLETED"),
            hook(request_ids[1], "FAILED", "RSC04"),
            hook(request_ids[2], "FAILED", "RSC05"),
        ],
    }
    app_settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = app_settings.model_copy(  # type: ignore[attr-defined]
        update={"nhn_webhook_signature": SecretStr("toast-signature-1")}
    )
    try:
        token = hook_token("nhn-alimtalk", workspace_id=tenant.id, settings=settings)
        url = f"/hooks/nhn-alimtalk/{token}"
        unsigned = client.post(url, json=body)
        assert unsigned.status_code == 401
        signed = {"X-Toast-Webhook-Signature": "toast-signature-1"}
        assert client.post(url, json=body, headers=signed).json() == {"reports": 3, "messages": 3}
    finally:
        client.app.state.settings = app_settings  # type: ignore[attr-defined]
    statuses = [reload(session, m) for m in by_text]
    assert [(m.status, m.last_error) for m in statuses] == [
        ("delivered", ""),
        ("delivered", ""),
        ("bounced", "3018 메시지를 전송할 수 없음"),
    ]


def test_operators_get_the_webhook_addresses_of_their_workspace(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    answer = client.get("/api/v1/outbox/hooks", headers=tenant.api)
    assert answer.status_code == 200
    urls = answer.json()
    token = hook_token("solapi", workspace_id=tenant.id, settings=settings)
    assert urls["solapi"].endswith(f"/hooks/solapi/{token}")
    assert "/hooks/nhn-alimtalk/" in urls["nhn_alimtalk"]
    assert client.get("/api/v1/outbox/hooks").status_code == 401
