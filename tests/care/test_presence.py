"""Agents' presence: seen by the inbox pages (a cheap update while nothing changes), online for
five minutes after, their own available/away toggle in the inbox header, quiet agents noticed
once by the sweep, and routing notes shown in each reader's language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.accounts.access import Principal
from cxloop.care import presence, routing
from cxloop.care import service as care
from cxloop.core.db import Database
from cxloop.core.timeutil import utcnow
from cxloop.models import CareAgent, Conversation, User
from tests.care.test_assignment import an_inbox, member, online, set_up, write
from tests.factories import PASSWORD, Tenant, make_user, unique
from tests.helpers.web import flashes, get, login, post, text_of


def agent_row(session: Session, tenant: Tenant, user: User) -> CareAgent | None:
    return session.scalar(
        select(CareAgent).where(CareAgent.workspace_id == tenant.id, CareAgent.user_id == user.id)
    )


def state(session: Session, tenant: Tenant, user: User) -> tuple[bool, bool]:
    [agent] = [
        a for a in presence.agents_of(session, workspace_id=tenant.id) if a.user_id == user.id
    ]
    return agent.available, agent.online


def test_seen_makes_an_agent_online_for_five_minutes(session: Session, tenant: Tenant) -> None:
    minji = member(session, tenant, "김민지")
    before = state(session, tenant, minji)
    first = utcnow() - timedelta(minutes=4)

    presence.seen(session, workspace_id=tenant.id, user_id=minji.id, now=first)
    presence.seen(
        session, workspace_id=tenant.id, user_id=minji.id, now=first + timedelta(seconds=30)
    )
    session.expire_all()
    agent = agent_row(session, tenant, minji)

    assert before == (True, False)  # never seen: available, not online
    assert agent is not None
    assert (agent.available, agent.present) == (True, True)
    assert agent.last_seen_at == first + timedelta(seconds=30)
    assert state(session, tenant, minji) == (True, True)
    assert presence.presence_of(
        session, workspace_id=tenant.id, user_id=minji.id, now=first + timedelta(minutes=6)
    ) == (True, False)


def test_an_away_agent_seen_stays_away(session: Session, tenant: Tenant) -> None:
    minji = member(session, tenant, "김민지")
    set_up(session, tenant)
    presence.set_available(session, workspace_id=tenant.id, user_id=minji.id, available=False)
    waiting = write(session, an_inbox(session, tenant))

    online(session, tenant, minji)
    online(session, tenant, minji)

    assert state(session, tenant, minji) == (False, False)
    assert waiting.assignee_id is None


def test_quiet_agents_are_noticed_once_even_without_routing(
    session: Session, tenant: Tenant
) -> None:
    minji, jun = member(session, tenant, "김민지"), member(session, tenant, "박준")
    online(session, tenant, minji, ago=timedelta(minutes=7))
    online(session, tenant, jun)

    first = presence.notice_quiet(session, workspace_id=tenant.id)
    second = presence.notice_quiet(session, workspace_id=tenant.id)

    assert (first, second) == (1, 0)
    session.expire_all()
    assert [agent_row(session, tenant, u).present for u in (minji, jun)] == [False, True]  # type: ignore[union-attr]


def test_back_after_quiet_minutes_the_agent_takes_waiting_work(
    session: Session, tenant: Tenant
) -> None:
    minji = member(session, tenant, "김민지")
    online(session, tenant, minji, ago=timedelta(minutes=10))
    set_up(session, tenant, default_capacity=1)
    inbox = an_inbox(session, tenant)
    first, second = write(session, inbox), write(session, inbox)
    assert (first.assignee_id, second.assignee_id) == (None, None)

    online(session, tenant, minji)

    assert (first.assignee_id, second.assignee_id) == (minji.id, None)  # up to her capacity


def test_the_toggle_in_the_inbox_header(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    minji = member(session, tenant, "김민지")
    jun = member(session, tenant, "박준")
    online(session, tenant, jun)
    set_up(session, tenant)
    assert login(client, minji.email).status_code == 303
    page = get(client, "/inbox")
    assert agent_row(session, tenant, minji) is not None  # the page saw her
    assert state(session, tenant, minji) == (True, True)
    waiting = write(session, an_inbox(session, tenant))
    assert waiting.assignee_id == minji.id  # the one assigned longest ago (never)

    away = post(client, "/inbox/presence", {"available": "0", "next": "/inbox?view=mine"})
    after = get(client, "/inbox?view=mine")

    assert 'id="presence-state"' in page.text and "상담 가능" in text_of(page)
    assert (away.status_code, away.headers["location"]) == (303, "/inbox?view=mine")
    assert (
        "success",
        "자리 비움 상태입니다. 아직 답하지 않은 대화 1건을 다른 상담원에게 넘겼습니다.",
    ) in flashes(after)
    assert "상담 가능으로 바꾸기" in text_of(after)
    assert state(session, tenant, minji) == (False, False)
    session.refresh(waiting)
    assert waiting.assignee_id == jun.id
    back = post(client, "/inbox/presence", {"available": "1", "next": "https://evil.example/"})
    assert (back.status_code, back.headers["location"]) == (303, "/inbox")
    assert state(session, tenant, minji) == (True, True)


def test_a_viewer_has_no_toggle(client: TestClient, session: Session, tenant: Tenant) -> None:
    viewer = make_user(session, workspace=tenant.workspace, role="viewer", locale="ko")
    assert login(client, viewer.email).status_code == 303

    assert post(client, "/inbox/presence", {"available": "0"}).status_code == 403
    assert get(client, "/inbox").status_code == 403
    assert agent_row(session, tenant, viewer) is None


@pytest.mark.parametrize(
    ("locale", "label", "note"),
    [
        ("ko", "자동 배정", "배정: 김민지 (라운드 로빈)"),
        ("en", "Automatic assignment", "Assigned to 김민지 (round robin)"),
    ],
    ids=["korean", "english"],
)
def test_routing_notes_read_in_the_readers_language(
    client: TestClient, session: Session, tenant: Tenant, locale: str, label: str, note: str
) -> None:
    minji = member(session, tenant, "김민지")
    online(session, tenant, minji)
    set_up(session, tenant)
    conversation = write(session, an_inbox(session, tenant))
    reader = make_user(session, workspace=tenant.workspace, role="admin", locale=locale)
    accounts.set_user_locale(session, user=reader, locale=locale)
    assert login(client, reader.email).status_code == 303

    page = get(client, f"/inbox/{conversation.id}")

    text = text_of(page)
    assert page.status_code == 200
    assert label in text and note in text
    assert (locale == "ko") == ("배정: 김민지" in text)


def test_a_member_outside_the_workspace_has_no_presence(session: Session, tenant: Tenant) -> None:
    from cxloop.core.errors import NotFound

    other = Tenant(session)
    stranger = make_user(session, workspace=other.workspace, role="agent")

    with pytest.raises(NotFound):
        presence.set_available(
            session,
            workspace_id=tenant.id,
            user_id=stranger.id,
            available=False,
            principal=Principal(workspace_id=tenant.id, role="owner"),
        )
    assert presence.agents_of(session, workspace_id=tenant.id) == []


def test_the_minute_job_hands_on_and_assigns(database: Database) -> None:
    from cxloop.care.tasks import route_and_assign

    with database.session() as session:
        workspace = accounts.create_workspace(session, name="분 단위 작업", slug=unique("minute-"))
        principal = Principal(workspace_id=workspace.id, role="owner", label="test")
        people = []
        for name in ("김민지", "박준"):
            user = accounts.create_user(
                session, email=f"{unique('minute')}@example.com", password=PASSWORD
            )
            user.display_name = name
            accounts.add_member(session, workspace=workspace, user=user, role="agent")
            people.append(user.id)
        minji, jun = people
        presence.seen(
            session, workspace_id=workspace.id, user_id=minji, now=utcnow() - timedelta(minutes=4)
        )
        routing.set_routing(session, principal=principal, methods={"": "round_robin"})
        inbox = care.create_inbox(session, principal=principal, name="고객센터").inbox
        handed_on = write(session, inbox)
        assert handed_on.assignee_id == minji
        agent = session.scalar(
            select(CareAgent).where(
                CareAgent.workspace_id == workspace.id, CareAgent.user_id == minji
            )
        )
        assert agent is not None
        agent.last_seen_at = utcnow() - timedelta(minutes=6)  # quiet since
        presence.seen(session, workspace_id=workspace.id, user_id=jun)
        jun_row = session.scalar(
            select(CareAgent).where(
                CareAgent.workspace_id == workspace.id, CareAgent.user_id == jun
            )
        )
        assert jun_row is not None
        jun_row.capacity = 0  # no room yet
        conversation_id = handed_on.id

    route_and_assign.call_local()  # every workspace's sweep: only ours is looked at
    with database.session() as session:
        after_first = session.get(Conversation, conversation_id)
        assert after_first is not None and after_first.assignee_id is None  # back in the queue
        session.scalars(
            select(CareAgent).where(
                CareAgent.workspace_id == workspace.id, CareAgent.user_id == jun
            )
        ).one().capacity = None
    route_and_assign.call_local()

    with database.session() as session:
        after_second = session.get(Conversation, conversation_id)
        assert after_second is not None and after_second.assignee_id == jun
