"""Followers of a conversation: members follow and stop following by the API and the inbox
page, an admin adds another member (an agent may not; a member of another workspace cannot be
added), followers are told in the app exactly once when the customer writes and when the
conversation is resolved (never the one who resolved it, never by email), and a member named
in a note starts following."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cxloop.models import (
    AuditEntry,
    Conversation,
    ConversationFollower,
    Notification,
    OutboundMessage,
)
from tests.care.test_canned import conversation_of, new_inbox
from tests.care.test_email_conversations import RFC822, mail
from tests.care.test_mentions import member
from tests.factories import Tenant, make_user
from tests.helpers.web import get, login, post, text_of


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    return new_inbox(client, tenant)


def followers(session: Session, tenant: Tenant, conversation_id: int) -> list[int]:
    return list(
        session.scalars(
            select(ConversationFollower.user_id)
            .where(
                ConversationFollower.workspace_id == tenant.id,
                ConversationFollower.conversation_id == conversation_id,
            )
            .order_by(ConversationFollower.user_id)
        )
    )


def notices(session: Session, tenant: Tenant, kind: str) -> list[tuple[int, str]]:
    rows = session.scalars(
        select(Notification)
        .where(Notification.workspace_id == tenant.id, Notification.kind == kind)
        .order_by(Notification.user_id, Notification.id)
    )
    return [(n.user_id, n.link) for n in rows]


def customer_writes_again(client: TestClient, hook: str, message_id: str) -> None:
    again = client.post(
        hook,
        content=mail(
            text="아직 소식이 없어요",
            message_id=message_id,
            in_reply_to="<m1@mail.example.com>",
        ),
        headers=RFC822,
    )
    assert again.status_code == 202, again.text


def test_an_admin_adds_and_removes_a_follower_by_the_api(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    minji = member(session, tenant, "김민지", "minji@shop.example")
    conversation_id = conversation_of(client, hook)
    path = f"/api/v1/care/conversations/{conversation_id}/followers"

    added = client.post(path, json={"user_id": minji.id}, headers=tenant.api)
    again = client.post(path, json={"user_id": minji.id}, headers=tenant.api)

    assert added.status_code == 200, added.text
    assert added.json()["items"] == [{"user_id": minji.id, "name": "김민지"}]
    assert again.json()["items"] == [{"user_id": minji.id, "name": "김민지"}]
    assert client.get(path, headers=tenant.key("agent")).json() == {
        "items": [{"user_id": minji.id, "name": "김민지"}],
        "next_cursor": None,
    }
    audit = session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.workspace_id == tenant.id, AuditEntry.target_type == "care_follower"
        )
    ).all()
    assert audit == ["care.follower_add"]

    removed = client.delete(f"{path}?user_id={minji.id}", headers=tenant.api)

    assert removed.status_code == 204
    assert followers(session, tenant, conversation_id) == []
    assert client.get(path, headers=tenant.api).json()["items"] == []


@pytest.mark.parametrize(
    ("who", "role", "status", "field"),
    [
        pytest.param("stranger", "owner", 422, "user_id", id="another-workspaces-member-422"),
        pytest.param("colleague", "agent", 403, None, id="an-agent-adds-someone-else-403"),
        pytest.param("viewer", "owner", 422, "user_id", id="a-viewer-works-no-conversations"),
        pytest.param("nobody", "owner", 422, "user_id", id="an-api-key-is-nobody-to-follow"),
    ],
)
def test_who_cannot_be_added_as_a_follower(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    who: str,
    role: str,
    status: int,
    field: str | None,
) -> None:
    other = Tenant(session)
    people = {
        "stranger": make_user(session, workspace=other.workspace, role="agent").id,
        "colleague": member(session, tenant, "동료", "colleague@shop.example").id,
        "viewer": member(session, tenant, "열람자", "viewer@shop.example", role="viewer").id,
        "nobody": None,
    }
    conversation_id = conversation_of(client, hook)

    refused = client.post(
        f"/api/v1/care/conversations/{conversation_id}/followers",
        json={"user_id": people[who]},
        headers=tenant.key(role),
    )

    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    if field:
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert followers(session, tenant, conversation_id) == []


def test_another_workspaces_conversation_is_not_found(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = conversation_of(client, hook)
    other = Tenant(session)

    response = client.get(
        f"/api/v1/care/conversations/{conversation_id}/followers", headers=other.api
    )

    assert response.status_code == 404


def test_a_member_follows_and_unfollows_on_the_inbox_page(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    minji = member(session, tenant, "김민지", "minji@shop.example")
    conversation_id = conversation_of(client, hook)
    assert login(client, minji.email).status_code == 303
    page = f"/inbox/{conversation_id}"
    assert "팔로워 없음" in text_of(get(client, page))

    followed = post(client, f"{page}/follow", {"next": page})

    assert followed.status_code == 303 and followed.headers["location"] == page
    assert followers(session, tenant, conversation_id) == [minji.id]
    shown = get(client, page)
    assert 'id="follower-names">김민지</span>' in shown.text
    assert f'action="{page}/unfollow"' in shown.text
    assert "팔로우 취소" in text_of(shown)

    unfollowed = post(client, f"{page}/unfollow", {"next": "https://evil.example/"})

    assert unfollowed.status_code == 303 and unfollowed.headers["location"] == page
    assert followers(session, tenant, conversation_id) == []
    assert f'action="{page}/follow"' in get(client, page).text


def test_followers_hear_of_customer_messages_and_resolution_but_not_of_their_own_doing(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    minji = member(session, tenant, "김민지", "minji@shop.example")
    junho = member(session, tenant, "박준호", "junho@shop.example", role="admin")
    bystander = member(session, tenant, "최무관", "other@shop.example")
    conversation_id = conversation_of(client, hook)
    path = f"/api/v1/care/conversations/{conversation_id}/followers"
    for user in (minji, junho):
        assert client.post(path, json={"user_id": user.id}, headers=tenant.api).status_code == 200

    customer_writes_again(client, hook, "<m2@mail.example.com>")
    customer_writes_again(client, hook, "<m2@mail.example.com>")  # the provider retries

    told = notices(session, tenant, "care_follow_message")
    assert [u for u, _ in told] == sorted([minji.id, junho.id])
    assert len({link for _, link in told}) == 1
    assert told[0][1].startswith(f"/inbox/{conversation_id}#message-")

    assert login(client, minji.email).status_code == 303
    resolved = post(client, f"/inbox/{conversation_id}/status", {"status": "resolved", "next": ""})

    assert resolved.status_code == 303
    assert notices(session, tenant, "care_follow_resolved") == [
        (junho.id, f"/inbox/{conversation_id}")
    ]
    assert bystander.id not in [u for u, _ in notices(session, tenant, "care_follow_message")]
    mailed = session.scalars(
        select(OutboundMessage.id).where(
            OutboundMessage.workspace_id == tenant.id,
            OutboundMessage.dedupe_key.like("notify:care_follow%"),
        )
    ).all()
    assert mailed == []  # told in the app only
    unread = client.get("/notifications").text
    assert "팔로우하는 대화에 고객의 새 메시지" in unread


def test_a_member_named_in_a_note_starts_following(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    author = member(session, tenant, "박작성", "writer@shop.example")
    named = member(session, tenant, "이상담", "sangdam@shop.example")
    conversation_id = conversation_of(client, hook)
    assert login(client, author.email).status_code == 303

    noted = post(
        client,
        f"/inbox/{conversation_id}/note",
        {"text": "@이상담님 확인 부탁해요", "next": f"/inbox/{conversation_id}"},
    )

    assert noted.status_code == 303
    assert followers(session, tenant, conversation_id) == [named.id]
    customer_writes_again(client, hook, "<m3@mail.example.com>")
    assert [u for u, _ in notices(session, tenant, "care_follow_message")] == [named.id]


def test_deleting_a_conversation_deletes_its_followers(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    minji = member(session, tenant, "김민지", "minji@shop.example")
    conversation_id = conversation_of(client, hook)
    path = f"/api/v1/care/conversations/{conversation_id}/followers"
    assert client.post(path, json={"user_id": minji.id}, headers=tenant.api).status_code == 200

    session.execute(delete(Conversation).where(Conversation.id == conversation_id))

    assert followers(session, tenant, conversation_id) == []
