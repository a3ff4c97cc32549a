"""The help bot's settings page through the web client: an admin sees the published articles
per language, changes the threshold and the categories left to people (audited; a bad threshold
is refused beside the form), and asks the test console, which shows the bot's decision with its
article, passage, confidence and runners-up without storing anything; agents are refused."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.help.settings import bot_settings
from cxloop.models import AuditEntry, HelpBotSettings, User
from tests.factories import Tenant, make_user
from tests.help import test_knowledge_base
from tests.helpers.web import flashes, get, login, post, text_of

shop_kb = test_knowledge_base.shop_kb  # the demo shop's 30 articles, imported by the API


@pytest.fixture
def admin(client: TestClient, session: Session, shop_kb: Tenant) -> User:
    user = make_user(session, workspace=shop_kb.workspace, role="admin", locale="ko")
    session.flush()
    assert login(client, user.email).status_code == 303
    return user


def ticked(page: str) -> list[str]:
    """The categories ticked on the form."""
    return re.findall(r'name="people_categories" value="([^"]+)" checked', page)


def test_the_page_shows_the_knowledge_base_and_the_current_settings(
    client: TestClient, shop_kb: Tenant, admin: User
) -> None:
    page = get(client, "/settings/bot")

    assert page.status_code == 200
    text = text_of(page)
    assert "공개된 한국어 도움말 30" in text and "공개된 영어 도움말 30" in text
    assert f'href="/help/{shop_kb.workspace.slug}" id="help-centre-link"' in page.text
    assert 'name="threshold" value="60"' in page.text
    offered = re.findall(r'name="people_categories" value="([^"]+)"', page.text)
    assert offered == [
        "account",
        "delivery",
        "general",
        "orders",
        "payments",
        "points",
        "products",
        "returns",
    ]
    assert ticked(page.text) == []
    assert '<a href="/settings/bot" aria-current="page">도움말 봇</a>' in page.text


def test_an_admin_changes_the_threshold_and_the_categories_and_it_is_audited(
    client: TestClient, session: Session, shop_kb: Tenant, admin: User
) -> None:
    saved = post(
        client,
        "/settings/bot",
        {"threshold": "62.5", "people_categories": ["payments", "returns"]},  # type: ignore[dict-item]
    )
    page = get(client, "/settings/bot")

    assert saved.status_code == 303 and saved.headers["location"] == "/settings/bot"
    assert flashes(page) == [("success", "도움말 봇 설정을 저장했습니다.")]
    assert 'name="threshold" value="62.5"' in page.text
    assert ticked(page.text) == ["payments", "returns"]
    current = bot_settings(session, workspace_id=shop_kb.id)
    assert (current.threshold, current.people_categories) == (0.625, ("payments", "returns"))
    entry = session.scalars(
        select(AuditEntry).where(
            AuditEntry.workspace_id == shop_kb.id, AuditEntry.action == "help.bot_settings"
        )
    ).one()
    assert (entry.actor_user_id, entry.target_type, entry.target_id) == (
        admin.id,
        "workspace",
        str(shop_kb.id),
    )
    assert entry.detail == {
        "threshold": 0.625,
        "people_categories": ["payments", "returns"],
        "tone": "haeyo",
        "category_teams": {},
    }


@pytest.mark.parametrize(
    "threshold",
    [
        pytest.param("abc", id="not-a-number"),
        pytest.param("", id="empty"),
        pytest.param("4", id="under-5-percent"),
        pytest.param("96", id="over-95-percent"),
        pytest.param("NaN", id="nan"),
        pytest.param("1e400", id="huge"),
    ],
)
def test_a_bad_threshold_is_refused_beside_the_form(
    client: TestClient, session: Session, shop_kb: Tenant, admin: User, threshold: str
) -> None:
    refused = post(
        client, "/settings/bot", {"threshold": threshold, "people_categories": "payments"}
    )

    assert refused.status_code == 422
    error = re.search(
        r'<div class="flash error" role="alert" id="bot-error">(.*?)</div>', refused.text
    )
    assert error and error.group(1) == "확신도는 5에서 95 사이의 숫자(%)로 입력해 주세요."
    assert ticked(refused.text) == ["payments"]  # the form keeps what was typed
    assert session.scalar(select(func.count()).select_from(HelpBotSettings)) == 0
    assert session.scalar(select(func.count()).where(AuditEntry.action == "help.bot_settings")) == 0


def test_too_many_categories_are_refused_in_the_users_language(
    client: TestClient, shop_kb: Tenant, admin: User
) -> None:
    many = [f"topic-{n}" for n in range(60)]

    refused = post(client, "/settings/bot", {"threshold": "55", "people_categories": many})  # type: ignore[dict-item]

    assert refused.status_code == 422
    assert "상담원에게 남길 분류는 50개까지, 각각 64자 이내로 고를 수 있습니다." in text_of(refused)


def test_agents_cannot_open_the_page_or_use_it(
    client: TestClient, session: Session, shop_kb: Tenant
) -> None:
    agent = make_user(session, workspace=shop_kb.workspace, role="agent")
    assert login(client, agent.email).status_code == 303

    assert get(client, "/settings/bot").status_code == 403
    assert post(client, "/settings/bot", {"threshold": "60"}).status_code == 403
    assert post(client, "/settings/bot/ask", {"question": "비밀번호"}).status_code == 403
    assert "/settings/bot" not in get(client, "/settings/canned-replies").text


def ask(client: TestClient, question: str, **extra: str) -> Response:
    response = post(client, "/settings/bot/ask", {"question": question, **extra})
    assert response.status_code == 200, response.text
    return response


def audit_entries(session: Session, tenant: Tenant) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.workspace_id == tenant.id)
        )
        or 0
    )


def test_the_console_answers_the_password_question_with_its_article(
    client: TestClient, session: Session, shop_kb: Tenant, admin: User
) -> None:
    before = audit_entries(session, shop_kb)

    page = ask(client, "비밀번호를 잊어버렸어요")

    result = page.text.split('id="console-result"', 1)[1]
    assert re.search(r'id="decision">답변<', result)
    assert re.search(r'data-reason="answered">도움말로 답했습니다\.<', result)
    slug = shop_kb.workspace.slug
    assert (
        f'<a href="/help/{slug}/articles/shop-reset-password">비밀번호를 잊어버렸어요</a>' in result
    )
    # the passage as sanitised Markdown: its link and bold kept, nothing else
    assert '<a href="/login">로그인</a> 화면의 <strong>비밀번호 찾기</strong>' in result
    confidence = re.search(r'data-confidence="([\d.]+)">([\d.]+)%<', result)
    assert confidence and float(confidence.group(1)) >= 0.6
    assert confidence.group(2) == f"{float(confidence.group(1)) * 100:.1f}".removesuffix(".0")
    assert 'id="runners-up"' in result
    assert "비밀번호를 잊어버렸어요</textarea>" in page.text  # the question stays in the box
    assert audit_entries(session, shop_kb) == before  # nothing of it was written


def test_the_console_answers_in_the_language_chosen(
    client: TestClient, shop_kb: Tenant, admin: User
) -> None:
    page = ask(client, "비밀번호를 잊어버렸어요", locale="en")

    assert ">I forgot my password</a>" in page.text
    assert '<option value="en" selected>' in page.text


def test_the_console_shows_a_request_for_a_person_handed_over(
    client: TestClient, shop_kb: Tenant, admin: User
) -> None:
    page = ask(client, "상담원 연결해주세요")

    result = text_of(page).split("봇의 결정", 1)[1]
    assert result.startswith(" 상담원 연결 고객이 상담원을 찾았습니다.")
    assert 'data-reason="asked_for_person"' in page.text


def test_the_console_shows_a_topic_kept_for_people_handed_over(
    client: TestClient, shop_kb: Tenant, admin: User
) -> None:
    assert (
        post(
            client, "/settings/bot", {"threshold": "55", "people_categories": "account"}
        ).status_code
        == 303
    )

    page = ask(client, "비밀번호를 잊어버렸어요")

    assert 'data-reason="people_topic">상담원이 답하도록 정한 주제입니다.<' in page.text
    assert "답했다면 보냈을 내용 (보내지 않음)" in text_of(page)


def test_a_hostile_question_is_shown_escaped(
    client: TestClient, shop_kb: Tenant, admin: User
) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'

    page = ask(client, hostile)

    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert f">{escaped}</textarea>" in page.text
    assert 'id="decision"' in page.text


def test_a_question_over_20000_characters_is_refused_beside_the_console(
    client: TestClient, shop_kb: Tenant, admin: User
) -> None:
    refused = post(client, "/settings/bot/ask", {"question": "배송" * 10_001})

    assert refused.status_code == 422
    assert "질문은 20,000자까지 입력할 수 있습니다." in text_of(refused)
    assert 'id="console-result"' not in refused.text


def test_an_admin_lets_the_bot_answer_first_in_an_inbox_with_its_tone_and_teams(
    client: TestClient, session: Session, shop_kb: Tenant, admin: User
) -> None:
    from cxloop.care import service as care
    from cxloop.models import CareInbox

    principal = Principal(workspace_id=shop_kb.id, role="admin", user_id=admin.id, label="a")
    chat = care.create_inbox(session, principal=principal, name="웹 채팅", channel="chat").inbox
    mail = care.create_inbox(session, principal=principal, name="지원 메일", channel="email").inbox
    care.create_inbox(session, principal=principal, name="리뷰", channel="review")
    session.flush()
    page = get(client, "/settings/bot")
    offered = re.findall(r'name="inboxes" value="(\d+)"', page.text)
    assert offered == [str(chat.id), str(mail.id)]  # a review inbox has no way to answer

    saved = post(
        client,
        "/settings/bot",
        {
            "threshold": "55",
            "inboxes": [str(chat.id)],
            "tone": "hamnida",
            "greeting": "어서 오십시오.",
            "team:payments": " 결제팀 ",
            "team:delivery": "",
        },  # type: ignore[dict-item]
    )
    assert saved.status_code == 303
    current = bot_settings(session, workspace_id=shop_kb.id)
    assert (current.tone, current.greeting, current.category_teams) == (
        "hamnida",
        "어서 오십시오.",
        {"payments": "결제팀"},
    )
    flags = dict(session.execute(select(CareInbox.id, CareInbox.bot_answers_first)).all())
    assert flags[chat.id] is True and flags[mail.id] is False
    page = get(client, "/settings/bot")
    assert f'name="inboxes" value="{chat.id}" checked' in page.text
    assert 'name="team:payments" value="결제팀"' in page.text

    refused = post(
        client, "/settings/bot", {"threshold": "55", "greeting": "안녕" * 300, "inboxes": "99999"}
    )
    assert refused.status_code == 422
    assert "첫인사는 500자까지" in text_of(refused)
    assert bot_settings(session, workspace_id=shop_kb.id).greeting == "어서 오십시오."
