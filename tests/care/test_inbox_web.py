"""The inbox pages through HTTP as an agent uses them: mail posted to an inbox's webhook shows in
the conversation list (views with counts, filters, pages), a conversation reads oldest first with
the quoted history folded, a reply lands in the outbox threaded under the customer's mail, notes,
assignment, resolving and snoozing redirect back with a message; viewers are refused, another
workspace's conversation is not found, hostile mail is shown escaped; the inbox settings create an
inbox and show its webhook address once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import KST, as_utc, utcnow
from cxloop.models import Conversation, ConversationMessage, Customer, OutboundMessage, User
from tests.care.test_email_conversations import RFC822, mail
from tests.factories import Tenant, make_user, make_workspace
from tests.helpers.care_mail import deliver_mail
from tests.helpers.web import flashes, get, login, post, text_of


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    made = client.post(
        "/api/v1/care/inboxes",
        json={"name": "고객센터", "address": "help@shop.example", "team": "support"},
        headers=tenant.api,
    )
    assert made.status_code == 201, made.text
    path: str = made.json()["webhook_path"]
    return path


@pytest.fixture
def agent(client: TestClient, session: Session, tenant: Tenant) -> User:
    """A signed-in agent of the tenant's workspace (Korean UI)."""
    user = make_user(session, workspace=tenant.workspace, role="agent", locale="ko")
    user.display_name = "이상담"
    session.flush()
    assert login(client, user.email).status_code == 303
    return user


def deliver(client: TestClient, hook: str, body: bytes) -> int:
    conversation_id: int = deliver_mail(client, hook, body)["conversation_id"]
    return conversation_id


def rows(response: Any) -> list[int]:
    return [
        int(i)
        for i in re.findall(r'<li class="conversation-row[^"]*" id="row-(\d+)"', response.text)
    ]


def counts(response: Any) -> dict[str, int]:
    found = re.findall(r'id="view-(\w+)"[^>]*>[^<]*<span class="count">(\d+)</span>', response.text)
    return {name: int(n) for name, n in found}


def test_the_list_shows_views_with_counts_and_rows_of_the_workspace(
    client: TestClient, session: Session, tenant: Tenant, hook: str, agent: User
) -> None:
    first = deliver(client, hook, mail())
    second = deliver(
        client,
        hook,
        mail(
            "Alex Kim <alex@example.com>",
            "Refund please",
            "I want a refund.\n\n"
            "On Sun, 6 Dec 2026 at 13:05, Shop <help@shop.example> wrote:\n> old",
            message_id="<m2@mail.example.com>",
        ),
    )
    session.get(Conversation, second).assignee_id = agent.id  # type: ignore[union-attr]
    session.flush()

    page = get(client, "/inbox")

    assert page.status_code == 200
    assert rows(page) == [second, first]
    assert counts(page) == {
        "mine": 1,
        "unassigned": 1,
        "my_teams": 0,  # the agent is in no team
        "open": 2,
        "pending": 0,
        "snoozed": 0,
        "resolved": 0,
        "bot": 0,
        "mentions": 0,
    }
    text = text_of(page)
    assert "받은 메시지함" in text and "내 담당" in text and "열린 대화 전체" in text
    assert "김민지" in text and "minji@example.com" not in text.split("김민지")[0]
    assert "I want a refund." in text and "> old" not in text  # the new text's first line
    assert "담당: 이상담" in text
    assert rows(get(client, "/inbox?view=mine")) == [second]
    assert rows(get(client, "/inbox?view=unassigned")) == [first]
    assert rows(get(client, "/inbox?view=resolved")) == []


def test_filters_by_inbox_and_status_and_pages_with_more(
    client: TestClient, session: Session, tenant: Tenant, hook: str, agent: User
) -> None:
    other = client.post("/api/v1/care/inboxes", json={"name": "VIP"}, headers=tenant.api).json()
    ids = [
        deliver(client, hook, mail(f"c{i} <c{i}@example.com>", f"문의 {i}", message_id=f"<p{i}@x>"))
        for i in range(27)
    ]
    vip = deliver(client, other["webhook_path"], mail(message_id="<vip@x>", subject="VIP 문의"))

    first_page = get(client, f"/inbox?inbox={other['id']}")
    assert rows(first_page) == [vip]
    assert counts(first_page)["open"] == 1

    page_one = get(client, f"/inbox?inbox={hook and ''}")
    assert len(rows(page_one)) == 25
    more = re.search(r'id="more" href="([^"]+)"', page_one.text)
    assert more is not None
    page_two = get(client, more.group(1).replace("&amp;", "&"))
    assert set(rows(page_one)) | set(rows(page_two)) == {*ids, vip}
    assert 'id="more"' not in page_two.text

    resolved = get(client, "/inbox?status=resolved")
    assert rows(resolved) == []
    bad = get(client, "/inbox?status=nope&inbox=999999")
    assert bad.status_code == 422
    assert "'nope'은(는) 알 수 없는 상태" in text_of(bad)


def test_reading_a_conversation_oldest_first_with_the_history_folded(
    client: TestClient, session: Session, tenant: Tenant, hook: str, agent: User
) -> None:
    conversation_id = deliver(client, hook, mail())
    deliver(
        client,
        hook,
        mail(
            subject="Re: 주문한 상품이 아직 안 왔어요",
            text="아직도 안 왔어요.\n\n"
            "2026년 12월 6일 (일) 오후 1:05, 고객센터 <help@shop.example>님이 작성:\n"
            "> 내일 도착합니다",
            message_id="<m3@mail.example.com>",
            in_reply_to="<m1@mail.example.com>",
        ),
    )
    customer = session.scalar(
        select(Customer).where(
            Customer.email == "minji@example.com", Customer.workspace_id == tenant.id
        )
    )
    assert customer is not None
    customer.phone = "+821012345678"
    customer.order_count = 3
    customer.total_revenue = 129000  # type: ignore[assignment]
    session.flush()

    page = get(client, f"/inbox/{conversation_id}")

    assert page.status_code == 200
    text = text_of(page)
    body = page.text
    thread = body.split('<ol class="messages"')[1]
    assert thread.index("주문번호 20261205-0042") < thread.index("아직도 안 왔어요.")
    history = body.split('class="message-history"')[1].split("</details>")[0]
    assert "&gt; 내일 도착합니다" in history
    assert "010-1234-5678" in text
    assert "₩129,000" in text
    assert re.search(r'id="customer-orders">3<', body)


def test_a_reply_is_queued_threaded_and_shown_with_its_delivery(
    client: TestClient, session: Session, tenant: Tenant, hook: str, agent: User
) -> None:
    conversation_id = deliver(client, hook, mail())
    path = f"/inbox/{conversation_id}"

    answer = post(client, f"{path}/reply", {"text": "내일 도착 예정입니다.", "next": path})

    assert answer.status_code == 303
    assert answer.headers["location"] == f"{path}#composer"
    shown = get(client, path)
    assert ("success", "답장을 발송 대기열에 넣었습니다.") in flashes(shown)
    reply = session.scalars(
        select(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation_id,
            ConversationMessage.direction == "out",
        )
    ).one()
    queued = session.get(OutboundMessage, reply.outbound_message_id)
    assert queued is not None
    assert (queued.recipient, queued.subject, queued.status) == (
        "minji@example.com",
        "Re: 주문한 상품이 아직 안 왔어요",
        "queued",
    )
    assert queued.details["headers"]["In-Reply-To"] == "<m1@mail.example.com>"
    shown_reply = re.search(
        rf'<li id="message-{reply.id}" class="message from-team">(.*?)</li>', shown.text, re.S
    )
    assert shown_reply is not None
    assert re.search(r'<span class="badge info delivery">[^<]+</span>', shown_reply.group(1))


def test_an_empty_reply_is_refused_beside_the_form_and_a_note_is_private(
    client: TestClient, session: Session, tenant: Tenant, hook: str, agent: User
) -> None:
    conversation_id = deliver(client, hook, mail())
    path = f"/inbox/{conversation_id}"

    empty = post(client, f"{path}/reply", {"text": "   ", "next": path})
    assert empty.status_code == 422
    assert 'id="compose-error"' in empty.text and "내용을 입력하세요." in empty.text

    noted = post(client, f"{path}/note", {"text": "VIP 고객, 환불 우선 처리", "next": path})
    assert noted.status_code == 303
    page = get(client, path)
    assert ("success", "메모를 남겼습니다.") in flashes(page)
    assert re.search(r'class="message note"', page.text)
    assert "이상담의 메모" in text_of(page) and "비공개 메모" in text_of(page)
    assert (
        session.scalar(select(OutboundMessage).where(OutboundMessage.workspace_id == tenant.id))
        is None
    )


def test_assign_to_me_resolve_and_snooze(
    client: TestClient, session: Session, tenant: Tenant, hook: str, agent: User
) -> None:
    conversation_id = deliver(client, hook, mail())
    path = f"/inbox/{conversation_id}"
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None

    assert post(client, f"{path}/assign", {"assignee": "me", "next": path}).status_code == 303
    assert ("success", "이 대화를 맡았습니다.") in flashes(get(client, path))
    session.refresh(conversation)
    assert conversation.assignee_id == agent.id

    assert post(client, f"{path}/status", {"status": "resolved", "next": path}).status_code == 303
    session.refresh(conversation)
    assert (conversation.status, conversation.resolved_at is not None) == ("resolved", True)

    refused = post(client, f"{path}/snooze", {"until": "2001-01-01T09:00", "next": path})
    assert refused.status_code == 422
    assert "다시 열 시간은 지금보다 뒤여야 합니다." in text_of(refused)

    wake = (utcnow() + timedelta(days=2)).astimezone(KST).replace(second=0, microsecond=0)
    snoozed = post(client, f"{path}/snooze", {"until": f"{wake:%Y-%m-%dT%H:%M}", "next": path})
    assert snoozed.status_code == 303
    session.refresh(conversation)
    assert conversation.status == "snoozed"
    assert conversation.snoozed_until is not None
    assert as_utc(conversation.snoozed_until) == wake
    assert rows(get(client, "/inbox?view=snoozed")) == [conversation_id]

    assert post(client, f"{path}/priority", {"priority": "urgent", "next": path}).status_code == 303
    assert post(client, f"{path}/tags", {"tags": "배송, 환불", "next": path}).status_code == 303
    session.refresh(conversation)
    assert (conversation.priority, conversation.tags) == ("urgent", ["배송", "환불"])
    assert post(client, f"{path}/assign", {"assignee": "12345678", "next": path}).status_code == 422


def test_a_viewer_gets_403_and_another_workspaces_conversation_is_404(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = deliver(client, hook, mail())
    viewer = make_user(session, workspace=tenant.workspace, role="viewer")
    session.flush()
    login(client, viewer.email)
    assert get(client, "/inbox").status_code == 403
    assert get(client, f"/inbox/{conversation_id}").status_code == 403
    assert post(client, f"/inbox/{conversation_id}/reply", {"text": "hi"}).status_code == 403
    assert get(client, "/settings/inboxes").status_code == 403

    elsewhere = make_workspace(session)
    stranger = make_user(session, workspace=elsewhere, role="agent")
    session.flush()
    client.cookies.clear()
    login(client, stranger.email)
    assert get(client, f"/inbox/{conversation_id}").status_code == 404
    assert post(client, f"/inbox/{conversation_id}/note", {"text": "x"}).status_code == 404
    assert rows(get(client, "/inbox")) == []


def test_hostile_mail_is_shown_escaped(
    client: TestClient, session: Session, tenant: Tenant, hook: str, agent: User
) -> None:
    conversation_id = deliver(
        client,
        hook,
        mail(
            "evil@example.com",
            "<script>alert('subject')</script>",
            '"><img src=x onerror=alert(2)> <script>alert(3)</script>',
            html='<p>안녕<script>alert(4)</script><img src=x onerror="alert(5)"></p>',
        ),
    )

    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    customer = session.get(Customer, conversation.customer_id)
    assert customer is not None
    customer.display_name = '"><img src=x onerror=alert(1)>'
    session.flush()

    for page in (get(client, "/inbox"), get(client, f"/inbox/{conversation_id}")):
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "<img src=x" not in page.text
        assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in page.text
    shown = get(client, f"/inbox/{conversation_id}").text
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in shown
    frame = re.search(r'<iframe sandbox="" srcdoc="([^"]*)"', shown)
    assert frame is not None and "alert" not in frame.group(1) and "onerror" not in frame.group(1)


@pytest.mark.parametrize(
    ("locale", "labels"),
    [
        ("ko", ["받은 메시지함", "내 담당", "미배정", "답장 보내기", "메모 남기기", "해결"]),
        ("en", ["Inbox", "Mine", "Unassigned", "Send reply", "Add note", "Resolve"]),
    ],
    ids=["korean", "english"],
)
def test_labels_in_korean_and_english(
    client: TestClient, session: Session, tenant: Tenant, hook: str, locale: str, labels: list[str]
) -> None:
    conversation_id = deliver(client, hook, mail())
    user = make_user(session, workspace=tenant.workspace, role="agent", locale=locale)
    session.flush()
    login(client, user.email)

    text = text_of(get(client, f"/inbox/{conversation_id}"))

    for label in labels:
        assert label in text
    nav = get(client, "/customers").text
    assert 'href="/inbox"' in nav


def test_settings_create_an_inbox_and_show_its_webhook_once(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    owner = make_user(session, workspace=tenant.workspace, role="owner", locale="ko")
    session.flush()
    login(client, owner.email)

    listing = get(client, "/settings/inboxes")
    assert listing.status_code == 200
    assert 'href="/settings/inboxes" aria-current="page"' in listing.text
    refused = post(client, "/settings/inboxes", {"name": " ", "reopen_days": "7"})
    assert refused.status_code == 422
    assert "메시지함 이름을 입력하세요." in text_of(refused)

    made = post(
        client,
        "/settings/inboxes",
        {
            "name": "환불 문의",
            "address": "refund@shop.example",
            "team": "billing",
            "reopen_days": "3",
        },
    )

    assert made.status_code == 200
    url = re.search(r'id="webhook-url" class="secret" type="text" value="([^"]+)"', made.text)
    assert url is not None and url.group(1).startswith("http://testserver/hooks/email/")
    assert "Content-Type: message/rfc822" in made.text
    token_path = url.group(1).removeprefix("http://testserver")
    stored = client.post(token_path, content=mail(), headers=RFC822)
    assert stored.status_code == 202
    again = get(client, "/settings/inboxes")
    assert "환불 문의" in text_of(again) and token_path not in again.text
    assert 'href="/settings/inboxes"' in get(client, "/settings/members").text
