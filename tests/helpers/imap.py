"""A private Dovecot IMAP server for the mailbox tests: its own configuration, users, maildirs
and log in a temporary directory, listening on a free port of 127.0.0.1 without TLS, started
as the current user (as root its mail processes run as the ``dovecot`` user, as Debian's
package makes it) and stopped with ``doveadm stop``. Tests put mail in by IMAP APPEND, as a
mail client or a delivery agent would."""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = Path("/usr/sbin/dovecot")
DOVEADM = Path("/usr/bin/doveadm")

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = 127.0.0.1
protocols = imap
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 0
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    """A running Dovecot with one user per ``users`` entry (address → plain password) and
    ``spare`` more, so each test takes a mailbox of its own from one server for the run."""

    host = "127.0.0.1"

    def __init__(self, users: dict[str, str], *, spare: int = 0, tls: bool = False) -> None:
        """``tls``: also TLS on ``tls_port`` and STARTTLS on ``port``, with a certificate for
        127.0.0.1 signed by a CA of the test's own (``ca_file``); plain text otherwise."""
        self.users = dict(users)
        self.tls = tls
        made = {f"box-{n}@shop.example": f"box-password-{n}" for n in range(1, spare + 1)}
        self.users.update(made)
        self._unused = iter(made)
        self.root = Path(tempfile.mkdtemp(prefix="cxloop-dovecot-"))
        from tests.conftest import free_port  # conftest installs this module's fixtures

        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.ca_file = self.root / "ca.pem"
        self.config = self.root / "dovecot.conf"

    def start(self) -> None:
        for name in ("run", "state", "home"):
            (self.root / name).mkdir()
        self._write_users()
        if os.geteuid() == 0:
            internal, login, mail = "dovecot", "dovenull", "dovecot"
            self.root.chmod(0o711)  # its users file and the mail home are read as dovecot
            (self.root / "users").chmod(0o644)
            shutil.chown(self.root / "home", "dovecot", "dovecot")
            group = "dovecot"
        else:
            internal = login = mail = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
        self.config.write_text(
            _CONFIG.format(
                root=self.root,
                ssl=self._tls_settings() if self.tls else "ssl = no",
                port=self.port,
                tls_port=self.tls_port,
                internal_user=internal,
                internal_group=group,
                login_user=login,
                mail_user=mail,
                mail_group=group,
            )
        )
        subprocess.run([str(DOVECOT), "-c", str(self.config)], check=True, timeout=30)
        # Ready once a user can sign in (the listener opens before the auth process is up).
        user = next(iter(self.users))
        deadline = time.monotonic() + 20
        while True:
            try:
                self.session(user).logout()
                return
            except (OSError, imaplib.IMAP4.error):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"dovecot did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def _tls_settings(self) -> str:
        import trustme

        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca_file))
        issued = ca.issue_cert("127.0.0.1", "localhost")
        issued.private_key_pem.write_to_path(str(self.root / "key.pem"))
        chain = b"".join(pem.bytes() for pem in issued.cert_chain_pems)
        (self.root / "cert.pem").write_bytes(chain)
        return f"ssl = yes\nssl_cert = <{self.root}/cert.pem\nssl_key = <{self.root}/key.pem\n"

    def _write_users(self) -> None:
        lines = "".join(
            f"{user}:{{PLAIN}}{password}::::\n" for user, password in self.users.items()
        )
        (self.root / "users").write_text(lines)

    def next_user(self) -> tuple[str, str]:
        """A user (address, password) no one has used yet, from those made at the start
        (Dovecot reads a changed users file only once a second, too late for a test)."""
        user = next(self._unused)
        return user, self.users[user]

    def stop(self) -> None:
        subprocess.run([str(DOVEADM), "-c", str(self.config), "stop"], check=False, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def session(self, user: str) -> imaplib.IMAP4:
        """A signed-in IMAP session of ``user`` (close it with ``logout``)."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        imap.login(user, self.users[user])
        return imap

    def append(
        self, user: str, messages: Sequence[bytes], *, folder: str = "INBOX", seen: bool = False
    ) -> list[int]:
        """Deliver ``messages`` into ``user``'s ``folder`` (made when missing); their UIDs."""
        imap = self.session(user)
        try:
            if folder != "INBOX":
                imap.create(folder)  # "already exists" is fine
            uids = []
            for raw in messages:
                status, data = imap.append(folder, r"(\Seen)" if seen else None, None, raw)
                assert status == "OK", data
                # [APPENDUID <uidvalidity> <uid>] (RFC 4315)
                uids.append(int(data[0].split()[2].rstrip(b"]")))
            return uids
        finally:
            imap.logout()

    def flags(self, user: str, *, folder: str = "INBOX") -> dict[int, set[str]]:
        """Each message's flags, by UID."""
        imap = self.session(user)
        try:
            imap.select(folder, readonly=True)
            _status, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            found: dict[int, set[str]] = {}
            for line in data:
                if not isinstance(line, bytes):
                    continue
                text = line.decode()
                uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                flags = text.split("FLAGS (")[1].split(")")[0]
                found[uid] = set(flags.split())
            return found
        finally:
            imap.logout()

    def recreate(self, user: str, folder: str) -> None:
        """Delete ``folder`` and make it again: its UIDs start over under a new UIDVALIDITY."""
        imap = self.session(user)
        try:
            status, data = imap.delete(folder)
            assert status == "OK", data
            status, data = imap.create(folder)
            assert status == "OK", data
        finally:
            imap.logout()


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


# Fixtures (tests/conftest.py installs them).


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


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> ImapUser:
    """A new, empty mailbox on the Dovecot server."""
    user, password = dovecot_server.next_user()
    return ImapUser(dovecot_server, user, password)
