"""Email conversations end to end: mail posted to an inbox's webhook becomes a conversation on the
customer's profile; an agent's reply goes out over a real SMTP server (aiosmtpd) threaded under
the customer's message; replies shaped like Gmail's, Outlook's and Apple Mail's come back into
the same conversation; replayed, automatic, unreadable and hostile mail is handled as it
should be, and erasure empties the conversations."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.care import service as care
from cxloop.care.hooks import export_conversations, scrub_conversations
from cxloop.care.inbound_mail import MAIL_SPOOL, accept_mail, take_spooled_mail
from cxloop.care.mail import is_automatic, new_text, thread_subject
from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.core.spool import Sweeper, spool_of
from cxloop.core.timeutil import utcnow
from cxloop.models import Conversation, ConversationMessage, Customer, OutboundMessage
from tests.factories import Tenant
from tests.helpers.care_mail import deliver_mail
from tests.helpers.smtp import SmtpInbox

RFC822 = {"Content-Type": "message/rfc822"}


def mail(
    sender: str = "김민지 <minji@example.com>",
    subject: str = "주문한 상품이 아직 안 왔어요",
    text: str = "주문번호 20261205-0042 배송이 언제 되나요?",
    *,
    message_id: str = "<m1@mail.example.com>",
    in_reply_to: str = "",
    references: str = "",
    html: str = "",
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "help@shop.example"
    message["Subject"] = subject
    if message_id:
        message["Message-ID"] = message_id
    message["Date"] = "Sun, 06 Dec 2026 23:00:00 +0900"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message.as_bytes()


def new_hook(client: TestClient, tenant: Tenant, address: str) -> str:
    """A new email inbox's webhook path (with its secret token)."""
    made = client.post(
        "/api/v1/care/inboxes",
        json={"name": address, "address": address, "team": "support"},
        headers=tenant.api,
    )
    assert made.status_code == 201, made.text
    path: str = made.json()["webhook_path"]
    return path


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    """The support inbox's webhook path."""
    return new_hook(client, tenant, "help@shop.example")


def post(client: TestClient, hook: str, body: bytes) -> dict[str, Any]:
    """The mail's receipt: what became of it, without the name it was accepted under."""
    receipt = deliver_mail(client, hook, body)
    del receipt["id"]
    return receipt


def detail(client: TestClient, tenant: Tenant, conversation_id: int) -> dict[str, Any]:
    response = client.get(f"/api/v1/care/conversations/{conversation_id}", headers=tenant.api)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def conversations(session: Session, tenant: Tenant) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.workspace_id == tenant.id)
        )
        or 0
    )


def replied(
    client: TestClient,
    tenant: Tenant,
    tx_database: Database,
    session: Session,
    smtp: SmtpInbox,
    settings: Settings,
    conversation_id: int,
    text: str = "안녕하세요 김민지 님, 내일 도착 예정입니다.",
) -> EmailMessage:
    """The agent's reply, as the customer's mail server received it."""
    response = client.post(
        f"/api/v1/care/conversations/{conversation_id}/replies",
        json={"text": text},
        headers=tenant.api,
    )
    assert response.status_code == 201, response.text
    channel_tasks.deliver_outbox(tx_database, settings=smtp.settings(settings))
    session.expire_all()
    received = smtp.to("minji@example.com")
    assert received, "the reply did not reach the SMTP server"
    return received[-1]


# --- in -------------------------------------------------------------------------------------------


def test_a_customer_email_becomes_a_conversation_on_their_profile(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    result = post(client, hook, mail())

    assert result["status"] == "stored"
    shown = detail(client, tenant, result["conversation_id"])
    assert (shown["status"], shown["subject"], shown["channel"], shown["team"]) == (
        "open",
        "주문한 상품이 아직 안 왔어요",
        "email",
        "support",
    )
    [message] = shown["messages"]
    assert (message["direction"], message["author"]) == ("in", "customer")
    assert message["text"] == "주문번호 20261205-0042 배송이 언제 되나요?"
    customer = session.get(Customer, shown["customer_id"])
    assert customer is not None
    assert (customer.email, customer.display_name) == ("minji@example.com", "김민지")


def test_a_replayed_delivery_is_stored_once(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    first = post(client, hook, mail())
    again = post(client, hook, mail())

    assert again == {**first, "status": "duplicate"}
    assert len(detail(client, tenant, first["conversation_id"])["messages"]) == 1


def test_mail_a_crash_left_on_the_disk_is_taken_in_once_by_the_sweep(
    client: TestClient, session: Session, tenant: Tenant, hook: str, tx_database: Database
) -> None:
    # The webhook kept the mail and answered, and its process died before taking it in.
    inbox = care.inbox_for_token(session, token=hook.removeprefix("/hooks/email/"))
    assert inbox is not None
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    name = accept_mail(settings, inbox_id=inbox.id, raw=mail(message_id=""))
    assert client.get(f"{hook}/{name}").json() == {
        "id": name,
        "status": "waiting",
        "conversation_id": None,
        "message_id": None,
    }

    assert Sweeper(tx_database, settings).sweep_once(older_than=0) == 1
    receipt = client.get(f"{hook}/{name}").json()
    assert receipt["status"] == "stored" and receipt["conversation_id"] is not None
    assert len(detail(client, tenant, receipt["conversation_id"])["messages"]) == 1

    # Taken in again (a crash between the commit and the removal): nothing happens twice.
    spool = spool_of(settings, MAIL_SPOOL)
    again = spool.put(mail(message_id=""), label=str(inbox.id))
    kept = spool.take(again)
    assert kept is not None
    take_spooled_mail(tx_database, kept)
    take_spooled_mail(tx_database, kept)
    spool.done(kept)
    second = client.get(f"{hook}/{again}").json()
    assert second["conversation_id"] == receipt["conversation_id"]
    assert len(detail(client, tenant, receipt["conversation_id"])["messages"]) == 2


def test_a_token_found_is_remembered_for_seconds_and_an_unknown_one_never(
    client: TestClient,
    session: Session,
    hook: str,
    tx_database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = hook.removeprefix("/hooks/email/")
    inbox = care.inbox_for_token(session, token=token)
    assert inbox is not None
    assert care.inbox_id_for_token(tx_database, token=token) == inbox.id
    assert care.inbox_id_for_token(tx_database, token=token + "x") is None
    assert care.inbox_id_for_token(tx_database, token="x" * 201) is None
    # the inbox goes: the token still names it for a few seconds, then no more
    inbox.active = False
    session.commit()
    assert care.inbox_id_for_token(tx_database, token=token) == inbox.id
    monkeypatch.setattr(care, "_token_memory", {})  # the seconds have passed
    assert care.inbox_id_for_token(tx_database, token=token) is None
    assert (
        client.post(hook, content=mail(), headers={"Content-Type": "message/rfc822"}).status_code
        == 401
    )


def test_a_receipt_is_only_for_the_inbox_that_accepted_the_mail(
    client: TestClient, tenant: Tenant, hook: str
) -> None:
    accepted = client.post(hook, content=mail(), headers=RFC822).json()
    other = new_hook(client, tenant, "other@shop.example.com")

    assert client.get(f"{hook}/{accepted['id']}").json()["status"] == "stored"
    for path in (f"{other}/{accepted['id']}", f"{hook}/no-such-mail", f"{hook}/..%2F..%2Fx"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/hooks/email/wrong-token/{accepted['id']}").status_code == 401


def test_a_wrong_token_is_refused_and_nothing_is_stored(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    before = conversations(session, tenant)

    response = client.post("/hooks/email/not-the-token", content=mail(), headers=RFC822)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert conversations(session, tenant) == before


def test_unreadable_mail_is_kept_raw_with_the_reason(
    client: TestClient, tenant: Tenant, hook: str
) -> None:
    result = post(client, hook, b"\x00\x01 this is not mail")

    assert result["status"] == "unreadable"
    [message] = detail(client, tenant, result["conversation_id"])["messages"]
    assert message["problem"] == "The payload has no mail headers."
    assert "this is not mail" in message["full_text"]


def test_mail_from_an_address_nobody_can_answer_is_kept_and_marked(
    client: TestClient, tenant: Tenant, hook: str
) -> None:
    result = post(client, hook, mail(sender='"><script>x()</script> <not an address>'))

    shown = detail(client, tenant, result["conversation_id"])
    assert shown["customer_id"] is None
    assert "is not one a reply can go to" in shown["messages"][0]["problem"]
    refused = client.post(
        f"/api/v1/care/conversations/{result['conversation_id']}/replies",
        json={"text": "답장"},
        headers=tenant.api,
    )
    assert refused.status_code == 409


def test_html_is_made_safe_before_an_agent_sees_it(
    client: TestClient, tenant: Tenant, hook: str
) -> None:
    hostile = (
        '<p onclick="steal()">환불 요청합니다<script>steal()</script>'
        '<img src="https://tracker.example/open.gif">'
        '<a href="javascript:steal()">영수증</a></p>'
    )

    result = post(client, hook, mail(html=hostile))

    [message] = detail(client, tenant, result["conversation_id"])["messages"]
    assert "환불 요청합니다" in message["html"]
    for bad in ("script", "onclick", "tracker.example", "javascript:"):
        assert bad not in message["html"]


# --- out and back: threading --------------------------------------------------------------------


def test_the_reply_threads_in_the_customer_mail_client_and_their_answer_comes_back(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    # given a customer's question and the agent's reply
    first = post(client, hook, mail())
    conversation_id = first["conversation_id"]
    sent = replied(client, tenant, tx_database, session, inbox, settings, conversation_id)

    # then the reply answers their message in their mail client
    assert sent["In-Reply-To"] == "<m1@mail.example.com>"
    assert sent["References"] == "<m1@mail.example.com>"
    assert sent["Subject"] == "Re: 주문한 상품이 아직 안 왔어요"
    assert detail(client, tenant, conversation_id)["status"] == "pending"

    # when the customer answers it as Gmail does
    answer = post(
        client,
        hook,
        mail(
            subject="Re: 주문한 상품이 아직 안 왔어요",
            text=(
                "감사합니다!\n\n"
                "2026년 12월 7일 (월) 오전 9:00, 가나다 쇼핑 <cx@shop.example>님이 작성:\n"
                "> 내일 도착 예정입니다."
            ),
            message_id="<m2@mail.example.com>",
            in_reply_to=sent["Message-ID"],
            references=f"<m1@mail.example.com> {sent['Message-ID']}",
        ),
    )

    # then it joins the conversation, reopens it, and shows only what they wrote
    assert answer["conversation_id"] == conversation_id
    shown = detail(client, tenant, conversation_id)
    assert shown["status"] == "open"
    assert [m["direction"] for m in shown["messages"]] == ["in", "out", "in"]
    assert shown["messages"][1]["delivery"] == "sent"
    assert shown["messages"][2]["text"] == "감사합니다!"
    assert "도착 예정" in shown["messages"][2]["full_text"]


@pytest.mark.parametrize(
    ("shape", "fields"),
    [
        pytest.param(
            "outlook",
            # Outlook may put its own id in In-Reply-To; References still names the thread.
            {
                "in_reply_to": "<AM0PR01MB1234@outlook.com>",
                "references": "{sent}",
                "subject": "RE: 배송 건 추가 문의",
            },
            id="outlook-rewritten-in-reply-to",
        ),
        pytest.param(
            "apple",
            {"in_reply_to": "{sent}", "references": "<m1@mail.example.com> {sent}"},
            id="apple-mail-changed-subject",
        ),
        pytest.param(
            "no-headers",
            {"subject": "RE: 주문한 상품이 아직 안 왔어요"},
            id="client-without-headers-same-subject",
        ),
    ],
)
def test_replies_from_every_mail_client_stay_in_one_conversation(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
    shape: str,
    fields: dict[str, str],
) -> None:
    first = post(client, hook, mail())
    sent = replied(client, tenant, tx_database, session, inbox, settings, first["conversation_id"])
    values = {k: v.format(sent=sent["Message-ID"]) for k, v in fields.items()}
    if shape == "apple":
        values["subject"] = "다른 질문도 있어요"

    answer = post(client, hook, mail(message_id=f"<{shape}-2@mail.example.com>", **values))

    assert answer["conversation_id"] == first["conversation_id"]


def test_another_customer_answering_the_same_mail_gets_their_own_conversation(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    first = post(client, hook, mail())
    sent = replied(client, tenant, tx_database, session, inbox, settings, first["conversation_id"])

    # a forwarded copy answered by someone else carries the same thread ids
    other = post(
        client,
        hook,
        mail(
            sender="이지수 <jisoo@example.com>",
            subject="Re: 주문한 상품이 아직 안 왔어요",
            message_id="<j1@mail.example.com>",
            in_reply_to=sent["Message-ID"],
            references=f"<m1@mail.example.com> {sent['Message-ID']}",
        ),
    )

    assert other["conversation_id"] != first["conversation_id"]


def test_a_resolved_conversation_reopens_within_the_window_and_not_after(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    first = post(client, hook, mail())
    conversation_id = first["conversation_id"]
    resolve = client.patch(
        f"/api/v1/care/conversations/{conversation_id}",
        json={"status": "resolved"},
        headers=tenant.api,
    )
    assert resolve.json()["status"] == "resolved"

    soon = post(client, hook, mail(message_id="<m2@x>", in_reply_to="<m1@mail.example.com>"))
    assert soon["conversation_id"] == conversation_id
    assert detail(client, tenant, conversation_id)["status"] == "open"

    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    conversation.status = "resolved"
    conversation.resolved_at = utcnow() - timedelta(days=8)  # the window is 7 days
    session.flush()
    late = post(client, hook, mail(message_id="<m3@x>", in_reply_to="<m2@x>"))
    assert late["conversation_id"] != conversation_id


def test_an_auto_reply_never_reopens_and_never_starts_a_conversation(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    first = post(client, hook, mail())
    conversation_id = first["conversation_id"]
    client.patch(
        f"/api/v1/care/conversations/{conversation_id}",
        json={"status": "resolved"},
        headers=tenant.api,
    )
    before = conversations(session, tenant)

    joined = post(
        client,
        hook,
        mail(
            subject="자동 회신: 부재중입니다",
            message_id="<auto-1@x>",
            in_reply_to="<m1@mail.example.com>",
            Auto_Submitted="auto-replied",
        ),
    )
    stray = post(
        client,
        hook,
        mail(subject="Out of office", message_id="<auto-2@x>", X_Autoreply="yes"),
    )

    assert joined["conversation_id"] == conversation_id
    assert detail(client, tenant, conversation_id)["status"] == "resolved"
    assert stray == {"status": "automatic", "conversation_id": None, "message_id": None}
    assert conversations(session, tenant) == before


@pytest.mark.parametrize(
    "header",
    [b"AUTO-SUBMITTED: Auto-Replied", b"auto-submitted:\n auto-generated", b"PRECEDENCE: Bulk"],
    ids=["capitals", "folded-lower-case", "precedence-capitals"],
)
def test_an_auto_reply_is_known_whatever_the_case_of_its_header(
    client: TestClient, session: Session, tenant: Tenant, hook: str, header: bytes
) -> None:
    before = conversations(session, tenant)
    raw = mail(subject="Out of office", message_id="<auto-3@x>", X_Marker="here")

    stray = post(client, hook, raw.replace(b"X-Marker: here", header))

    assert stray == {"status": "automatic", "conversation_id": None, "message_id": None}
    assert conversations(session, tenant) == before


def test_a_bounce_of_a_reply_marks_it_bounced(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    first = post(client, hook, mail())
    sent = replied(client, tenant, tx_database, session, inbox, settings, first["conversation_id"])
    report = (
        "From: MAILER-DAEMON@mx.example\r\nTo: cx@shop.example\r\n"
        "Subject: Undelivered Mail\r\nMessage-ID: <dsn-1@mx.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nFailed.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        "Final-Recipient: rfc822; minji@example.com\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {sent['Message-ID']}\r\n\r\n"
        "--b--\r\n"
    ).encode()

    assert post(client, hook, report) == {
        "status": "delivery_report",
        "conversation_id": None,
        "message_id": None,
    }
    assert detail(client, tenant, first["conversation_id"])["messages"][1]["delivery"] == "bounced"


# --- the agent's side ----------------------------------------------------------------------------


def test_notes_stay_private_and_snoozing_needs_a_time(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = post(client, hook, mail())["conversation_id"]
    url = f"/api/v1/care/conversations/{conversation_id}"

    note = client.post(f"{url}/notes", json={"text": "VIP 고객, 우선 처리"}, headers=tenant.api)
    no_time = client.patch(url, json={"status": "snoozed"}, headers=tenant.api)
    later = (utcnow() + timedelta(hours=2)).isoformat()
    snoozed = client.patch(
        url, json={"status": "snoozed", "snoozed_until": later}, headers=tenant.api
    )

    assert note.json()["direction"] == "note"
    assert (
        session.scalar(
            select(func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.workspace_id == tenant.id)
        )
        == 0
    )
    assert no_time.status_code == 422
    assert snoozed.json()["status"] == "snoozed"
    assert care.wake_snoozed(session, now=utcnow() + timedelta(hours=3)) >= 1
    assert detail(client, tenant, conversation_id)["status"] == "open"


def test_the_list_pages_by_latest_message_and_filters(
    client: TestClient, tenant: Tenant, hook: str
) -> None:
    ids = [
        post(
            client,
            hook,
            mail(sender=f"c{i}@example.com", message_id=f"<p{i}@x>", subject=f"문의 {i}"),
        )["conversation_id"]
        for i in range(5)
    ]
    seen: list[int] = []
    cursor = None
    while True:
        page = client.get(
            "/api/v1/care/conversations",
            params={"limit": 2, "status": "open", **({"cursor": cursor} if cursor else {})},
            headers=tenant.api,
        ).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(ids))
    none_assigned = client.get(
        "/api/v1/care/conversations", params={"assignee": "none"}, headers=tenant.api
    ).json()
    assert len(none_assigned["items"]) == 5
    me = client.get("/api/v1/care/conversations", params={"assignee": "me"}, headers=tenant.api)
    assert me.status_code == 422


def test_roles(client: TestClient, tenant: Tenant, hook: str) -> None:
    viewer, agent = tenant.key("viewer"), tenant.key("agent")

    assert client.get("/api/v1/care/conversations", headers=viewer).status_code == 403
    assert client.get("/api/v1/care/conversations", headers=agent).status_code == 200
    made = client.post("/api/v1/care/inboxes", json={"name": "x"}, headers=agent)
    assert made.status_code == 403


def test_erasure_empties_the_conversations_and_export_includes_them(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = post(client, hook, mail())["conversation_id"]
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    customer = session.get(Customer, conversation.customer_id)
    assert customer is not None

    exported = export_conversations(session, customer)
    counts = scrub_conversations(session, customer)

    assert exported["conversations"][0]["messages"][0]["text"].startswith("주문번호")
    assert counts == {"conversations_scrubbed": 1, "conversation_messages_scrubbed": 1}
    session.expire_all()
    message = session.scalars(
        select(ConversationMessage).where(ConversationMessage.conversation_id == conversation_id)
    ).one()
    assert (message.body_text, message.subject) == ("", "")


# --- the mail rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "thread"),
    [
        ("Re: 배송 문의", "배송 문의"),
        ("RE: Fwd: 배송 문의", "배송 문의"),
        ("회신: 답장: 배송  문의", "배송 문의"),
        ("AW: Re[2]: Refund", "Refund"),
        ("Regarding my order", "Regarding my order"),
    ],
)
def test_thread_subjects(subject: str, thread: str) -> None:
    assert thread_subject(subject) == thread


@pytest.mark.parametrize(
    ("headers", "automatic"),
    [
        ({"Auto-Submitted": "auto-replied"}, True),
        ({"AUTO-SUBMITTED": "Auto-Replied"}, True),
        ({"auto-submitted": " No "}, False),
        ({"Auto-Submitted": "no"}, False),
        ({"X-Autoreply": "yes"}, True),
        ({"Precedence": "bulk"}, True),
        ({"Subject": "부재중"}, False),
    ],
)
def test_automatic_mail(headers: dict[str, str], automatic: bool) -> None:
    assert is_automatic(headers) is automatic


@pytest.mark.parametrize(
    ("text", "new"),
    [
        ("Thanks!\n\nOn Mon, 7 Dec 2026 at 09:00, Shop <cx@shop.example> wrote:\n> hi", "Thanks!"),
        ("고맙습니다\n\n-----Original Message-----\nFrom: 가나다 쇼핑", "고맙습니다"),
        ("네 알겠습니다\n\n----- 원본 메일 -----\n보낸 사람: cx@shop.example", "네 알겠습니다"),
        ("ok\n> quoted\n> more", "ok"),
        ("> only a quote", "> only a quote"),
    ],
    ids=["gmail-english", "outlook", "naver", "bottom-quote", "nothing-new"],
)
def test_the_new_part_of_a_reply(text: str, new: str) -> None:
    assert new_text(text) == new
