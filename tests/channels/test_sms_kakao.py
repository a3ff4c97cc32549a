"""Text messages and KakaoTalk Alimtalk: the EUC-KR/CP949 byte rules decide SMS or LMS (or
refuse the text) when a message is queued; the Solapi adapter sends SMS/LMS and the NHN Cloud
adapter Alimtalk with its SMS/LMS fallback, each to a local server that speaks the provider's
format and checks its signature or secret; 5xx and timeouts are retried without a second send,
4xx are final (the providers' delivery webhooks: test_provider_webhooks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cxloop.channels.sms_text import LMS_BYTES, SMS_BYTES, byte_length, plan_text, unencodable
from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.settings import Settings
from cxloop.profiles.service import record_consent
from tests.factories import Tenant, make_customer
from tests.helpers.outbox import reload
from tests.helpers.providers import FakeNhnAlimtalk, FakeSolapi
from tests.helpers.texting import PHONE, VARIABLES, deliver, queue_alimtalk, queue_sms

LATER = timedelta(minutes=2)

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
    # The coming 22:30 in Seoul (13:30 UTC), after the messages were queued; held until 08:00.
    now = datetime.now(UTC)
    night = now.replace(hour=13, minute=30, second=0, microsecond=0)
    night += timedelta(days=1) if night <= now else timedelta()
    provider = nhn.settings(solapi.settings(settings))
    deliver(tx_database, provider, now=night)
    assert solapi.received == [] and nhn.received == []
    held = reload(session, ad)
    morning = night.replace(hour=23, minute=0)
    assert (held.status, held.send_after) == ("queued", morning)
    cancelled = reload(session, alimtalk)
    assert (cancelled.status, cancelled.last_error) == ("cancelled", "consent: opted_out")
