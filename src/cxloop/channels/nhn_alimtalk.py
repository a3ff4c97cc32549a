"""The KakaoTalk Alimtalk adapter: template messages through NHN Cloud's KakaoTalk Bizmessage
API (v2.3), with the text sent as SMS/LMS to a customer KakaoTalk cannot reach; and NHN
Cloud's message-result webhook read into delivery reports.

Sending is ``POST {base}/alimtalk/v2.3/appkeys/{appkey}/messages`` with the ``X-Secret-Key``
header, one recipient per request: ``senderKey``, ``templateCode``, and in ``recipientList``
the ``recipientNo``, the ``templateParameter`` (the ``#{변수}`` values; NHN Cloud fills the
approved template in, which is what Kakao checks) and the ``resendParameter`` (``isResend``,
``resendType`` SMS or LMS by cxloop's byte rules, ``resendTitle`` for LMS, ``resendContent``
the filled-in template, ``resendSendNo`` the registered sender number).

Idempotency: each request carries ``X-NC-API-IDEMPOTENCY-KEY`` made from the outbox message id.
NHN Cloud refuses a second request with the same key within 10 minutes, so a retry after a
timeout or a 5xx (the first retry is due after one minute) cannot send the message twice: if the
first request went through, the retry is refused and the message is failed with that answer.
A request that never reached NHN Cloud, a 5xx and a timeout are tried again; NHN Cloud's own
refusals (``isSuccessful: false``, a recipient's non-zero ``resultCode``) are final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
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
from cxloop.channels.alimtalk_templates import render
from cxloop.channels.messaging_http import carrier_number, digits, http_failure
from cxloop.channels.sms_text import plan_text
from cxloop.core.errors import ValidationFailed
from cxloop.core.settings import Settings

API_VERSION = "v2.3"
IDEMPOTENCY_HEADER = "X-NC-API-IDEMPOTENCY-KEY"
RESULT_EVENT = "MESSAGE_RESULT_UPDATE"
# NHN Cloud's fallback states: RSC01 no fallback, RSC02 due, RSC03 sending, RSC04 sent,
# RSC05 failed.
FALLBACK_SENT = "RSC04"
FALLBACK_PENDING = frozenset({"RSC02", "RSC03"})
_MAX_REPORT_BYTES = 5 * 1024 * 1024


def idempotency_key(message_id: int, settings: Settings) -> str:
    """The key of one outbox message's requests: the same on every retry, and distinct between
    cxloop installations that share an app key (it carries a tag of this one's secret key)."""
    tag = hmac.new(
        settings.resolved_secret_key().encode(), b"nhn-idempotency", hashlib.sha256
    ).hexdigest()[:12]
    return f"cxloop-{tag}-{message_id}"


def provider_id(request_id: str, recipient_seq: object) -> str:
    """How cxloop names an NHN Cloud message: its request id and the recipient's number in it."""
    return f"{request_id}:{recipient_seq}"


class AlimtalkSession:
    """One HTTP client for a batch of Alimtalk messages."""

    def __init__(self, settings: Settings) -> None:
        if not AlimtalkAdapter().ready(settings):
            raise SendFailure("NHN Cloud Alimtalk is not configured", True)
        assert settings.nhn_appkey and settings.nhn_secret_key and settings.kakao_sender_key
        self.settings = settings
        self.sender_key = settings.kakao_sender_key
        self.fallback_number = digits(settings.sms_sender or "")
        self.path = f"/alimtalk/{API_VERSION}/appkeys/{settings.nhn_appkey}/messages"
        self._client = httpx.Client(
            base_url=settings.nhn_alimtalk_base_url.rstrip("/"),
            timeout=httpx.Timeout(settings.provider_timeout_seconds),
            headers={
                "Accept": "application/json",
                "X-Secret-Key": settings.nhn_secret_key.get_secret_value(),
            },
        )
        self._reachable = True

    def __enter__(self) -> AlimtalkSession:
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

    def request_body(self, outgoing: Outgoing) -> dict[str, Any]:
        """NHN Cloud's request for one Alimtalk, with its SMS/LMS fallback."""
        details = outgoing.details
        variables = {str(k): str(v) for k, v in dict(details.get("variables") or {}).items()}
        try:
            filled = render(outgoing.text, variables)
        except ValidationFailed as exc:  # checked when queued; details changed since
            raise SendFailure(exc.detail, False) from exc
        recipient_no, country = carrier_number(outgoing.recipient)
        if country != "82":
            raise SendFailure("Alimtalk is sent to Korean mobile numbers only", False)
        recipient: dict[str, Any] = {
            "recipientNo": recipient_no,
            "templateParameter": variables,
            "recipientGroupingKey": f"cxloop-{outgoing.message_id}",
        }
        plan = plan_text(filled, outgoing.subject)
        if details.get("fallback", True) and self.fallback_number and plan.kind is not None:
            resend: dict[str, Any] = {
                "isResend": True,
                "resendType": plan.kind,
                "resendContent": filled,
                "resendSendNo": self.fallback_number,
            }
            if plan.kind == "LMS":
                resend["resendTitle"] = plan.subject
            recipient["resendParameter"] = resend
        else:
            recipient["resendParameter"] = {"isResend": False}
        return {
            "senderKey": self.sender_key,
            "templateCode": str(details.get("template_code") or ""),
            "recipientList": [recipient],
        }

    def send(self, outgoing: Outgoing) -> Delivery:
        """Hand one Alimtalk to NHN Cloud; SendFailure when it is not accepted."""
        body = self.request_body(outgoing)
        try:
            response = self._client.post(
                self.path,
                content=json.dumps(body, ensure_ascii=False).encode(),
                headers={
                    "Content-Type": "application/json;charset=UTF-8",
                    IDEMPOTENCY_HEADER: idempotency_key(outgoing.message_id, self.settings),
                },
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._reachable = False
            raise SendFailure(f"cannot reach NHN Cloud: {exc}", True) from exc
        except httpx.HTTPError as exc:
            # Safe to try again: the idempotency key makes NHN Cloud refuse a second request.
            raise SendFailure(f"NHN Cloud did not answer ({type(exc).__name__})", True) from exc
        if not response.is_success:
            raise http_failure("NHN Cloud", response)
        return _delivery(response)


def _delivery(response: httpx.Response) -> Delivery:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping) or not isinstance(body.get("header"), Mapping):
        raise SendFailure("NHN Cloud's answer is not its JSON; it may have been sent", False)
    header = body["header"]
    if not header.get("isSuccessful"):
        raise SendFailure(
            f"NHN Cloud refused the message: {header.get('resultCode')} "
            f"{header.get('resultMessage') or ''}".strip(),
            False,
        )
    message = body.get("message") or {}
    results = message.get("sendResults") or [] if isinstance(message, Mapping) else []
    request_id = message.get("requestId") if isinstance(message, Mapping) else None
    if not isinstance(request_id, str) or not results or not isinstance(results[0], Mapping):
        raise SendFailure("NHN Cloud's answer names no request id; it may have been sent", False)
    result = results[0]
    if result.get("resultCode") not in (0, "0"):
        raise SendFailure(
            f"NHN Cloud refused the recipient: {result.get('resultCode')} "
            f"{result.get('resultMessage') or ''}".strip(),
            False,
        )
    return Delivery(provider_message_id=provider_id(request_id, result.get("recipientSeq", 1)))


# --- delivery results ---------------------------------------------------------------------------


def _reported(hook: Mapping[str, Any]) -> tuple[ReportedStatus, str] | None:
    """What one message-result hook says: delivered (by KakaoTalk, or by the fallback text),
    bounced (both failed), or nothing yet."""
    status = str(hook.get("messageStatus") or "").upper()
    code = str(hook.get("resultCode") or "")
    name = str(hook.get("resultCodeName") or "")
    if status == "COMPLETED":
        return "delivered", ""
    if status != "FAILED":
        return None
    fallback = str(hook.get("resendStatus") or "")
    if fallback == FALLBACK_SENT:
        return "delivered", "sent as a text message (KakaoTalk could not deliver it)"
    if fallback in FALLBACK_PENDING:
        return None
    return "bounced", f"{code} {name}".strip() or "failed"


def read_results(payload: bytes) -> list[Received]:
    """NHN Cloud's KakaoTalk Bizmessage webhook read into status reports; events other than
    message results (template reviews) hold none."""
    if not payload.strip():
        raise NotUnderstood("The webhook body is empty.")
    if len(payload) > _MAX_REPORT_BYTES:
        raise NotUnderstood("The webhook body is larger than 5 MB.")
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise NotUnderstood("The webhook body is not JSON.") from exc
    if not isinstance(body, Mapping) or not isinstance(body.get("hooks"), list):
        raise NotUnderstood("An NHN Cloud webhook has an event and its hooks.")
    if body.get("event") != RESULT_EVENT:
        return []
    reports: list[Received] = []
    for hook in body["hooks"]:
        if not isinstance(hook, Mapping) or not isinstance(hook.get("requestId"), str):
            raise NotUnderstood("Each message result names its requestId.")
        reported = _reported(hook)
        if reported is None:
            continue
        status, detail = reported
        reports.append(
            StatusReport(
                channel="kakao",
                provider_message_id=provider_id(hook["requestId"], hook.get("recipientSeq", 1)),
                status=status,
                detail=detail[:500],
                recipient=str(hook.get("recipientNo") or ""),
            )
        )
    return reports


class AlimtalkAdapter:
    """KakaoTalk Alimtalk through NHN Cloud, with SMS/LMS fallback."""

    channel = "kakao"

    def ready(self, settings: Settings) -> bool:
        return bool(settings.nhn_appkey and settings.nhn_secret_key and settings.kakao_sender_key)

    def connect(self, settings: Settings) -> AlimtalkSession:
        return AlimtalkSession(settings)

    def receive(self, payload: bytes, *, content_type: str = "application/json") -> list[Received]:
        return read_results(payload)
