"""Reading a mailbox over IMAP (RFC 9051 / 3501) with the standard library's imaplib: sign in
over TLS (or STARTTLS; plain text only to this machine), open a folder, list the UIDs after the
last one read (or the unseen ones), fetch raw messages without marking them read, and flag them
\\Seen once the caller has stored them. Every failure is an ImapError with a one-line reason."""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

Security = Literal["ssl", "starttls", "none"]
SECURITIES: tuple[Security, ...] = ("ssl", "starttls", "none")
DEFAULT_PORTS: dict[str, int] = {"ssl": 993, "starttls": 143, "none": 143}
# Plain-text IMAP (the password in the clear) only to a server on this machine.
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
TIMEOUT_SECONDS = 20.0


class ImapError(Exception):
    """The server could not be reached, refused the sign-in or a command: ``str`` says why in
    one line."""


@dataclass(frozen=True)
class Account:
    host: str
    port: int
    security: Security
    username: str
    password: str
    folder: str = "INBOX"


@dataclass(frozen=True)
class Fetched:
    """One message as the server holds it: its UID, its size, and its raw bytes (only the
    header when it was larger than the caller takes whole)."""

    uid: int
    size: int
    raw: bytes
    whole: bool


def account_problem(host: str, port: int, security: str) -> tuple[str, str] | None:
    """What is wrong with these connection settings, as (field, reason); None when nothing."""
    if security not in SECURITIES:
        return "security", f"security must be one of {', '.join(SECURITIES)}."
    if not host or len(host) > 255 or any(c.isspace() or c in "/@" for c in host):
        return "host", "host must be a server name or address."
    if not 1 <= port <= 65535:
        return "port", "port must be 1 to 65535."
    if security == "none" and host.lower() not in LOCAL_HOSTS:
        return "security", (
            "Without TLS the password would cross the network in the clear: only a server on "
            "this machine (127.0.0.1, localhost) may be reached without it."
        )
    return None


def folder_name(folder: str) -> str:
    """A folder name as IMAP writes it: modified UTF-7 (RFC 3501 5.1.3) for non-ASCII names
    such as 받은편지함, quoted."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in folder:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    encoded = "".join(out)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reason(exc: BaseException) -> str:
    """An error in one line: the server's words for an IMAP error, the system's otherwise."""
    first = exc.args[0] if exc.args else ""
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(exc)
    line = " ".join(text.split())
    return line[:500] or type(exc).__name__


def _ok(result: tuple[str, Sequence[object]], what: str) -> list[object]:
    status, data = result
    if status != "OK":
        detail = " ".join(
            d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data if d
        )
        raise ImapError(f"{what}: {status} {' '.join(detail.split())[:300]}".strip())
    return list(data)


_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


def _chunks(uids: Sequence[int], size: int = 200) -> Iterator[str]:
    for start in range(0, len(uids), size):
        yield ",".join(str(u) for u in uids[start : start + size])


class Mailbox:
    """One signed-in IMAP session with a folder open for reading and flagging, used as a
    context manager. ``uidvalidity``, ``uidnext`` and ``exists`` are the folder's."""

    def __init__(
        self,
        account: Account,
        *,
        timeout: float = TIMEOUT_SECONDS,
        ca_file: Path | None = None,
    ) -> None:
        self.account = account
        self.timeout = timeout
        self.ca_file = ca_file
        self.uidvalidity = 0
        self.uidnext = 0  # the UID the next message will get
        self.exists = 0
        self._imap: imaplib.IMAP4 | None = None

    @property
    def _session(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise ImapError("the IMAP session is closed")
        return self._imap

    def _connect(self) -> imaplib.IMAP4:
        a = self.account
        problem = account_problem(a.host, a.port, a.security)
        if problem is not None:
            raise ImapError(problem[1])
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if a.security == "ssl":
            return imaplib.IMAP4_SSL(a.host, a.port, ssl_context=context, timeout=self.timeout)
        imap = imaplib.IMAP4(a.host, a.port, timeout=self.timeout)
        if a.security == "starttls":
            imap.starttls(ssl_context=context)
        return imap

    def _login(self, imap: imaplib.IMAP4) -> None:
        a = self.account
        if a.username.isascii() and a.password.isascii():
            imap.login(a.username, a.password)
            return
        # LOGIN takes ASCII only; AUTHENTICATE PLAIN carries UTF-8 (RFC 4616).
        plain = f"\0{a.username}\0{a.password}".encode()
        imap.authenticate("PLAIN", lambda _challenge: plain)

    def __enter__(self) -> Mailbox:
        a = self.account
        try:
            self._imap = self._connect()
            self._login(self._imap)
            data = _ok(self._imap.select(folder_name(a.folder)), f"cannot open folder {a.folder!r}")
            self.exists = int(data[0]) if isinstance(data[0], bytes) and data[0].isdigit() else 0
            _name, validity = self._imap.response("UIDVALIDITY")
            first = validity[0] if validity else None
            if not isinstance(first, bytes) or not first.isdigit():
                raise ImapError(f"the server gave folder {a.folder!r} no UIDVALIDITY")
            self.uidvalidity = int(first)
            _name, following = self._imap.response("UIDNEXT")
            after = following[0] if following else None
            self.uidnext = int(after) if isinstance(after, bytes) and after.isdigit() else 0
            if not self.uidnext:  # required since RFC 3501, but not every server says it
                self.uidnext = max(self._search("ALL"), default=0) + 1
        except ImapError:
            self.close()
            raise
        except imaplib.IMAP4.error as exc:
            self.close()
            raise ImapError(f"{a.host}:{a.port} refused: {_reason(exc)}") from exc
        except (OSError, EOFError) as exc:  # refused, unreachable, timed out, TLS failed
            self.close()
            raise ImapError(f"cannot reach IMAP server {a.host}:{a.port}: {_reason(exc)}") from exc
        return self

    def _command(self, what: str, *args: str) -> list[object]:
        try:
            return _ok(self._session.uid(*args), what)
        except imaplib.IMAP4.error as exc:
            raise ImapError(f"{what}: {_reason(exc)}") from exc
        except (OSError, EOFError) as exc:
            self._imap = None
            raise ImapError(f"IMAP connection lost: {_reason(exc)}") from exc

    def _search(self, *criteria: str) -> list[int]:
        data = self._command("cannot search the folder", "SEARCH", *criteria)
        found = b" ".join(d for d in data if isinstance(d, bytes))
        return sorted({int(n) for n in found.split() if n.isdigit()})

    def uids_after(self, last_uid: int) -> list[int]:
        """The UIDs above ``last_uid``, lowest first."""
        # "n:*" always names the newest message, even when its UID is below n.
        return [uid for uid in self._search("UID", f"{last_uid + 1}:*") if uid > last_uid]

    def unseen_uids(self) -> list[int]:
        """The UIDs of the messages nobody has read, lowest first."""
        return self._search("UNSEEN")

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Each message's size in bytes, by UID (a message expunged meanwhile is missing)."""
        found: dict[int, int] = {}
        for chunk in _chunks(uids):
            for item in self._command("cannot fetch sizes", "FETCH", chunk, "(RFC822.SIZE)"):
                line = item[0] if isinstance(item, tuple) else item
                if not isinstance(line, bytes):
                    continue
                uid, size = _UID.search(line), _SIZE.search(line)
                if uid and size:
                    found[int(uid.group(1))] = int(size.group(1))
        return found

    def fetch(self, uid: int, *, size: int, max_bytes: int) -> Fetched | None:
        """The raw message (without marking it read), or only its header when it is larger
        than ``max_bytes``; None when it was expunged meanwhile."""
        whole = size <= max_bytes
        part = "BODY.PEEK[]" if whole else "BODY.PEEK[HEADER]"
        for item in self._command(f"cannot fetch UID {uid}", "FETCH", str(uid), f"({part})"):
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                uid_seen = _UID.search(item[0]) if isinstance(item[0], bytes) else None
                if uid_seen is None or int(uid_seen.group(1)) == uid:
                    return Fetched(uid=uid, size=size, raw=item[1], whole=whole)
        return None

    def mark_seen(self, uids: Sequence[int]) -> None:
        """Flag the messages read (\\Seen), as a person who opened them would."""
        for chunk in _chunks(uids):
            self._command("cannot flag messages seen", "STORE", chunk, "+FLAGS.SILENT", r"(\Seen)")

    def close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError, EOFError):
            with contextlib.suppress(OSError):
                imap.shutdown()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def check(
    account: Account, *, timeout: float = TIMEOUT_SECONDS, ca_file: Path | None = None
) -> int:
    """Sign in and open the folder; returns how many messages it holds (ImapError if not)."""
    with Mailbox(account, timeout=timeout, ca_file=ca_file) as mailbox:
        return mailbox.exists
