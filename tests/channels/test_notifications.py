"""Notifications of the closed loop: a new follow-up tells its team at once (in-app and by email
in each member's language), an empty team falls back to the owners and admins, assigning tells
the assignee, the overdue job tells once, retries never notify twice, and the email really
arrives over SMTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.i18n import catalog
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.feedback.followups import service as followup_service
from cxloop.models import FollowUp, Notification, OutboundMessage, User
from cxloop.notifications import service as notifications
from tests.factories import Tenant, make_user, make_workspace
from tests.helpers.smtp import SmtpInbox
from tests.helpers.surveys import create, go_live, submit


def in_team(
    session: Session, tenant: Tenant, *teams: str, role: str = "agent", locale: str = "en"
) -> User:
    user = make_user(session, workspace=tenant.workspace, role=role, locale=locale)
    accounts.set_member_teams(session, workspace_id=tenant.id, user_id=user.id, teams=list(teams))
    return user


def notices_of(session: Session, user: User) -> list[Notification]:
    session.expire_all()
    return list(
        session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    )


def mails_to(session: Session, user: User) -> list[OutboundMessage]:
    return list(
        session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.user_id == user.id)
            .order_by(OutboundMessage.id)
        )
    )


def detractor(client: TestClient, tenant: Tenant, *, team: str = "delivery") -> int:
    """A live NPS survey owned by ``team`` and one detractor answer; the follow-up's id."""
    survey = create(client, tenant, owner_team=team)
    go_live(client, tenant, survey["id"])
    reply = submit(client, tenant, survey["id"], answers={"nps": 2, "why_low": "delivery"})
    assert reply.status_code == 201, reply.text
    items = client.get("/api/v1/follow-ups", headers=tenant.api).json()["items"]
    return int(items[0]["id"])


# --- fan-out -----------------------------------------------------------------------------------


def test_a_new_follow_up_notifies_each_member_of_its_team_in_their_language(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    minji = in_team(session, tenant, "delivery", "cs", locale="ko")
    sam = in_team(session, tenant, "delivery", locale="en")
    outsider = in_team(session, tenant, "cs")
    session.commit()

    follow_up_id = detractor(client, tenant)

    for user in (minji, sam):
        [notice] = notices_of(session, user)
        assert (notice.kind, notice.link) == ("followup_new", f"/follow-ups/{follow_up_id}")
        assert notice.params == {
            "id": follow_up_id,
            "reason": "NPS 2 (detractor)",
            "scores": [["nps", 2]],
            "team": "delivery",
            "survey": "구매 후 설문",
        }
    assert notices_of(session, outsider) == []
    [korean] = mails_to(session, minji)
    [english] = mails_to(session, sam)
    assert korean.subject == f"[cxloop] 새 후속 조치 #{follow_up_id}: NPS 2점 · 비추천 고객"
    assert english.subject == f"[cxloop] New follow-up #{follow_up_id}: NPS 2 · detractor"
    assert (korean.recipient, korean.purpose) == (minji.email, "service")
    assert f"http://127.0.0.1:8000/follow-ups/{follow_up_id}" in english.body_text
    assert english.dedupe_key == f"notify:followup_new:followup_new:{follow_up_id}:{sam.id}"


def test_a_team_without_members_falls_back_to_owners_and_admins(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    owner = make_user(session, workspace=tenant.workspace, role="owner")
    admin = make_user(session, workspace=tenant.workspace, role="admin")
    agent = in_team(session, tenant, "cs")
    session.commit()

    detractor(client, tenant, team="nobody-here")

    assert [n.kind for n in notices_of(session, owner)] == ["followup_new"]
    assert [n.kind for n in notices_of(session, admin)] == ["followup_new"]
    assert notices_of(session, agent) == []


def test_notify_twice_with_one_key_writes_one_notice_and_one_email(
    session: Session, tenant: Tenant
) -> None:
    member = in_team(session, tenant, "cs")
    params: dict[str, Any] = {"id": 7, "reason": "NPS 1", "team": "cs", "survey": "S"}

    first = notifications.notify(
        session,
        workspace_id=tenant.id,
        team="cs",
        kind="followup_new",
        params=params,
        link="/follow-ups/7",
        dedupe_key="test:7",
    )
    again = notifications.notify(
        session,
        workspace_id=tenant.id,
        team="cs",
        kind="followup_new",
        params=params,
        link="/follow-ups/7",
        dedupe_key="test:7",
    )

    assert [n.user_id for n in first] == [member.id]
    assert again == []
    assert len(notices_of(session, member)) == 1
    assert len(mails_to(session, member)) == 1


def test_another_workspaces_team_is_not_notified(session: Session, tenant: Tenant) -> None:
    other = Tenant(session)
    stranger = in_team(session, other, "cs")
    mine = in_team(session, tenant, "cs")

    notifications.notify(
        session,
        workspace_id=tenant.id,
        team="cs",
        kind="followup_new",
        params={},
        link="/follow-ups/1",
        dedupe_key="test:iso",
    )

    assert len(notices_of(session, mine)) == 1
    assert notices_of(session, stranger) == []


def test_every_notice_kind_has_a_title_and_body_in_both_languages() -> None:
    messages = catalog()
    for kind in notifications.NOTICE_KINDS:
        for part in ("title", "body"):
            texts = messages[f"loop.notice.{kind}.{part}"]
            assert texts["ko"] and texts["en"], (kind, part)


# --- assignment and overdue --------------------------------------------------------------------


def test_assigning_notifies_the_assignee_once(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    assignee = in_team(session, tenant, "other-team")
    session.commit()
    follow_up_id = detractor(client, tenant, team="delivery")

    for _ in range(2):
        reply = client.patch(
            f"/api/v1/follow-ups/{follow_up_id}",
            json={"assignee_id": assignee.id},
            headers=tenant.api,
        )
        assert reply.status_code == 200, reply.text

    assigned = [n for n in notices_of(session, assignee) if n.kind == "followup_assigned"]
    assert [n.link for n in assigned] == [f"/follow-ups/{follow_up_id}"]
    assert len([m for m in mails_to(session, assignee) if "assigned" in m.subject]) == 1


def test_assigning_yourself_sends_no_notice(
    session: Session, tenant: Tenant, client: TestClient
) -> None:
    me = in_team(session, tenant, "x")
    session.commit()
    follow_up_id = detractor(client, tenant, team="delivery")
    follow_up = followup_service.get_follow_up(
        session, workspace_id=tenant.id, follow_up_id=follow_up_id
    )

    followup_service.update_follow_up(
        session, follow_up=follow_up, assignee_id=me.id, actor_id=me.id
    )

    assert notices_of(session, me) == []


def test_the_overdue_job_tells_the_assignee_once(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    team_member = in_team(session, tenant, "delivery")
    assignee = in_team(session, tenant, "other")
    session.commit()
    follow_up_id = detractor(client, tenant)
    follow_up = followup_service.get_follow_up(
        session, workspace_id=tenant.id, follow_up_id=follow_up_id
    )
    followup_service.update_follow_up(
        session, follow_up=follow_up, assignee_id=assignee.id, due_at=utcnow() - timedelta(hours=1)
    )

    first = followup_service.notify_overdue_follow_ups(session)
    second = followup_service.notify_overdue_follow_ups(session)

    assert first >= 1 and second == 0
    overdue = [n for n in notices_of(session, assignee) if n.kind == "followup_overdue"]
    assert len(overdue) == 1
    assert [n.kind for n in notices_of(session, team_member)] == ["followup_new"]


def test_the_overdue_job_skips_closed_and_long_overdue_follow_ups(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    member = in_team(session, tenant, "delivery")
    session.commit()
    survey = create(client, tenant, owner_team="delivery")
    go_live(client, tenant, survey["id"])
    for score in (1, 2):
        reply = submit(client, tenant, survey["id"], answers={"nps": score, "why_low": "price"})
        assert reply.status_code == 201, reply.text
    done, ancient = session.scalars(
        select(FollowUp).where(FollowUp.workspace_id == tenant.id).order_by(FollowUp.id)
    ).all()
    followup_service.update_follow_up(
        session, follow_up=done, status="done", due_at=utcnow() - timedelta(hours=2)
    )
    followup_service.update_follow_up(
        session, follow_up=ancient, due_at=utcnow() - timedelta(days=30)
    )

    assert followup_service.notify_overdue_follow_ups(session) == 0
    assert [n.kind for n in notices_of(session, member)] == ["followup_new", "followup_new"]


# --- the member's side -------------------------------------------------------------------------


def test_unread_count_and_mark_read_are_per_member(session: Session, tenant: Tenant) -> None:
    a = in_team(session, tenant, "cs")
    b = in_team(session, tenant, "cs")
    for i in range(3):
        notifications.notify(
            session,
            workspace_id=tenant.id,
            team="cs",
            kind="followup_new",
            params={"id": i},
            link="/follow-ups",
            dedupe_key=f"t:{i}",
            email=False,
        )
    first = notices_of(session, a)[0]

    notifications.mark_read(session, workspace_id=tenant.id, user_id=a.id, notification_id=first.id)

    assert notifications.unread_count(session, workspace_id=tenant.id, user_id=a.id) == 2
    assert notifications.unread_count(session, workspace_id=tenant.id, user_id=b.id) == 3
    with pytest.raises(Exception, match="No notification"):
        notifications.mark_read(
            session, workspace_id=tenant.id, user_id=b.id, notification_id=first.id
        )
    assert notifications.mark_all_read(session, workspace_id=tenant.id, user_id=a.id) == 2
    assert notifications.unread_count(session, workspace_id=tenant.id, user_id=a.id) == 0
    page, cursor = notifications.list_notifications(
        session, workspace_id=tenant.id, user_id=b.id, limit=2
    )
    assert len(page) == 2 and cursor is not None
    rest, end = notifications.list_notifications(
        session, workspace_id=tenant.id, user_id=b.id, limit=2, cursor=cursor
    )
    assert len(rest) == 1 and end is None
    assert {n.id for n in page} | {n.id for n in rest} == {n.id for n in notices_of(session, b)}


# --- delivery ----------------------------------------------------------------------------------


def test_the_team_email_is_delivered_over_smtp(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    inbox: SmtpInbox,
) -> None:
    member = in_team(session, tenant, "delivery", locale="ko")
    session.commit()
    follow_up_id = detractor(client, tenant)

    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))

    [received] = inbox.to(member.email)
    assert received["Subject"] == f"[cxloop] 새 후속 조치 #{follow_up_id}: NPS 2점 · 비추천 고객"
    plain = received.get_body(preferencelist=("plain",))
    assert plain is not None
    text = plain.get_content()
    assert (
        "'구매 후 설문' 설문에 불만족 응답이 들어와 delivery 팀의 후속 조치가 열렸습니다." in text
    )
    assert f"/follow-ups/{follow_up_id}" in text
    sent = session.scalar(
        select(func.count())
        .select_from(OutboundMessage)
        .where(OutboundMessage.user_id == member.id, OutboundMessage.status == "sent")
    )
    assert sent == 1


def test_notices_to_a_team_are_written_once_each_and_a_clash_is_left_out(
    session: Session,
) -> None:
    workspace = make_workspace(session)
    members = [make_user(session, workspace=workspace, role="agent").id for _ in range(3)]
    params = {"id": 7, "subject": "환불 <문의>", "team": "support"}
    notifications.notify_in_app(
        session,
        workspace_id=workspace.id,
        kind="care_new_conversation",
        params=params,
        link="/inbox/7",
        dedupe_key="care-new:7",
        user_ids=members[:1],
    )
    # a batch names a member twice and one already told: each is told once
    notifications.notify_new_in_app(
        session,
        [
            notifications.NewNotice(
                workspace.id,
                "care_new_conversation",
                params,
                "/inbox/7",
                "care-new:7",
                [*members, members[1]],
            ),
            notifications.NewNotice(
                workspace.id, "care_new_conversation", params, "/inbox/8", "care-new:8", []
            ),
        ],
    )
    told = session.execute(
        select(Notification.user_id, Notification.dedupe_key, Notification.params)
        .where(Notification.workspace_id == workspace.id)
        .order_by(Notification.user_id)
    ).all()
    assert [(row.user_id, row.dedupe_key) for row in told] == [
        (member, "care-new:7") for member in sorted(members)
    ]
    assert all(row.params == params for row in told)
