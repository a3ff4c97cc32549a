"""The SMS/LMS adapter: text messages through Solapi's HTTP API, and Solapi's delivery reports.

Sending is ``POST {base}/messages/v4/send-many/detail`` with one message per request, signed
with ``Authorization: HMAC-SHA256 apiKey=…, date=…, salt=…, signature=…`` (the signature is the
hex HMAC-SHA256 of date + salt under the API secret). The text is typed SMS or LMS by cxloop's
own byte rules (``channels.sms_text``), so what the customer gets never depends on the
provider's guess. Solapi answers with the messages it registered (``messageList``, each with
its ``messageId``) and those it refused (``failedMessageList``, with a status code and
message); the ``messageId`` names the message in its reports.

Solapi documents no idempotency key, so a request that may have reached it (the answer timed
out or broke off) is not sent again: it is failed with that reason, as the outbox does with a
message a crashed sender left half-sent. A request that never reached it (connection refused or
timed out while connecting) and a 5xx answer are tried again later; 401/403 (key or signature
refused) and 429 too, since configuration and rate limits change; any other 4xx is final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx

from cxloop.channels.adapters import (
    Delivery,
    NotUnderstood,
    Outgoing,
    Received,
    ReportedStatus,
    SendFailure,
    StatusReport,
)
from cxloop.channels.messaging_http import carrier_number, digits, http_failure
from cxloop.channels.sms_text import plan_text
from cxloop.core.settings import Settings

SEND_PATH = "/messages/v4/send-many/detail"
# Solapi's message status codes: 4000 is "received by the handset"; 2000 (accepted) and 3000
# (handed to the carrier) are on the way; any other code is a failure.
DELIVERED_CODE = "4000"
PENDING_CODES = frozenset({"2000", "3000"})
_MAX_REPORT_BYTES = 5 * 1024 * 1024


def signature(api_secret: str, *, date: str, salt: str) -> str:
    """Solapi's request signature: hex HMAC-SHA256 of ``date + salt`` under the API secret."""
    return hmac.new(api_secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()


def authorization(
    api_key: str, api_secret: str, *, date: str | None = None, salt: str | None = None
) -> str:
    """The ``Authorization`` header of one request (a fresh date and salt unless given)."""
    date = date or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    salt = salt or secrets.token_hex(16)
    return (
        f"HMAC-SHA256 apiKey={api_key}, date={date}, salt={salt}, "
        f"signature={signature(api_secret, date=date, salt=salt)}"
    )


class SolapiSession:
    """One HTTP client for a batch of text messages."""

    def __init__(self, settings: Settings) -> None:
        if not SolapiAdapter().ready(settings):
            raise SendFailure("Solapi is not configured", True)
        assert settings.solapi_api_key and settings.solapi_api_secret and settings.sms_sender
        self.api_key = settings.solapi_api_key
        self.api_secret = settings.solapi_api_secret.get_secret_value()
        self.sender = digits(settings.sms_sender)
        self._client = httpx.Client(
            base_url=settings.solapi_base_url.rstrip("/"),
            timeout=httpx.Timeout(settings.provider_timeout_seconds),
            headers={"Accept": "application/json"},
        )
        self._reachable = True

    def __enter__(self) -> SolapiSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._client.close()

    @property
    def connected(self) -> bool:
        return self._reachable

    def message(self, outgoing: Outgoing) -> dict[str, Any]:
        """The Solapi message for an outbox message: typed SMS or LMS by byte count."""
        plan = plan_text(outgoing.text, outgoing.subject)
        if plan.kind is None:
            # Checked when queued; a message changed since is refused rather than cut.
            raise SendFailure("the text cannot be sent as SMS/LMS (characters or length)", False)
        to, country = carrier_number(outgoing.recipient)
        message: dict[str, Any] = {
            "to": to,
            "from": self.sender,
            "text": outgoing.text,
            "type": plan.kind,
            "customFields": {"cxloopMessageId": str(outgoing.message_id)},
        }
        if country != "82":
            message["country"] = country
        if plan.kind == "LMS":
            message["subject"] = plan.subject
        return message

    def send(self, outgoing: Outgoing) -> Delivery:
        """Hand one text message to Solapi; SendFailure when it is not registered."""
        body = {"messages": [self.message(outgoing)]}
        try:
            response = self._client.post(
                SEND_PATH,
                content=json.dumps(body, ensure_ascii=False).encode(),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Authorization": authorization(self.api_key, self.api_secret),
                },
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._reachable = False
            raise SendFailure(f"cannot reach Solapi: {exc}", True) from exc
        except httpx.HTTPError as exc:
            # The request went out: Solapi may have taken it, and it has no idempotency key.
            raise SendFailure(
                f"Solapi did not answer ({type(exc).__name__}); the message may have been "
                "sent, so it is not sent again",
                False,
            ) from exc
        if not response.is_success:
            raise http_failure("Solapi", response)
        return _delivery(response)


def _delivery(response: httpx.Response) -> Delivery:
    """The message id of the one message Solapi registered, or why it refused it."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        raise SendFailure("Solapi's answer is not JSON; the message may have been sent", False)
    failed = body.get("failedMessageList") or []
    if failed and isinstance(failed[0], Mapping):
        code = failed[0].get("statusCode", "")
        text = failed[0].get("statusMessage", "")
        raise SendFailure(f"Solapi refused the message: {code} {text}".strip(), False)
    registered = body.get("messageList") or []
    message_id = registered[0].get("messageId") if registered else None
    if not isinstance(message_id, str) or not message_id:
        raise SendFailure("Solapi's answer names no message id; it may have been sent", False)
    return Delivery(provider_message_id=message_id)


# --- delivery reports ---------------------------------------------------------------------------


def _reported(code: str) -> ReportedStatus | None:
    if code == DELIVERED_CODE:
        return "delivered"
    if code in PENDING_CODES or not code:
        return None
    return "bounced"


def read_reports(payload: bytes) -> list[Received]:
    """Solapi's message report webhook (a JSON array of messages, or one message) read into
    status reports: 4000 delivered, a failure code bounced, accepted/in-transit ones skipped."""
    if not payload.strip():
        raise NotUnderstood("The report is empty.")
    if len(payload) > _MAX_REPORT_BYTES:
        raise NotUnderstood("The report is larger than 5 MB.")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise NotUnderstood("The report is not JSON.") from exc
    items = body if isinstance(body, list) else [body]
    reports: list[Received] = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("messageId"), str):
            raise NotUnderstood("Each Solapi report names its messageId.")
        code = str(item.get("statusCode") or "")
        status = _reported(code)
        if status is None:
            continue
        detail = f"{code} {item.get('statusMessage') or ''}".strip()
        reports.append(
            StatusReport(
                channel="sms",
                provider_message_id=item["messageId"],
                status=status,
                detail=detail[:500] if status == "bounced" else "",
                recipient=str(item.get("to") or ""),
            )
        )
    return reports


class SolapiAdapter:
    """SMS and LMS through Solapi."""

    channel = "sms"

    def ready(self, settings: Settings) -> bool:
        return bool(settings.solapi_api_key and settings.solapi_api_secret and settings.sms_sender)

    def connect(self, settings: Settings) -> SolapiSession:
        return SolapiSession(settings)

    def receive(self, payload: bytes, *, content_type: str = "application/json") -> list[Received]:
        return read_reports(payload)
