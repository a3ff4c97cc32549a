"""Text messages and Alimtalk in the outbox for the SMS and KakaoTalk tests: queued with the
byte rules' checks, and sent by the outbox's own sender (to a fake provider's settings)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cxloop.channels import outbox
from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.models import OutboundMessage
from tests.factories import Tenant, unique

PHONE = "010-1234-5678"
TEMPLATE = (
    "#{이름}님, 주문하신 #{상품}이(가) 발송되었습니다.\n운송장 번호: #{송장}\n"
    "배송 조회는 가나다몰 앱의 주문 내역에서 하실 수 있습니다."
)
VARIABLES = {"이름": "김민지", "상품": "무선 이어폰", "송장": "6012-3456-7890"}


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
