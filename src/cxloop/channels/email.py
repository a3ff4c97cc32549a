"""The email adapter: MIME messages (Korean subjects, text and HTML parts) sent over one SMTP
connection per batch, with errors sorted into "try again later" and "give up"; and mail that
comes back (RFC 3464 delivery status notifications, replies) read into status reports and
inbound messages."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email import encoders, policy
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesParser, HeaderParser
from email.utils import formataddr, formatdate, parseaddr, parsedate_to_datetime
from types import TracebackType
from typing import Any, cast

from cxloop.channels.adapters import (
    AttachedFile,
    Delivery,
    Inbound,
    NotUnderstood,
    Outgoing,
    Received,
    ReportedStatus,
    SendFailure,
    StatusReport,
)
from cxloop.core.attachment_store import attachment_store
from cxloop.core.settings import Settings

# Headers a sender may ask for (a reply threads under the message it answers, and names the
# address its answer goes to); any other is ignored, and line breaks are folded away so no
# value can add a header of its own.
THREADING_HEADERS = ("In-Reply-To", "References", "Reply-To")


def _domain_of(address: str) -> str:
    _name, addr = parseaddr(address)
    return addr.rpartition("@")[2] or "localhost"


def outbox_message_id(message_id: int, sender: str) -> str:
    """The Message-ID the email adapter gives outbox message ``message_id`` sent from
    ``sender`` (known before sending, so a conversation can record what replies will quote)."""
    return f"<cxloop-{message_id}@{_domain_of(sender)}>"


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str = "",
    message_id: str,
    headers: Mapping[str, str] | None = None,
    attachments: Sequence[AttachedFile] = (),
) -> Message:
    """A MIME message: plain text, plus an HTML alternative when given. ``message_id`` is a
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
    if attachments:
        body = _with_files(body, attachments)
    name, addr = parseaddr(sender)
    body["From"] = formataddr((name, addr), charset="utf-8") if name else addr
    body["To"] = recipient
    # A header never carries a line break (that would let text inject headers).
    subject_header = Header(" ".join(subject.split()), "utf-8", header_name="Subject")
    body["Subject"] = subject_header.encode()
    body["Date"] = formatdate(localtime=False, usegmt=True)
    body["Message-ID"] = message_id
    body["Auto-Submitted"] = "auto-generated"
    for name in THREADING_HEADERS:
        value = " ".join(str((headers or {}).get(name, "")).split())
        if value:
            body[name] = value[:2000]
    return body


def _with_files(body: Message, files: Sequence[AttachedFile]) -> Message:
    """``body`` and the files in one multipart/mixed message; names RFC 2231 encoded."""
    mixed = MIMEMultipart("mixed")
    mixed.attach(body)
    for file in files:
        maintype, _, subtype = file.content_type.partition("/")
        part = MIMEBase(maintype or "application", subtype or "octet-stream")
        part.set_payload(file.data)
        encoders.encode_base64(part)
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", file.filename))
        mixed.attach(part)
    return mixed


def _stored_files(settings: Settings, details: Mapping[str, Any]) -> list[AttachedFile]:
    """The files an outbox message names (``details["attachments"]``), read from the store;
    a file that is gone fails the message for good rather than sending it without."""
    files = []
    store = attachment_store(settings)
    for item in details.get("attachments") or ():
        try:
            with store.open(str(item.get("key", ""))) as handle:
                data = handle.read()
        except FileNotFoundError as exc:
            raise SendFailure(
                f"attachment {item.get('filename')!r} is no longer stored", False
            ) from exc
        files.append(
            AttachedFile(
                filename=str(item.get("filename") or "attachment"),
                content_type=str(item.get("content_type") or "application/octet-stream"),
                data=data,
            )
        )
    return files


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

    def send(self, outgoing: Outgoing) -> Delivery:
        """Hand one message to the server; raises SendFailure when it is not accepted."""
        message = build_message(
            sender=self.settings.mail_from,
            recipient=outgoing.recipient,
            subject=outgoing.subject,
            text=outgoing.text,
            html=outgoing.html,
            message_id=outbox_message_id(outgoing.message_id, self.settings.mail_from),
            headers=outgoing.details.get("headers"),
            attachments=_stored_files(self.settings, outgoing.details),
        )
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
        return Delivery(provider_message_id=str(message["Message-ID"]))

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


# --- mail that comes back ------------------------------------------------------------------------

# RFC 3464 actions: "failed" is final; "delayed" says the server is still trying (nothing to
# record); "relayed" and "expanded" left the reporting server's hands, which is not delivery.
_REPORTED: dict[str, ReportedStatus] = {"failed": "bounced", "delivered": "delivered"}
_MAX_INBOUND_BYTES = 10 * 1024 * 1024


def _parse(payload: bytes) -> EmailMessage:
    if not payload.strip():
        raise NotUnderstood("The message is empty.")
    if len(payload) > _MAX_INBOUND_BYTES:
        raise NotUnderstood("The message is larger than 10 MB.")
    # Both policies keep a header as it came; ``policy.default`` parses it at every fetch,
    # and the parser fetches Content-Type a dozen times per part to find the structure, so
    # the structure is found under ``compat32`` (which fetches the plain text) and the
    # parts are then read under ``policy.default``.
    parser = BytesParser(EmailMessage, policy=policy.compat32)
    message = cast(EmailMessage, parser.parsebytes(payload))
    if not message.keys():
        raise NotUnderstood("The payload has no mail headers.")
    for part in message.walk():
        part.policy = policy.default
        _parse_structure_once(part)
    return message


# What finding the text, the HTML and the files reads of each part, many times over.
_STRUCTURE_HEADERS = ("Content-Type", "Content-Disposition", "Content-Transfer-Encoding")


def _parse_structure_once(part: Message) -> None:
    """Keep a part's structure headers parsed: ``get_body`` and ``iter_attachments`` fetch
    Content-Type over and over, and a header kept in its parsed form is handed back as it
    is."""
    for name in _STRUCTURE_HEADERS:
        parsed = part.get(name)
        if parsed is not None:
            part.replace_header(name, parsed)


def _message_id(value: object) -> str:
    """A Message-ID as cxloop stored it: the bracketed form, no folding whitespace."""
    text = "".join(str(value or "").split())
    if text and not text.startswith("<"):
        text = f"<{text}>"
    return text


def _original_message_id(report: EmailMessage) -> str:
    """The Message-ID of the message a delivery report is about, from its returned headers."""
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type == "text/rfc822-headers":
            headers = HeaderParser(policy=policy.default).parsestr(str(part.get_content()))
            return _message_id(headers.get("Message-ID"))
        if content_type == "message/rfc822":
            inner = part.get_payload()
            original = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(original, Message):
                return _message_id(original.get("Message-ID"))
    return ""


def _delivery_reports(report: EmailMessage) -> list[StatusReport]:
    """The per-recipient results of an RFC 3464 report that say delivered or bounced."""
    original = _original_message_id(report)
    if not original:
        raise NotUnderstood("The delivery report does not say which message it is about.")
    reports: list[StatusReport] = []
    for part in report.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        # The first block is about the message, each further one about one recipient.
        for block in blocks[1:] if isinstance(blocks, list) else []:
            if not isinstance(block, Message):
                continue
            action = str(block.get("Action", "")).strip().lower()
            status = _REPORTED.get(action)
            if status is None:
                continue
            recipient = str(block.get("Final-Recipient", "")).partition(";")[2].strip()
            detail = " ".join(
                str(block.get(name, "")).strip()
                for name in ("Status", "Diagnostic-Code")
                if block.get(name)
            )
            reports.append(
                StatusReport(
                    channel="email",
                    provider_message_id=original,
                    status=status,
                    detail=" ".join(detail.split())[:500],
                    recipient=recipient,
                )
            )
    return reports


def _body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    if part is None:
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset or a damaged transfer encoding
        raw = part.get_payload(decode=True)
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""


_LINE_BREAK = re.compile(r"\r?\n")


def _unfolded(value: str) -> str:
    """A header value as it came, on one line; bytes that are not UTF-8 become U+FFFD."""
    text = "".join(_LINE_BREAK.split(value))
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _inbound(message: EmailMessage) -> Inbound:
    """One person's message. Only Subject and From go through the header registry (their
    RFC 2047 words decoded); the rest is read as it came, since parsing every header of a mail
    cost more than the rest of reading it. ``headers`` holds every header that way (the last
    of a repeated one): what cxloop looks at there (Auto-Submitted, Precedence, the
    recipients) needs no decoding."""
    headers: dict[str, str] = {}
    first: dict[str, str] = {}
    for key, value in message.raw_items():
        text = _unfolded(value)
        headers[key] = text
        first.setdefault(key.lower(), text)
    name, sender = parseaddr(str(message.get("From", "")))
    if not sender:
        raise NotUnderstood("The message has no sender (From).")
    _to_name, recipient = parseaddr(first.get("delivered-to") or first.get("to", ""))
    try:
        sent_at = parsedate_to_datetime(first["date"]) if first.get("date") else None
    except (TypeError, ValueError):
        sent_at = None
    return Inbound(
        channel="email",
        sender=sender,
        sender_name=name,
        recipient=recipient,
        subject=" ".join(str(message.get("Subject", "")).split()),
        text=_body(message, "plain"),
        html=_body(message, "html"),
        provider_message_id=_message_id(first.get("message-id")),
        in_reply_to=_message_id(first.get("in-reply-to")),
        references=tuple(_message_id(r) for r in first.get("references", "").split()),
        sent_at=sent_at if sent_at is None or sent_at.tzinfo else None,
        headers=headers,
        attachments=_files_of(message),
    )


def _files_of(message: EmailMessage) -> tuple[AttachedFile, ...]:
    """The files a mail carries (its attachments, inline images included)."""
    files = []
    for part in message.iter_attachments():
        if part.is_multipart() or part.get_content_type() == "message/rfc822":
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        files.append(
            AttachedFile(
                filename=str(part.get_filename() or ""),
                content_type=part.get_content_type(),
                data=data,
            )
        )
    return tuple(files)


def read_mail(payload: bytes) -> list[Received]:
    """What a raw RFC 5322 message says: a delivery status notification's reports about mail
    cxloop sent, or one inbound message. Raises NotUnderstood for what is not mail."""
    message = _parse(payload)
    if (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == "delivery-status"
    ):
        return list(_delivery_reports(message))
    return [_inbound(message)]


class EmailAdapter:
    """Email through the configured SMTP server."""

    channel = "email"

    def ready(self, settings: Settings) -> bool:
        return bool(settings.smtp_host)

    def connect(self, settings: Settings) -> Mailer:
        return Mailer(settings)

    def receive(self, payload: bytes, *, content_type: str = "message/rfc822") -> list[Received]:
        return read_mail(payload)
