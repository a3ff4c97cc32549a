"""@mentions in private notes: the members a note names (by name or by the part of their address
before the @) are told once, in the app and by email — never the note's author, never a member
who is not named, never someone of another workspace with the same name — and find the
conversation in their "mentions" view."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care.mentions import Mentionable, find_mentions
from cxloop.models import ConversationMessage, Notification, OutboundMessage, User
from tests.care.test_canned import conversation_of, new_inbox
from tests.care.test_email_conversations import mail
from tests.factories import Tenant, make_user
from tests.helpers.web import get, login, post


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    return new_inbox(client, tenant)


def member(session: Session, tenant: Tenant, name: str, email: str, role: str = "agent") -> User:
    user = make_user(session, workspace=tenant.workspace, role=role, email=email, locale="ko")
    user.display_name = name
    session.flush()
    return user


def notices(session: Session, tenant: Tenant) -> list[tuple[int, str, str]]:
    rows = session.scalars(
        select(Notification)
        .where(Notification.workspace_id == tenant.id, Notification.kind == "care_mention")
        .order_by(Notification.user_id)
    )
    return [(n.user_id, n.link, n.params["excerpt"]) for n in rows]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("@이상담님 확인 부탁해요", [1], id="korean-name-then-particle"),
        pytest.param("@sangdam please", [1], id="address-handle"),
        pytest.param("@kim 그리고 @kim.s", [3, 2], id="longest-handle-wins"),
        pytest.param("@kimberly", [], id="a-longer-word-is-someone-else"),
        pytest.param("메일 foo@kim.s 로 보냄", [], id="inside-an-address"),
        pytest.param("@Alex Kim, @ALEX KIM again", [4], id="spaces-and-case"),
        pytest.param("nobody here @", [], id="bare-at"),
    ],
)
def test_who_a_note_names(text: str, expected: list[int]) -> None:
    members = [
        Mentionable(user_id=1, name="이상담", handle="sangdam"),
        Mentionable(user_id=2, name="", handle="kim.s"),
        Mentionable(user_id=3, name="", handle="kim"),
        Mentionable(user_id=4, name="Alex Kim", handle="alex"),
    ]

    assert find_mentions(text, members) == expected


def test_a_note_tells_exactly_the_members_it_names(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    author = member(session, tenant, "박작성", "writer@shop.example")
    named = member(session, tenant, "이상담", "sangdam@shop.example")
    by_address = member(session, tenant, "Kim Su", "kim.s@shop.example", role="admin")
    member(session, tenant, "최무관", "other@shop.example")
    stranger_tenant = Tenant(session)
    stranger = make_user(session, workspace=stranger_tenant.workspace, role="agent")
    stranger.display_name = "이상담"
    session.flush()
    conversation_id = conversation_of(client, hook)
    assert login(client, author.email).status_code == 303

    written = post(
        client,
        f"/inbox/{conversation_id}/note",
        {
            "text": "@이상담님, @kim.s 환불 확인 부탁해요. @박작성 메모",
            "next": f"/inbox/{conversation_id}",
        },
    )

    assert written.status_code == 303
    note = session.scalars(
        select(ConversationMessage).where(
            ConversationMessage.conversation_id == conversation_id,
            ConversationMessage.direction == "note",
        )
    ).one()
    assert note.details == {"mentions": [named.id, by_address.id]}
    excerpt = "@이상담님, @kim.s 환불 확인 부탁해요. @박작성 메모"
    link = f"/inbox/{conversation_id}#message-{note.id}"
    assert notices(session, tenant) == sorted(
        [(named.id, link, excerpt), (by_address.id, link, excerpt)]
    )
    assert notices(session, stranger_tenant) == []
    mailed = session.scalars(
        select(OutboundMessage.recipient).where(
            OutboundMessage.workspace_id == tenant.id,
            OutboundMessage.dedupe_key.like("notify:care_mention:%"),
        )
    ).all()
    assert sorted(mailed) == ["kim.s@shop.example", "sangdam@shop.example"]


def test_the_mentions_view_lists_where_i_was_named_with_its_count(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    named = member(session, tenant, "이상담", "sangdam@shop.example")
    other = member(session, tenant, "최무관", "other@shop.example")
    conversation_id = conversation_of(client, hook)
    quiet = conversation_of(
        client,
        hook,
        mail("Alex <alex@example.com>", "Refund", "Refund please", message_id="<m9@x>"),
    )
    by_api = client.post(
        f"/api/v1/care/conversations/{conversation_id}/notes",
        json={"text": "@sangdam 이 건 봐 주세요"},
        headers=tenant.api,
    )
    assert by_api.status_code == 201
    assert by_api.json()["mentions"] == [named.id]

    assert login(client, named.email).status_code == 303
    mine = get(client, "/inbox?view=mentions")
    assert login(client, other.email).status_code == 303
    theirs = get(client, "/inbox?view=mentions")
    open_view = get(client, "/inbox")

    rows = re.findall(r'id="row-(\d+)"', mine.text)
    assert rows == [str(conversation_id)]
    assert re.search(r'id="view-mentions"[^>]*>[^<]*<span class="count">1</span>', mine.text)
    assert re.findall(r'id="row-(\d+)"', theirs.text) == []
    assert re.search(r'id="view-mentions"[^>]*>[^<]*<span class="count">0</span>', theirs.text)
    assert sorted(re.findall(r'id="row-(\d+)"', open_view.text)) == sorted(
        [str(conversation_id), str(quiet)]
    )


def test_the_note_box_offers_the_members_names(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    agent = member(session, tenant, "이상담", "sangdam@shop.example")
    member(session, tenant, "", "plain@shop.example")
    conversation_id = conversation_of(client, hook)
    assert login(client, agent.email).status_code == 303

    page = get(client, f"/inbox/{conversation_id}")

    assert '<datalist id="mention-members">' in page.text
    assert '<option value="@이상담">@sangdam</option>' in page.text
    assert '<option value="@plain">@plain</option>' in page.text
