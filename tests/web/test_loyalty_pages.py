"""The loyalty pages through the web client: the program's settings form (a starting program,
saving, refusals in words, rows added and removed), the member block of the customer page
(balances, progress in words, the ledger a page at a time, points adjusted after confirming),
the members list by tier and the dashboard's figures over a small known ledger, in Korean and
English; a viewer reads but cannot change."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.loyalty import ledger, members
from cxloop.models import (
    AuditEntry,
    Customer,
    CustomerPrediction,
    InsightsRun,
    LedgerEntry,
    LoyaltyMember,
    LoyaltyProgram,
    TierChange,
)
from tests.factories import Tenant, make_customer, make_user, unique
from tests.helpers.dashboard import answer, make_survey
from tests.helpers.web import flashes, get, login, post, text_of
from tests.loyalty.test_earning import PROGRAM


def sign_in(
    client: TestClient, session: Session, tenant: Tenant, *, role: str = "owner", locale: str = "ko"
) -> None:
    user = make_user(session, workspace=tenant.workspace, role=role, locale=locale)
    session.flush()
    assert login(client, user.email).status_code == 303


def cells(html: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, row_id
    found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row[1], re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip() for c in found]


def stat(html: str, stat_id: str) -> str:
    found = re.search(rf'id="{stat_id}"><dt>.*?</dt><dd>(.*?)</dd>', html, re.S)
    assert found, stat_id
    return re.sub(r"<[^>]+>", "", found[1]).strip()


@pytest.fixture
def program(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    body = {**PROGRAM, "point_value": 2}
    answer = client.put("/api/v1/loyalty/program", json=body, headers=tenant.api)
    assert answer.status_code == 200, answer.text
    return answer.json()


def person(session: Session, tenant: Tenant, name: str) -> Customer:
    customer = make_customer(session, workspace=tenant.workspace, user_id=unique(f"{name}-"))
    customer.display_name = name
    session.flush()
    return customer


class Ledger:
    """A small known ledger: Kim earned 1,000 and spent 300 and lost 100 to a deduction; Lee
    has 500 pending and 200 that expired (added 40 days ago); Park is a member in Gold with
    nothing."""

    def __init__(self, session: Session, tenant: Tenant) -> None:
        self.session = session
        self.program = members.active_program(session, workspace_id=tenant.id)
        self.now = utcnow()
        self.kim = person(session, tenant, "김민수")
        self.lee = person(session, tenant, "이영희")
        self.park = person(session, tenant, "박지성")
        now = self.now
        kim = self.member(self.kim)
        self.lot(kim, "earn", 1000, now, now, reason="주문 O-1")
        ledger.take(session, member=kim, point_type="points", kind="redeem", amount=300, now=now,
                    reason="쿠폰 교환")  # fmt: skip
        ledger.take(session, member=kim, point_type="points", kind="adjust", amount=100, now=now,
                    reason="잘못 적립")  # fmt: skip
        lee = self.member(self.lee)
        self.lot(lee, "earn", 500, now, now + timedelta(days=14), reason="주문 O-2")
        old = self.lot(lee, "adjust", 200, now - timedelta(days=40), now - timedelta(days=40),
                       reason="보상", expires_at=now - timedelta(seconds=1))  # fmt: skip
        assert ledger.expire_lots(session, member=lee, point_type="points", now=now) == 200
        assert old.remaining == 0
        park = self.member(self.park)
        gold = next(t for t in self.program.tiers if t.key == "gold")
        session.execute(
            update(LoyaltyMember).where(LoyaltyMember.id == park.id).values(tier_id=gold.id)
        )
        session.flush()

    def member(self, customer: Customer) -> LoyaltyMember:
        return members.enrol(self.session, program=self.program, customer_id=customer.id)

    def lot(
        self,
        member: LoyaltyMember,
        kind: str,
        amount: int,
        occurred: Any,
        available: Any,
        *,
        reason: str,
        expires_at: Any = None,
    ) -> LedgerEntry:
        return ledger.add_lot(
            self.session,
            member=member,
            point_type="points",
            kind=kind,
            amount=amount,
            occurred_at=occurred,
            available_at=available,
            expires_at=expires_at or occurred + timedelta(days=365),
            reason=reason,
        )


@pytest.fixture
def known(session: Session, tenant: Tenant, program: dict[str, Any]) -> Ledger:
    return Ledger(session, tenant)


# --- the settings form -------------------------------------------------------------------------


def test_a_workspace_without_a_program_sees_one_to_start_from_and_saves_it(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant)

    page = get(client, "/settings/loyalty")

    assert page.status_code == 200, page.text
    assert 'id="starting-program"' in page.text
    assert 'name="tiers-1-threshold" value="300000"' in page.text
    assert 'name="tiers-2-threshold" value="1000000"' in page.text
    assert 'name="rules-0-rate_percent" value="1"' in page.text
    assert 'name="rules-1-points" value="500"' in page.text
    assert 'name="rules-2-event" value="Survey Answered"' in page.text
    assert 'name="expiry_months" value="12"' in page.text
    assert '<a href="/settings/loyalty" aria-current="page">멤버십</a>' in page.text
    assert (
        session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.workspace_id == tenant.id))
        is None
    )

    form = form_fields(page.text)
    saved = post(client, "/settings/loyalty", form)

    assert saved.status_code == 303, saved.text
    shown = get(client, "/settings/loyalty")
    assert flashes(shown) == [("success", "멤버십 프로그램을 저장했습니다.")]
    assert 'id="starting-program"' not in shown.text
    body = client.get("/api/v1/loyalty/program", headers=tenant.api).json()
    assert [(t["key"], Decimal(t["threshold"])) for t in body["tiers"]] == [
        ("basic", 0),
        ("silver", 300000),
        ("gold", 1000000),
    ]
    assert [
        (r["key"], r["kind"], r["points"], Decimal(r["rate_percent"])) for r in body["rules"]
    ] == [
        ("orders", "order", 0, 1),
        ("first-review", "event", 500, 0),
        ("survey", "event", 300, 0),
    ]
    assert body["rules"][1]["once_per_member"] is True
    assert body["expiry_months"] == 12
    assert body["tiers"][2]["free_shipping"] is True


INPUT = re.compile(
    r'<input type="(?:text|number|hidden|datetime-local)" name="([^"]+)" value="([^"]*)"'
)
CHECKED = re.compile(r'<input type="checkbox" name="([^"]+)" value="1" checked')
SELECTED = re.compile(r'<select name="([^"]+)"[^>]*>(.*?)</select>', re.S)


def form_fields(html: str) -> dict[str, str]:
    """The settings form's fields as the browser would post them."""
    import html as htmllib

    form = re.search(r'<form method="post" action="/settings/loyalty".*?</form>', html, re.S)
    assert form
    fields = {name: htmllib.unescape(value) for name, value in INPUT.findall(form[0])}
    fields.update({name: "1" for name in CHECKED.findall(form[0])})
    for name, options in SELECTED.findall(form[0]):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        fields[name] = chosen[1] if chosen else re.findall(r'<option value="([^"]*)"', options)[0]
    fields.pop("csrf_token", None)
    return fields


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"tiers-2-threshold": "100"}, "등급 'gold'은(는) 'silver'보다 높은 기준값이 필요합니다"),
        ({"pending_days": "abc"}, "적립 대기 일수 (반품 기간): 정수를 입력하세요."),
        ({"pending_days": "-1"}, "적립 대기 일수 (반품 기간): 0 이상이어야 합니다."),
        ({"rules-0-rate_percent": "101"}, "적립 규칙 1 · 적립률 (%): 100 이하여야 합니다."),
        ({"rules-1-points": ""}, "이벤트 규칙에는 포인트가 필요합니다 (1 이상)."),
        ({"tiers-1-key": "Silver Tier"}, "등급 2 · 키: 영문 소문자나 숫자로 시작하고"),
        ({"rules-0-rate_by_tier": "vip=3"}, "규칙 'orders'이(가) 없는 등급을 적었습니다: ['vip']."),
        ({"rules-0-rate_by_tier": "gold"}, "등급별 적립률 (%): '이름=비율'을 쉼표로 나누어"),
        ({"rules-0-rate_by_category": "가전"}, "카테고리별 적립률 (%): '이름=비율'을 쉼표로"),
        (
            {"rules-0-rate_by_category": "가전=1, 가전=2"},
            "카테고리별 적립률 (%): '이름=비율'을 쉼표로 나누어, 이름마다 한 번씩 적으세요",
        ),
        ({"rules-2-where": "{not json"}, "적립 규칙 3 · 조건: JSON 목록으로 적으세요"),
        (
            {"rules-0-starts_at": "2026-12-10T00:00", "rules-0-ends_at": "2026-12-01T00:00"},
            "캠페인 종료는 시작보다 뒤여야 합니다.",
        ),
    ],
    ids=[
        "tiers-out-of-order",
        "days-not-a-number",
        "negative-days",
        "rate-over-100",
        "event-without-points",
        "bad-key",
        "unknown-tier-rate",
        "rates-not-written-right",
        "category-rates-not-written-right",
        "category-twice",
        "conditions-not-json",
        "campaign-backwards",
    ],
)
def test_a_wrong_program_comes_back_as_typed_with_the_reason_in_words(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    program: dict[str, Any],
    change: dict[str, str],
    words: str,
) -> None:
    sign_in(client, session, tenant)
    form = {**form_fields(get(client, "/settings/loyalty").text), **change}

    answer = post(client, "/settings/loyalty", form)

    assert answer.status_code == 422, answer.text
    assert 'id="program-error"' in answer.text
    assert words in text_of(answer)
    for name, value in change.items():
        assert f'name="{name}" value="{value}"' in answer.text.replace("&#34;", '"').replace(
            "&#39;", "'"
        ).replace("&quot;", '"') or name.endswith("where")
    saved = client.get("/api/v1/loyalty/program", headers=tenant.api).json()
    assert Decimal(saved["tiers"][2]["threshold"]) == 1000000


def test_category_rates_and_the_leaderboard_are_saved_from_the_form_and_shown_back(
    client: TestClient, session: Session, tenant: Tenant, program: dict[str, Any]
) -> None:
    sign_in(client, session, tenant)
    form = {
        **form_fields(get(client, "/settings/loyalty").text),
        "rules-0-rate_by_category": "뷰티=3, 가전/디지털=0.5",
        "leaderboard": "1",
    }

    assert post(client, "/settings/loyalty", form).status_code == 303

    saved = client.get("/api/v1/loyalty/program", headers=tenant.api).json()
    assert saved["leaderboard"] is True
    rule = saved["rules"][0]
    assert {k: Decimal(v) for k, v in rule["rate_by_category"].items()} == {
        "뷰티": 3,
        "가전/디지털": Decimal("0.5"),
    }
    again = form_fields(get(client, "/settings/loyalty").text)
    assert again["rules-0-rate_by_category"] == "뷰티=3, 가전/디지털=0.5"
    assert again["leaderboard"] == "1"
    del again["leaderboard"]  # unticked
    assert post(client, "/settings/loyalty", again).status_code == 303
    assert client.get("/api/v1/loyalty/program", headers=tenant.api).json()["leaderboard"] is False


def test_rows_are_added_without_saving_and_removed_on_save(
    client: TestClient, session: Session, tenant: Tenant, program: dict[str, Any]
) -> None:
    sign_in(client, session, tenant, locale="en")
    form = form_fields(get(client, "/settings/loyalty").text)
    assert "tiers-3-key" in form and form["tiers-3-key"] == ""  # one empty row to fill in

    more = post(client, "/settings/loyalty", {**form, "add": "tier"})

    assert more.status_code == 200
    assert 'name="tiers-4-key" value=""' in more.text
    form = {
        **form_fields(more.text),
        "tiers-3-key": "vip",
        "tiers-3-name": "VIP <b>",
        "tiers-3-threshold": "5000000",
        "tiers-3-birthday_bonus": "3000",
        "rules-1-remove": "1",
    }
    saved = post(client, "/settings/loyalty", form)

    assert saved.status_code == 303, saved.text
    body = client.get("/api/v1/loyalty/program", headers=tenant.api).json()
    assert [t["key"] for t in body["tiers"]] == ["basic", "silver", "gold", "vip"]
    assert body["tiers"][3]["birthday_bonus"] == 3000
    assert [(r["key"], r["active"]) for r in body["rules"]] == [
        ("orders", True),
        ("first-review", False),  # left out: it stops earning but stays
        ("survey", True),
    ]
    shown = get(client, "/settings/loyalty")
    assert 'value="VIP &lt;b&gt;"' in shown.text and "VIP <b>" not in shown.text
    assert flashes(shown) == [("success", "The loyalty program was saved.")]
    audit = session.scalars(
        select(AuditEntry).where(
            AuditEntry.workspace_id == tenant.id, AuditEntry.action == "loyalty.program"
        )
    ).all()
    assert len(audit) == 2


def test_a_viewer_reads_the_settings_but_cannot_save_or_adjust(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    sign_in(client, session, tenant, role="viewer")

    page = get(client, "/settings/loyalty")
    customer = get(client, f"/customers/{known.kim.id}")
    saved = post(client, "/settings/loyalty", form_fields(page.text))
    adjusted = post(
        client,
        f"/loyalty/members/{known.kim.id}/adjust",
        {"direction": "add", "points": "10", "reason": "x", "confirm": "1"},
    )

    assert page.status_code == 200
    assert 'id="read-only"' in page.text and 'id="save-program"' not in page.text
    assert " disabled" in page.text
    assert 'id="adjust-form"' not in customer.text and 'id="loyalty-ledger"' in customer.text
    assert saved.status_code == 403
    assert adjusted.status_code == 403


# --- the member block --------------------------------------------------------------------------


def test_the_customer_page_shows_tier_progress_balances_and_the_ledger_newest_first(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    sign_in(client, session, tenant)

    page = get(client, f"/customers/{known.kim.id}")

    assert page.status_code == 200, page.text
    assert stat(page.text, "loyalty-tier") == "Basic"
    assert stat(page.text, "loyalty-available-points") == "600"
    assert stat(page.text, "loyalty-pending-points") == "0"
    assert stat(page.text, "loyalty-expiring-points") == "0"
    assert "Silver까지 ₩300,000 남음" in text_of(page)
    rows = re.findall(r'<tr id="ledger-(\d+)">', page.text)
    assert len(rows) == 3
    assert [cells(page.text, f"ledger-{r}")[1:4] for r in rows] == [
        ["수동 조정", "−100", "잘못 적립"],
        ["사용", "−300", "쿠폰 교환"],
        ["적립", "+1,000", "주문 O-1"],
    ]
    assert 'id="loyalty-tier-history"' not in page.text
    lee = get(client, f"/customers/{known.lee.id}")
    assert stat(lee.text, "loyalty-available-points") == "0"
    assert stat(lee.text, "loyalty-pending-points") == "500"
    assert [
        cells(lee.text, f"ledger-{r}")[1] for r in re.findall(r'<tr id="ledger-(\d+)">', lee.text)
    ] == ["소멸", "수동 조정", "적립"]


def test_the_customer_page_shows_the_tier_history_newest_first(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    tiers = {t.key: t for t in known.program.tiers}
    member = known.member(known.park)
    now = known.now
    session.add_all(
        [
            TierChange(workspace_id=tenant.id, member_id=member.id, from_tier_id=tiers["basic"].id,
                       to_tier_id=tiers["silver"].id, reason="upgrade", measured=400000,
                       changed_at=now - timedelta(days=90)),
            TierChange(workspace_id=tenant.id, member_id=member.id, from_tier_id=tiers["silver"].id,
                       to_tier_id=tiers["gold"].id, reason="upgrade", measured=1250000,
                       changed_at=now - timedelta(days=3)),
        ]
    )  # fmt: skip
    session.flush()
    sign_in(client, session, tenant)

    page = get(client, f"/customers/{known.park.id}")

    history = re.search(r'<details class="tier-history".*?</details>', page.text, re.S)
    assert history, page.text
    lines = [
        " ".join(re.sub(r"<[^>]+>", " ", li).split())
        for li in re.findall(r"<li>(.*?)</li>", history[0], re.S)
    ]
    assert "등급 변경 이력 (2)" in history[0]
    assert [line.split(" · ", 1)[1] for line in lines] == [
        "Silver → Gold (승급 · ₩1,250,000)",
        "Basic → Silver (승급 · ₩400,000)",
    ]


def test_the_ledger_pages_with_its_cursor(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    kim = members.member_of(session, program=known.program, customer_id=known.kim.id)
    assert kim is not None
    for n in range(12):
        known.lot(kim, "earn", n + 1, known.now, known.now, reason=f"extra {n}")
    sign_in(client, session, tenant, locale="en")

    first = get(client, f"/customers/{known.kim.id}")
    shown = re.findall(r'<tr id="ledger-(\d+)">', first.text)
    following = re.search(r'href="([^"]*points_cursor=[^"#]+)#loyalty"', first.text)
    assert following
    second = get(client, following[1].replace("&amp;", "&"))
    rest = re.findall(r'<tr id="ledger-(\d+)">', second.text)

    assert len(shown) == 10 and len(rest) == 5
    assert not set(shown) & set(rest)
    assert cells(second.text, f"ledger-{rest[-1]}")[1:4] == ["Earned", "+1,000", "주문 O-1"]
    assert stat(first.text, "loyalty-available-points") == "678"
    assert "₩300,000 more to Silver" in text_of(first)


def test_points_are_adjusted_after_confirming_once_however_often_it_is_sent(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    sign_in(client, session, tenant)
    page = get(client, f"/customers/{known.park.id}")
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key and 'id="adjust-form"' in page.text
    asked = {"direction": "add", "points": "1500", "reason": "VOC 보상 <script>", "key": key[1]}

    confirm = post(client, f"/loyalty/members/{known.park.id}/adjust", asked)
    assert confirm.status_code == 200
    assert "박지성님에게 1,500포인트를 적립할까요?" in text_of(confirm)
    assert "VOC 보상 &lt;script&gt;" in confirm.text
    assert session.scalars(select(LedgerEntry).where(LedgerEntry.reason.like("VOC%"))).all() == []

    done = post(client, f"/loyalty/members/{known.park.id}/adjust", {**asked, "confirm": "1"})
    again = post(client, f"/loyalty/members/{known.park.id}/adjust", {**asked, "confirm": "1"})

    assert done.status_code == 303 and done.headers["location"].endswith("#loyalty")
    assert again.status_code == 303
    shown = get(client, f"/customers/{known.park.id}")
    assert stat(shown.text, "loyalty-available-points") == "1,500"
    assert ("success", "1,500포인트를 적립했습니다.") in flashes(shown)
    assert stat(shown.text, "loyalty-tier") == "Gold"
    assert "가장 높은 등급입니다." in text_of(shown)


def test_a_deduction_past_the_balance_is_refused_in_words(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    sign_in(client, session, tenant)
    asked = {"direction": "deduct", "points": "601", "reason": "정정", "confirm": "1"}

    refused = post(client, f"/loyalty/members/{known.kim.id}/adjust", asked)
    bad = post(client, f"/loyalty/members/{known.kim.id}/adjust", {**asked, "points": "0"})

    assert refused.status_code == 303 and bad.status_code == 303
    shown = get(client, f"/customers/{known.kim.id}")
    assert stat(shown.text, "loyalty-available-points") == "600"
    errors = [text for kind, text in flashes(shown) if kind == "error"]
    assert len(errors) == 2
    assert "601" in errors[0] and "600" in errors[0]
    assert errors[1] == "포인트: 1 이상이어야 합니다."


# --- the members list and the dashboard --------------------------------------------------------


def test_the_members_list_shows_tier_and_balance_and_filters_by_tier(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    sign_in(client, session, tenant, role="viewer", locale="en")

    every = get(client, "/loyalty/members")
    gold = get(client, "/loyalty/members?tier=gold")
    unknown = get(client, "/loyalty/members?tier=platinum")

    assert every.status_code == 200, every.text
    assert re.findall(r'<tr id="member-(\d+)">', every.text) == [
        str(known.park.id),
        str(known.lee.id),
        str(known.kim.id),
    ]
    assert cells(every.text, f"member-{known.kim.id}")[:4] == ["김민수", "Basic", "600", "600"]
    assert cells(every.text, f"member-{known.lee.id}")[:4] == ["이영희", "Basic", "0", "500"]
    assert cells(every.text, f"member-{known.park.id}")[:4] == ["박지성", "Gold", "0", "0"]
    assert re.findall(r'<tr id="member-(\d+)">', gold.text) == [str(known.park.id)]
    assert "There is no tier 'platinum'; showing every tier." in text_of(unknown)


def test_the_members_list_pages(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    for n in range(50):
        known.member(person(session, tenant, f"고객{n}"))
    sign_in(client, session, tenant)

    first = get(client, "/loyalty/members")
    following = re.search(r'href="([^"]*cursor=[^"]+)"', first.text)
    assert following
    second = get(client, following[1].replace("&amp;", "&"))

    assert len(re.findall(r'<tr id="member-', first.text)) == 50
    assert re.findall(r'<tr id="member-(\d+)">', second.text)[-1] == str(known.kim.id)


def nps_and_churn(session: Session, tenant: Tenant, known: Ledger) -> None:
    """Kim promotes (9, then 10), Lee is passive (3 two years ago, 8 now), Park detracts (6);
    Kim's churn risk is 0.7, Lee's 0.2."""
    survey = make_survey(session, tenant.workspace)
    for customer, days, score in (
        (known.kim, 30, 9),
        (known.kim, 5, 10),
        (known.lee, 800, 3),
        (known.lee, 2, 8),
        (known.park, 3, 6),
    ):
        answer(session, survey, at=known.now - timedelta(days=days), nps=score, customer=customer)
    run = InsightsRun(workspace_id=tenant.id, status="ready", as_of=known.now)
    session.add(run)
    session.flush()
    for customer, risk in ((known.kim, 0.7), (known.lee, 0.2)):
        session.add(
            CustomerPrediction(
                workspace_id=tenant.id, customer_id=customer.id, run_id=run.id, churn_risk=risk
            )
        )
    session.flush()


def test_the_dashboard_figures_are_exact_for_a_known_ledger(
    client: TestClient, session: Session, tenant: Tenant, known: Ledger
) -> None:
    nps_and_churn(session, tenant, known)
    sign_in(client, session, tenant)

    page = get(client, "/loyalty")

    assert page.status_code == 200, page.text
    assert stat(page.text, "stat-members") == "3"
    # 600 available + 500 pending at ₩2 a point; Lee's expired 200 are not owed
    assert stat(page.text, "stat-liability") == "₩2,200"
    assert stat(page.text, "stat-redemption") == "17.6%"  # 300 of 1,700 issued
    assert cells(page.text, "this-month") == ["이번 달", "1,500", "300", "200", "100"]
    assert cells(page.text, "last-12") == ["최근 12개월", "1,700", "300", "200", "100"]
    month = f"{known.now.astimezone(ZoneInfo('Asia/Seoul')):%Y-%m}"
    assert cells(page.text, f"month-{month}") == [month, "1,500", "300", "200", "100"]
    assert len(re.findall(r'<tr id="month-', page.text)) == 12
    # NPS from each member's latest answer of the year: Basic 1 promoter, 1 passive → 50
    assert cells(page.text, "tier-basic") == ["Basic", "2", "50 (응답 적음)", "2", "50% (1)", "2"]
    assert cells(page.text, "tier-silver") == ["Silver", "0", "—", "0", "—", "0"]
    assert cells(page.text, "tier-gold") == ["Gold", "1", "-100 (응답 적음)", "1", "—", "0"]
    assert 'id="no-nps"' not in page.text and 'id="no-churn"' not in page.text


def test_the_dashboard_says_plainly_when_there_is_nothing_yet(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sign_in(client, session, tenant, role="viewer", locale="en")

    none = get(client, "/loyalty")
    assert none.status_code == 200
    assert "This workspace has no loyalty program yet." in text_of(none)
    assert 'href="/settings/loyalty">Set up' not in none.text  # a viewer cannot set it up

    client.put("/api/v1/loyalty/program", json=PROGRAM, headers=tenant.api)
    empty = get(client, "/loyalty")

    words = text_of(empty)
    assert "No members yet." in words
    assert "No points moved in the last 12 months." in words
    assert (
        "No points were issued in the last 12 months, so there is no redemption rate yet." in words
    )
    assert "No member answered an NPS question in the last year." in words
    assert "No churn predictions yet" in words
    assert stat(empty.text, "stat-liability") == "₩0"
