"""The agents' live inbox stream: a signed-in agent hears that a conversation of their
workspace changed, and an agent who keeps the stream open counts as online though the page is
never reloaded; a viewer gets no stream."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cxloop.core.db import Database
from cxloop.models import CareAgent
from cxloop.web.care import live as live_page
from tests.care.test_chat import chat_inbox
from tests.factories import Tenant, make_user
from tests.helpers.web import login


def test_an_agent_hears_a_new_chat_message_and_stays_online_while_listening(
    live_server: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_page, "SEEN_EVERY", 0.0)
    with database.session() as session:
        tenant = Tenant(session)
        inbox_id = chat_inbox(session, tenant)
        agent = make_user(session, workspace=tenant.workspace, role="agent")
        viewer = make_user(session, workspace=tenant.workspace, role="viewer")
        workspace_id, agent_id, write_key = tenant.id, agent.id, tenant.write_secret
        agent_email, viewer_email = agent.email, viewer.email

    with httpx.Client(base_url=live_server, timeout=10) as someone:
        assert login(someone, viewer_email).status_code == 303  # type: ignore[arg-type]
        assert someone.get("/inbox/live").status_code == 403

    heard: list[tuple[str, dict[str, Any]]] = []
    ready = threading.Event()
    with httpx.Client(base_url=live_server, timeout=10) as browser:
        assert login(browser, agent_email).status_code == 303  # type: ignore[arg-type]

        def listen() -> None:
            with browser.stream("GET", "/inbox/live") as stream:
                assert stream.status_code == 200
                name = ""
                for line in stream.iter_lines():
                    if line.startswith("retry:"):
                        ready.set()
                    elif line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        heard.append((name, json.loads(line[6:])))
                        if name == "conversation":
                            return

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        assert ready.wait(10), "the stream did not open"
        visitor = httpx.post(
            f"{live_server}/chat/v1/session",
            json={"writeKey": write_key, "inbox": inbox_id, "anonymousId": str(uuid.uuid4())},
        ).json()
        sent = httpx.post(
            f"{live_server}/chat/v1/messages",
            json={"text": "안녕하세요, 문의드려요", "clientId": str(uuid.uuid4())},
            headers={"Authorization": f"Bearer {visitor['token']}"},
        ).json()
        thread.join(10)

    assert heard == [
        ("conversation", {"kind": "conversation", "id": sent["conversation"], "what": "message"})
    ]
    with database.session() as session:
        seen = session.scalar(
            select(CareAgent.last_seen_at).where(
                CareAgent.workspace_id == workspace_id, CareAgent.user_id == agent_id
            )
        )
    assert seen is not None
