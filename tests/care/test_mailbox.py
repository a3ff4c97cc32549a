"""An email inbox reading an IMAP mailbox on a real server (a private Dovecot): mail in the
mailbox becomes conversations, each message once whatever happens (a second poll, a folder whose
UIDs start over, a crash between fetching and committing), read mail is flagged \\Seen, a wrong
password is an error recorded on the mailbox with a backoff, never an exception; and a full round
trip: the agent's reply out through a real SMTP server, the customer's answer to it (as their
mail client writes it, to the reply address) into the mailbox and back into the conversation."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.care import mailbox as mailboxes
from cxloop.care.reply_address import named_conversation
from cxloop.channels import tasks as channel_tasks
from cxloop.channels.imap import Account, ImapError, check
from cxloop.core.db import Database
from cxloop.core.sealing import CannotUnseal, seal, unseal
from cxloop.core.settings import Settings
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import CareMailbox, Conversation, ConversationMessage
from tests.care.test_email_conversations import mail
from tests.factories import Tenant, make_user
from tests.helpers.cli import Cli
from tests.helpers.imap import DOVECOT, Dovecot, ImapUser
from tests.helpers.smtp import SmtpInbox
from tests.helpers.web import flashes, get, login, post, text_of


class Crash(BaseException):
    """The worker dies (as if killed): nothing catches it on the way out."""


def inbox_with_mailbox(
    client: TestClient, tenant: Tenant, imap: ImapUser, *, folder: str = "INBOX", **fields: Any
) -> int:
    made = client.post(
        "/api/v1/care/inboxes",
        json={"name": "고객센터", "address": "help@shop.example"},
        headers=tenant.api,
    )
    assert made.status_code == 201, made.text
    inbox_id: int = made.json()["id"]
    body = {
        "host": "127.0.0.1",
        "port": imap.port,
        "security": "none",
        "username": imap.user,
        "password": imap.password,
        "folder": folder,
        **fields,
    }
    response = client.put(f"/api/v1/care/inboxes/{inbox_id}/imap", json=body, headers=tenant.api)
    assert response.status_code == 200, response.text
    return inbox_id


def mailbox_row(session: Session, inbox_id: int) -> CareMailbox:
    session.expire_all()
    return session.scalars(select(CareMailbox).where(CareMailbox.inbox_id == inbox_id)).one()


def poll(
    tx_database: Database, session: Session, inbox_id: int, settings: Settings, **kw: Any
) -> mailboxes.PollReport:
    mailbox_id = mailbox_row(session, inbox_id).id
    report = mailboxes.poll(tx_database, mailbox_id=mailbox_id, settings=settings, **kw)
    session.expire_all()
    return report


def stored(session: Session, inbox_id: int) -> list[tuple[str, str, str]]:
    """(sender address, subject, Message-ID) of each message taken into the inbox, in order."""
    rows = session.execute(
        select(
            Conversation.contact,
            ConversationMessage.subject,
            ConversationMessage.channel_message_id,
        )
        .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
        .where(Conversation.inbox_id == inbox_id, ConversationMessage.direction == "in")
        .order_by(ConversationMessage.id)
    )
    return [(c, s, m or "") for c, s, m in rows]


def conversation_count(session: Session, inbox_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.inbox_id == inbox_id)
        )
        or 0
    )


MINJI = mail()  # <m1@mail.example.com> from minji@example.com
ALEX = mail(
    "Alex Kim <alex@example.com>", "Refund please", "I want a refund.", message_id="<a1@x.example>"
)


def test_a_poll_takes_new_mail_into_conversations_once_and_flags_it_seen(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    dovecot: ImapUser,
) -> None:
    # given a mailbox with two customers' mail
    inbox_id = inbox_with_mailbox(client, tenant, dovecot)
    dovecot.append(MINJI, ALEX)

    # when it is polled twice
    first = poll(tx_database, session, inbox_id, settings)
    second = poll(tx_database, session, inbox_id, settings)

    # then each message became a conversation once, and the mailbox knows how far it read
    assert (first.stored, first.duplicates, first.error) == (2, 0, "")
    assert (second.stored, second.duplicates, second.outcomes) == (0, 0, [])
    assert stored(session, inbox_id) == [
        ("minji@example.com", "주문한 상품이 아직 안 왔어요", "<m1@mail.example.com>"),
        ("alex@example.com", "Refund please", "<a1@x.example>"),
    ]
    assert dovecot.flags() == {1: {r"\Seen"}, 2: {r"\Seen"}}
    row = mailbox_row(session, inbox_id)
    assert (row.last_uid, row.last_error, row.failures) == (2, "", 0)
    assert row.uidvalidity is not None and row.polled_at is not None

    # when Minji answers in the same thread
    dovecot.append(
        mail(
            subject="Re: 주문한 상품이 아직 안 왔어요",
            text="내일까지 꼭 부탁드려요",
            message_id="<m2@mail.example.com>",
            in_reply_to="<m1@mail.example.com>",
            references="<m1@mail.example.com>",
        )
    )
    third = poll(tx_database, session, inbox_id, settings)

    # then it joins her conversation
    assert third.stored == 1
    assert conversation_count(session, inbox_id) == 2
    assert mailbox_row(session, inbox_id).last_uid == 3


def test_the_first_poll_takes_the_unread_mail_and_then_every_new_message(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    dovecot: ImapUser,
) -> None:
    # given a mailbox with a message read long ago in a mail client, and an unread one
    dovecot.append(mail(message_id="<old@x.example>", subject="지난달 문의"), seen=True)
    dovecot.append(ALEX)
    inbox_id = inbox_with_mailbox(client, tenant, dovecot)

    first = poll(tx_database, session, inbox_id, settings)
    dovecot.append(mail(message_id="<new@x.example>", subject="새 문의"), seen=True)
    later = poll(tx_database, session, inbox_id, settings)

    # the read one stays out; after that, anything new comes in, read or not
    assert (first.stored, later.stored) == (1, 1)
    assert [m for _c, _s, m in stored(session, inbox_id)] == ["<a1@x.example>", "<new@x.example>"]


def test_a_folder_whose_uids_start_over_stores_nothing_twice(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    dovecot: ImapUser,
) -> None:
    # given a folder polled once
    dovecot.append(MINJI, ALEX, folder="Support")
    inbox_id = inbox_with_mailbox(client, tenant, dovecot, folder="Support")
    assert poll(tx_database, session, inbox_id, settings).stored == 2
    before = mailbox_row(session, inbox_id).uidvalidity

    # when the folder is made again (a server migration): the same mail, unread, and one more
    dovecot.recreate("Support")
    dovecot.append(
        MINJI, ALEX, mail(message_id="<m9@mail.example.com>", subject="추가 문의"), folder="Support"
    )
    again = poll(tx_database, session, inbox_id, settings)

    # then only the new message is stored, and the new UIDVALIDITY is remembered
    row = mailbox_row(session, inbox_id)
    assert (again.stored, again.duplicates) == (1, 2)
    assert row.uidvalidity != before and row.last_uid == 3
    assert [m for _c, _s, m in stored(session, inbox_id)] == [
        "<m1@mail.example.com>",
        "<a1@x.example>",
        "<m9@mail.example.com>",
    ]


@pytest.mark.parametrize("polled_before", [False, True], ids=["first-poll", "later-poll"])
def test_a_crash_between_fetching_and_committing_loses_nothing_and_stores_each_once(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    dovecot: ImapUser,
    monkeypatch: pytest.MonkeyPatch,
    polled_before: bool,
) -> None:
    inbox_id = inbox_with_mailbox(client, tenant, dovecot)
    if polled_before:
        dovecot.append(mail(message_id="<earlier@x.example>", subject="처음 문의"))
        assert poll(tx_database, session, inbox_id, settings).stored == 1
    position = mailbox_row(session, inbox_id).last_uid
    no_id = b"From: Bora <bora@example.com>\r\nSubject: no id\r\n\r\nMessage-ID is missing.\r\n"
    uids = dovecot.append(MINJI, no_id, ALEX)

    # when the worker dies after storing two of three fetched messages, before the commit
    taken: list[bytes] = []
    real = mailboxes.take_mail

    def dies_on_the_third(session: Session, **kw: Any) -> Any:
        taken.append(kw["raw"])
        if len(taken) == 3:
            raise Crash
        return real(session, **kw)

    monkeypatch.setattr(mailboxes, "take_mail", dies_on_the_third)
    with pytest.raises(Crash):
        poll(tx_database, session, inbox_id, settings)
    monkeypatch.setattr(mailboxes, "take_mail", real)

    # then nothing of the batch was kept, nor the position, nor the \Seen flags
    assert len(taken) == 3
    assert len(stored(session, inbox_id)) == (1 if polled_before else 0)
    row = mailbox_row(session, inbox_id)
    assert (row.last_uid, row.polled_at is None, row.lease_until) == (
        position,
        not polled_before,  # a crash is not a poll
        None,  # let go of, so the next worker can read it
    )
    assert all(r"\Seen" not in dovecot.flags()[uid] for uid in uids)

    # when it polls again (the lease of the dead poll released), and once more
    again = poll(tx_database, session, inbox_id, settings)
    after = poll(tx_database, session, inbox_id, settings)

    # then each message is stored once, the one without a Message-ID too
    assert (again.stored, again.duplicates, after.stored) == (3, 0, 0)
    senders = [c for c, _s, _m in stored(session, inbox_id)]
    assert senders[-3:] == ["minji@example.com", "bora@example.com", "alex@example.com"]
    assert mailbox_row(session, inbox_id).last_uid == uids[-1]


def test_a_wrong_password_is_recorded_with_a_backoff_and_never_raised(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    dovecot: ImapUser,
) -> None:
    inbox_id = inbox_with_mailbox(client, tenant, dovecot, password="not-the-password")
    url = f"/api/v1/care/inboxes/{inbox_id}/imap"
    now = utcnow()

    first = poll(tx_database, session, inbox_id, settings, now=now)
    second = poll(tx_database, session, inbox_id, settings, now=now + timedelta(minutes=1))

    assert "[AUTHENTICATIONFAILED] Authentication failed." in first.error
    row = mailbox_row(session, inbox_id)
    assert row.failures == 2
    assert as_utc(row.retry_at) == now + timedelta(minutes=3)  # waited 1, now waits 2 minutes
    shown = client.get(url, headers=tenant.api).json()
    assert shown["last_error"] == second.error
    assert "password" not in str(shown).replace("password_", "")
    # not due while it waits, due after
    assert row.id not in mailboxes.due_mailboxes(session, now=now + timedelta(minutes=2))
    assert row.id in mailboxes.due_mailboxes(session, now=now + timedelta(minutes=3))
    tested = client.post(f"{url}/test", headers=tenant.api).json()
    assert tested["ok"] is False
    assert (
        tested["summary"]
        == f"127.0.0.1:{dovecot.port} refused: [AUTHENTICATIONFAILED] Authentication failed."
    )

    # when the admin enters the right password, the error is gone and the test signs in
    dovecot.append(MINJI)
    fixed = client.put(
        url,
        json={
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "none",
            "username": dovecot.user,
            "password": dovecot.password,
        },
        headers=tenant.api,
    ).json()
    tested = client.post(f"{url}/test", headers=tenant.api).json()
    assert (fixed["last_error"], fixed["retry_at"]) == ("", None)
    assert tested == {
        "ok": True,
        "messages": 1,
        "error": "",
        "summary": "Signed in; the folder holds 1 messages.",
    }


def test_a_mailbox_that_cannot_be_reached_is_an_error_on_the_mailbox(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    dovecot: ImapUser,
) -> None:
    from tests.conftest import free_port

    inbox_id = inbox_with_mailbox(client, tenant, dovecot, port=free_port())

    report = poll(tx_database, session, inbox_id, settings)

    assert report.error.startswith("cannot reach IMAP server 127.0.0.1:")
    assert "Connection refused" in report.error
    assert mailbox_row(session, inbox_id).last_error == report.error


def test_a_message_larger_than_an_inbox_takes_is_kept_with_its_header(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    dovecot: ImapUser,
) -> None:
    inbox_id = inbox_with_mailbox(client, tenant, dovecot)
    big = mail(text="첨부 " + "가" * 4000, message_id="<big@x.example>")
    dovecot.append(big)
    small_limit = settings.model_copy(update={"max_inbound_mail_bytes": 2048})

    report = poll(tx_database, session, inbox_id, small_limit)

    assert report.outcomes == ["unreadable"]
    message = session.scalars(
        select(ConversationMessage)
        .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
        .where(Conversation.inbox_id == inbox_id)
    ).one()
    size = len(big.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))  # as IMAP counts it
    assert message.problem == (
        f"The message is {size:,} bytes, more than the 2,048 an inbox takes; only its header "
        "is kept."
    )
    assert "Message-ID: <big@x.example>" in message.raw
    assert "가가가" not in message.raw
    assert dovecot.flags() == {1: {r"\Seen"}}


# --- settings -------------------------------------------------------------------------------------


def test_settings_are_for_admins_the_password_is_sealed_and_never_shown(
    client: TestClient, session: Session, tenant: Tenant, dovecot: ImapUser, settings: Settings
) -> None:
    inbox_id = inbox_with_mailbox(client, tenant, dovecot)
    url = f"/api/v1/care/inboxes/{inbox_id}/imap"
    body = {"host": "imap.example.com", "security": "none", "username": "u"}

    remote_plain = client.put(url, json=body, headers=tenant.api)
    agent = client.get(url, headers=tenant.key("agent"))
    other = client.get(url, headers=Tenant(session).api)
    shown = client.get(url, headers=tenant.api)

    assert remote_plain.status_code == 422
    assert "in the clear" in remote_plain.json()["detail"]
    assert agent.status_code == 403
    assert other.status_code == 404
    assert shown.status_code == 200
    assert dovecot.password not in shown.text
    row = mailbox_row(session, inbox_id)
    assert dovecot.password not in row.password_sealed
    assert unseal(row.password_sealed, settings=settings) == dovecot.password

    # another server without a password keeps the stored one and reads from the start
    moved = client.put(
        url, json={**body, "host": "imap.example.com", "security": "ssl"}, headers=tenant.api
    ).json()
    assert (moved["port"], moved["uidvalidity"], moved["last_uid"]) == (993, None, 0)
    assert unseal(mailbox_row(session, inbox_id).password_sealed, settings=settings) == (
        dovecot.password
    )

    removed = client.delete(url, headers=tenant.api)
    assert removed.status_code == 204
    assert client.get(url, headers=tenant.api).status_code == 404
    assert client.delete(url, headers=tenant.api).status_code == 404


def test_a_password_sealed_under_the_previous_secret_key_still_opens(settings: Settings) -> None:
    old = settings.model_copy(update={"secret_key": "the-old-secret-key-" + "x" * 30})
    rotated = settings.model_copy(update={"previous_secret_keys": old.secret_key})
    sealed = seal("비밀번호 123", settings=old)

    assert unseal(sealed, settings=rotated) == "비밀번호 123"
    with pytest.raises(CannotUnseal):
        unseal(sealed, settings=settings)
    with pytest.raises(CannotUnseal):
        unseal(sealed[:-4] + "AAAA", settings=old)


# --- the round trip ---------------------------------------------------------------------------


def test_the_reply_goes_out_by_smtp_and_the_customer_answer_comes_back_by_imap(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    dovecot: ImapUser,
    inbox: SmtpInbox,
) -> None:
    # given Minji's question taken in from the mailbox
    inbox_id = inbox_with_mailbox(client, tenant, dovecot)
    dovecot.append(MINJI)
    poll(tx_database, session, inbox_id, settings)
    [conversation_id] = session.scalars(
        select(Conversation.id).where(Conversation.inbox_id == inbox_id)
    ).all()

    # when the agent replies, and it goes out through the SMTP server
    response = client.post(
        f"/api/v1/care/conversations/{conversation_id}/replies",
        json={"text": "안녕하세요 김민지 님, 내일 도착 예정입니다."},
        headers=tenant.api,
    )
    assert response.status_code == 201, response.text
    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))
    [sent] = inbox.to("minji@example.com")

    # then it threads under her message and answers to a reply address naming the conversation
    assert sent["In-Reply-To"] == "<m1@mail.example.com>"
    assert str(sent["Reply-To"]).startswith(f"help+c{conversation_id}.")
    assert str(sent["Reply-To"]).endswith("@shop.example")
    assert named_conversation({"To": str(sent["Reply-To"])}, settings=settings) == conversation_id

    # when her mail client answers it (to Reply-To, quoting it) and her answer reaches the mailbox
    answer = EmailMessage()
    answer["From"] = "김민지 <minji@example.com>"
    answer["To"] = str(sent["Reply-To"])
    answer["Subject"] = f"Re: {sent['Subject']}"
    answer["Message-ID"] = make_msgid(domain="mail.example.com")
    answer["In-Reply-To"] = sent["Message-ID"]
    answer["References"] = f"{sent['References']} {sent['Message-ID']}"
    answer["Date"] = "Mon, 07 Dec 2026 09:00:00 +0900"
    quoted = "\n".join(f"> {line}" for line in sent.get_content().splitlines())
    answer.set_content(
        f"감사합니다! 받으면 알려드릴게요.\n\nOn Mon, 7 Dec 2026, 고객센터 wrote:\n{quoted}\n"
    )
    dovecot.append(answer.as_bytes())
    report = poll(tx_database, session, inbox_id, settings)

    # then it lands in the same conversation, reopened, showing only what she wrote
    assert report.stored == 1
    shown = client.get(f"/api/v1/care/conversations/{conversation_id}", headers=tenant.api).json()
    assert shown["status"] == "open"
    assert [m["direction"] for m in shown["messages"]] == ["in", "out", "in"]
    assert shown["messages"][2]["text"] == "감사합니다! 받으면 알려드릴게요."
    assert "내일 도착 예정입니다." in shown["messages"][2]["full_text"]
    assert conversation_count(session, inbox_id) == 1


# --- the CLI ----------------------------------------------------------------------------------


def test_the_cli_sets_tests_polls_and_removes_a_mailbox(
    cli: Cli, slug: str, dovecot: ImapUser
) -> None:
    made = cli(
        "care",
        "inbox-create",
        "--workspace",
        slug,
        "--name",
        "메일함",
        "--address",
        "help@shop.example",
    )
    assert made.code == 0, made.err
    inbox_id = made.err.split("(id ")[1].split(")")[0]
    dovecot.append(MINJI)

    set_ = cli(
        "care",
        "inbox-imap",
        inbox_id,
        "--workspace",
        slug,
        "--host",
        "127.0.0.1",
        "--port",
        str(dovecot.port),
        "--security",
        "none",
        "--username",
        dovecot.user,
        "--password-stdin",
        stdin=dovecot.password + "\n",
    )
    checked = cli("care", "inbox-imap", inbox_id, "--workspace", slug, "--check")
    polled = cli("care", "inbox-imap", inbox_id, "--workspace", slug, "--poll")
    shown = cli("care", "inbox-imap", inbox_id, "--workspace", slug)
    removed = cli("care", "inbox-imap", inbox_id, "--workspace", slug, "--remove")
    gone = cli("care", "inbox-imap", inbox_id, "--workspace", slug)

    assert set_.code == 0, set_.err
    assert dovecot.password not in set_.out + set_.err
    assert (checked.code, checked.out.strip()) == (0, "Signed in; the folder holds 1 messages.")
    assert (polled.code, polled.out.strip()) == (0, "1 stored, 0 already stored, 0 other.")
    assert f"127.0.0.1:{dovecot.port}" in shown.out and "last UID 1" in shown.out
    assert removed.code == 0
    assert gone.code == 1 and "reads no IMAP mailbox" in gone.err


# --- the settings page --------------------------------------------------------------------------


def test_the_settings_page_sets_tests_and_removes_the_mailbox(
    client: TestClient, session: Session, tenant: Tenant, dovecot: ImapUser
) -> None:
    # given an admin (Korean UI) and an email inbox
    admin = make_user(session, workspace=tenant.workspace, role="admin", locale="ko")
    assert login(client, admin.email).status_code == 303
    inbox_id = client.post(
        "/api/v1/care/inboxes", json={"name": "고객센터"}, headers=tenant.api
    ).json()["id"]
    url = f"/settings/inboxes/{inbox_id}/imap"
    assert f'href="{url}"' in get(client, "/settings/inboxes").text
    form = {
        "host": "127.0.0.1",
        "port": str(dovecot.port),
        "security": "none",
        "username": dovecot.user,
        "password": dovecot.password,
        "folder": "INBOX",
    }

    # a remote server without TLS, or a bad port, is refused with the reason
    remote = post(client, url, {**form, "host": "imap.example.com"})
    bad_port = post(client, url, {**form, "port": "99999"})
    assert remote.status_code == bad_port.status_code == 422
    assert "in the clear" in text_of(remote)
    assert "포트는 1에서 65535 사이의 숫자입니다." in text_of(bad_port)

    # saved, then tested: the folder's message count
    dovecot.append(MINJI, ALEX)
    saved = post(client, url, form)
    tested = post(client, f"{url}/test")
    page = get(client, url)
    assert saved.status_code == tested.status_code == 303
    assert flashes(page) == [
        ("success", "메일함 설정을 저장했습니다. 1분 안에 메일을 가져옵니다."),
        ("success", "로그인했습니다. 'INBOX' 폴더에 메일이 2통 있습니다."),
    ]
    assert dovecot.password not in page.text
    assert f'value="{dovecot.user}"' in page.text

    # a wrong password (an empty one keeps the stored one): the server's word
    post(client, url, {**form, "password": ""})
    assert flashes(get(client, url)) == [
        ("success", "메일함 설정을 저장했습니다. 1분 안에 메일을 가져옵니다.")
    ]
    post(client, url, {**form, "password": "wrong"})
    post(client, f"{url}/test")
    assert flashes(get(client, url))[-1] == (
        "error",
        f"연결하지 못했습니다: 127.0.0.1:{dovecot.port} refused: [AUTHENTICATIONFAILED] "
        "Authentication failed.",
    )

    # removing asks for a tick
    unticked = post(client, f"{url}/remove")
    assert unticked.status_code == 303
    assert mailbox_row(session, inbox_id) is not None
    removed = post(client, f"{url}/remove", {"confirm": "yes"})
    assert removed.headers["location"] == "/settings/inboxes"
    session.expire_all()
    assert session.scalar(select(CareMailbox).where(CareMailbox.inbox_id == inbox_id)) is None


def test_agents_cannot_see_the_mailbox_settings(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    agent = make_user(session, workspace=tenant.workspace, role="agent")
    assert login(client, agent.email).status_code == 303
    inbox_id = client.post(
        "/api/v1/care/inboxes", json={"name": "고객센터"}, headers=tenant.api
    ).json()["id"]

    assert get(client, f"/settings/inboxes/{inbox_id}/imap").status_code == 403
    assert post(client, f"/settings/inboxes/{inbox_id}/imap/test").status_code == 403


def test_tls_and_starttls_sign_in_only_to_a_certificate_they_trust(
    client: TestClient, session: Session, tenant: Tenant, tx_database: Database, settings: Settings
) -> None:
    if not DOVECOT.exists():
        pytest.skip("Dovecot is not installed at /usr/sbin/dovecot (apt-get install dovecot-imapd)")
    server = Dovecot({"tls@shop.example": "tls-password-1"}, tls=True)
    server.start()
    try:
        server.append("tls@shop.example", [MINJI])
        tls = Account("127.0.0.1", server.tls_port, "ssl", "tls@shop.example", "tls-password-1")
        starttls = Account("127.0.0.1", server.port, "starttls", tls.username, tls.password)
        trusting = settings.model_copy(update={"imap_ca_file": server.ca_file})

        # the server's certificate is checked against the configured CA, else the system's
        assert check(tls, ca_file=server.ca_file) == 1
        assert check(starttls, ca_file=server.ca_file) == 1
        with pytest.raises(ImapError, match="CERTIFICATE_VERIFY_FAILED"):
            check(tls)

        # and a mailbox over TLS is polled as any other
        imap = ImapUser(server, "tls@shop.example", "tls-password-1")
        inbox_id = inbox_with_mailbox(client, tenant, imap, port=server.tls_port, security="ssl")
        assert poll(tx_database, session, inbox_id, trusting).stored == 1
        refused = poll(tx_database, session, inbox_id, settings)
        assert "CERTIFICATE_VERIFY_FAILED" in refused.error
    finally:
        server.stop()
