"""The email outbox: queued once per dedupe key, sent once over real SMTP (a local aiosmtpd
server), retried with backoff while the server is down, given up on permanent refusals."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cxloop.channels import outbox
from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.models import OutboundMessage, Workspace
from tests.factories import make_workspace
from tests.helpers.outbox import SUBJECT, address, queue, reload
from tests.helpers.smtp import SmtpInbox

# --- queueing ----------------------------------------------------------------------------------


def test_queueing_the_same_key_twice_returns_the_first_message(session: Session) -> None:
    workspace = make_workspace(session)
    first = queue(session, workspace, "Minji@Example.com", dedupe_key="invitation:1")
    again = queue(
        session, workspace, "other@example.com", subject="다른 제목", dedupe_key="invitation:1"
    )

    assert again.id == first.id
    assert (again.recipient, again.subject, again.status) == (
        "minji@example.com",
        SUBJECT,
        "queued",
    )
    count = session.scalar(select(func.count()).where(OutboundMessage.workspace_id == workspace.id))
    assert count == 1


def test_the_same_key_in_another_workspace_is_another_message(session: Session) -> None:
    one, two = make_workspace(session), make_workspace(session)
    a = queue(session, one, address(), dedupe_key="reminder:7")
    b = queue(session, two, address(), dedupe_key="reminder:7")
    assert a.id != b.id


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("recipient", "not-an-address", id="bad-recipient"),
        pytest.param("dedupe_key", "  ", id="blank-key"),
        pytest.param("purpose", "spam", id="unknown-purpose"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(
    session: Session, field: str, value: str
) -> None:
    workspace = make_workspace(session)
    args: dict[str, Any] = {
        "workspace_id": workspace.id,
        "recipient": "ok@example.com",
        "subject": "s",
        "text": "t",
        "dedupe_key": "k",
        field: value,
    }
    with pytest.raises(ValidationFailed) as caught:
        outbox.queue_email(session, **args)
    assert caught.value.errors[0]["field"] == field


def test_a_line_break_in_the_subject_cannot_inject_a_header(
    session: Session, tx_database: Database, settings: Settings, inbox: SmtpInbox
) -> None:
    workspace = make_workspace(session)
    to = address()
    queue(session, workspace, to, subject="안녕\r\nBcc: victim@example.com")
    session.commit()

    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))

    [received] = inbox.to(to)
    assert received["Subject"] == "안녕 Bcc: victim@example.com"
    assert received["Bcc"] is None


def test_concurrent_callers_with_one_key_store_one_message(database: Database) -> None:
    # given a committed workspace and eight callers racing with the same dedupe key
    with database.session() as setup:
        workspace = make_workspace(setup)
    ids: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def caller() -> None:
        try:
            start.wait()
            with database.session() as s:
                ids.append(queue(s, workspace, "race@example.com", dedupe_key="notice:race").id)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # then all of them got the one row that exists
        assert errors == []
        assert len(ids) == 8 and len(set(ids)) == 1
        with database.session() as check:
            stored = check.scalar(
                select(func.count()).where(OutboundMessage.workspace_id == workspace.id)
            )
        assert stored == 1
    finally:
        with database.session() as cleanup:
            cleanup.execute(delete(Workspace).where(Workspace.id == workspace.id))


# --- sending -----------------------------------------------------------------------------------


def test_a_queued_email_arrives_once_with_its_korean_subject_and_both_parts(
    session: Session, tx_database: Database, settings: Settings, inbox: SmtpInbox
) -> None:
    # given a queued email, committed
    workspace = make_workspace(session)
    to = address()
    message = queue(session, workspace, to)
    session.commit()
    sender = "씨엑스루프 고객센터 <cx@shop.example>"
    smtp = inbox.settings(settings).model_copy(update={"mail_from": sender})

    # when the sender runs twice
    first = channel_tasks.deliver_outbox(tx_database, settings=smtp)
    second = channel_tasks.deliver_outbox(tx_database, settings=smtp)

    # then the server got it once, and decoding gives back the Korean subject and both parts
    [received] = inbox.to(to)
    assert first.sent >= 1 and second.sent == 0
    assert received["Subject"] == SUBJECT
    assert received["To"] == to
    assert received["From"] == sender
    assert received["Message-ID"] == f"<cxloop-{message.id}@shop.example>"
    assert received.get_content_type() == "multipart/alternative"
    plain = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert plain.get_content().startswith("안녕하세요, 김민지 님.")
    assert "<b>김민지</b>" in html.get_content()
    stored = reload(session, message)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 1, "")
    assert stored.sent_at is not None


def test_without_an_smtp_host_mail_stays_queued(
    session: Session, tx_database: Database, settings: Settings
) -> None:
    workspace = make_workspace(session)
    message = queue(session, workspace, address())
    session.commit()

    report = channel_tasks.deliver_outbox(
        tx_database, settings=settings.model_copy(update={"smtp_host": None})
    )

    assert report.sent == 0
    stored = reload(session, message)
    assert (stored.status, stored.attempts) == ("queued", 0)


def test_a_message_delayed_until_later_is_not_sent_before(
    session: Session, tx_database: Database, settings: Settings, inbox: SmtpInbox
) -> None:
    workspace = make_workspace(session)
    to = address()
    later = utcnow() + timedelta(hours=2)
    message = queue(session, workspace, to, send_after=later)
    session.commit()
    smtp = inbox.settings(settings)

    channel_tasks.deliver_outbox(tx_database, settings=smtp)
    assert inbox.to(to) == []
    channel_tasks.deliver_outbox(tx_database, settings=smtp, now=later + timedelta(seconds=1))
    assert len(inbox.to(to)) == 1
    assert reload(session, message).status == "sent"


def test_while_the_server_is_down_mail_waits_and_is_sent_once_when_it_is_back(
    session: Session, tx_database: Database, settings: Settings
) -> None:
    # given a queued email and an SMTP server that is not running yet
    workspace = make_workspace(session)
    to = address()
    message = queue(session, workspace, to)
    session.commit()
    server = SmtpInbox()
    smtp = server.settings(settings)

    # when the sender runs: the attempt fails and is scheduled again after a backoff
    down = channel_tasks.deliver_outbox(tx_database, settings=smtp)
    stored = reload(session, message)
    assert down.sent == 0 and down.retrying >= 1
    assert (stored.status, stored.attempts) == ("queued", 1)
    assert "cannot reach SMTP server" in stored.last_error
    assert stored.send_after > utcnow() + timedelta(seconds=30)

    # and an immediate second run does not retry before the backoff
    server.start()
    try:
        channel_tasks.deliver_outbox(tx_database, settings=smtp)
        assert server.to(to) == []
        # when the backoff has passed the message goes out, once, however often the job runs
        later = utcnow() + timedelta(minutes=2)
        channel_tasks.deliver_outbox(tx_database, settings=smtp, now=later)
        channel_tasks.deliver_outbox(tx_database, settings=smtp, now=later)
        channel_tasks.deliver_outbox(tx_database, settings=smtp, now=later + timedelta(hours=1))
    finally:
        server.stop()
    assert len(server.to(to)) == 1
    stored = reload(session, message)
    assert (stored.status, stored.attempts, stored.last_error) == ("sent", 2, "")


def test_a_permanent_refusal_fails_at_once_with_the_servers_reason(
    session: Session, tx_database: Database, settings: Settings, inbox: SmtpInbox
) -> None:
    workspace = make_workspace(session)
    refused, fine = address(), address()
    inbox.refuse.add(refused)
    bad = queue(session, workspace, refused)
    good = queue(session, workspace, fine)
    session.commit()

    channel_tasks.deliver_outbox(tx_database, settings=inbox.settings(settings))

    stored = reload(session, bad)
    assert (stored.status, stored.attempts) == ("failed", 1)
    assert "550" in stored.last_error
    # the refusal does not hold up the other messages of the batch
    assert reload(session, good).status == "sent"
    assert len(inbox.to(fine)) == 1


def test_a_temporary_refusal_is_retried_with_growing_waits_then_given_up(
    session: Session, tx_database: Database, settings: Settings, inbox: SmtpInbox
) -> None:
    workspace = make_workspace(session)
    to = address()
    inbox.defer.add(to)
    message = queue(session, workspace, to)
    session.commit()
    smtp = inbox.settings(settings)

    moment = utcnow()
    waits = []
    for _ in range(outbox.MAX_ATTEMPTS):
        channel_tasks.deliver_outbox(tx_database, settings=smtp, now=moment)
        stored = reload(session, message)
        waits.append(stored.send_after - moment)
        moment = stored.send_after + timedelta(seconds=1)

    stored = reload(session, message)
    assert (stored.status, stored.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert "451" in stored.last_error
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert inbox.to(to) == []


def test_a_message_left_sending_by_a_crashed_worker_is_failed_not_sent_again(
    session: Session, tx_database: Database, settings: Settings, inbox: SmtpInbox
) -> None:
    # given a worker claimed a message and died before recording the outcome
    workspace = make_workspace(session)
    to = address()
    message = queue(session, workspace, to)
    session.commit()
    with tx_database.session() as worker:
        claimed = outbox.claim_due(worker, limit=500)
    assert message.id in {m.id for m in claimed}

    # when a sender runs after the lease expired
    channel_tasks.deliver_outbox(
        tx_database,
        settings=inbox.settings(settings),
        now=utcnow() + outbox.SENDING_LEASE + timedelta(minutes=1),
    )

    # then the message is failed with the reason, and not sent
    stored = reload(session, message)
    assert stored.status == "failed"
    assert "never sent twice" in stored.last_error
    assert inbox.to(to) == []


def test_two_workers_sending_at_once_send_every_message_once(
    database: Database, settings: Settings, inbox: SmtpInbox
) -> None:
    # given 30 committed queued messages
    with database.session() as setup:
        workspace = make_workspace(setup)
        recipients = [address() for _ in range(30)]
        for to in recipients:
            queue(setup, workspace, to)
    smtp = inbox.settings(settings)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            channel_tasks.deliver_outbox(database, settings=smtp, batch_size=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert [len(inbox.to(to)) for to in recipients] == [1] * 30
        with database.session() as check:
            statuses = set(
                check.scalars(
                    select(OutboundMessage.status).where(
                        OutboundMessage.workspace_id == workspace.id
                    )
                )
            )
        assert statuses == {"sent"}
    finally:
        with database.session() as cleanup:
            cleanup.execute(delete(Workspace).where(Workspace.id == workspace.id))


def test_committing_queued_mail_starts_the_sender(
    session: Session,
    tx_database: Database,
    settings: Settings,
    inbox: SmtpInbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given SMTP is configured (jobs run at once in tests)
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", inbox.port)
    monkeypatch.setattr(channel_tasks, "get_database", lambda: tx_database)
    workspace = make_workspace(session)
    to = address()
    message = queue(session, workspace, to)
    assert inbox.to(to) == []

    # when the transaction that queued it commits
    session.commit()

    # then the mail went out without waiting for the periodic job
    assert len(inbox.to(to)) == 1
    assert reload(session, message).status == "sent"


def test_a_rolled_back_message_is_never_sent(
    session: Session,
    tx_database: Database,
    settings: Settings,
    inbox: SmtpInbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", inbox.port)
    monkeypatch.setattr(channel_tasks, "get_database", lambda: tx_database)
    workspace = make_workspace(session)
    session.commit()
    to = address()
    with tx_database.session() as s:
        queue(s, workspace, to)
        s.rollback()
    channel_tasks.send_outbox()
    assert inbox.to(to) == []
    assert session.scalar(select(OutboundMessage).where(OutboundMessage.recipient == to)) is None


def test_outbox_counts_by_status(session: Session) -> None:
    workspace = make_workspace(session)
    queue(session, workspace, address())
    sent = queue(session, workspace, address())
    sent.status = "sent"
    session.flush()
    counts = outbox.counts(session, workspace_id=workspace.id)
    assert (counts.queued, counts.sent, counts.failed, counts.due) == (1, 1, 0, 1)


# --- consent, asked again when sending ---------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "grants", "now_kst_hour", "expected"),
    [
        pytest.param("service", [], 12, ("sending", ""), id="service-no-record-goes"),
        pytest.param(
            "service",
            [("service", False)],
            12,
            ("cancelled", "consent: opted_out"),
            id="service-opted-out-since",
        ),
        pytest.param(
            "marketing", [], 12, ("cancelled", "consent: no_opt_in"), id="marketing-no-opt-in"
        ),
        pytest.param(
            "marketing", [("marketing", True)], 12, ("sending", ""), id="marketing-opted-in"
        ),
        pytest.param(
            "marketing", [("marketing", True)], 23, ("queued", ""), id="marketing-held-at-night"
        ),
    ],
)
def test_consent_is_asked_again_when_a_message_is_sent(
    session: Session,
    purpose: str,
    grants: list[tuple[str, bool]],
    now_kst_hour: int,
    expected: tuple[str, str],
) -> None:
    from datetime import UTC, datetime

    from cxloop.profiles import service as profiles
    from tests.factories import make_customer

    # given a message queued for a customer, who then changed their consent
    workspace = make_workspace(session)
    customer = make_customer(session, workspace=workspace, email=address())
    queued_at = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # noon in Seoul
    message = queue(
        session,
        workspace,
        customer.email or "",
        customer_id=customer.id,
        purpose=purpose,
        send_after=queued_at,
    )
    for consent_purpose, granted in grants:
        profiles.record_consent(
            session,
            customer=customer,
            purpose=consent_purpose,
            channel="email",
            granted=granted,
            source="test",
            at=queued_at,
        )
    # when the sender claims what is due (in Seoul: noon, or 23:00 for the night case)
    now = datetime(2026, 12, 1, now_kst_hour - 9, 0, tzinfo=UTC)
    claimed = outbox.claim_due(session, now=now)
    # then the policy decides, now
    fresh = reload(session, message)
    assert (fresh.status, fresh.last_error or "") == expected
    assert [m.id for m in claimed if m.id == message.id] == (
        [message.id] if expected[0] == "sending" else []
    )
    if expected[0] == "queued":  # held until 08:00 in Seoul, the next morning
        assert fresh.send_after.astimezone(UTC) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
