"""Files of messages: a customer's mail with attachments posted to an inbox's webhook keeps them
(once per content in a workspace, under the data dir); one over the limits is recorded as not
stored and the message is kept; files are handed out only as downloads, only in their own
workspace; an agent's reply carries its files to the customer's mail server (a real SMTP
server); erasing the customer deletes them and an export lists them."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.care.attachments import sanitise_filename
from cxloop.care.hooks import export_conversations, scrub_conversations
from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.models import (
    Conversation,
    ConversationAttachment,
    Customer,
    OutboundMessage,
    User,
)
from tests.care.test_canned import new_inbox
from tests.care.test_email_conversations import mail
from tests.factories import Tenant, make_user
from tests.helpers.care_mail import deliver_mail
from tests.helpers.smtp import SmtpInbox
from tests.helpers.web import get, login, post

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8  # 2,057 bytes


@pytest.fixture
def hook(client: TestClient, tenant: Tenant) -> str:
    return new_inbox(client, tenant)


def with_files(*files: tuple[str, str, bytes], message_id: str = "<a1@mail.example.com>") -> bytes:
    message = EmailMessage()
    message["From"] = "김민지 <minji@example.com>"
    message["To"] = "help@shop.example"
    message["Subject"] = "영수증 보내 드려요"
    message["Message-ID"] = message_id
    message.set_content("영수증 첨부합니다.")
    for filename, content_type, data in files:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def deliver(client: TestClient, hook: str, body: bytes) -> dict[str, Any]:
    return deliver_mail(client, hook, body)


def files_of(client: TestClient, tenant: Tenant, conversation_id: int) -> list[dict[str, Any]]:
    shown = client.get(f"/api/v1/care/conversations/{conversation_id}", headers=tenant.api)
    assert shown.status_code == 200, shown.text
    return [f for m in shown.json()["messages"] for f in m["attachments"]]


def stored_path(settings: Settings, tenant: Tenant, sha: str) -> Path:
    return settings.data_dir / "attachments" / str(tenant.id) / sha[:2] / sha


# --- in ------------------------------------------------------------------------------------------


def test_a_mail_with_a_file_keeps_it_under_the_data_dir(
    client: TestClient, session: Session, tenant: Tenant, hook: str, settings: Settings
) -> None:
    result = deliver(client, hook, with_files(("../../견적서 12월.pdf", "application/pdf", PDF)))

    sha = hashlib.sha256(PDF).hexdigest()
    [shown] = files_of(client, tenant, result["conversation_id"])
    assert {k: shown[k] for k in ("filename", "content_type", "size", "sha256", "problem")} == {
        "filename": "견적서 12월.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": sha,
        "problem": "",
    }
    assert shown["message_id"] == result["message_id"]
    assert stored_path(settings, tenant, sha).read_bytes() == PDF
    assert not list(stored_path(settings, tenant, sha).parent.glob(".upload-*"))


def test_the_same_file_twice_is_stored_once(
    client: TestClient, session: Session, tenant: Tenant, hook: str, settings: Settings
) -> None:
    first = deliver(client, hook, with_files(("a.pdf", "application/pdf", PDF)))
    second = deliver(
        client,
        hook,
        with_files(("b.pdf", "application/pdf", PDF), message_id="<a2@mail.example.com>"),
    )

    records = session.scalars(
        select(ConversationAttachment)
        .where(ConversationAttachment.workspace_id == tenant.id)
        .order_by(ConversationAttachment.id)
    ).all()
    sha = hashlib.sha256(PDF).hexdigest()
    assert [(r.message_id, r.filename, r.storage_key) for r in records] == [
        (first["message_id"], "a.pdf", f"{tenant.id}/{sha[:2]}/{sha}"),
        (second["message_id"], "b.pdf", f"{tenant.id}/{sha[:2]}/{sha}"),
    ]
    assert [p.name for p in stored_path(settings, tenant, sha).parent.iterdir()] == [sha]


def test_files_over_the_limits_are_recorded_not_stored_and_the_message_is_kept(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "max_attachment_bytes", 1000)
    monkeypatch.setattr(settings, "max_message_attachment_bytes", 1500)
    monkeypatch.setattr(settings, "max_message_attachments", 3)

    result = deliver(
        client,
        hook,
        with_files(
            ("big.pdf", "application/pdf", PDF),
            ("one.txt", "text/plain", b"x" * 900),
            ("two.txt", "text/plain", b"y" * 900),
            ("three.txt", "text/plain", b"z" * 10),
            ("four.txt", "text/plain", b"w"),
            ("five.txt", "text/plain", b"v"),
        ),
    )

    assert result["status"] == "stored"
    shown = files_of(client, tenant, result["conversation_id"])
    assert [(f["filename"], f["size"], f["sha256"] != "", f["problem"]) for f in shown] == [
        (
            "big.pdf",
            len(PDF),
            False,
            f"Too large, not stored: {len(PDF):,} bytes, over the 1,000 bytes limit.",
        ),
        ("one.txt", 900, True, ""),
        (
            "two.txt",
            900,
            False,
            "Too large, not stored: with the message's other files it passes the 1,500 bytes "
            "limit of a message (900 bytes before it).",
        ),
        ("three.txt", 10, True, ""),
        ("four.txt", 1, True, ""),
        ("five.txt", 1, False, "Not stored: a message keeps at most 3 files."),
    ]
    big = shown[0]["id"]
    missing = client.get(f"/api/v1/care/attachments/{big}", headers=tenant.api)
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("Too large, not stored")


# --- out -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "served_as", "disposition"),
    [
        pytest.param(
            "견적서.pdf",
            "application/pdf",
            "application/pdf",
            "attachment; filename=\".pdf\"; filename*=UTF-8''%EA%B2%AC%EC%A0%81%EC%84%9C.pdf",
            id="korean-name",
        ),
        pytest.param(
            "page.html",
            "text/html",
            "application/octet-stream",
            "attachment; filename=\"page.html\"; filename*=UTF-8''page.html",
            id="html-never-inline",
        ),
        pytest.param(
            'x"; evil=1.svg',
            "image/svg+xml",
            "application/octet-stream",
            "attachment; filename=\"x_ evil_1.svg\"; filename*=UTF-8''x%3B%20evil%3D1.svg",
            id="quotes-and-svg",
        ),
    ],
)
def test_a_file_is_handed_out_only_as_a_download(
    client: TestClient,
    tenant: Tenant,
    hook: str,
    filename: str,
    content_type: str,
    served_as: str,
    disposition: str,
) -> None:
    data = b"<script>alert(1)</script>" if "html" in content_type else PDF
    result = deliver(client, hook, with_files((filename, content_type, data)))
    [shown] = files_of(client, tenant, result["conversation_id"])

    response = client.get(f"/api/v1/care/attachments/{shown['id']}", headers=tenant.api)

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == served_as
    assert response.headers["content-disposition"] == disposition
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"


def test_another_workspace_gets_not_found(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    result = deliver(client, hook, with_files(("a.pdf", "application/pdf", PDF)))
    [shown] = files_of(client, tenant, result["conversation_id"])
    other = Tenant(session)
    stranger = make_user(session, workspace=other.workspace, role="agent")
    agent = make_user(session, workspace=tenant.workspace, role="agent")

    by_key = client.get(f"/api/v1/care/attachments/{shown['id']}", headers=other.api)
    assert login(client, stranger.email).status_code == 303
    by_page = get(client, f"/inbox/attachments/{shown['id']}")
    assert login(client, agent.email).status_code == 303
    own = get(client, f"/inbox/attachments/{shown['id']}")

    assert (by_key.status_code, by_page.status_code) == (404, 404)
    assert own.status_code == 200 and own.content == PDF
    assert own.headers["content-disposition"].startswith("attachment;")


def test_a_reply_carries_its_files_to_the_customers_mail_server(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    conversation_id = deliver(client, hook, mail())["conversation_id"]
    uploaded = client.post(
        f"/api/v1/care/conversations/{conversation_id}/attachments",
        files=[("files", ("환불 안내.pdf", PDF, "application/pdf"))],
        headers=tenant.api,
    )
    assert uploaded.status_code == 201, uploaded.text
    [upload] = uploaded.json()
    assert upload["message_id"] is None

    replied = client.post(
        f"/api/v1/care/conversations/{conversation_id}/replies",
        json={"text": "환불 안내서를 보내 드립니다.", "attachment_ids": [upload["id"]]},
        headers=tenant.api,
    )
    again = client.post(
        f"/api/v1/care/conversations/{conversation_id}/replies",
        json={"text": "한 번 더", "attachment_ids": [upload["id"]]},
        headers=tenant.api,
    )
    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))

    assert replied.status_code == 201, replied.text
    assert [a["id"] for a in replied.json()["attachments"]] == [upload["id"]]
    assert again.status_code == 422  # an upload goes out with one message only
    [received] = inbox.to("minji@example.com")
    assert received.get_content_type() == "multipart/mixed"
    body = received.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().strip() == "환불 안내서를 보내 드립니다."
    [part] = list(received.iter_attachments())
    assert (part.get_filename(), part.get_content_type()) == ("환불 안내.pdf", "application/pdf")
    assert part.get_payload(decode=True) == PDF


def test_the_inbox_page_sends_a_reply_with_a_file_and_lists_it(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    hook: str,
    tx_database: Database,
    inbox: SmtpInbox,
    settings: Settings,
) -> None:
    agent: User = make_user(session, workspace=tenant.workspace, role="agent")
    conversation_id = deliver(client, hook, mail())["conversation_id"]
    assert login(client, agent.email).status_code == 303

    sent = post(
        client,
        f"/inbox/{conversation_id}/reply",
        {"text": "첨부 확인해 주세요.", "next": f"/inbox/{conversation_id}"},
        files=[("files", ("표.csv", b"a,b\n1,2\n", "text/csv"))],
    )
    page = get(client, f"/inbox/{conversation_id}")
    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))

    assert sent.status_code == 303, sent.text
    record = session.scalars(
        select(ConversationAttachment).where(ConversationAttachment.workspace_id == tenant.id)
    ).one()
    assert f'<a href="/inbox/attachments/{record.id}" download>표.csv</a>' in page.text
    [received] = inbox.to("minji@example.com")
    [part] = list(received.iter_attachments())
    assert (part.get_filename(), part.get_payload(decode=True)) == ("표.csv", b"a,b\n1,2\n")


def test_an_upload_over_the_limit_is_refused(
    client: TestClient,
    tenant: Tenant,
    hook: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "max_attachment_bytes", 1000)
    conversation_id = deliver(client, hook, mail())["conversation_id"]

    refused = client.post(
        f"/api/v1/care/conversations/{conversation_id}/attachments",
        files=[("files", ("big.pdf", PDF, "application/pdf"))],
        headers=tenant.api,
    )

    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("big.pdf: Too large, not stored")
    listed = client.get(
        f"/api/v1/care/conversations/{conversation_id}/attachments", headers=tenant.api
    )
    assert listed.json() == []


# --- erasure and export --------------------------------------------------------------------------


def test_erasing_the_customer_deletes_their_files_and_an_export_lists_them(
    client: TestClient, session: Session, tenant: Tenant, hook: str, settings: Settings
) -> None:
    own = b"only minji's"
    result = deliver(
        client,
        hook,
        with_files(("a.pdf", "application/pdf", PDF), ("mine.txt", "text/plain", own)),
    )
    other = deliver(
        client,
        hook,
        mail("Alex <alex@example.com>", "Also", "same file", message_id="<x9@mail.example.com>"),
    )
    shared = deliver(
        client,
        hook,
        with_files(("copy.pdf", "application/pdf", PDF), message_id="<x10@mail.example.com>"),
    )
    del shared
    conversation = session.get(Conversation, result["conversation_id"])
    assert conversation is not None and other["conversation_id"]
    customer = session.get(Customer, conversation.customer_id)
    assert customer is not None

    exported = export_conversations(session, customer)
    counts = scrub_conversations(session, customer)

    first = exported["conversations"][0]["messages"][0]["attachments"]
    assert first == [
        {"filename": "a.pdf", "content_type": "application/pdf", "size": len(PDF)},
        {"filename": "mine.txt", "content_type": "text/plain", "size": len(own)},
    ]
    assert counts["conversation_attachments_deleted"] == 3
    left = session.scalars(
        select(ConversationAttachment).where(ConversationAttachment.workspace_id == tenant.id)
    ).all()
    assert left == []
    assert not stored_path(settings, tenant, hashlib.sha256(own).hexdigest()).exists()
    assert not stored_path(settings, tenant, hashlib.sha256(PDF).hexdigest()).exists()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        pytest.param("../../etc/passwd", "passwd", id="no-folders"),
        pytest.param("C:\\Users\\x\\report.pdf", "report.pdf", id="windows-folders"),
        pytest.param(".htaccess", "htaccess", id="no-leading-dot"),
        pytest.param('a"b<c>|d:e*f?.txt', "abcdef.txt", id="no-quotes-or-wildcards"),
        pytest.param("line\r\nbreak\x00.pdf", "line break .pdf", id="no-control-characters"),
        pytest.param("", "attachment", id="empty"),
        pytest.param("가" * 300 + ".pdf", "가" * 196 + ".pdf", id="long-keeps-its-extension"),
    ],
)
def test_file_names_are_sanitised(given: str, kept: str) -> None:
    assert sanitise_filename(given) == kept


def test_outgoing_replies_name_stored_files_in_the_outbox(
    client: TestClient, session: Session, tenant: Tenant, hook: str
) -> None:
    conversation_id = deliver(client, hook, mail())["conversation_id"]
    [upload] = client.post(
        f"/api/v1/care/conversations/{conversation_id}/attachments",
        files=[("files", ("a.pdf", PDF, "application/pdf"))],
        headers=tenant.api,
    ).json()
    reply = client.post(
        f"/api/v1/care/conversations/{conversation_id}/replies",
        json={"text": "첨부", "attachment_ids": [upload["id"]]},
        headers=tenant.api,
    ).json()

    queued = session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.workspace_id == tenant.id,
            OutboundMessage.dedupe_key == f"care:reply:{reply['id']}",
        )
    ).one()
    sha = hashlib.sha256(PDF).hexdigest()
    assert queued.details["attachments"] == [
        {
            "key": f"{tenant.id}/{sha[:2]}/{sha}",
            "filename": "a.pdf",
            "content_type": "application/pdf",
        }
    ]


def test_uploads_no_reply_took_are_forgotten_after_a_day(
    client: TestClient, session: Session, tenant: Tenant, hook: str, settings: Settings
) -> None:
    from datetime import timedelta

    from cxloop.care.attachments import forget_unsent_uploads
    from cxloop.core.timeutil import utcnow

    conversation_id = deliver(client, hook, mail())["conversation_id"]

    def upload(name: str, data: bytes) -> int:
        response = client.post(
            f"/api/v1/care/conversations/{conversation_id}/attachments",
            files=[("files", (name, data, "application/octet-stream"))],
            headers=tenant.api,
        )
        assert response.status_code == 201, response.text
        upload_id: int = response.json()[0]["id"]
        return upload_id

    left, sent, fresh = upload("left.bin", b"left"), upload("sent.bin", b"sent"), upload("new", PDF)
    replied = client.post(
        f"/api/v1/care/conversations/{conversation_id}/notes",
        json={"text": "첨부", "attachment_ids": [sent]},
        headers=tenant.api,
    )
    assert replied.status_code == 201
    day_ago = utcnow() - timedelta(days=2)
    for record in session.scalars(
        select(ConversationAttachment).where(ConversationAttachment.id.in_([left, sent]))
    ):
        record.created_at = day_ago
    session.flush()

    forgotten = forget_unsent_uploads(session, before=utcnow() - timedelta(days=1))

    kept = session.scalars(
        select(ConversationAttachment.id)
        .where(ConversationAttachment.workspace_id == tenant.id)
        .order_by(ConversationAttachment.id)
    ).all()
    assert forgotten >= 1
    assert kept == [sent, fresh]
    assert not stored_path(settings, tenant, hashlib.sha256(b"left").hexdigest()).exists()
    assert stored_path(settings, tenant, hashlib.sha256(b"sent").hexdigest()).exists()


def test_the_composer_takes_files_larger_than_an_ordinary_form(
    client: TestClient, session: Session, tenant: Tenant, hook: str, settings: Settings
) -> None:
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    conversation_id = deliver(client, hook, mail())["conversation_id"]
    assert login(client, agent.email).status_code == 303
    big = bytes(range(256)) * (3 * 4096 + 1)  # 3 MB and a bit: over the 2 MB of a form
    assert len(big) > settings.max_body_bytes

    noted = post(
        client,
        f"/inbox/{conversation_id}/note",
        {"text": "로그 파일", "next": f"/inbox/{conversation_id}"},
        files=[("files", ("server.log", big, "text/plain"))],
    )
    inserted = post(
        client,
        f"/inbox/{conversation_id}/canned",
        {"text": "초안", "next": f"/inbox/{conversation_id}"},
        files=[("files", ("server.log", big, "text/plain"))],
    )

    assert noted.status_code == 303, noted.text
    record = session.scalars(
        select(ConversationAttachment).where(ConversationAttachment.workspace_id == tenant.id)
    ).one()
    assert (record.filename, record.size) == ("server.log", len(big))
    assert inserted.status_code == 422  # no canned reply chosen: said so, not a 413
