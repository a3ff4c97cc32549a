"""Messages in the email outbox for the outbox tests: queued, reloaded, addressed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cxloop.channels import outbox
from cxloop.models import OutboundMessage, Workspace
from tests.factories import unique

SUBJECT = "[cxloop] 주문은 만족스러우셨나요? 설문에 참여해 주세요"


def queue(session: Session, workspace: Workspace, recipient: str, **extra: Any) -> OutboundMessage:
    fields: dict[str, Any] = {
        "subject": SUBJECT,
        "text": "안녕하세요, 김민지 님.\n아래 링크에서 설문에 답해 주세요.",
        "html": "<p>안녕하세요, <b>김민지</b> 님.</p>",
        "dedupe_key": unique("invitation:"),
    }
    fields.update(extra)
    return outbox.queue_email(session, workspace_id=workspace.id, recipient=recipient, **fields)


def reload(session: Session, message: OutboundMessage) -> OutboundMessage:
    session.expire_all()
    fresh = session.get(OutboundMessage, message.id)
    assert fresh is not None
    return fresh


def address() -> str:
    return f"{unique('customer')}@example.com"


def add_message(
    session: Session,
    workspace: Workspace,
    *,
    recipient: str | None = None,
    status: str = "queued",
    subject: str = "[가나다 쇼핑] 주문은 만족스러우셨나요?",
    **fields: Any,
) -> OutboundMessage:
    """A message in ``status`` (set directly, as the sender would have left it)."""
    message = outbox.queue_email(
        session,
        workspace_id=workspace.id,
        recipient=recipient or f"{unique('customer')}@example.com",
        subject=subject,
        text=BODY,
        html=f"<p>{BODY}</p>",
        dedupe_key=unique("invitation:"),
        customer_id=fields.pop("customer_id", None),
    )
    message.status = status
    for name, value in fields.items():
        setattr(message, name, value)
    session.flush()
    return message


BODY = "김민지 님만의 설문 링크: https://cx.example/r/secret-token"
