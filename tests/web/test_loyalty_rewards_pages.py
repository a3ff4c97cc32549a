"""The rewards and the badges-and-challenges settings pages through the web client: a reward made,
given codes from the textarea and from a file, archived after confirming; refusals in words;
goals saved and a challenge without dates refused; a viewer reads but cannot change."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.models import AuditEntry, LoyaltyGoal, Reward
from tests.factories import Tenant
from tests.helpers.web import flashes, get, post, session_token, text_of
from tests.loyalty.test_earning import PROGRAM
from tests.web.test_loyalty_pages import cells, sign_in

REWARDS = "/settings/loyalty/rewards"
GOALS = "/settings/loyalty/goals"

COFFEE = {
    "key": "coffee",
    "name_ko": "아메리카노 <쿠폰>",
    "name_en": "Americano",
    "description": "매장에서 쓰는 음료 쿠폰",
    "kind": "coupon",
    "value": "4500",
    "cost": "1500",
    "point_type": "points",
    "stock": "10",
    "min_tier": "silver",
    "code_source": "pool",
    "code_prefix": "",
    "active": "1",
    "starts_at": "",
    "ends_at": "",
}


@pytest.fixture
def program(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    answer = client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    assert answer.status_code == 200, answer.text
    return answer.json()


def reward_of(session: Session, tenant: Tenant, key: str) -> Reward:
    session.expire_all()
    query = select(Reward).where(Reward.workspace_id == tenant.id, Reward.key == key)
    found = session.scalar(query)
    assert found is not None
    return found


def test_a_reward_is_made_given_codes_and_archived(
    client: TestClient, session: Session, tenant: Tenant, program: dict[str, Any]
) -> None:
    sign_in(client, session, tenant)
    empty = get(client, REWARDS)
    assert empty.status_code == 200, empty.text
    assert 'id="no-rewards"' in empty.text
    assert '<a href="/settings/loyalty/rewards" aria-current="page">리워드</a>' in empty.text
    assert get(client, f"{REWARDS}/new").status_code == 200

    made = post(client, f"{REWARDS}/new", COFFEE)

    assert made.status_code == 303, made.text
    assert made.headers["location"] == f"{REWARDS}/coffee/edit"
    page = get(client, f"{REWARDS}/coffee/edit")
    assert flashes(page) == [("success", "리워드를 저장했습니다.")]
    assert 'value="아메리카노 &lt;쿠폰&gt;"' in page.text and "<쿠폰>" not in page.text
    assert "남은 코드: 0개" in text_of(page)
    listed = get(client, REWARDS)
    assert cells(listed.text, "reward-coffee") == [
        "아메리카노 &lt;쿠폰&gt; coffee",  # escaped
        "쿠폰",
        "1,500 points",
        "10",
        "0",
        "Silver",
        "교환 가능",
    ]

    typed = post(client, f"{REWARDS}/coffee/codes", {"codes": "A1\nA2\n A2 \n\nA3\n"})
    assert typed.status_code == 303, typed.text
    assert flashes(get(client, f"{REWARDS}/coffee/edit")) == [
        ("success", "코드 3개를 추가했습니다. 중복 1개는 건너뛰었고, 남은 코드는 3개입니다.")
    ]
    sent = client.post(
        f"{REWARDS}/coffee/codes",
        data={"csrf_token": session_token(client), "codes": ""},
        files={"file": ("codes.txt", b"A3\r\nB1\r\n", "text/plain")},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    assert flashes(get(client, f"{REWARDS}/coffee/edit")) == [
        ("success", "코드 1개를 추가했습니다. 중복 1개는 건너뛰었고, 남은 코드는 4개입니다.")
    ]
    wrong = post(client, f"{REWARDS}/coffee/codes", {"codes": "C1\nnot a code\n"})
    assert wrong.status_code == 422
    assert "코드가 아닌 줄이 있습니다 (2번째 줄)" in text_of(wrong)
    assert cells(get(client, REWARDS).text, "reward-coffee")[4] == "4"

    asked = post(client, f"{REWARDS}/coffee/archive", {})
    assert asked.status_code == 200
    assert 'id="confirm-archive"' in asked.text
    assert reward_of(session, tenant, "coffee").archived_at is None
    done = post(client, f"{REWARDS}/coffee/archive", {"confirm": "1"})

    assert done.status_code == 303
    after = get(client, REWARDS)
    assert flashes(after) == [
        ("success", "'아메리카노 <쿠폰>' 리워드를 보관했습니다. 더 이상 교환할 수 없습니다.")
    ]
    assert 'id="reward-coffee"' not in after.text
    assert cells(get(client, f"{REWARDS}?archived=1").text, "reward-coffee")[6] == "보관됨"
    assert reward_of(session, tenant, "coffee").archived_at is not None
    actions = session.scalars(
        select(AuditEntry.action)
        .where(AuditEntry.workspace_id == tenant.id, AuditEntry.action.like("loyalty.%"))
        .order_by(AuditEntry.id)
    ).all()
    assert [a for a in actions if a != "loyalty.program"] == [
        "loyalty.reward_save",
        "loyalty.codes_upload",
        "loyalty.codes_upload",
        "loyalty.reward_archive",
    ]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"name_ko": "", "name_en": ""}, "리워드에는 이름이 필요합니다 (한국어나 영어)."),
        ({"cost": ""}, "필요 포인트: 꼭 입력해야 합니다."),
        ({"cost": "0"}, "필요 포인트: 1 이상이어야 합니다."),
        ({"stock": "many"}, "재고: 정수를 입력하세요."),
        ({"key": "Coffee Cup"}, "키: 영문 소문자나 숫자로 시작하고"),
        ({"starts_at": "2026-12-10T00:00", "ends_at": "2026-12-01T00:00"}, "종료는 시작보다 뒤"),
        ({"starts_at": "soon"}, "시작: 'soon'은(는) 날짜와 시각이 아닙니다."),
        ({"key": "taken"}, "키 'taken'은(는) 이미 다른 리워드가 쓰고 있습니다"),
    ],
    ids=[
        "no-name",
        "no-cost",
        "zero-cost",
        "stock-not-a-number",
        "bad-key",
        "ends-before-it-starts",
        "not-a-moment",
        "key-in-use",
    ],
)
def test_a_wrong_reward_comes_back_as_typed_with_the_reason_in_words(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    program: dict[str, Any],
    change: dict[str, str],
    words: str,
) -> None:
    sign_in(client, session, tenant)
    assert post(client, f"{REWARDS}/new", {**COFFEE, "key": "taken"}).status_code == 303

    answer = post(client, f"{REWARDS}/new", {**COFFEE, **change})

    assert answer.status_code == 422, answer.text
    assert 'id="reward-error"' in answer.text
    assert words in text_of(answer)
    for name, value in change.items():
        if name != "name_ko" and value:
            assert f'name="{name}" value="{value}"' in answer.text
    keys = session.scalars(select(Reward.key).where(Reward.workspace_id == tenant.id)).all()
    assert list(keys) == ["taken"]


def saved_goals(session: Session, tenant: Tenant) -> list[LoyaltyGoal]:
    session.expire_all()
    query = select(LoyaltyGoal).where(LoyaltyGoal.workspace_id == tenant.id)
    return list(session.scalars(query.order_by(LoyaltyGoal.id)))


def goal_form(**rows: dict[str, str]) -> dict[str, str]:
    form: dict[str, str] = {}
    for index, row in rows.items():
        form.update({f"goals-{index[1:]}-{name}": value for name, value in row.items()})
    return form


REVIEWER = {
    "key": "reviewer",
    "kind": "badge",
    "name": "Reviewer",
    "description": "Five reviews",
    "event": "Product Reviewed",
    "count": "5",
    "reward_points": "1000",
    "point_type": "points",
    "active": "1",
}
DECEMBER = {
    "key": "december",
    "kind": "challenge",
    "name": "December streak",
    "event": "Order Completed",
    "count": "1",
    "streak_weeks": "3",
    "starts_at": "2026-12-01T00:00",
    "ends_at": "2027-01-01T00:00",
    "reward_points": "300",
    "point_type": "points",
    "active": "1",
}


def test_badges_and_challenges_are_saved_and_a_challenge_without_dates_is_refused(
    client: TestClient, session: Session, tenant: Tenant, program: dict[str, Any]
) -> None:
    sign_in(client, session, tenant, locale="en")
    first = get(client, GOALS)
    assert first.status_code == 200, first.text
    assert 'name="goals-0-key" value=""' in first.text

    undated = {**DECEMBER, "starts_at": "", "ends_at": ""}
    refused = post(client, GOALS, goal_form(g0=REVIEWER, g1=undated))

    assert refused.status_code == 422, refused.text
    assert "Badge or challenge 2: A challenge needs a start and an end." in text_of(refused)
    assert 'name="goals-0-key" value="reviewer"' in refused.text
    assert saved_goals(session, tenant) == []

    saved = post(client, GOALS, goal_form(g0=REVIEWER, g1=DECEMBER))

    assert saved.status_code == 303, saved.text
    shown = get(client, GOALS)
    assert flashes(shown) == [("success", "The badges and challenges were saved.")]
    assert 'name="goals-1-starts_at" value="2026-12-01T00:00"' in shown.text
    found = saved_goals(session, tenant)
    assert [(g.key, g.kind, g.count, g.streak_weeks, g.reward_points) for g in found] == [
        ("reviewer", "badge", 5, None, 1000),
        ("december", "challenge", 1, 3, 300),
    ]
    assert found[1].ends_at is not None and found[1].starts_at is not None
    assert (found[1].ends_at - found[1].starts_at).days == 31

    duplicate = post(client, GOALS, goal_form(g0=REVIEWER, g1={**DECEMBER, "key": "reviewer"}))
    assert duplicate.status_code == 422
    assert "Each badge or challenge needs its own key." in text_of(duplicate)


def test_a_viewer_reads_rewards_and_goals_but_cannot_change_them(
    client: TestClient, session: Session, tenant: Tenant, program: dict[str, Any]
) -> None:
    sign_in(client, session, tenant)
    assert post(client, f"{REWARDS}/new", COFFEE).status_code == 303
    client.cookies.clear()
    sign_in(client, session, tenant, role="viewer")

    listed = get(client, REWARDS)
    reward = get(client, f"{REWARDS}/coffee/edit")
    goals = get(client, GOALS)

    assert listed.status_code == 200 and 'id="new-reward"' not in listed.text
    assert reward.status_code == 200 and 'id="read-only"' in reward.text
    assert 'id="save-reward"' not in reward.text and 'id="codes-form"' not in reward.text
    assert goals.status_code == 200 and 'id="save-goals"' not in goals.text
    assert get(client, f"{REWARDS}/new").status_code == 403
    assert post(client, f"{REWARDS}/new", {**COFFEE, "key": "tea"}).status_code == 403
    assert post(client, f"{REWARDS}/coffee/edit", COFFEE).status_code == 403
    assert post(client, f"{REWARDS}/coffee/codes", {"codes": "X1"}).status_code == 403
    assert post(client, f"{REWARDS}/coffee/archive", {"confirm": "1"}).status_code == 403
    assert post(client, GOALS, goal_form(g0=REVIEWER)).status_code == 403
    assert reward_of(session, tenant, "coffee").archived_at is None
    assert saved_goals(session, tenant) == []
