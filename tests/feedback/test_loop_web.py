"""The closed-loop pages through HTTP: the follow-up board and one follow-up, notifications and
the bell, improvements from record to announcement, member teams in settings; Korean and
English, roles, workspace isolation and escaping."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.feedback.followups import service as followup_service
from cxloop.models import FollowUp, Membership, OutboundMessage, User
from tests.factories import Tenant, make_customer, make_user
from tests.helpers.surveys import create, go_live, submit
from tests.helpers.web import get, login, post, text_of


def signed_in(client: TestClient, session: Session, tenant: Tenant, **kw: Any) -> User:
    user = make_user(session, workspace=tenant.workspace, **kw)
    session.commit()
    assert login(client, user.email).status_code == 303
    return user


def detractor(
    client: TestClient, session: Session, tenant: Tenant, comment: str = "배송이 너무 늦어요"
) -> tuple[int, int]:
    """A detractor answer by a named customer; (follow-up id, customer id)."""
    customer = make_customer(session, workspace=tenant.workspace, email="minji@example.com")
    customer.display_name = "김민지"
    session.commit()
    survey = create(client, tenant, owner_team="delivery")
    go_live(client, tenant, survey["id"])
    reply = submit(
        client,
        tenant,
        survey["id"],
        answers={"nps": 3, "why_low": "delivery", "comment": comment[:20]},
        customer_id=customer.id,
    )
    assert reply.status_code == 201, reply.text
    follow_up_id = client.get("/api/v1/follow-ups", headers=tenant.api).json()["items"][0]["id"]
    return int(follow_up_id), customer.id


def bell(html: str) -> int:
    match = re.search(r'class="bell-count" data-unread="(\d+)"', html)
    assert match, "no bell on the page"
    return int(match.group(1))


# --- the board ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "title", "overdue_word", "status_word", "reason"),
    [
        pytest.param("ko", "후속 조치", "기한 지남", "열림", "NPS 3점 · 비추천 고객", id="ko"),
        pytest.param("en", "Follow-ups", "Overdue", "Open", "NPS 3 · detractor", id="en"),
    ],
)
def test_the_board_shows_each_card_in_the_users_language(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    locale: str,
    title: str,
    overdue_word: str,
    status_word: str,
    reason: str,
) -> None:
    signed_in(client, session, tenant, role="agent", locale=locale)
    follow_up_id, customer_id = detractor(client, session, tenant)
    follow_up = session.get(FollowUp, follow_up_id)
    assert follow_up is not None
    follow_up.due_at = utcnow() - timedelta(hours=3)
    session.commit()

    page = get(client, "/follow-ups")

    assert page.status_code == 200
    assert f"<h1>{title}</h1>" in page.text
    card = page.text.split(f'id="follow-up-{follow_up_id}"', 1)[1].split("</li>", 1)[0]
    assert f"#{follow_up_id} · {reason}</a>" in card
    assert "(detractor)" not in card or locale == "en"
    assert "배송이 너무 늦어요" in card
    assert f'href="/customers/{customer_id}">김민지</a>' in card
    assert overdue_word in card
    assert status_word in card
    assert "fu-card overdue" in page.text


def test_filters_mine_team_and_overdue(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    me = signed_in(client, session, tenant, role="agent")
    follow_up_id, _ = detractor(client, session, tenant)

    assert f"follow-up-{follow_up_id}" not in get(client, "/follow-ups?mine=1").text
    assert f"follow-up-{follow_up_id}" in get(client, "/follow-ups?team=delivery").text
    assert f"follow-up-{follow_up_id}" not in get(client, "/follow-ups?team=cs").text
    assert f"follow-up-{follow_up_id}" not in get(client, "/follow-ups?overdue=1").text
    post(client, f"/follow-ups/{follow_up_id}", {"assignee": str(me.id), "next": "/follow-ups"})
    assert f"follow-up-{follow_up_id}" in get(client, "/follow-ups?mine=1").text


def test_working_a_follow_up_from_its_page(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    me = signed_in(client, session, tenant, role="agent", locale="en")
    follow_up_id, _ = detractor(client, session, tenant)

    reply = post(
        client,
        f"/follow-ups/{follow_up_id}",
        {"status": "done", "assignee": str(me.id), "note": "전화로 사과드림"},
    )

    assert reply.status_code == 303
    assert reply.headers["location"] == f"/follow-ups/{follow_up_id}"
    page = get(client, reply.headers["location"])
    assert f"Saved follow-up #{follow_up_id}." in page.text
    # the customer can be called back from the page
    assert '<a href="mailto:minji@example.com">minji@example.com</a>' in page.text
    assert 'id="follow-up-reason">NPS 3 · detractor</p>' in page.text
    assert "전화로 사과드림" in page.text
    session.expire_all()
    stored = session.get(FollowUp, follow_up_id)
    assert stored is not None
    assert (stored.status, stored.assignee_id, stored.note) == ("done", me.id, "전화로 사과드림")
    assert stored.closed_at is not None
    # the done tab has it, the open tab no longer does
    assert f"follow-up-{follow_up_id}" in get(client, "/follow-ups?status=done").text
    assert f"follow-up-{follow_up_id}" not in get(client, "/follow-ups").text


def test_bad_follow_up_input_is_a_message_not_a_500(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    signed_in(client, session, tenant, role="agent", locale="en")
    follow_up_id, _ = detractor(client, session, tenant)

    for data in ({"status": "bogus"}, {"assignee": "999999"}, {"assignee": "abc"}):
        reply = post(client, f"/follow-ups/{follow_up_id}", data)
        assert reply.status_code == 303
        assert 'class="flash error"' in get(client, reply.headers["location"]).text
    assert get(client, "/follow-ups/99999999").status_code == 404
    assert get(client, "/follow-ups?cursor=garbage").status_code == 422


def test_a_viewer_reads_the_board_but_cannot_change_it(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    signed_in(client, session, tenant, role="viewer")
    follow_up_id, _ = detractor(client, session, tenant)

    page = get(client, f"/follow-ups/{follow_up_id}")
    assert page.status_code == 200
    assert 'name="status"' not in page.text
    assert post(client, f"/follow-ups/{follow_up_id}", {"status": "done"}).status_code == 403


def test_another_workspaces_follow_up_is_not_found(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    other = Tenant(session)
    session.commit()
    follow_up_id, _ = detractor(client, session, other)
    signed_in(client, session, tenant, role="owner")

    assert get(client, f"/follow-ups/{follow_up_id}").status_code == 404
    assert post(client, f"/follow-ups/{follow_up_id}", {"status": "done"}).status_code == 404
    assert f"follow-up-{follow_up_id}" not in get(client, "/follow-ups?status=all").text


def test_comments_are_escaped(client: TestClient, session: Session, tenant: Tenant) -> None:
    signed_in(client, session, tenant, role="agent")
    follow_up_id, _ = detractor(client, session, tenant, comment="<script>x</script>")

    page = get(client, f"/follow-ups/{follow_up_id}")

    assert "<script>x</script>" not in page.text
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text


# --- notifications -----------------------------------------------------------------------------


def test_the_bell_counts_new_follow_ups_and_reading_clears_it(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    me = signed_in(client, session, tenant, role="agent", locale="ko")
    membership = session.scalar(select(Membership).where(Membership.user_id == me.id))
    assert membership is not None
    membership.teams = ["delivery"]
    session.commit()
    assert bell(get(client, "/customers").text) == 0

    follow_up_id, _ = detractor(client, session, tenant)

    page = get(client, "/notifications")
    assert bell(page.text) == 1
    assert f"새 후속 조치 #{follow_up_id}: NPS 3점 · 비추천 고객" in page.text
    notice_id = re.search(r'id="notice-(\d+)"', page.text)
    assert notice_id
    opened = get(client, f"/notifications/{notice_id.group(1)}")
    assert opened.status_code == 200  # followed the redirect to the follow-up
    assert str(opened.url).endswith(f"/follow-ups/{follow_up_id}")
    assert bell(opened.text) == 0


def test_mark_all_read_and_pages(client: TestClient, session: Session, tenant: Tenant) -> None:
    from cxloop.notifications import service as notifications

    me = signed_in(client, session, tenant, role="agent", locale="en")
    for i in range(35):
        notifications.notify(
            session,
            workspace_id=tenant.id,
            user_ids=[me.id],
            kind="followup_overdue",
            params={"id": i, "reason": "NPS 1", "team": "cs", "survey": "S"},
            link=f"/follow-ups/{i}",
            dedupe_key=f"page:{i}",
            email=False,
        )
    session.commit()

    first = get(client, "/notifications")
    assert bell(first.text) == 35
    assert first.text.count('class="notice-item unread"') == 30
    assert 'rel="next"' in first.text
    reply = post(client, "/notifications/read-all")
    assert reply.status_code == 303
    page = get(client, "/notifications")
    assert "Marked 35 notifications read." in page.text
    assert bell(page.text) == 0
    assert "Follow-up #34 is overdue" in page.text


def test_someone_elses_notice_is_not_found(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    from cxloop.notifications import service as notifications

    other = make_user(session, workspace=tenant.workspace, role="agent")
    [notice] = notifications.notify(
        session,
        workspace_id=tenant.id,
        user_ids=[other.id],
        kind="followup_new",
        params={},
        link="/follow-ups",
        dedupe_key="x",
        email=False,
    )
    signed_in(client, session, tenant, role="owner")

    assert get(client, f"/notifications/{notice.id}").status_code == 404
    assert post(client, f"/notifications/{notice.id}/read").status_code == 404


# --- improvements ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "heading", "matching"),
    [
        pytest.param("ko", "개선 사항", "조건에 맞는 응답 1건", id="ko"),
        pytest.param("en", "Improvements", "1 matching responses", id="en"),
    ],
)
def test_record_link_by_filter_and_announce_an_improvement(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    locale: str,
    heading: str,
    matching: str,
) -> None:
    signed_in(client, session, tenant, role="marketer", locale=locale)
    _follow_up, customer_id = detractor(client, session, tenant)
    assert f"<h1>{heading}</h1>" in get(client, "/improvements").text

    created = post(
        client,
        "/improvements",
        {
            "title_ko": "당일 배송 시작",
            "title_en": "Same-day delivery",
            "body_ko": "빨라졌어요",
            "body_en": "It is faster",
        },
    )
    assert created.status_code == 303
    path = created.headers["location"]
    found = get(client, f"{path}?metric=nps&score_max=6&words=늦어요")
    assert matching in found.text
    assert "배송이 너무 늦어요" in found.text
    linked = post(
        client, f"{path}/link-filter", {"metric": "nps", "score_max": "6", "words": "늦어요"}
    )
    assert linked.status_code == 303
    # the page says, in words, which filter linked the responses
    criteria = get(client, path).text.split('class="criteria"')[1].split("</dd>")[0]
    shown = {
        "ko": ("점수 종류: NPS", "최고 점수: 6", "의견에 포함된 단어: 늦어요"),
        "en": ("Score: NPS", "Highest score: 6", "Words in the comment: 늦어요"),
    }[locale]
    assert all(part in criteria for part in shown)
    confirm = get(client, f"{path}/announce")
    assert 'id="plan-email"' in confirm.text
    assert "김민지" in confirm.text
    assert (":" + " 1") in confirm.text.split('id="plan-email"')[1].split("</li>")[0]
    done = post(client, f"{path}/announce")
    assert done.status_code == 303
    page = get(client, path)
    assert "email" in page.text.lower() or "이메일" in page.text
    assert f'<a href="/customers/{customer_id}">김민지</a>' in page.text
    [mail] = session.scalars(
        select(OutboundMessage).where(OutboundMessage.customer_id == customer_id)
    ).all()
    assert mail.subject == "당일 배송 시작"  # the customer answered in Korean


def test_an_improvement_form_with_mistakes_is_shown_again(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    signed_in(client, session, tenant, role="agent", locale="en")

    reply = post(client, "/improvements", {"title_ko": "", "title_en": "", "body_en": "b"})

    assert reply.status_code == 422
    assert 'value="b"' not in reply.text  # body is a textarea
    assert ">b</textarea>" in reply.text
    # the mistake after its field's label, in the user's language
    assert "Title (Korean): Give a title in Korean or English." in text_of(reply)


def test_a_viewer_cannot_record_or_announce(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    signed_in(client, session, tenant, role="viewer")

    assert get(client, "/improvements").status_code == 200
    assert get(client, "/improvements/new").status_code == 403
    assert post(client, "/improvements", {"title_en": "x", "body_en": "y"}).status_code == 403


# --- teams in settings -------------------------------------------------------------------------


def test_an_admin_puts_a_member_in_teams(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    signed_in(client, session, tenant, role="admin", locale="en")
    member = make_user(session, workspace=tenant.workspace, role="agent")
    session.commit()

    reply = post(client, f"/settings/members/{member.id}/teams", {"teams": "CS, delivery cs"})
    bad = post(client, f"/settings/members/{member.id}/teams", {"teams": "no!good"})

    assert reply.status_code == 303 and bad.status_code == 303
    session.expire_all()
    membership = session.scalar(select(Membership).where(Membership.user_id == member.id))
    assert membership is not None and membership.teams == ["cs", "delivery"]
    page = get(client, "/settings/members")
    assert 'name="team" value="cs" checked' in page.text
    assert 'name="team" value="delivery" checked' in page.text
    # Unticking a team and typing a new one: the member is in the ticked and the new.
    post(client, f"/settings/members/{member.id}/teams", {"team": ["cs"], "teams": "returns"})
    session.expire_all()
    membership = session.scalar(select(Membership).where(Membership.user_id == member.id))
    assert membership is not None and membership.teams == ["cs", "returns"]
    api = client.patch(f"/api/v1/members/{member.id}", json={"teams": ["qa"]}, headers=tenant.api)
    assert api.status_code == 200, api.text
    assert (api.json()["teams"], api.json()["role"]) == (["qa"], "agent")
    assert followup_service.DEFAULT_FOLLOW_UP_TEAM == "cx"
