"""Channel adapters: a message goes out through the email adapter to a real SMTP server (aiosmtpd)
and keeps the Message-ID the server saw; the bounce or delivery notice a mail server sends back
(RFC 3464) marks it bounced or delivered through the API, once, in its own workspace only; mail
that is not such a report is refused, and the adapter reads a customer's reply into an inbound
message."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.channels import outbox
from cxloop.channels import tasks as channel_tasks
from cxloop.channels.adapters import Inbound, StatusReport
from cxloop.channels.email import read_mail
from cxloop.channels.providers import adapter_for, ready_adapters
from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.settings import Settings
from cxloop.models import OutboundMessage
from tests.factories import Tenant, unique
from tests.helpers.outbox import queue, reload
from tests.helpers.smtp import SmtpInbox

URL = "/api/v1/outbox/delivery-reports/email"
RFC822 = {"Content-Type": "message/rfc822"}


def dsn(
    message_id: str,
    recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    whole_message: bool = False,
    more_recipients: str = "",
) -> bytes:
    """A delivery status notification as a mail server writes it (RFC 3464 / RFC 6522):
    a human part, the machine-readable status, and the returned headers (or message)."""
    boundary = "dsn-boundary-7Qx"
    returned_type = "message/rfc822" if whole_message else "text/rfc822-headers"
    returned = (
        f"Return-Path: <cx@shop.example>\r\n"
        f"From: =?utf-8?b?7Ie87ZWR66qw?= <cx@shop.example>\r\n"
        f"To: {recipient}\r\n"
        f"Subject: =?utf-8?b?7ISk66y47JeQIOywuOyXrO2VtCDso7zshLjsmpQ=?=\r\n"
        f"Message-ID: {message_id}\r\n"
        f"Date: Sun, 06 Dec 2026 04:10:00 +0000\r\n"
    )
    if whole_message:
        returned += "Content-Type: text/plain; charset=utf-8\r\n\r\n설문에 참여해 주세요.\r\n"
    diagnostic_line = (
        f"Diagnostic-Code: {diagnostic.format(rcpt=recipient)}\r\n" if diagnostic else ""
    )
    text = (
        "From: MAILER-DAEMON@mx.example (Mail Delivery System)\r\n"
        "To: cx@shop.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Sun, 06 Dec 2026 04:11:00 +0000\r\n"
        "Message-ID: <20261206041100.AB12@mx.example>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.example.\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example\r\n"
        "Arrival-Date: Sun, 06 Dec 2026 04:10:01 +0000\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mail.example.net\r\n"
        f"{diagnostic_line}"
        f"{more_recipients}"
        "\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: {returned_type}\r\n"
        "\r\n"
        f"{returned}"
        "\r\n"
        f"--{boundary}--\r\n"
    )
    return text.encode()


def reply(in_reply_to: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "김민지 <minji@example.com>"
    mail["To"] = "cx@shop.example"
    mail["Subject"] = "Re: 주문은 만족스러우셨나요?"
    mail["Message-ID"] = "<reply-1@example.com>"
    mail["In-Reply-To"] = in_reply_to
    mail["References"] = f"<earlier@example.com> {in_reply_to}"
    mail["Date"] = "Sun, 06 Dec 2026 13:05:00 +0900"
    mail.set_content("배송이 너무 늦었어요.\n환불 가능한가요?")
    mail.add_alternative("<p>배송이 너무 늦었어요.<br>환불 가능한가요?</p>", subtype="html")
    return mail.as_bytes()


def sent_message(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    smtp: SmtpInbox,
    settings: Settings,
    recipient: str = "gone@example.net",
) -> OutboundMessage:
    """A message queued and handed to the SMTP server by the email adapter."""
    message = queue(session, tenant.workspace, recipient)
    session.flush()
    channel_tasks.deliver_outbox(tx_database, settings=smtp.settings(settings))
    sent = reload(session, message)
    assert sent.status == "sent"
    return sent


# --- sending through the adapter ---------------------------------------------------------------


def test_the_email_adapter_records_the_message_id_the_server_received(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    message = sent_message(session, tenant, tx_database, inbox, settings)

    [received] = inbox.to("gone@example.net")
    assert message.status == "sent"
    assert message.provider_message_id == received["Message-ID"]
    assert (message.provider_message_id or "").startswith(f"<cxloop-{message.id}@")


def test_a_reply_carries_its_threading_headers_and_nothing_more(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    minji, jisoo, everyone = (f"{unique(name)}@example.com" for name in ("minji", "jisoo", "all"))
    queue(
        session,
        tenant.workspace,
        minji,
        headers={
            "In-Reply-To": "<reply-1@example.com>",
            "References": "<first@shop.example>\r\n <reply-1@example.com>",
            "Bcc": everyone,
        },
    )
    queue(
        session,
        tenant.workspace,
        jisoo,
        headers={"In-Reply-To": f"<x@example.com>\r\nBcc: {everyone}"},
    )
    session.flush()

    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))

    [threaded] = inbox.to(minji)
    assert threaded["In-Reply-To"] == "<reply-1@example.com>"
    assert threaded["References"] == "<first@shop.example> <reply-1@example.com>"
    assert threaded["Bcc"] is None
    [injected] = inbox.to(jisoo)
    assert injected["Bcc"] is None
    assert injected["In-Reply-To"] == f"<x@example.com> Bcc: {everyone}"
    assert all(everyone not in recipients for _f, recipients, _b in inbox.received)


@pytest.mark.parametrize(
    ("channel", "recipient", "message"),
    [
        ("fax", "010-1234-5678", "channel must be one of"),
        ("sms", "not a number", "not a valid phone number"),
        ("email", "010-1234-5678", "not a valid email address"),
    ],
    ids=["unknown-channel", "sms-to-a-word", "email-to-a-number"],
)
def test_a_message_needs_a_channel_and_a_recipient_it_can_address(
    session: Session, tenant: Tenant, channel: str, recipient: str, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        outbox.queue_message(
            session,
            workspace_id=tenant.id,
            channel=channel,
            recipient=recipient,
            text="배송이 시작되었습니다.",
            dedupe_key="shipping:1",
        )


def test_a_text_message_waits_for_its_channels_adapter(session: Session, tenant: Tenant) -> None:
    sms = outbox.queue_message(
        session,
        workspace_id=tenant.id,
        channel="sms",
        recipient="010-1234-5678",
        text="배송이 시작되었습니다.",
        dedupe_key="shipping:2",
    )

    assert (sms.recipient, sms.status, sms.channel) == ("+821012345678", "queued", "sms")


def test_only_channels_with_a_configured_provider_send(settings: Settings) -> None:
    unconfigured = settings.model_copy(update={"smtp_host": None})
    configured = settings.model_copy(update={"smtp_host": "127.0.0.1"})

    assert ready_adapters(unconfigured) == []
    assert [a.channel for a in ready_adapters(configured)] == ["email"]
    assert adapter_for("email").channel == "email"


# --- status callbacks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "whole_message", [False, True], ids=["headers-returned", "message-returned"]
)
def test_a_bounce_notice_marks_the_message_bounced_once(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
    whole_message: bool,
) -> None:
    # given a message the SMTP server accepted
    message = sent_message(session, tenant, tx_database, inbox, settings)
    notice = dsn(message.provider_message_id or "", "gone@example.net", whole_message=whole_message)

    # when the bounce comes back, twice (a mailbox piped again after a crash)
    first = client.post(URL, content=notice, headers={**tenant.api, **RFC822})
    second = client.post(URL, content=notice, headers={**tenant.api, **RFC822})

    # then the message is bounced with the server's reason, and the repeat changed nothing
    assert first.status_code == 200, first.text
    assert first.json() == {"reports": 1, "messages": {str(message.id): "bounced"}}
    assert second.json() == first.json()
    bounced = reload(session, message)
    assert bounced.status == "bounced"
    assert bounced.last_error == (
        "5.1.1 smtp; 550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown"
    )
    assert bounced.reported_at is not None
    listed = client.get("/api/v1/outbox", params={"status": "bounced"}, headers=tenant.api)
    assert [item["id"] for item in listed.json()["items"]] == [message.id]


def test_delivered_then_bounced_ends_bounced_and_never_goes_back(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    message = sent_message(session, tenant, tx_database, inbox, settings)
    message_id = message.provider_message_id or ""
    delivered = dsn(message_id, "gone@example.net", action="delivered", status="2.0.0")
    bounced = dsn(message_id, "gone@example.net")

    steps = [
        client.post(URL, content=body, headers={**tenant.api, **RFC822}).json()["messages"]
        for body in (delivered, bounced, delivered)
    ]

    assert steps == [
        {str(message.id): "delivered"},
        {str(message.id): "bounced"},
        {str(message.id): "bounced"},
    ]


def test_a_delay_notice_changes_nothing(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    message = sent_message(session, tenant, tx_database, inbox, settings)
    delayed = dsn(
        message.provider_message_id or "", "gone@example.net", action="delayed", status="4.4.1"
    )

    response = client.post(URL, content=delayed, headers={**tenant.api, **RFC822})

    assert response.json() == {"reports": 0, "messages": {}}
    assert reload(session, message).status == "sent"


def test_another_workspaces_key_cannot_mark_a_message(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    message = sent_message(session, tenant, tx_database, inbox, settings)
    stranger = Tenant(session)

    response = client.post(
        URL,
        content=dsn(message.provider_message_id or "", "gone@example.net"),
        headers={**stranger.api, **RFC822},
    )

    assert response.json() == {"reports": 1, "messages": {}}
    assert reload(session, message).status == "sent"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (reply("<cxloop-1@localhost>"), "not a delivery status report"),
        (b"", "empty"),
        (b"\x00\x01\x02 not mail at all", "no mail headers"),
        (
            dsn("", "gone@example.net").replace(b"Message-ID: \r\n", b""),
            "does not say which message",
        ),
    ],
    ids=["a-person's-reply", "empty", "binary-garbage", "report-without-message-id"],
)
def test_what_is_not_a_delivery_report_is_refused(
    client: TestClient, tenant: Tenant, body: bytes, detail: str
) -> None:
    response = client.post(URL, content=body, headers={**tenant.api, **RFC822})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert detail in response.json()["detail"]


def test_taking_reports_needs_an_admin(client: TestClient, tenant: Tenant) -> None:
    notice = dsn("<cxloop-1@localhost>", "gone@example.net")

    viewer = client.post(URL, content=notice, headers={**tenant.key("viewer"), **RFC822})
    anonymous = client.post(URL, content=notice, headers=RFC822)

    assert (viewer.status_code, anonymous.status_code) == (403, 401)


# --- receiving ---------------------------------------------------------------------------------


def test_a_customer_reply_is_read_into_an_inbound_message() -> None:
    [inbound] = read_mail(reply("<cxloop-42@shop.example>"))

    assert isinstance(inbound, Inbound)
    assert (inbound.channel, inbound.sender, inbound.sender_name) == (
        "email",
        "minji@example.com",
        "김민지",
    )
    assert inbound.subject == "Re: 주문은 만족스러우셨나요?"
    assert inbound.text == "배송이 너무 늦었어요.\n환불 가능한가요?\n"
    assert "<br>" in inbound.html
    assert inbound.provider_message_id == "<reply-1@example.com>"
    assert inbound.in_reply_to == "<cxloop-42@shop.example>"
    assert inbound.references == ("<earlier@example.com>", "<cxloop-42@shop.example>")
    assert inbound.sent_at is not None and inbound.sent_at.utcoffset() is not None


def raw_mail(*headers: str, body: str = "네 알겠습니다.") -> bytes:
    """A mail exactly as written here: header lines (folded ones included), then a UTF-8 body."""
    lines = [
        "Message-ID: <raw-1@example.com>",
        *headers,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.mark.parametrize(
    ("headers", "subject", "sender_name"),
    [
        (
            # Gmail folds a long Korean subject into encoded words on continuation lines.
            (
                "From: =?UTF-8?B?6rmA66+87KeA?= <minji@example.com>",
                "Subject: =?UTF-8?B?UmU6IOyjvOusuO2VnCDsg4HtkojsnbQg7JWE7KeBIOyViCDsmZTslrQ=?=",
                " =?UTF-8?B?7JqUIOuwsOyGoSDrrLjsnZg=?=",
            ),
            "Re: 주문한 상품이 아직 안 왔어요 배송 문의",
            "김민지",
        ),
        (
            # Outlook: quoted-printable words in EUC-KR, the name quoted.
            (
                'From: "=?ks_c_5601-1987?Q?=B1=E8=B9=CE=C1=F6?=" <minji@example.com>',
                "Subject: =?ks_c_5601-1987?Q?=C8=B8=BD=C5:_=B9=E8=BC=DB_=B9=AE=C0=C7?=",
            ),
            "회신: 배송 문의",
            "김민지",
        ),
        (
            ("From: Minji Kim <minji@example.com>", "Subject: Where is\r\n my order?"),
            "Where is my order?",
            "Minji Kim",
        ),
    ],
    ids=["gmail-folded-utf8-words", "outlook-euc-kr", "folded-plain"],
)
def test_encoded_subjects_and_names_are_read_as_written(
    headers: tuple[str, ...], subject: str, sender_name: str
) -> None:
    [inbound] = read_mail(raw_mail(*headers))

    assert isinstance(inbound, Inbound)
    assert (inbound.subject, inbound.sender_name, inbound.sender) == (
        subject,
        sender_name,
        "minji@example.com",
    )
    assert inbound.text.splitlines() == ["네 알겠습니다."]


def test_the_headers_of_an_inbound_mail_come_unfolded() -> None:
    [inbound] = read_mail(
        raw_mail(
            "From: minji@example.com",
            "To: =?UTF-8?B?6rOg6rCd7IS87YSw?= <help@shop.example>,",
            "\thelp+c42.0123456789abcdef@shop.example",
            "AUTO-SUBMITTED: Auto-Replied",
            "Delivered-To: help+c42.0123456789abcdef@shop.example",
            "Date: Mon, 07 Dec 2026 09:30:00 +0900",
            "In-Reply-To:",
            " <cxloop-42@shop.example>",
            "References: <earlier@example.com>",
            " <cxloop-42@shop.example>",
        )
    )

    assert isinstance(inbound, Inbound)
    assert inbound.headers["To"] == (
        "=?UTF-8?B?6rOg6rCd7IS87YSw?= <help@shop.example>,\thelp+c42.0123456789abcdef@shop.example"
    )
    assert inbound.headers["AUTO-SUBMITTED"] == "Auto-Replied"
    assert inbound.recipient == "help+c42.0123456789abcdef@shop.example"
    assert inbound.in_reply_to == "<cxloop-42@shop.example>"
    assert inbound.references == ("<earlier@example.com>", "<cxloop-42@shop.example>")
    assert inbound.sent_at is not None
    assert inbound.sent_at.isoformat() == "2026-12-07T09:30:00+09:00"


def test_a_report_for_two_recipients_gives_one_status_each() -> None:
    notice = dsn(
        "<cxloop-7@shop.example>",
        "a@example.net",
        more_recipients="\r\nFinal-Recipient: rfc822; b@example.net\r\n"
        "Action: delivered\r\nStatus: 2.0.0\r\n",
    )

    reports = read_mail(notice)

    assert [(r.recipient, r.status) for r in reports if isinstance(r, StatusReport)] == [
        ("a@example.net", "bounced"),
        ("b@example.net", "delivered"),
    ]
