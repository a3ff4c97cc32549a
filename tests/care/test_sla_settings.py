"""The business hours and SLA settings page (/settings/sla): admins set a team's hours and
targets and the stored rows are exactly what they typed; bad input is refused beside its form
and stores nothing; "open now", "close now" and "follow the schedule"; agents are refused; every
change is audited (through the page, the API and the CLI alike); the page fits a 390 px phone."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.accounts.access import Principal
from cxloop.care import service as care
from cxloop.care import sla
from cxloop.care.business_hours import korean_holiday_names
from cxloop.core.db import Database
from cxloop.core.i18n import format_datetime
from cxloop.core.timeutil import utcnow
from cxloop.models import AuditEntry, CareTeamHours, SlaPolicy, User
from tests.factories import PASSWORD, Tenant, make_user, make_workspace, unique
from tests.helpers.cli import Result
from tests.helpers.web import flashes, get, login, post, text_of

WEEKDAYS = range(5)


def admin_of(
    session: Session, tenant: Tenant, role: str = "admin", teams: tuple[str, ...] = ()
) -> User:
    user = make_user(session, workspace=tenant.workspace, role=role, locale="ko")
    if teams:
        accounts.set_member_teams(
            session, workspace_id=tenant.id, user_id=user.id, teams=list(teams)
        )
    return user


def signed_in(client: TestClient, session: Session, tenant: Tenant, role: str = "admin") -> User:
    user = admin_of(session, tenant, role)
    assert login(client, user.email).status_code == 303
    return user


def hours_form(team: str = "support", **changes: str) -> dict[str, str]:
    """The hours form as a browser posts it: Monday to Friday 09:00–18:00 in Seoul."""
    form = {"team": team, "zone": "Asia/Seoul", "public_holidays": "1", "closed_days": ""}
    for day in range(7):
        form |= {f"start-{day}": "09:00", f"end-{day}": "18:00"}
        if day in WEEKDAYS:
            form[f"open-{day}"] = "1"
    form |= changes
    return {k: v for k, v in form.items() if v != "-"}  # "-": the field is not posted


def hours_row(session: Session, tenant: Tenant, team: str) -> CareTeamHours | None:
    return session.scalar(
        select(CareTeamHours).where(
            CareTeamHours.workspace_id == tenant.id, CareTeamHours.team == team
        )
    )


def policy_row(session: Session, tenant: Tenant, team: str) -> SlaPolicy | None:
    return session.scalar(
        select(SlaPolicy).where(SlaPolicy.workspace_id == tenant.id, SlaPolicy.team == team)
    )


AUDITED = ("care.business_hours_set", "care.business_hours_override", "care.sla_policy_set")


def audits(session: Session, workspace_id: int) -> list[tuple[Any, ...]]:
    """(action, target type, target, user, label) of the workspace's hours and SLA entries."""
    return [
        (e.action, e.target_type, e.target_id, e.actor_user_id, e.actor_label)
        for e in session.scalars(
            select(AuditEntry)
            .where(AuditEntry.workspace_id == workspace_id, AuditEntry.action.in_(AUDITED))
            .order_by(AuditEntry.id)
        )
    ]


# --- hours and targets ---------------------------------------------------------------------------


def test_an_admin_sets_hours_and_targets_and_the_rows_are_what_was_typed(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    admin = signed_in(client, session, tenant)

    page = get(client, "/settings/sla?team=support")
    saved_hours = post(
        client,
        "/settings/sla/hours",
        hours_form(
            zone="Asia/Tokyo",
            **{"start-2": "09:30", "end-2": "00:00"},  # Wednesday until midnight
            **{"open-5": "1", "start-5": "10:00", "end-5": "14:00"},  # Saturday
            public_holidays="-",
            closed_days="2026-12-31\n\n 2027-01-04 \r\n2026-12-31",
        ),
    )
    after_hours = get(client, saved_hours.headers["location"])
    saved_policy = post(
        client,
        "/settings/sla/policy",
        {
            "team": "support",
            "first_response": "4",
            "first_response_unit": "hours",
            "next_response": "90",
            "next_response_unit": "minutes",
            "resolution": "",
            "resolution_unit": "hours",
            "clock": "wall",
            "warn_minutes": "15",
        },
    )
    after_policy = get(client, "/settings/sla?team=support")

    assert page.status_code == 200
    assert "운영 시간과 SLA" in text_of(page)
    assert (saved_hours.status_code, saved_hours.headers["location"]) == (
        303,
        "/settings/sla?team=support",
    )
    hours = hours_row(session, tenant, "support")
    assert hours is not None
    assert hours.weekly == [
        [[540, 1080]],
        [[540, 1080]],
        [[570, 1440]],
        [[540, 1080]],
        [[540, 1080]],
        [[600, 840]],
        [],
    ]
    assert (hours.zone, hours.public_holidays, hours.closed_days) == (
        "Asia/Tokyo",
        False,
        ["2026-12-31", "2027-01-04"],
    )
    assert ("success", "운영 시간을 저장했습니다.") in flashes(after_hours)
    assert 'name="end-2" value="00:00"' in after_hours.text
    assert '<option value="Asia/Tokyo" selected>' in after_hours.text
    assert "이 팀은 공휴일에도 운영합니다." in text_of(after_hours)

    assert saved_policy.status_code == 303
    policy = policy_row(session, tenant, "support")
    assert policy is not None
    assert (
        policy.first_response_minutes,
        policy.next_response_minutes,
        policy.resolution_minutes,
        policy.business_hours,
        policy.warn_minutes,
    ) == (240, 90, None, False, 15)
    assert ("success", "SLA 목표를 저장했습니다.") in flashes(after_policy)
    assert 'name="first_response" value="4"' in after_policy.text
    assert 'name="next_response" value="90"' in after_policy.text
    assert audits(session, tenant.id) == [
        ("care.business_hours_set", "care_team", "support", admin.id, admin.email),
        ("care.sla_policy_set", "care_team", "support", admin.id, admin.email),
    ]


def test_the_team_picker_names_every_team_and_the_default_team_is_default_in_the_audit(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    admin_of(session, tenant, "agent", teams=("배송",))
    owner = Principal(workspace_id=tenant.id, role="owner", label="test")
    care.create_inbox(session, principal=owner, name="결제 문의", team="billing")
    sla.set_policy(
        session,
        workspace_id=tenant.id,
        team="vip",
        first_response_minutes=30,
        next_response_minutes=None,
        resolution_minutes=None,
    )
    signed_in(client, session, tenant)

    page = get(client, "/settings/sla")
    saved = post(client, "/settings/sla/hours", hours_form(team=""))

    options = page.text.split('id="team-picker"')[1].split("</select>")[0]
    assert [line.split('value="')[1].split('"')[0] for line in options.split("<option")[1:]] == [
        "",
        "billing",
        "vip",
        "배송",
    ]
    assert saved.headers["location"] == "/settings/sla"
    assert [a[:3] for a in audits(session, tenant.id)] == [
        ("care.sla_policy_set", "care_team", "vip"),
        ("care.business_hours_set", "care_team", "default"),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"zone": "Mars/Olympus"}, "알 수 없는 시간대입니다: Mars/Olympus"),
        ({"zone": "../../etc/passwd"}, "알 수 없는 시간대입니다: ../../etc/passwd"),
        (
            {"start-1": "18:00", "end-1": "09:00"},
            "화요일: 종료 시각(09:00)이 시작 시각(18:00)보다 늦어야 합니다.",
        ),
        ({"start-0": "9시"}, "월요일: '9시'은(는) 시각(HH:MM)이 아닙니다."),
        (
            {"closed_days": "2026-12-31\n\n2026-02-30"},
            "휴무일 3번째 줄: '2026-02-30'은(는) YYYY-MM-DD 형식의 날짜가 아닙니다.",
        ),
        (
            {"closed_days": "내일"},
            "휴무일 1번째 줄: '내일'은(는) YYYY-MM-DD 형식의 날짜가 아닙니다.",
        ),
    ],
    ids=["unknown-zone", "path-as-zone", "end-before-start", "not-a-time", "no-such-day", "a-word"],
)
def test_bad_hours_are_refused_beside_the_form_and_nothing_is_stored(
    client: TestClient, session: Session, tenant: Tenant, changes: dict[str, str], message: str
) -> None:
    signed_in(client, session, tenant)

    refused = post(client, "/settings/sla/hours", hours_form(**changes))

    assert refused.status_code == 422
    error = refused.text.split('id="hours-error">')[1].split("</div>")[0]
    assert html.unescape(error) == message
    assert hours_row(session, tenant, "support") is None
    assert audits(session, tenant.id) == []
    for name, value in changes.items():  # what was typed is shown again (a bad zone is not)
        if name != "zone":
            assert html.escape(value) in refused.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"first_response": "1.5"}, "첫 응답: 1분에서 129600분 사이의 정수 분이어야 합니다."),
        ({"next_response": "0"}, "다음 응답: 1분에서 129600분 사이의 정수 분이어야 합니다."),
        (
            {"resolution": "2161", "resolution_unit": "hours"},
            "해결: 1분에서 129600분 사이의 정수 분이어야 합니다.",
        ),
        ({"resolution": "NaN"}, "해결: 1분에서 129600분 사이의 정수 분이어야 합니다."),
        ({"warn_minutes": "-5"}, "미리 알림은 0에서 1440분 사이의 정수여야 합니다."),
    ],
    ids=["fraction-of-a-minute", "zero", "past-90-days", "nan", "negative-warning"],
)
def test_bad_targets_are_refused_beside_the_form_and_nothing_is_stored(
    client: TestClient, session: Session, tenant: Tenant, changes: dict[str, str], message: str
) -> None:
    signed_in(client, session, tenant)
    form = {"team": "support", "first_response": "1", "first_response_unit": "minutes"}
    form |= {"clock": "business", "warn_minutes": "30"}

    refused = post(client, "/settings/sla/policy", form | changes)

    assert refused.status_code == 422
    assert refused.text.split('id="policy-error">')[1].split("</div>")[0] == message
    assert policy_row(session, tenant, "support") is None
    assert audits(session, tenant.id) == []


def test_half_an_hour_is_thirty_minutes(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    signed_in(client, session, tenant)
    form = {"team": "", "first_response": "0.5", "first_response_unit": "hours"}

    saved = post(client, "/settings/sla/policy", form | {"clock": "business", "warn_minutes": "0"})

    assert saved.status_code == 303
    policy = policy_row(session, tenant, "")
    assert policy is not None
    assert (policy.first_response_minutes, policy.business_hours, policy.warn_minutes) == (
        30,
        True,
        0,
    )


def test_a_day_with_several_intervals_is_kept_unless_the_admin_changes_it(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    lunch_break = [[540, 720], [780, 1080]]
    sla.set_hours(session, workspace_id=tenant.id, team="support", weekly=[lunch_break] + [[]] * 6)
    signed_in(client, session, tenant)

    page = get(client, "/settings/sla?team=support")
    kept = post(client, "/settings/sla/hours", hours_form(**{"start-0": "08:00", "end-0": "17:00"}))
    weekly_kept = list(hours_row(session, tenant, "support").weekly)  # type: ignore[union-attr]
    changed = post(
        client,
        "/settings/sla/hours",
        hours_form(**{"start-0": "08:00", "end-0": "17:00", "edit-0": "1"}),
    )

    assert "저장된 운영 시간: 09:00–12:00, 13:00–18:00." in text_of(page)
    assert (kept.status_code, changed.status_code) == (303, 303)
    assert weekly_kept == [lunch_break] + [[[540, 1080]]] * 4 + [[], []]
    hours = hours_row(session, tenant, "support")
    assert hours is not None and hours.weekly[0] == [[480, 1020]]


# --- the override --------------------------------------------------------------------------------


def test_open_now_close_now_and_follow_the_schedule(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    always = [[[0, 1440]]] * 7
    sla.set_hours(session, workspace_id=tenant.id, team="", weekly=always, public_holidays=False)
    admin = signed_in(client, session, tenant)

    closed = post(client, "/settings/sla/override", {"team": "vip", "state": "closed"})
    row = hours_row(session, tenant, "vip")
    assert row is not None
    after_close = (row.override_open, row.weekly, row.public_holidays)
    closed_page = get(client, "/settings/sla?team=vip")
    opened = post(client, "/settings/sla/override", {"team": "vip", "state": "open"})
    session.refresh(row)
    after_open = row.override_open
    opened_page = get(client, "/settings/sla?team=vip")
    followed = post(client, "/settings/sla/override", {"team": "vip", "state": "schedule"})
    session.refresh(row)
    followed_page = get(client, "/settings/sla?team=vip")
    bad = post(client, "/settings/sla/override", {"team": "vip", "state": "maybe"})

    assert [r.status_code for r in (closed, opened, followed)] == [303] * 3
    assert after_close == (False, always, False)  # the hours it followed, copied
    assert (
        "success",
        "지금부터 운영을 멈췄습니다. 운영 시간표가 다음에 바뀔 때까지 이어집니다.",
    ) in flashes(closed_page)
    assert 'id="open-now">운영 종료' in closed_page.text
    assert "부터 수동으로 운영을 멈췄습니다." in text_of(closed_page)
    # a calendar open around the clock never changes: the override lasts until lifted
    assert "'시간표 따르기'를 누를 때까지 이어집니다." in text_of(closed_page)
    assert after_open is True
    assert 'id="open-now">운영 중' in opened_page.text
    assert "부터 수동으로 운영 중입니다." in text_of(opened_page)
    assert (row.override_open, row.override_since) == (None, None)
    assert "운영 시간표를 따르고 있습니다." in text_of(followed_page)
    assert bad.status_code == 422 and 'id="override-error"' in bad.text
    entries = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.workspace_id == tenant.id,
            AuditEntry.action == "care.business_hours_override",
        )
        .order_by(AuditEntry.id)
    ).all()
    assert [(e.target_id, e.detail, e.actor_user_id) for e in entries] == [
        ("vip", {"open": False}, admin.id),
        ("vip", {"open": True}, admin.id),
        ("vip", {"open": None}, admin.id),
    ]


def test_a_closing_by_hand_says_until_when_and_the_coming_holidays_are_named(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    weekdays = [[[540, 1080]]] * 5 + [[], []]
    sla.set_hours(session, workspace_id=tenant.id, team="", weekly=weekdays)
    sla.set_override(session, workspace_id=tenant.id, team="", open_now=False)
    signed_in(client, session, tenant)

    page = get(client, "/settings/sla")

    row = hours_row(session, tenant, "")
    calendar = sla.calendar_of(row)
    until = calendar.override_until()
    assert row is not None and row.override_since is not None and until is not None
    assert (
        f"{format_datetime(row.override_since, 'ko', calendar.zone)}부터 수동으로 운영을 "
        f"멈췄습니다. {format_datetime(until, 'ko', calendar.zone)}에 운영 시간표로 돌아갑니다."
    ) in text_of(page)
    today = utcnow().astimezone(calendar.zone).date()
    names = korean_holiday_names(today.year) | korean_holiday_names(today.year + 1)
    coming = [n for d, n in sorted(names.items()) if today <= d <= today + timedelta(days=60)]
    shown = page.text.split('id="holidays">')[1].split("</ul>")[0]
    assert [
        li.split("</span>")[1].split("</li>")[0].strip() for li in shown.split("<li>")[1:]
    ] == coming


# --- who may -------------------------------------------------------------------------------------


def test_agents_are_refused(client: TestClient, session: Session, tenant: Tenant) -> None:
    signed_in(client, session, tenant, role="agent")

    responses = [
        get(client, "/settings/sla"),
        post(client, "/settings/sla/hours", hours_form()),
        post(client, "/settings/sla/policy", {"team": "", "first_response": "1"}),
        post(client, "/settings/sla/override", {"team": "", "state": "open"}),
    ]

    assert [r.status_code for r in responses] == [403] * 4
    assert hours_row(session, tenant, "") is None and policy_row(session, tenant, "") is None
    assert hours_row(session, tenant, "support") is None


def test_a_form_without_its_token_is_refused(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    signed_in(client, session, tenant)

    refused = client.post(
        "/settings/sla/override",
        data={"team": "", "state": "open"},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )

    assert refused.status_code == 403
    assert hours_row(session, tenant, "") is None


# --- the API and the CLI audit too ---------------------------------------------------------------


def test_the_api_audits_its_changes(client: TestClient, session: Session, tenant: Tenant) -> None:
    policy = client.put(
        "/api/v1/care/sla",
        params={"team": "cs"},
        json={"first_response_minutes": 60},
        headers=tenant.api,
    )
    hours = client.put(
        "/api/v1/care/business-hours", json={"weekly": [[[540, 1080]]] * 7}, headers=tenant.api
    )
    closed = client.post(
        "/api/v1/care/business-hours/override", json={"open": False}, headers=tenant.api
    )

    assert [r.status_code for r in (policy, hours, closed)] == [200] * 3
    assert [a[:3] for a in audits(session, tenant.id)] == [
        ("care.sla_policy_set", "care_team", "cs"),
        ("care.business_hours_set", "care_team", "default"),
        ("care.business_hours_override", "care_team", "default"),
    ]


def test_the_cli_audits_the_targets_it_sets(cli: Callable[..., Result], database: Database) -> None:
    slug = unique("sla-cli-")
    assert cli("workspace", "create", "가나다 쇼핑", "--slug", slug).code == 0

    result = cli("care", "sla", "-w", slug, "--team", "cs", "--first-response", "45")

    assert result.code == 0, result.err
    with database.session() as session:
        workspace_id = accounts.find_workspace(session, slug=slug).id
        assert [a[:3] + a[4:] for a in audits(session, workspace_id)] == [
            ("care.sla_policy_set", "care_team", "cs", "cli")
        ]


# --- on a phone ----------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.live
def test_the_page_fits_a_phone_and_saves_in_chromium(
    live_server: str, browser_page: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    with database.session() as session:
        workspace = make_workspace(session, name=unique("운영 시간 "))
        admin = make_user(session, workspace=workspace, role="admin", locale="ko")
        sla.set_hours(
            session,
            workspace_id=workspace.id,
            team="",
            weekly=[[[540, 720], [780, 1080]]] + [[]] * 6,
        )
        email, workspace_id = admin.email, workspace.id

    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/login")
    page.get_by_label("이메일").fill(email)
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").click()
    page.goto(f"{live_server}/settings/sla")
    assert no_sideways_overflow(page)

    page.locator('input[name="open-2"]').check()
    page.locator('input[name="start-2"]').fill("10:00")
    page.locator('input[name="end-2"]').fill("19:30")
    page.get_by_role("button", name="운영 시간 저장").click()
    expect(page.locator(".flash.success")).to_have_text("운영 시간을 저장했습니다.")
    page.get_by_label("첫 응답", exact=True).fill("2")
    page.get_by_role("button", name="SLA 목표 저장").click()
    expect(page.locator(".flash.success")).to_have_text("SLA 목표를 저장했습니다.")
    page.get_by_role("button", name="지금 운영 종료").click()
    expect(page.locator("#open-now")).to_have_text("운영 종료")
    assert no_sideways_overflow(page)
    assert page.problems == []

    with database.session() as session:
        hours = session.scalar(
            select(CareTeamHours).where(CareTeamHours.workspace_id == workspace_id)
        )
        policy = session.scalar(select(SlaPolicy).where(SlaPolicy.workspace_id == workspace_id))
        assert hours is not None and policy is not None
        assert hours.weekly[0] == [[540, 720], [780, 1080]]
        assert hours.weekly[2] == [[600, 1170]]
        assert (hours.override_open, policy.first_response_minutes) == (False, 120)


def no_sideways_overflow(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_the_page_speaks_english_to_an_english_speaking_admin(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    sla.set_hours(session, workspace_id=tenant.id, team="", weekly=[[]] * 7)
    admin = make_user(session, workspace=tenant.workspace, role="admin", locale="en")
    assert login(client, admin.email).status_code == 303

    page = get(client, "/settings/sla")
    refused = post(client, "/settings/sla/hours", hours_form(team="", closed_days="12/25"))

    assert page.status_code == 200
    assert "Business hours and SLA" in text_of(page)
    assert 'id="open-now">Closed now' in page.text
    assert "Following the schedule." in text_of(page)
    assert refused.status_code == 422
    assert "Closed days, line 1: '12/25' is not a date as YYYY-MM-DD." in text_of(refused)
