"""Replies as real mail clients write them find their conversation. Each message below is shaped
as Gmail, Outlook or Apple Mail shapes a reply (their headers, their quoting, their subject
prefixes, multipart text and HTML), posted raw to the inbox's webhook after an agent answered the
customer. What ``test_email_conversations`` covers already (a reply with both headers, a
References-only Outlook reply, the same subject without headers, another customer quoting cxloop's
reply) is not repeated; here: Outlook's rewritten ``In-Reply-To`` without References, Korean and
English prefixes, Apple Mail's References-only reply, headers winning over a subject that names
another conversation, replies to a newsletter cxloop never stored, and the reply-address token
alone, forged and foreign tokens included. The quoted history is trimmed for display and kept in
full."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care.reply_address import token_address
from cxloop.core.settings import Settings
from cxloop.models import ConversationMessage, OutboundMessage
from tests.care.test_email_conversations import detail, mail, post
from tests.factories import Tenant

SUPPORT = "help@shop.example"
QUESTION = "주문한 상품이 아직 안 왔어요"
ANSWER = "안녕하세요 김민지 님,\n주문하신 상품은 내일 도착 예정입니다.\n\n가나다 쇼핑 고객센터"


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    """The webhook path of an email inbox with the support address."""
    made = client.post(
        "/api/v1/care/inboxes", json={"name": "고객센터", "address": SUPPORT}, headers=tenant.api
    )
    assert made.status_code == 201, made.text
    path: str = made.json()["webhook_path"]
    return path


def answered(
    client: TestClient, session: Session, tenant: Tenant, hook: str, first: bytes = b""
) -> tuple[int, dict[str, str]]:
    """A customer's question and the agent's reply to it: the conversation and the headers of
    the reply as it leaves (Message-ID, In-Reply-To, References, Reply-To)."""
    conversation_id: int = post(client, hook, first or mail())["conversation_id"]
    reply = client.post(
        f"/api/v1/care/conversations/{conversation_id}/replies",
        json={"text": ANSWER},
        headers=tenant.api,
    )
    assert reply.status_code == 201, reply.text
    message = session.get(ConversationMessage, reply.json()["id"])
    assert message is not None and message.channel_message_id is not None
    outbound = session.get(OutboundMessage, message.outbound_message_id)
    assert outbound is not None
    headers = {**outbound.details["headers"], "Message-ID": message.channel_message_id}
    return conversation_id, headers


def client_reply(
    *,
    new: str,
    quoted: str,
    subject: str,
    to: str = SUPPORT,
    sender: str = "김민지 <minji@example.com>",
    message_id: str,
    html: str = "",
    **headers: str,
) -> bytes:
    """A reply as a mail client writes it: the new text above the quoted history, plain text
    and (when given) HTML, and the client's own headers."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = to
    reply["Subject"] = subject
    reply["Message-ID"] = message_id
    reply["Date"] = "Mon, 07 Dec 2026 09:30:00 +0900"
    reply["MIME-Version"] = "1.0"
    for name, value in headers.items():
        reply[name.replace("_", "-")] = value
    reply.set_content(f"{new}\n\n{quoted}\n")
    if html:
        reply.add_alternative(html, subtype="html")
    return reply.as_bytes()


def gt_quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def shaped(shape: str, sent: dict[str, str]) -> bytes:
    """The customer's reply to ``sent`` as ``shape``'s mail client writes it."""
    if shape == "gmail":
        return client_reply(
            new="감사합니다! 내일 집에 있을게요.",
            quoted=(
                "2026년 12월 7일 (월) 오전 9:00, 고객센터 <help@shop.example>님이 작성:\n\n"
                + gt_quoted(ANSWER)
            ),
            subject=f"Re: {QUESTION}",
            to=sent["Reply-To"],
            message_id="<CAGmail+1x2y3z@mail.gmail.com>",
            In_Reply_To=sent["Message-ID"],
            References=f"{sent['References']} {sent['Message-ID']}",
            html=(
                '<div dir="ltr">감사합니다! 내일 집에 있을게요.</div><br>'
                '<div class="gmail_quote"><div class="gmail_attr">2026년 12월 7일 (월) 오전 '
                "9:00, 고객센터 님이 작성:</div>"
                '<blockquote class="gmail_quote">주문하신 상품은 내일 도착 예정입니다.</blockquote>'
                "</div>"
            ),
        )
    if shape == "outlook-rewritten":
        # Outlook (Exchange) answers with its own id in In-Reply-To and no References.
        return client_reply(
            new="알겠습니다. 송장번호도 알려주세요.",
            quoted=(
                "-----Original Message-----\n"
                "From: 고객센터 <help@shop.example>\n"
                "Sent: Monday, December 7, 2026 9:00 AM\n"
                "To: 김민지 <minji@example.com>\n"
                f"Subject: Re: {QUESTION}\n\n" + ANSWER
            ),
            subject=f"RE: {QUESTION}",
            to=sent["Reply-To"],
            message_id="<SL2P216MB1234ABCD@SL2P216MB1234.KORP216.PROD.OUTLOOK.COM>",
            In_Reply_To="<SL2P216MB0999EEEE@SL2P216MB0999.KORP216.PROD.OUTLOOK.COM>",
            Thread_Topic=QUESTION,
            Thread_Index="AQHbR2xVx3V0ZG9vclBhc3Mtd29yZA==",
            X_MS_Exchange_Organization_SCL="-1",
            Content_Language="ko-KR",
        )
    if shape == "outlook-korean":
        # Korean Outlook: 회신: and a "보낸 사람:" block under a rule; the headers are lost.
        return client_reply(
            new="네 확인했습니다.",
            quoted=(
                "________________________________\n"
                "보낸 사람: 고객센터 <help@shop.example>\n"
                "보낸 날짜: 2026년 12월 7일 월요일 오전 9:00\n"
                "받는 사람: 김민지\n"
                f"제목: Re: {QUESTION}\n\n" + ANSWER
            ),
            subject=f"회신: Re: {QUESTION}",
            message_id="<SL2P216MB5555@SL2P216MB5555.KORP216.PROD.OUTLOOK.COM>",
            Thread_Index="AQHbR2xVx3V0ZG9vclBhc3Mtd29yZA==AAA",
        )
    assert shape == "apple-mail"
    # Apple Mail answers a message with References only when it lost In-Reply-To (forwarded
    # through some gateways); "Re:" and "> " quoting, the attribution in the user's locale.
    return client_reply(
        new="감사합니다 :)\n\n김민지 드림",
        quoted=(
            "2026. 12. 7. 오전 9:00, 고객센터 <help@shop.example> 작성:\n\n" + gt_quoted(ANSWER)
        ),
        subject=f"Re: {QUESTION}",
        to=sent["Reply-To"],
        message_id="<6F1C2A7E-0B1D-4E55-9C7B-2C9E1F0A3B4D@example.com>",
        References=f"{sent['References']} {sent['Message-ID']}",
        X_Mailer="Apple Mail (2.3826.300.87.4.3)",
    )


NEW_TEXT = {
    "gmail": "감사합니다! 내일 집에 있을게요.",
    "outlook-rewritten": "알겠습니다. 송장번호도 알려주세요.",
    "outlook-korean": "네 확인했습니다.",
    "apple-mail": "감사합니다 :)\n\n김민지 드림",
}


@pytest.mark.parametrize("shape", list(NEW_TEXT))
def test_a_mail_client_reply_joins_its_conversation_with_the_history_trimmed_for_display(
    client: TestClient, session: Session, tenant: Tenant, hook: str, shape: str
) -> None:
    conversation_id, sent = answered(client, session, tenant, hook)

    result = post(client, hook, shaped(shape, sent))

    assert result["status"] == "stored"
    assert result["conversation_id"] == conversation_id
    shown = detail(client, tenant, conversation_id)
    assert [m["direction"] for m in shown["messages"]] == ["in", "out", "in"]
    reply = shown["messages"][2]
    assert reply["text"] == NEW_TEXT[shape]
    assert reply["full_text"].startswith(NEW_TEXT[shape])
    assert "주문하신 상품은 내일 도착 예정입니다." in reply["full_text"]  # kept in full


def test_the_headers_win_over_a_subject_that_names_another_conversation(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    # given two open conversations of one customer, the first answered by an agent
    first, sent = answered(client, session, tenant, hook)
    second = post(client, hook, mail(subject="환불 문의", message_id="<m2@mail.example.com>"))

    # when she answers the first one's reply but types the second one's subject
    result = post(
        client,
        hook,
        client_reply(
            new="환불 말고 교환으로 할게요.",
            quoted=gt_quoted(ANSWER),
            subject="Re: 환불 문의",
            message_id="<m3@mail.example.com>",
            In_Reply_To=sent["Message-ID"],
            References=f"{sent['References']} {sent['Message-ID']}",
        ),
    )

    # then it joins the one it answers
    assert result["conversation_id"] == first
    assert result["conversation_id"] != second["conversation_id"]


def test_replies_of_two_customers_to_one_newsletter_never_merge(
    client: TestClient, tenant: Tenant, hook: str
) -> None:
    newsletter = "<news-2026-12@campaign.shop.example>"
    subject = "Re: (광고) 12월 신상품 소식"

    def answer(sender: str, message_id: str, references: str = newsletter) -> dict[str, Any]:
        return post(
            client,
            hook,
            client_reply(
                new="이 상품 재입고 되나요?",
                quoted=gt_quoted("12월 신상품을 소개합니다."),
                subject=subject,
                sender=sender,
                message_id=message_id,
                In_Reply_To=newsletter,
                References=references,
            ),
        )

    minji = answer("김민지 <minji@example.com>", "<n1@mail.example.com>")
    jisoo = answer("이지수 <jisoo@example.com>", "<n2@mail.example.com>")
    # a reply-all of a third customer quoting Minji's answer as well
    bora = answer(
        "박보라 <bora@example.com>", "<n3@mail.example.com>", f"{newsletter} <n1@mail.example.com>"
    )
    minji_again = answer("김민지 <minji@example.com>", "<n4@mail.example.com>")

    ids = [r["conversation_id"] for r in (minji, jisoo, bora)]
    assert len(set(ids)) == 3
    assert minji_again["conversation_id"] == minji["conversation_id"]
    for result, address in [(minji, "minji"), (jisoo, "jisoo"), (bora, "bora")]:
        shown = detail(client, tenant, result["conversation_id"])
        assert shown["customer_id"] is not None
        senders = {m["author"] for m in shown["messages"]}
        assert senders == {"customer"}, address
    assert len(detail(client, tenant, minji["conversation_id"])["messages"]) == 2


def test_the_reply_address_alone_finds_the_conversation(
    client: TestClient, session: Session, tenant: Tenant, hook: str, settings: Settings
) -> None:
    # given an answered conversation, and its reply address
    conversation_id, sent = answered(client, session, tenant, hook)
    assert sent["Reply-To"] == token_address(SUPPORT, conversation_id, settings=settings)
    assert sent["Reply-To"].startswith(f"help+c{conversation_id}.")

    # when a client without threading headers answers it under a new subject
    def without_headers(message_id: str, **kw: str) -> dict[str, Any]:
        return post(
            client,
            hook,
            client_reply(
                new="배송지를 바꾸고 싶어요.",
                quoted="",
                subject="배송지 변경",
                message_id=message_id,
                **kw,
            ),
        )

    by_to = without_headers("<t1@mail.example.com>", to=sent["Reply-To"])
    # a copy delivered to the reply address with the support address in To (as by Bcc)
    by_delivered_to = without_headers("<t2@mail.example.com>", Delivered_To=sent["Reply-To"])
    forged_address = re.sub(r"\.[0-9a-f]{16}@", ".0123456789abcdef@", sent["Reply-To"])
    forged = without_headers("<t3@mail.example.com>", to=forged_address)

    # then the token finds it, and a forged token does not
    assert by_to["conversation_id"] == conversation_id
    assert by_delivered_to["conversation_id"] == conversation_id
    assert forged["conversation_id"] != conversation_id


@pytest.mark.parametrize(
    "recipients",
    [
        "To: =?UTF-8?B?6rOg6rCd7IS87YSw?= <help@shop.example>,\n\t{token}",
        "To: help@shop.example\nCc: =?UTF-8?B?6rmA66+87KeA?= <minji@example.com>,\n {token}",
        "To: \n <{token}>",
    ],
    ids=["folded-to", "folded-cc", "to-on-its-own-line"],
)
def test_a_reply_address_on_a_folded_recipient_line_finds_the_conversation(
    client: TestClient, session: Session, tenant: Tenant, hook: str, recipients: str
) -> None:
    # given an answered conversation
    conversation_id, sent = answered(client, session, tenant, hook)

    # when the customer's client writes its recipients over several lines, the token on one
    written = client_reply(
        new="배송지를 바꾸고 싶어요.",
        quoted="",
        subject="배송지 변경",
        to="placeholder@shop.example",
        message_id="<folded-1@mail.example.com>",
    )
    folded = written.replace(
        b"To: placeholder@shop.example", recipients.format(token=sent["Reply-To"]).encode()
    )
    result = post(client, hook, folded)

    # then the token finds it
    assert result["conversation_id"] == conversation_id


def test_another_customers_reply_address_does_not_join_their_conversation(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id, sent = answered(client, session, tenant, hook)

    stranger = post(
        client,
        hook,
        client_reply(
            new="저도 같은 문제가 있어요.",
            quoted="",
            subject="배송 문의",
            sender="이지수 <jisoo@example.com>",
            to=sent["Reply-To"],
            message_id="<s1@mail.example.com>",
        ),
    )

    assert stranger["status"] == "stored"
    assert stranger["conversation_id"] != conversation_id
    shown = detail(client, tenant, conversation_id)
    assert len(shown["messages"]) == 2  # her question and the agent's reply only
    ours = session.scalars(
        select(ConversationMessage.channel_message_id).where(
            ConversationMessage.conversation_id == conversation_id
        )
    ).all()
    assert "<s1@mail.example.com>" not in ours
