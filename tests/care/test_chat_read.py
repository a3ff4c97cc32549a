"""Chat read receipts: the widget says up to which message the visitor has seen the team's
replies; exactly the replies of the visitor's own latest conversation up to that id are marked
read (never a note, the visitor's own message or another visitor's reply), a forged token is
refused, an id beyond the last is harmless, the inbox shows "읽음" with the time, and agents
with the inbox open hear of it live."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care import service as care
from cxloop.core.db import Database
from cxloop.models import Conversation, ConversationMessage
from tests.care.test_chat import chat_inbox, owner, say, start
from tests.factories import Tenant, make_user
from tests.helpers.web import get, login


def read(client: TestClient, token: str, up_to: Any) -> httpx.Response:
    return client.post(  # type: ignore[return-value]
        "/chat/v1/read", json={"upTo": up_to}, headers={"Authorization": f"Bearer {token}"}
    )


def read_marks(session: Session, conversation_ids: list[int]) -> dict[int, bool]:
    session.expire_all()
    rows = session.scalars(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id.in_(conversation_ids))
        .order_by(ConversationMessage.id)
    )
    return {m.id: "read_at" in (m.details or {}) for m in rows}


class Chats:
    """Two visitors of one chat inbox, each with a conversation the team answered."""

    def __init__(self, client: TestClient, session: Session, tenant: Tenant) -> None:
        inbox_id = chat_inbox(session, tenant)
        self.agent = owner(tenant)
        self.token = start(client, tenant, inbox_id)["token"]
        other_token = start(client, tenant, inbox_id)["token"]
        mine = say(client, self.token, "배송 문의입니다").json()
        self.asked = mine["message"]["id"]
        self.conversation = self._conversation(session, mine["conversation"])
        self.first = self._reply(session, self.conversation, "확인해 드릴게요")
        self.note = care.add_note(
            session, conversation=self.conversation, principal=self.agent, text="내부 메모"
        ).id
        theirs = say(client, other_token, "환불 문의").json()
        self.other_asked = theirs["message"]["id"]
        self.other = self._conversation(session, theirs["conversation"])
        self.other_reply = self._reply(session, self.other, "환불해 드렸습니다")
        self.second = self._reply(session, self.conversation, "내일 도착합니다")

    @staticmethod
    def _conversation(session: Session, conversation_id: int) -> Conversation:
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation

    def _reply(self, session: Session, conversation: Conversation, text: str) -> int:
        reply = care.reply(session, conversation=conversation, principal=self.agent, text=text)
        session.flush()
        return reply.id


def test_read_marks_only_the_visitors_own_team_messages_up_to_the_id(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    chats = Chats(client, session, tenant)
    ids = [chats.conversation.id, chats.other.id]

    first = read(client, chats.token, chats.first)

    assert first.status_code == 200, first.text
    assert first.json() == {"success": True, "marked": 1}
    assert read_marks(session, ids) == {
        chats.asked: False,
        chats.first: True,
        chats.note: False,
        chats.other_asked: False,  # the other visitor's own message
        chats.other_reply: False,
        chats.second: False,
    }
    first_read = session.get(ConversationMessage, chats.first)
    assert first_read is not None
    read_at = first_read.details["read_at"]

    later = read(client, chats.token, chats.second)

    assert later.json() == {"success": True, "marked": 1}
    assert read_marks(session, ids) == {
        chats.asked: False,
        chats.first: True,
        chats.note: False,
        chats.other_asked: False,
        chats.other_reply: False,  # a lower id than upTo, but another visitor's
        chats.second: True,
    }
    assert read(client, chats.token, chats.second).json() == {"success": True, "marked": 0}
    session.expire_all()
    again = session.get(ConversationMessage, chats.first)
    assert again is not None and again.details["read_at"] == read_at  # read once, kept


def test_an_id_beyond_the_last_message_is_harmless(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    chats = Chats(client, session, tenant)

    response = read(client, chats.token, 2**53 - 1)

    assert response.status_code == 200
    assert response.json() == {"success": True, "marked": 2}
    marks = read_marks(session, [chats.conversation.id, chats.other.id])
    assert [i for i, was_read in marks.items() if was_read] == [chats.first, chats.second]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        pytest.param({"Authorization": "Bearer forged.token.value"}, {"upTo": 1}, 401, id="forged"),
        pytest.param({}, {"upTo": 1}, 401, id="no-token"),
        pytest.param(None, {"upTo": 0}, 422, id="zero"),
        pytest.param(None, {"upTo": "x"}, 422, id="not-a-number"),
        pytest.param(None, {"upTo": 2**53}, 422, id="too-large"),
        pytest.param(None, {"upTo": 1, "pad": "x" * 20_000}, 422, id="oversized-body"),
    ],
)
def test_a_bad_read_call_is_refused_and_marks_nothing(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    headers: dict[str, str] | None,
    body: dict[str, Any],
    status: int,
) -> None:
    chats = Chats(client, session, tenant)
    if headers is None:
        headers = {"Authorization": f"Bearer {chats.token}"}

    response = client.post("/chat/v1/read", json=body, headers=headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    marks = read_marks(session, [chats.conversation.id, chats.other.id])
    assert not any(marks.values())


def test_the_inbox_shows_read_with_the_time_on_a_read_chat_reply(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    chats = Chats(client, session, tenant)
    assert read(client, chats.token, chats.first).json()["marked"] == 1
    agent = make_user(session, workspace=tenant.workspace, role="agent", locale="ko")
    session.flush()
    assert login(client, agent.email).status_code == 303

    page = get(client, f"/inbox/{chats.conversation.id}")

    assert page.status_code == 200
    html = page.text
    first = html.index(f'id="message-{chats.first}"')
    second = html.index(f'id="message-{chats.second}"')
    assert html.count('class="badge ok read-receipt"') == 1
    badge = html.index('class="badge ok read-receipt"')
    assert first < badge < second
    stored = session.get(ConversationMessage, chats.first)
    assert stored is not None
    when = datetime.fromisoformat(stored.details["read_at"])
    local = when.astimezone(ZoneInfo(tenant.workspace.timezone)).isoformat(timespec="seconds")
    assert f'>읽음 <time datetime="{local}">' in html


def test_agents_hear_live_that_the_visitor_read(live_server: str, database: Database) -> None:
    with database.session() as session:
        tenant = Tenant(session)
        inbox_id = chat_inbox(session, tenant)
        agent = make_user(session, workspace=tenant.workspace, role="agent")
        principal = owner(tenant)
        agent_email, write_key = agent.email, tenant.write_secret
    with httpx.Client(base_url=live_server, timeout=10) as visitor:
        token = visitor.post(
            "/chat/v1/session", json={"writeKey": write_key, "inbox": inbox_id}
        ).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        sent = visitor.post(
            "/chat/v1/messages", json={"text": "문의", "clientId": "read-test-1"}, headers=bearer
        ).json()
        with database.session() as session:
            conversation = session.get(Conversation, sent["conversation"])
            assert conversation is not None
            reply_id = care.reply(
                session, conversation=conversation, principal=principal, text="답변"
            ).id
        heard: list[dict[str, Any]] = []
        ready = threading.Event()
        with httpx.Client(base_url=live_server, timeout=10) as browser:
            assert login(browser, agent_email).status_code == 303  # type: ignore[arg-type]

            def listen() -> None:
                with browser.stream("GET", "/inbox/live") as stream:
                    for line in stream.iter_lines():
                        if line.startswith("retry:"):
                            ready.set()
                        elif line.startswith("data: "):
                            data = json.loads(line[6:])
                            if data.get("what") == "read":
                                heard.append(data)
                                return

            thread = threading.Thread(target=listen, daemon=True)
            thread.start()
            assert ready.wait(10), "the stream did not open"
            marked = visitor.post("/chat/v1/read", json={"upTo": reply_id}, headers=bearer)
            thread.join(10)
    assert marked.json() == {"success": True, "marked": 1}
    assert heard == [{"kind": "conversation", "id": sent["conversation"], "what": "read"}]
