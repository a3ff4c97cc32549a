"""Mail over TLS against a real SMTP server (aiosmtpd) with a certificate from a test CA:
STARTTLS with a login, implicit TLS, and a certificate nobody vouches for, which keeps the mail
queued with the reason instead of sending it in the clear."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy.orm import Session

from cxloop.channels import tasks as channel_tasks
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from tests.factories import make_workspace
from tests.helpers.outbox import SUBJECT, address, queue, reload
from tests.helpers.smtp import SmtpInbox

USER, PASSWORD = "cxloop", "smtp-password-0123"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


class TlsInbox(SmtpInbox):
    """The inbox, speaking STARTTLS (required, with a login) or implicit TLS; it records
    whether each session was encrypted and who logged in."""

    def __init__(self, context: ssl.SSLContext, *, implicit: bool) -> None:
        super().__init__()
        self.context, self.implicit = context, implicit
        self.sessions: list[tuple[bool, str | None]] = []

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (USER, PASSWORD)
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.auth_data else None
        encrypted = session.ssl is not None or (
            server.transport.get_extra_info("ssl_object") is not None
        )
        self.sessions.append((encrypted, login))
        return await super().handle_DATA(server, session, envelope)

    def start(self) -> None:
        if self.implicit:
            self._controller = Controller(
                self, hostname="127.0.0.1", port=self.port, ssl_context=self.context
            )
        else:
            self._controller = Controller(
                self,
                hostname="127.0.0.1",
                port=self.port,
                tls_context=self.context,
                require_starttls=True,
                authenticator=self.authenticate,
                auth_required=True,
            )
        self._controller.start()

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": self.port,
                "smtp_security": "tls" if self.implicit else "starttls",
                "smtp_username": None if self.implicit else USER,
                "smtp_password": None if self.implicit else PASSWORD,
            }
        )


@pytest.fixture
def starttls(ca: trustme.CA) -> Iterator[TlsInbox]:
    server = TlsInbox(server_context(ca), implicit=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def implicit_tls(ca: trustme.CA) -> Iterator[TlsInbox]:
    server = TlsInbox(server_context(ca), implicit=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_starttls_with_a_login_delivers_over_an_encrypted_session(
    session: Session,
    tx_database: Database,
    settings: Settings,
    starttls: TlsInbox,
    ca_file: Path,
) -> None:
    workspace = make_workspace(session)
    to = address()
    message = queue(session, workspace, to)
    session.commit()
    smtp = starttls.settings(settings).model_copy(update={"smtp_ca_file": ca_file})

    result = channel_tasks.deliver_outbox(tx_database, settings=smtp)

    [received] = starttls.to(to)
    assert result.sent >= 1 and received["Subject"] == SUBJECT
    assert (True, USER) in starttls.sessions  # encrypted, and logged in after STARTTLS
    stored = reload(session, message)
    assert (stored.status, stored.last_error) == ("sent", "")


def test_implicit_tls_delivers(
    session: Session,
    tx_database: Database,
    settings: Settings,
    implicit_tls: TlsInbox,
    ca_file: Path,
) -> None:
    workspace = make_workspace(session)
    to = address()
    message = queue(session, workspace, to)
    session.commit()
    smtp = implicit_tls.settings(settings).model_copy(update={"smtp_ca_file": ca_file})

    channel_tasks.deliver_outbox(tx_database, settings=smtp)

    assert len(implicit_tls.to(to)) == 1
    assert implicit_tls.sessions and all(encrypted for encrypted, _ in implicit_tls.sessions)
    assert reload(session, message).status == "sent"


def test_a_certificate_nobody_vouches_for_keeps_the_mail_queued_with_the_reason(
    session: Session, tx_database: Database, settings: Settings, starttls: TlsInbox
) -> None:
    workspace = make_workspace(session)
    to = address()
    message = queue(session, workspace, to)
    session.commit()
    smtp = starttls.settings(settings)  # the system's CAs do not know the test CA

    result = channel_tasks.deliver_outbox(tx_database, settings=smtp)

    assert starttls.to(to) == [] and result.sent == 0
    stored = reload(session, message)
    assert (stored.status, stored.attempts) == ("queued", 1)
    assert "CERTIFICATE_VERIFY_FAILED" in stored.last_error
