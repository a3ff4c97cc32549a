"""The outbox settings page through HTTP: counts, filters and pages, retry that really sends
the message over SMTP (a local aiosmtpd server), cancel, refusals, who may see it, another
workspace's messages, bad filters, and the page in Korean and English."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.models import AuditEntry, OutboundMessage, Workspace
from cxloop.web.channels import outbox as outbox_page
from tests.factories import make_customer, make_user, make_workspace, unique
from tests.helpers.outbox import add_message, reload
from tests.helpers.smtp import SmtpInbox
from tests.helpers.web import flashes, get, login, post, text_of

ROW = re.compile(r'<tr id="message-(\d+)"')


def sign_in(
    client: TestClient,
    session: Session,
    workspace: Workspace,
    *,
    role: str = "owner",
    locale: str = "en",
) -> None:
    user = make_user(session, workspace=workspace, role=role, locale=locale)
    session.flush()
    response = login(client, user.email)
    assert response.status_code == 303, response.text


def listed(response_text: str) -> list[int]:
    return [int(found) for found in ROW.findall(response_text)]


def audit_of(session: Session, workspace: Workspace, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(
                AuditEntry.workspace_id == workspace.id, AuditEntry.action == action
            )
        )
    )


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session, name=unique("가나다 쇼핑 "))


# --- the page ----------------------------------------------------------------------------------


def test_counts_rows_and_the_customer_link(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    # given two queued, one sent, one failed message (one of them to a known customer)
    customer = make_customer(session, workspace=workspace, email="minji@example.com")
    add_message(session, workspace, recipient="minji@example.com", customer_id=customer.id)
    add_message(session, workspace)
    sent = add_message(session, workspace, status="sent", attempts=1, sent_at=utcnow())
    failed = add_message(
        session, workspace, status="failed", attempts=1, last_error="SMTP 550: No such user here"
    )
    sign_in(client, session, workspace)

    page = get(client, "/settings/outbox")

    assert page.status_code == 200, page.text
    text = text_of(page)
    assert "All Queued 2 Sending 0 Sent 1 Delivered 0 Bounced 0 Failed 1 Cancelled 0" in text
    assert len(listed(page.text)) == 4
    # the customer is named (here by their address: they have no name yet), not numbered
    assert f'href="/customers/{customer.id}">minji@example.com</a>' in page.text
    assert f"Customer #{customer.id}" not in text
    assert "SMTP 550: No such user here" in text
    # a failed row offers retry, a queued one cancel (behind a confirmation), a sent one nothing
    assert f'action="/settings/outbox/{failed.id}/retry"' in page.text
    assert re.search(
        r'action="/settings/outbox/\d+/cancel".*?data-confirm="Cancel the message to ',
        page.text,
        re.S,
    )
    assert f"/settings/outbox/{sent.id}/" not in page.text
    # the settings menu has the section
    assert '<a href="/settings/outbox" aria-current="page">Outbox</a>' in page.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("status=failed", ["failed"], id="status"),
        pytest.param("channel=email", ["failed", "sent", "queued"], id="channel"),
        pytest.param("channel=sms", [], id="channel-without-messages"),
        pytest.param("recipient=%20MINJI%20", ["queued"], id="recipient"),
        pytest.param("recipient=shop.example&status=sent", ["sent"], id="both"),
    ],
)
def test_filters(
    client: TestClient, session: Session, workspace: Workspace, query: str, expected: list[str]
) -> None:
    made = {
        "queued": add_message(session, workspace, recipient="minji.kim@example.com"),
        "sent": add_message(session, workspace, recipient="jun@shop.example", status="sent"),
        "failed": add_message(session, workspace, recipient="seo@shop.example", status="failed"),
    }
    sign_in(client, session, workspace)

    page = get(client, f"/settings/outbox?{query}")

    assert page.status_code == 200, page.text
    assert listed(page.text) == [made[status].id for status in expected]
    if not expected:
        assert "No message matches these filters." in text_of(page)


def test_pages_follow_the_cursor_and_keep_the_filters(
    client: TestClient, session: Session, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_page, "PAGE_SIZE", 2)
    start = utcnow() - timedelta(hours=1)
    failed = [
        add_message(session, workspace, status="failed", created_at=start + timedelta(minutes=i))
        for i in range(3)
    ]
    add_message(session, workspace, created_at=start + timedelta(minutes=10))
    sign_in(client, session, workspace)

    first = get(client, "/settings/outbox?status=failed")
    assert listed(first.text) == [failed[2].id, failed[1].id]
    found = re.search(r'<a class="btn subtle" rel="next" href="([^"]+)"', first.text)
    assert found is not None
    next_url = found.group(1).replace("&amp;", "&")
    assert "status=failed" in next_url
    second = get(client, next_url)

    assert listed(second.text) == [failed[0].id]
    assert 'rel="next"' not in second.text


def test_an_empty_outbox_says_so(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    sign_in(client, session, workspace)

    page = get(client, "/settings/outbox")

    assert page.status_code == 200
    assert "Nothing has been sent yet." in text_of(page)
    assert listed(page.text) == []
    # the test settings name no SMTP host: the page says why mail waits
    assert "No mail server is set (CXLOOP_SMTP_HOST)" in text_of(page)


def test_with_a_mail_server_the_page_does_not_warn(
    session: Session, workspace: Workspace, settings: Settings, tx_database: Database
) -> None:
    from cxloop.app import create_app

    app = create_app(settings.model_copy(update={"smtp_host": "127.0.0.1"}), database=tx_database)
    with TestClient(app, base_url="http://testserver") as client:
        sign_in(client, session, workspace)
        page = get(client, "/settings/outbox")
    assert page.status_code == 200
    assert 'id="no-mail-server"' not in page.text


@pytest.mark.parametrize(
    ("locale", "phrases"),
    [
        pytest.param(
            "ko",
            [
                "발송함",
                "대기 1",
                "실패 1",
                "받는 사람",
                "다시 보내기",
                "마지막 오류",
                "2025. 3. 9. 오후 6:30",
            ],
            id="ko",
        ),
        pytest.param(
            "en",
            [
                "Outbox",
                "Queued 1",
                "Failed 1",
                "Recipient",
                "Retry",
                "Last error",
                "Mar 9, 2025, 6:30 PM",
            ],
            id="en",
        ),
    ],
)
def test_the_page_speaks_the_users_language_in_the_workspace_time_zone(
    client: TestClient, session: Session, workspace: Workspace, locale: str, phrases: list[str]
) -> None:
    # 09:30 UTC is 18:30 in Seoul, the workspace's time zone
    moment = datetime(2025, 3, 9, 9, 30, tzinfo=UTC)
    add_message(session, workspace, status="failed", created_at=moment)
    add_message(session, workspace, created_at=moment - timedelta(days=1))
    sign_in(client, session, workspace, locale=locale)

    text = text_of(get(client, "/settings/outbox"))

    assert [p for p in phrases if p not in text] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param(
            "status=lost", "'lost' is not a status; showing every status instead.", id="status"
        ),
        pytest.param(
            "channel=fax", "'fax' is not a channel; showing every channel instead.", id="channel"
        ),
        pytest.param(
            "cursor=forged",
            "That page link is not valid; start again from the first page.",
            id="cursor",
        ),
        pytest.param(
            "recipient=min%00ji",
            "The recipient search holds a character that cannot be searched for; "
            "showing every recipient instead.",
            id="recipient",
        ),
    ],
)
def test_a_bad_filter_says_so_on_the_page(
    client: TestClient, session: Session, workspace: Workspace, query: str, message: str
) -> None:
    message_row = add_message(session, workspace)
    sign_in(client, session, workspace)

    page = get(client, f"/settings/outbox?{query}")

    assert page.status_code == 422
    [error] = re.findall(r'<div class="flash error" role="alert">(.*?)</div>', page.text, re.S)
    assert message in error.replace("&#39;", "'")
    # the page still works: the rest of the filters apply and the messages are listed
    assert listed(page.text) == [message_row.id]


def test_a_bad_filter_in_korean(client: TestClient, session: Session, workspace: Workspace) -> None:
    sign_in(client, session, workspace, locale="ko")

    page = get(client, "/settings/outbox?status=lost")

    assert page.status_code == 422
    assert "'lost'은(는) 알 수 없는 상태라서 상태 필터 없이 보여 드립니다." in text_of(page)


# --- retry and cancel --------------------------------------------------------------------------


def test_retry_puts_a_failed_message_back_and_the_sender_delivers_it_once(
    client: TestClient,
    session: Session,
    tx_database: Database,
    settings: Settings,
    inbox: SmtpInbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a message the SMTP server refused for good, failed by the real sender
    workspace = make_workspace(session)
    to = f"{unique('minji')}@example.com"
    inbox.refuse.add(to)
    message = add_message(session, workspace, recipient=to)
    session.commit()
    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))
    assert reload(session, message).status == "failed"
    inbox.refuse.discard(to)
    # and SMTP configured, so committing a queued message starts the sender (jobs run at once)
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", inbox.port)
    monkeypatch.setattr(channel_tasks, "get_database", lambda: tx_database)
    sign_in(client, session, workspace)

    # when the operator presses retry on the failed row
    response = post(
        client, f"/settings/outbox/{message.id}/retry", {"next": "/settings/outbox?status=failed"}
    )

    # then the mail went out once, the row is sent, the retry is audited and the page says so
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/outbox?status=failed"
    [received] = inbox.to(to)
    assert received["To"] == to
    stored = reload(session, message)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 1, "")
    [entry] = audit_of(session, workspace, "outbox.retry")
    assert (entry.target_type, entry.target_id) == ("outbound_message", str(message.id))
    shown = get(client, "/settings/outbox")
    assert ("success", f"The message to {to} is queued again.") in flashes(shown)

    # and pressing retry again (a stale page) sends nothing twice
    again = post(client, f"/settings/outbox/{message.id}/retry")
    assert again.status_code == 303
    page = get(client, "/settings/outbox")
    assert (
        "error",
        f"The message to {to} was already sent; it was not retried, so it is never sent twice.",
    ) in flashes(page)
    channel_tasks.deliver_outbox(
        tx_database, settings=inbox.settings(settings), now=utcnow() + timedelta(hours=1)
    )
    assert len(inbox.to(to)) == 1
    assert len(audit_of(session, workspace, "outbox.retry")) == 1


def test_retry_of_a_queued_message_is_refused_with_its_status(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    message = add_message(session, workspace, recipient="jun@example.com")
    sign_in(client, session, workspace, locale="ko")

    post(client, f"/settings/outbox/{message.id}/retry")

    page = get(client, "/settings/outbox")
    assert (
        "error",
        "jun@example.com 님에게 보낼 메시지는 현재 '대기' 상태라서 다시 보낼 수 없습니다. "
        "실패한 메시지만 다시 보낼 수 있습니다.",
    ) in flashes(page)
    assert reload(session, message).status == "queued"


def test_cancel_withdraws_a_queued_message(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    message = add_message(session, workspace, recipient="seo@example.com")
    sign_in(client, session, workspace, locale="ko")

    response = post(client, f"/settings/outbox/{message.id}/cancel")

    assert response.status_code == 303
    assert response.headers["location"] == "/settings/outbox"
    assert reload(session, message).status == "cancelled"
    [entry] = audit_of(session, workspace, "outbox.cancel")
    assert entry.detail == {"customer_id": message.customer_id}  # never the address
    page = get(client, "/settings/outbox")
    assert ("success", "seo@example.com 님에게 보낼 메시지를 취소했습니다.") in flashes(page)
    assert "취소됨 1" in text_of(page)
    # a second cancel is refused and not audited again
    post(client, f"/settings/outbox/{message.id}/cancel")
    page = get(client, "/settings/outbox")
    assert [kind for kind, _ in flashes(page)] == ["error"]
    assert len(audit_of(session, workspace, "outbox.cancel")) == 1


def test_a_post_without_the_csrf_token_is_refused(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    message = add_message(session, workspace)
    sign_in(client, session, workspace)

    response = client.post(
        f"/settings/outbox/{message.id}/cancel",
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert reload(session, message).status == "queued"


def test_an_offsite_next_is_not_followed(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    message = add_message(session, workspace)
    sign_in(client, session, workspace)

    response = post(client, f"/settings/outbox/{message.id}/cancel", {"next": "//evil.example"})

    assert response.headers["location"] == "/settings/outbox"


# --- who may, and which workspace ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "agent", "marketer", "analyst"])
def test_roles_below_admin_are_refused(
    client: TestClient, session: Session, workspace: Workspace, role: str
) -> None:
    failed = add_message(session, workspace, status="failed")
    queued = add_message(session, workspace)
    sign_in(client, session, workspace, role=role)

    assert get(client, "/settings/outbox").status_code == 403
    assert post(client, f"/settings/outbox/{failed.id}/retry").status_code == 403
    assert post(client, f"/settings/outbox/{queued.id}/cancel").status_code == 403
    assert reload(session, failed).status == "failed"
    assert reload(session, queued).status == "queued"
    assert audit_of(session, workspace, "outbox.cancel") == []


def test_an_admin_sees_the_section_in_the_settings_menu(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    sign_in(client, session, workspace, role="admin")

    page = get(client, "/settings/audit")

    assert '<a href="/settings/outbox">Outbox</a>' in page.text
    assert get(client, "/settings/outbox").status_code == 200


def test_another_workspaces_message_is_404_and_never_listed(
    client: TestClient, session: Session, workspace: Workspace
) -> None:
    other = make_workspace(session)
    failed = add_message(session, other, status="failed", recipient="elsewhere@example.com")
    queued = add_message(session, other, recipient="elsewhere2@example.com")
    mine = add_message(session, workspace)
    sign_in(client, session, workspace)

    page = get(client, "/settings/outbox?recipient=elsewhere")
    assert listed(page.text) == []
    assert listed(get(client, "/settings/outbox").text) == [mine.id]
    assert post(client, f"/settings/outbox/{failed.id}/retry").status_code == 404
    assert post(client, f"/settings/outbox/{queued.id}/cancel").status_code == 404
    assert post(client, f"/settings/outbox/{2**70}/cancel").status_code == 404
    session.expire_all()
    statuses = {
        m.id: m.status
        for m in session.scalars(
            select(OutboundMessage).where(OutboundMessage.workspace_id == other.id)
        )
    }
    assert statuses == {failed.id: "failed", queued.id: "queued"}
