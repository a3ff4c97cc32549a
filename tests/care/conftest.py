"""Fixtures of the care tests: a private Dovecot IMAP server, and a mailbox of its own on it
for each test that asks for one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.helpers.imap import DOVECOT, Dovecot


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """A real IMAP server (Dovecot) on a free local port, for the whole run."""
    if not DOVECOT.exists():
        pytest.skip("Dovecot is not installed at /usr/sbin/dovecot (apt-get install dovecot-imapd)")
    server = Dovecot({"probe@shop.example": "probe-password"}, spare=200)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class ImapUser:
    """A mailbox of the test's own on the Dovecot server."""

    server: Dovecot
    user: str
    password: str

    @property
    def port(self) -> int:
        return self.server.port

    def append(self, *messages: bytes, folder: str = "INBOX", seen: bool = False) -> list[int]:
        return self.server.append(self.user, messages, folder=folder, seen=seen)

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        return self.server.flags(self.user, folder=folder)

    def recreate(self, folder: str) -> None:
        self.server.recreate(self.user, folder)


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> ImapUser:
    """A new, empty mailbox on the Dovecot server."""
    user, password = dovecot_server.next_user()
    return ImapUser(dovecot_server, user, password)
