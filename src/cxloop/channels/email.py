"""Email over SMTP: MIME messages (Korean subjects, text and HTML parts) and one SMTP
connection per batch, with errors sorted into "try again later" and "give up"."""

from __future__ import annotations

import smtplib
import ssl
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from types import TracebackType

from cxloop.core.settings import Settings


class SendFailure(Exception):
    """A message that did not go out; ``transient`` failures are worth another attempt."""

    def __init__(self, reason: str, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def _domain_of(address: str) -> str:
    _name, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "localhost"


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str = "",
    message_key: str,
) -> Message:
    """A MIME message: plain text, plus an HTML alternative when given. ``message_key`` makes a
    stable Message-ID, so a receiving server that sees the same message again can tell.

    Korean subjects and names are RFC 2047 encoded by ``email.header.Header``, which keeps the
    spaces inside the encoded words; the newer policy API folds long Korean subjects into
    encoded words that drop the space between them.
    """
    body: Message
    plain = MIMEText(text or " ", "plain", "utf-8")
    if html:
        body = MIMEMultipart("alternative")
        body.attach(plain)
        body.attach(MIMEText(html, "html", "utf-8"))
    else:
        body = plain
    name, addr = parseaddr(sender)
    body["From"] = formataddr((name, addr), charset="utf-8") if name else addr
    body["To"] = recipient
    # A header never carries a line break (that would let text inject headers).
    subject_header = Header(" ".join(subject.split()), "utf-8", header_name="Subject")
    body["Subject"] = subject_header.encode()
    body["Date"] = formatdate(localtime=False, usegmt=True)
    body["Message-ID"] = f"<{message_key}@{_domain_of(sender)}>"
    body["Auto-Submitted"] = "auto-generated"
    return body


def _smtp_error(exc: smtplib.SMTPException) -> SendFailure:
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _msg in exc.recipients.values()]
        transient = bool(codes) and all(400 <= c < 500 for c in codes)
        return SendFailure(f"recipient refused: {exc.recipients}", transient)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        # A configuration problem on our side: it may be fixed before the next attempt.
        return SendFailure(f"SMTP authentication failed ({code})", True)
    if isinstance(code, int):
        text = getattr(exc, "smtp_error", b"")
        detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return SendFailure(f"SMTP {code}: {detail}".strip(), 400 <= code < 500)
    return SendFailure(f"SMTP error: {exc}", True)


def _tls_context(settings: Settings) -> ssl.SSLContext:
    """Certificate and host name checked, against the configured CA file or the system's."""
    ca = settings.smtp_ca_file
    return ssl.create_default_context(cafile=str(ca) if ca is not None else None)


class Mailer:
    """One SMTP session from the settings (security none, starttls or tls), used as a context
    manager for a batch of messages."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise SendFailure("no SMTP host is configured", True)
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        s = self.settings
        assert s.smtp_host is not None
        try:
            if s.smtp_security == "tls":
                self._smtp = smtplib.SMTP_SSL(
                    s.smtp_host,
                    s.smtp_port,
                    timeout=s.smtp_timeout_seconds,
                    context=_tls_context(s),
                )
            else:
                self._smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds)
                if s.smtp_security == "starttls":
                    self._smtp.starttls(context=_tls_context(s))
            if s.smtp_username:
                self._smtp.login(s.smtp_username, s.smtp_password or "")
        except smtplib.SMTPException as exc:
            self._close()
            failure = _smtp_error(exc)
            raise SendFailure(f"cannot open the SMTP session: {failure.reason}", True) from exc
        except OSError as exc:  # refused, unreachable, timed out
            self._close()
            raise SendFailure(
                f"cannot reach SMTP server {s.smtp_host}:{s.smtp_port}: {exc}", True
            ) from exc
        return self

    def send(self, message: Message) -> None:
        """Hand one message to the server; raises SendFailure when it is not accepted."""
        if self._smtp is None:
            raise SendFailure("the SMTP session is closed", True)
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPServerDisconnected as exc:
            self._smtp = None
            raise SendFailure(f"SMTP server disconnected: {exc}", True) from exc
        except smtplib.SMTPException as exc:
            raise _smtp_error(exc) from exc
        except OSError as exc:  # refused, unreachable, timed out
            self._smtp = None
            raise SendFailure(f"SMTP connection lost: {exc}", True) from exc

    @property
    def connected(self) -> bool:
        return self._smtp is not None

    def _close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
