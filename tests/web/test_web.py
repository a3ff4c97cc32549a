"""The web UI through HTTP: sign-in and sessions, language and workspace switches, the customer
list and the customer 360 page with its actions (consent, export, erase, merge), permissions,
escaping and error pages."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.events import bus
from cxloop.events import service as events
from cxloop.events.segment import parse_message
from cxloop.models import AuditEntry, Customer, Identity, User, Workspace
from cxloop.profiles import service as profiles
from cxloop.web import session as web_session
from tests.factories import PASSWORD, make_customer, make_user, make_workspace, unique
from tests.helpers.web import HTML, flashes, get, login, post, text_of

# --- helpers -----------------------------------------------------------------------------------


def ingest(session: Session, workspace: Workspace, *raw: dict[str, Any]) -> None:
    """Store Segment messages through the ingestion service (as /v1/batch would)."""
    now = datetime.now(UTC)
    messages = [parse_message(r, type_=None, index=i, received_at=now) for i, r in enumerate(raw)]
    events.ingest(session, workspace=workspace, messages=messages, received_at=now)
    session.flush()


def drain(client: TestClient) -> None:
    """Let the bus consumers fold the new events into the profiles (counters, stage)."""
    bus.drain(client.app.state.database)  # type: ignore[attr-defined]


def at(days_ago: float, minutes: int = 0) -> str:
    when = datetime.now(UTC) - timedelta(days=days_ago) + timedelta(minutes=minutes)
    return when.isoformat()


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session, name=unique("가나다 쇼핑 "))


@pytest.fixture
def owner(session: Session, workspace: Workspace) -> User:
    return make_user(session, workspace=workspace, role="owner", locale="en")


@pytest.fixture
def signed_in(client: TestClient, owner: User) -> TestClient:
    response = login(client, owner.email)
    assert response.status_code == 303, response.text
    return client


def seed_shopper(session: Session, workspace: Workspace) -> Customer:
    """김민지: identities on three channels, a web visit, an iOS screen, a server-side order."""
    user_id = unique("member-")
    ingest(
        session,
        workspace,
        {
            "type": "identify",
            "userId": user_id,
            "anonymousId": "anon-" + user_id,
            "traits": {
                "name": "김민지",
                "email": "minji@example.com",
                "phone": "010-1234-5678",
                "plan": "gold",
            },
            "context": {"library": {"name": "analytics.js"}},
            "timestamp": at(10),
        },
        {
            "type": "page",
            "userId": user_id,
            "name": "봄 신상품",
            "properties": {"path": "/collections/spring"},
            "context": {"library": {"name": "analytics.js"}},
            "timestamp": at(9),
        },
        {
            "type": "screen",
            "userId": user_id,
            "name": "장바구니",
            "context": {"library": {"name": "analytics-ios"}},
            "timestamp": at(8),
        },
        {
            "type": "track",
            "userId": user_id,
            "event": "Order Completed",
            "properties": {
                "order_id": "ORD-1001",
                "total": 39000,
                "currency": "KRW",
                "products": [
                    {"product_id": "P-1", "name": "린넨 셔츠", "price": 29000, "quantity": 1},
                    {"product_id": "P-2", "name": "양말 세트", "price": 5000, "quantity": 2},
                ],
            },
            "timestamp": at(7),
        },
    )
    customer = session.scalars(
        select(Customer)
        .join(Identity, Identity.customer_id == Customer.id)
        .where(Identity.workspace_id == workspace.id, Identity.value == user_id)
    ).one()
    return customer


# --- signing in --------------------------------------------------------------------------------


def test_sign_in_lands_on_the_customer_list(client: TestClient, owner: User) -> None:
    response = login(client, owner.email)
    assert (response.status_code, response.headers["location"]) == (303, "/customers")
    page = get(client, "/customers")
    assert page.status_code == 200
    assert "<h1>Customers</h1>" in page.text
    assert owner.email in page.text


def test_sign_in_goes_back_to_the_page_asked_for(client: TestClient, owner: User) -> None:
    first = client.get("/customers?q=kim", headers=HTML, follow_redirects=False)
    assert first.headers["location"] == "/login?next=%2Fcustomers%3Fq%3Dkim"
    response = login(client, owner.email, next="/customers?q=kim")
    assert response.headers["location"] == "/customers?q=kim"


def test_sign_in_never_redirects_to_another_site(client: TestClient, owner: User) -> None:
    response = login(client, owner.email, next="//evil.example/")
    assert response.headers["location"] == "/customers"


@pytest.mark.parametrize(
    ("email", "password"),
    [("nobody@example.com", PASSWORD), (None, "wrong-password"), (None, "")],
    ids=["unknown-user", "wrong-password", "no-password"],
)
def test_a_failed_sign_in_says_so_and_starts_no_session(
    client: TestClient, owner: User, email: str | None, password: str
) -> None:
    response = login(client, email or owner.email, password)
    assert response.status_code in (401, 422)
    expected = (
        "이메일과 비밀번호를 모두 입력하세요."
        if not password
        else "이메일 또는 비밀번호가 올바르지 않습니다."
    )
    assert f'<div class="flash error" role="alert">{expected}</div>' in response.text
    assert get(client, "/customers").url.path == "/login"


def test_sign_in_is_slowed_after_too_many_failures(
    client: TestClient, owner: User, session: Session
) -> None:
    # given five failed attempts (the configured number before a delay)
    for _ in range(5):
        assert login(client, owner.email, "wrong-password").status_code == 401
    # when the right password comes next, at once, from the same client
    response = login(client, owner.email)
    # then it has to wait a moment first (the wait doubles with each further failure)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "로그인 실패가 너무 많습니다. 1초 후에 다시 시도하세요." in response.text
    assert get(client, "/customers").url.path == "/login"


def test_sign_out_ends_the_session(signed_in: TestClient) -> None:
    response = post(signed_in, "/logout")
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    page = get(signed_in, "/login")
    assert ("info", "You have signed out.") in flashes(page)
    assert get(signed_in, "/customers").url.path == "/login"


# --- sessions: CSRF and the idle timeout ---------------------------------------------------------


def test_a_form_without_the_csrf_token_is_rejected(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    customer = make_customer(session, workspace=workspace, email="csrf@example.com")
    for token in (None, "forged-token-" + "x" * 40):
        data = {"purpose": "marketing", "channel": "sms", "decision": "grant", "source": "agent"}
        if token:
            data["csrf_token"] = token
        response = signed_in.post(
            f"/customers/{customer.id}/consent", data=data, headers=HTML, follow_redirects=False
        )
        assert response.status_code == 403
        assert "The form has expired; reload the page and try again." in response.text
    assert profiles.consent_history(session, customer=customer) == []
    # and the session itself is untouched: signing out without the token fails too
    assert signed_in.post("/logout", headers=HTML).status_code == 403
    assert get(signed_in, "/customers").status_code == 200


def test_an_idle_session_expires(signed_in: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    now = web_session.current_time()
    # 59 minutes later the session is still alive (and the activity time moves on)
    monkeypatch.setattr(web_session, "current_time", lambda: now + 59 * 60)
    assert get(signed_in, "/customers").url.path == "/customers"
    # another 59 minutes without a request is still within the hour since the last one
    monkeypatch.setattr(web_session, "current_time", lambda: now + 118 * 60)
    assert get(signed_in, "/customers").url.path == "/customers"
    # but 61 idle minutes end it
    monkeypatch.setattr(web_session, "current_time", lambda: now + 179 * 60)
    response = signed_in.get("/customers?q=x", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fcustomers%3Fq%3Dx"
    page = get(signed_in, "/login")
    assert (
        "info",
        "You were signed out after 60 minutes without activity. Please sign in again.",
    ) in flashes(page)


# --- language and workspace ----------------------------------------------------------------------


def test_switching_the_language_changes_the_page_and_is_remembered(
    signed_in: TestClient, owner: User, session: Session
) -> None:
    page = get(signed_in, "/customers")
    assert '<html lang="en">' in page.text
    assert "<h1>Customers</h1>" in page.text
    response = post(signed_in, "/locale", {"locale": "ko", "next": "/customers?q=a"})
    assert (response.status_code, response.headers["location"]) == (303, "/customers?q=a")
    page = get(signed_in, "/customers")
    assert '<html lang="ko">' in page.text
    assert "<h1>고객</h1>" in page.text
    assert ">로그아웃</button>" in page.text
    session.refresh(owner)
    assert owner.locale == "ko"
    # and back
    post(signed_in, "/locale", {"locale": "en"})
    assert '<html lang="en">' in get(signed_in, "/customers").text


def test_an_unknown_language_is_refused(signed_in: TestClient) -> None:
    response = post(signed_in, "/locale", {"locale": "fr"})
    assert response.status_code == 422
    assert '<html lang="en">' in get(signed_in, "/customers").text


def test_the_login_page_follows_the_browser_language(client: TestClient) -> None:
    page = client.get("/login", headers={**HTML, "Accept-Language": "en-US,en;q=0.9,ko;q=0.5"})
    assert "<h1>Sign in</h1>" in page.text
    page = client.get("/login", headers={**HTML, "Accept-Language": "ko-KR"})
    assert "<h1>로그인</h1>" in page.text


def test_switching_workspaces(
    signed_in: TestClient, session: Session, owner: User, workspace: Workspace
) -> None:
    # given a second workspace where the same user is an analyst, each with one customer
    other = make_workspace(session, name="두번째 매장")
    accounts.add_member(session, workspace=other, user=owner, role="analyst")
    make_customer(session, workspace=workspace, traits={"name": "첫째고객"})
    make_customer(session, workspace=other, traits={"name": "둘째고객"})
    session.flush()
    page = get(signed_in, "/customers")
    assert "첫째고객" in page.text and "둘째고객" not in page.text
    assert '<select name="workspace_id" id="workspace-select" data-autosubmit>' in page.text
    # when they switch
    response = post(signed_in, "/workspace", {"workspace_id": str(other.id)})
    assert (response.status_code, response.headers["location"]) == (303, "/customers")
    page = get(signed_in, "/customers")
    # then the list is the other workspace's, and the role shown is the one held there
    assert ("info", "Switched to the 두번째 매장 workspace.") in flashes(page)
    assert "둘째고객" in page.text and "첫째고객" not in page.text
    assert "· Analyst</a>" in page.text
    # a workspace they do not belong to is refused
    stranger = make_workspace(session)
    post(signed_in, "/workspace", {"workspace_id": str(stranger.id)})
    page = get(signed_in, "/customers")
    assert ("error", "You are not a member of that workspace.") in flashes(page)
    assert "둘째고객" in page.text


# --- the customer list ---------------------------------------------------------------------------


def names_on(response: Response) -> list[str]:
    return [
        html.unescape(n)
        for n in re.findall(r'<td><a href="/customers/\d+">([^<]*)</a>', response.text)
    ]


def test_the_list_searches_by_korean_name_email_and_phone(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    make_customer(session, workspace=workspace, phone="010-2222-3333", traits={"name": "김민지"})
    make_customer(session, workspace=workspace, email="lee@example.com", traits={"name": "이서준"})
    make_customer(session, workspace=workspace, traits={"name": "박지훈"})
    session.flush()
    assert sorted(names_on(get(signed_in, "/customers"))) == ["김민지", "박지훈", "이서준"]
    cases = {"민지": ["김민지"], "lee@example": ["이서준"], "010-2222-3333": ["김민지"], "최": []}
    for q, expected in cases.items():
        page = get(signed_in, f"/customers?q={q}")
        assert names_on(page) == expected, q
    page = get(signed_in, "/customers?q=최")
    assert "No customer matches." in page.text
    assert "0 of 3" in page.text
    assert '<td class="nowrap">010-2222-3333</td>' in get(signed_in, "/customers?q=민지").text


def test_the_list_pages_with_a_cursor(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    for i in range(53):
        make_customer(session, workspace=workspace, traits={"name": f"고객{i:02d}"})
    session.flush()
    first = get(signed_in, "/customers?sort=name")
    names = names_on(first)
    assert names == [f"고객{i:02d}" for i in range(50)]
    assert "53 in all" in first.text
    next_link = re.search(r'<a class="btn subtle" rel="next" href="([^"]+)"', first.text)
    assert next_link
    second = get(signed_in, html.unescape(next_link.group(1)))
    assert names_on(second) == ["고객50", "고객51", "고객52"]
    assert 'rel="next"' not in second.text
    assert 'href="/customers?sort=name">« First</a>' in second.text


@pytest.mark.parametrize(
    "query",
    ["cursor=garbage", "cursor=WzFd", "sort=nope&stage=alien&orders=maybe", "q=" + "가" * 500],
    ids=["bad-cursor", "wrong-shape-cursor", "unknown-filters", "long-query"],
)
def test_bad_list_parameters_get_a_friendly_answer(signed_in: TestClient, query: str) -> None:
    response = get(signed_in, f"/customers?{query}")
    assert response.status_code in (200, 422)
    assert "<html" in response.text
    if response.status_code == 422:
        assert "That page link is not valid; start again from the first page." in response.text


# --- the customer 360 page -----------------------------------------------------------------------


def test_the_360_page_shows_profile_identities_consent_orders_and_events(
    signed_in: TestClient, client: TestClient, session: Session, workspace: Workspace
) -> None:
    customer = seed_shopper(session, workspace)
    profiles.record_consent(
        session,
        customer=customer,
        purpose="marketing",
        channel="sms",
        granted=True,
        source="web_signup",
        evidence="회원가입 시 선택 동의",
    )
    drain(client)
    page = get(signed_in, f"/customers/{customer.id}")
    assert page.status_code == 200
    text = text_of(page)
    # the profile
    assert '<h1>김민지 <span class="badge stage-customer">Customer</span>' in page.text
    assert "Phone 010-1234-5678" in text
    assert "Email minji@example.com" in text
    assert "plan gold" in text
    # identities, phone shown the Korean way
    for kind, value in [
        ("User ID", customer_user_id(session, customer)),
        ("Anonymous ID", "anon-" + customer_user_id(session, customer)),
        ("Email", "minji@example.com"),
        ("Phone", "010-1234-5678"),
    ]:
        assert f"{kind} {value}" in text, kind
    # consent: the grid and the history
    assert '<span class="mark yes"' in page.text
    assert "Marketing SMS Granted Web sign-up 회원가입 시 선택 동의" in text
    # the order with its items and totals
    assert "ORD-1001 Completed" in text
    assert "린넨 셔츠 ₩29,000 × 1 ₩29,000" in text
    assert "양말 세트 ₩5,000 × 2 ₩10,000" in text
    assert "₩39,000" in text
    # events of several channels, newest first, with their summaries
    timeline = re.findall(
        r'<span class="name">([^<]*)</span>\s*<span class="badge channel-badge">([^<]*)</span>',
        page.text,
    )
    assert timeline == [
        ("Order Completed", "Server"),
        ("장바구니", "iOS app"),
        ("봄 신상품", "Web"),
        ("Identify", "Web"),
    ]
    assert "/collections/spring" in text
    # an order in words: its amount, its lines and its number
    assert "₩39,000 · 린넨 셔츠 and 1 more · Order ORD-1001" in text
    # touchpoint counters and the chart
    assert '<svg class="chart"' in page.text
    assert "4 events in the last year" in text


def customer_user_id(session: Session, customer: Customer) -> str:
    return session.scalars(
        select(Identity.value).where(
            Identity.customer_id == customer.id, Identity.kind == "user_id"
        )
    ).one()


def test_the_360_page_speaks_korean(
    signed_in: TestClient, session: Session, workspace: Workspace, owner: User
) -> None:
    customer = seed_shopper(session, workspace)
    owner.locale = "ko"
    session.flush()
    text = text_of(get(signed_in, f"/customers/{customer.id}"))
    assert "전화번호 010-1234-5678" in text
    assert "ORD-1001 결제 완료" in text
    assert "₩39,000" in text
    assert "수신 동의" in text and "타임라인" in text


def events_on(response: Response) -> list[str]:
    return re.findall(r'<span class="name">([^<]*)</span>', response.text)


def test_the_timeline_pages_and_filters(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    # given 30 web page views and 4 app events, one a minute
    user_id = unique("tl-")
    ingest(
        session,
        workspace,
        *[
            {
                "type": "page",
                "userId": user_id,
                "name": f"page {i:02d}",
                "context": {"library": {"name": "analytics.js"}},
                "timestamp": at(1, minutes=i),
            }
            for i in range(30)
        ],
        *[
            {
                "type": "track",
                "userId": user_id,
                "event": f"App tap {i}",
                "context": {"library": {"name": "analytics-android"}},
                "timestamp": at(2, minutes=i),
            }
            for i in range(4)
        ],
    )
    customer_id = session.scalars(
        select(Identity.customer_id).where(Identity.value == user_id)
    ).one()
    base = f"/customers/{customer_id}"
    # the first page has the 25 newest events
    first = get(signed_in, base)
    assert events_on(first) == [f"page {i:02d}" for i in range(29, 4, -1)]
    next_link = re.search(r'rel="next" href="([^"]*events_cursor[^"]*)"', first.text)
    assert next_link and next_link.group(1).endswith("#timeline")
    second = get(signed_in, html.unescape(next_link.group(1)).split("#")[0])
    assert events_on(second) == [f"page {i:02d}" for i in range(4, -1, -1)] + [
        f"App tap {i}" for i in range(3, -1, -1)
    ]
    assert 'rel="next" href="/customers' not in second.text.split('id="timeline"')[1]
    # filters: by channel, by type, both
    assert events_on(get(signed_in, f"{base}?channel=android")) == [
        f"App tap {i}" for i in range(3, -1, -1)
    ]
    assert len(events_on(get(signed_in, f"{base}?type=page"))) == 25
    assert events_on(get(signed_in, f"{base}?type=track&channel=web")) == []
    assert "No event matches." in get(signed_in, f"{base}?type=track&channel=web").text
    # an unknown type is ignored rather than an error; the channel options list the touchpoints
    assert len(events_on(get(signed_in, f"{base}?type=bogus"))) == 25


@pytest.mark.parametrize(
    "query",
    [
        "events_cursor=not-a-cursor",
        "orders_cursor=WyJ4IiwgMV0",
        "consent_page=999999999999",
        "consent_page=-1",
        "channel=" + "x" * 300,
    ],
    ids=["bad-events-cursor", "bad-orders-cursor", "huge-consent-page", "negative-page", "long"],
)
def test_bad_360_parameters_never_fail_with_500(
    signed_in: TestClient, session: Session, workspace: Workspace, query: str
) -> None:
    customer = make_customer(session, workspace=workspace, traits={"name": "파라미터"})
    response = get(signed_in, f"/customers/{customer.id}?{query}")
    assert response.status_code in (200, 422), response.text[:500]
    assert "<html" in response.text
    if response.status_code == 422:
        assert "That page link is not valid" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/customers/999999999",
        "/customers/99999999999999999999999",
        "/customers/0",
        "/customers/abc",
    ],
    ids=["unknown", "huge", "zero", "not-a-number"],
)
def test_an_unknown_customer_gets_a_404_page(signed_in: TestClient, path: str) -> None:
    response = get(signed_in, path)
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text
    assert 'href="/customers">Back to customers</a>' in response.text


def test_a_customer_of_another_workspace_is_not_found(
    signed_in: TestClient, session: Session
) -> None:
    elsewhere = make_customer(
        session, workspace=make_workspace(session), traits={"name": "남의고객"}
    )
    response = get(signed_in, f"/customers/{elsewhere.id}")
    assert response.status_code == 404
    assert "남의고객" not in response.text


def test_names_are_escaped(signed_in: TestClient, session: Session, workspace: Workspace) -> None:
    evil = "<script>alert('x')</script>"
    customer = make_customer(
        session, workspace=workspace, traits={"name": evil, "note": '"><img src=x onerror=1>'}
    )
    for path in ("/customers", f"/customers/{customer.id}"):
        page = get(signed_in, path)
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
        assert "<img src=x" not in page.text


# --- consent -------------------------------------------------------------------------------------


def test_recording_a_consent_change(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    customer = make_customer(session, workspace=workspace, traits={"name": "동의고객"})
    page = get(signed_in, f"/customers/{customer.id}")
    assert f'action="/customers/{customer.id}/consent"' in page.text
    response = post(
        signed_in,
        f"/customers/{customer.id}/consent",
        {
            "purpose": "marketing",
            "channel": "kakao",
            "decision": "grant",
            "source": "phone",
            "evidence": "상담 통화 #77",
        },
    )
    assert response.headers["location"] == f"/customers/{customer.id}#consent"
    page = get(signed_in, f"/customers/{customer.id}")
    assert ("success", "Recorded the consent change for Marketing by Kakao.") in flashes(page)
    assert "Marketing Kakao Granted Phone call 상담 통화 #77" in text_of(page)
    [record] = profiles.consent_history(session, customer=customer)
    assert (record.purpose, record.channel, record.granted, record.source, record.evidence) == (
        "marketing",
        "kakao",
        True,
        "phone",
        "상담 통화 #77",
    )
    # (other tests commit workspaces whose ids may equal this customer's: this workspace only)
    audit = session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.workspace_id == workspace.id, AuditEntry.target_id == str(customer.id)
        )
    ).all()
    assert audit == ["consent.record"]
    # then a withdrawal wins in the grid
    post(
        signed_in,
        f"/customers/{customer.id}/consent",
        {"purpose": "marketing", "channel": "kakao", "decision": "withdraw", "source": "agent"},
    )
    page = get(signed_in, f"/customers/{customer.id}")
    grid = page.text.split('class="consent-grid"')[1].split("</table>")[0]
    assert grid.count('class="mark no"') == 1 and 'class="mark yes"' not in grid


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"purpose": "spam", "channel": "sms", "decision": "grant"},
            "purpose must be one of service, marketing, third_party, night_marketing.",
        ),
        (
            {"purpose": "marketing", "channel": "fax", "decision": "grant"},
            "channel must be one of email, sms, kakao, push, in_app, talktalk.",
        ),
        (
            {"purpose": "marketing", "channel": "sms"},
            "Choose whether consent is given or withdrawn.",
        ),
        (
            {"purpose": "marketing", "channel": "sms", "decision": "grant", "source": " "},
            "A consent change needs its source.",
        ),
    ],
    ids=["bad-purpose", "bad-channel", "no-decision", "no-source"],
)
def test_a_bad_consent_change_is_refused(
    signed_in: TestClient,
    session: Session,
    workspace: Workspace,
    data: dict[str, str],
    message: str,
) -> None:
    customer = make_customer(session, workspace=workspace)
    response = post(signed_in, f"/customers/{customer.id}/consent", {"source": "agent", **data})
    assert response.status_code == 303
    page = get(signed_in, f"/customers/{customer.id}")
    assert ("error", message) in flashes(page)
    assert profiles.consent_history(session, customer=customer) == []


def test_the_consent_history_pages(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    customer = make_customer(session, workspace=workspace)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(12):
        profiles.record_consent(
            session,
            customer=customer,
            purpose="marketing",
            channel="email",
            granted=i % 2 == 0,
            source="agent",
            evidence=f"기록 {i:02d}",
            at=start + timedelta(days=i),
        )
    first = get(signed_in, f"/customers/{customer.id}")
    assert re.findall(r"기록 (\d\d)", first.text) == [f"{i:02d}" for i in range(11, 1, -1)]
    assert "Page 1 · 12 changes in all" in first.text
    second = get(signed_in, f"/customers/{customer.id}?consent_page=2")
    assert re.findall(r"기록 (\d\d)", second.text) == ["01", "00"]


# --- export, erase and merge ---------------------------------------------------------------------


def test_export_downloads_everything_as_json(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    customer = seed_shopper(session, workspace)
    response = post(signed_in, f"/customers/{customer.id}/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="customer-{customer.id}.json"'
    )
    data = orjson.loads(response.content)
    assert data["customer"]["display_name"] == "김민지"
    assert {(i["kind"], i["value"]) for i in data["identities"]} >= {
        ("email", "minji@example.com"),
        ("phone", "+821012345678"),
    }
    assert session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.workspace_id == workspace.id, AuditEntry.target_id == str(customer.id)
        )
    ).all() == ["customer.export"]


def test_erasure_needs_the_typed_id_and_then_anonymises(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    customer = seed_shopper(session, workspace)
    form = get(signed_in, f"/customers/{customer.id}/erase")
    assert form.status_code == 200
    assert f"To confirm, type the customer number {customer.id}" in form.text
    assert "data-confirm=" in form.text
    # a wrong number erases nothing
    response = post(signed_in, f"/customers/{customer.id}/erase", {"confirm": "12"})
    assert response.status_code == 422
    assert f"That is not the customer number {customer.id}; type it again." in response.text
    session.refresh(customer)
    assert customer.display_name == "김민지"
    # the right one does
    response = post(signed_in, f"/customers/{customer.id}/erase", {"confirm": f" {customer.id} "})
    assert response.headers["location"] == f"/customers/{customer.id}"
    page = get(signed_in, f"/customers/{customer.id}")
    [(kind, message)] = flashes(page)
    assert kind == "success"
    assert message.startswith(f"Erased the personal data of customer {customer.id} (4 identities")
    session.refresh(customer)
    assert (customer.display_name, customer.email, customer.phone, customer.traits) == (
        None,
        None,
        None,
        {},
    )
    assert profiles.identities_of(session, customer=customer) == []
    assert "김민지" not in page.text and "minji@example.com" not in page.text
    assert f"Unnamed customer #{customer.id}" in page.text
    assert '<span class="badge muted">Erased</span>' in page.text
    # the erase link is gone and the form says it was done already
    assert f'href="/customers/{customer.id}/erase"' not in page.text
    again = signed_in.get(f"/customers/{customer.id}/erase", headers=HTML)
    assert ("info", "This customer's personal data was already erased.") in flashes(again)


def test_merging_two_profiles(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    older = make_customer(
        session, workspace=workspace, email="a@example.com", traits={"name": "한지민"}
    )
    session.flush()
    newer = make_customer(
        session, workspace=workspace, user_id="kakao-77", traits={"name": "한지민"}
    )
    newer.created_at = older.created_at + timedelta(seconds=5)
    session.flush()
    # the confirmation, asked from the newer profile, shows which one stays
    page = get(signed_in, f"/customers/{newer.id}/merge?other=%23{older.id}")
    assert page.status_code == 200
    text = text_of(page)
    assert f"The older profile {older.id} stays; profile {newer.id} is folded into it." in text
    assert "a@example.com" in text and "kakao-77" in text
    assert f'<input type="hidden" name="other" value="{older.id}">' in page.text
    # when confirmed
    response = post(signed_in, f"/customers/{newer.id}/merge", {"other": str(older.id)})
    assert response.headers["location"] == f"/customers/{older.id}"
    page = get(signed_in, f"/customers/{older.id}")
    assert ("success", f"Merged profile {newer.id} into profile {older.id}.") in flashes(page)
    text = text_of(page)
    assert "User ID kakao-77" in text and "Email a@example.com" in text
    assert f"profile {newer.id} was merged in (merged by hand)" in text
    # the merged profile's address leads to the survivor
    gone = get(signed_in, f"/customers/{newer.id}")
    assert gone.url.path == f"/customers/{older.id}"
    assert (
        "info",
        f"Customer {newer.id} was merged into customer {older.id}; showing the merged profile.",
    ) in flashes(gone)


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ("abc", "Enter the number of the customer to merge with."),
        ("99999999999999999999", "Enter the number of the customer to merge with."),
        ("999999999", "There is no customer 999999999."),
        ("self", "A profile cannot be merged into itself."),
    ],
    ids=["not-a-number", "too-long", "unknown", "itself"],
)
def test_a_bad_merge_target_is_explained(
    signed_in: TestClient, session: Session, workspace: Workspace, other: str, message: str
) -> None:
    customer = make_customer(session, workspace=workspace)
    other = str(customer.id) if other == "self" else other
    for send in (
        lambda: signed_in.get(
            f"/customers/{customer.id}/merge?other={other}", headers=HTML, follow_redirects=False
        ),
        lambda: post(signed_in, f"/customers/{customer.id}/merge", {"other": other}),
    ):
        assert send().headers["location"] == f"/customers/{customer.id}"
        assert ("error", message) in flashes(get(signed_in, f"/customers/{customer.id}"))
    assert profiles.merges_of(session, customer=customer) == []


# --- permissions -------------------------------------------------------------------------------


def test_a_viewer_sees_no_actions_and_may_not_post_them(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    viewer = make_user(session, workspace=workspace, role="viewer")
    customer = make_customer(session, workspace=workspace, traits={"name": "보기전용"})
    other = make_customer(session, workspace=workspace)
    login(client, viewer.email)
    page = get(client, f"/customers/{customer.id}")
    assert page.status_code == 200 and "보기전용" in page.text
    for fragment in ("/erase", "/merge", "/export", "/consent"):
        assert f'/customers/{customer.id}{fragment}"' not in page.text, fragment
    assert get(client, f"/customers/{customer.id}/erase").status_code == 403
    assert get(client, f"/customers/{customer.id}/merge?other={other.id}").status_code == 403
    for path, data in [
        (f"/customers/{customer.id}/erase", {"confirm": str(customer.id)}),
        (f"/customers/{customer.id}/merge", {"other": str(other.id)}),
        (f"/customers/{customer.id}/export", {}),
        (
            f"/customers/{customer.id}/consent",
            {"purpose": "marketing", "channel": "sms", "decision": "grant"},
        ),
    ]:
        response = post(client, path, data)
        assert response.status_code == 403, path
        assert "Your role (Viewer) does not allow this." in response.text
    session.refresh(customer)
    assert customer.display_name == "보기전용" and customer.erased_at is None
    assert profiles.merges_of(session, customer=customer) == []


def test_an_agent_may_merge_and_record_consent_but_not_erase(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    agent = make_user(session, workspace=workspace, role="agent")
    customer = make_customer(session, workspace=workspace)
    login(client, agent.email)
    page = get(client, f"/customers/{customer.id}").text
    assert f'action="/customers/{customer.id}/merge"' in page
    assert f'action="/customers/{customer.id}/consent"' in page
    assert f'/customers/{customer.id}/erase"' not in page
    assert f'/customers/{customer.id}/export"' not in page


# --- pages, assets and headers -------------------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy(signed_in: TestClient) -> None:
    response = get(signed_in, "/customers")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    # nothing inline that the policy would block
    assert not re.search(r"<script>|<style|\sstyle=|\son\w+=", response.text)


def test_the_360_page_has_nothing_inline_either(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    customer = seed_shopper(session, workspace)
    page = get(signed_in, f"/customers/{customer.id}").text
    assert not re.search(r"<script>|<style|\sstyle=|\son\w+=", page)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/static/cxloop.css", "text/css"),
        ("/static/cxloop.js", "javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_static_assets_are_served(client: TestClient, path: str, kind: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    # nothing is fetched from elsewhere (the SVG namespace is a name, not a download)
    body = response.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in body and "https://" not in body and "@import" not in body


def test_the_home_page_sends_people_where_they_belong(client: TestClient, owner: User) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    login(client, owner.email)
    assert client.get("/", follow_redirects=False).headers["location"] == "/customers"


def test_the_360_page_shows_the_customers_survey_answers(
    signed_in: TestClient, session: Session, workspace: Workspace
) -> None:
    from cxloop.feedback.responses import service as response_service
    from cxloop.feedback.surveys import service as survey_service

    customer = seed_shopper(session, workspace)
    survey = survey_service.create_survey(
        session,
        workspace_id=workspace.id,
        key="after-delivery",
        name="배송 후 설문",
        kind="nps",
        definition={
            "questions": [
                {"id": "nps", "type": "nps", "required": True, "text": {"ko": "추천?", "en": "?"}},
                {"id": "comment", "type": "text", "text": {"ko": "의견", "en": "Comment"}},
            ]
        },
    )
    survey_service.set_status(session, survey=survey, status="live")
    response_service.submit_response(
        session,
        survey=survey,
        answers={"nps": 3, "comment": "<b>포장이</b> 찢어져 왔어요"},
        locale="ko",
        customer_id=customer.id,
        channel="email",
        hidden={},
        partial=False,
    )
    session.flush()
    page = get(signed_in, f"/customers/{customer.id}")
    assert page.status_code == 200
    html = page.text
    assert "배송 후 설문" in html and "NPS 3" in html
    assert "&lt;b&gt;포장이&lt;/b&gt; 찢어져 왔어요" in html
    assert "<b>포장이</b>" not in html
