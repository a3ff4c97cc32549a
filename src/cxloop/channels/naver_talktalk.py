"""The Naver TalkTalk adapter: agents' replies through the chat bot API's send API, and the
events TalkTalk posts to the partner's webhook.

Sending is ``POST {base}/chatbot/v1/event`` with the partner account's token as the whole
``Authorization`` header and ``{"event": "send", "user": …, "textContent": {"text": …}}`` as
the body (at most 10,000 characters of text). TalkTalk answers HTTP 200 with ``{"success":
true, "resultCode": "00"}``, or 200 with ``success: false`` and a code: ``01`` the token was
refused (worth another try once it is fixed), ``02`` the JSON was refused, ``99`` anything
else (final). TalkTalk gives no message id and takes no idempotency key, so a request that may
have reached it (the answer timed out or broke off) is not sent again; the message's id in
cxloop stands in for TalkTalk's (``talktalk-<outbox id>``).

The webhook receives one event per request: ``open`` (the user opened the chat; ``options``
tell where from, whether they are a friend, under 14 or 19), ``leave``, ``friend`` (``set``
on/off), ``send`` (the user's message: ``textContent`` or ``imageContent``; ``standby`` when an
agent in the partner centre holds the thread), ``echo`` (what the partner side sent, bot or
agent), ``handover`` (``passThread``/``takeThread``: the thread moves between bot and agent)
and ``action``. Events carry no id and no time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from cxloop.channels.adapters import (
    Delivery,
    Inbound,
    NotUnderstood,
    Outgoing,
    Received,
    SendFailure,
)
from cxloop.channels.messaging_http import http_failure
from cxloop.core.settings import Settings

EVENT_PATH = "/chatbot/v1/event"
MAX_TEXT = 10_000  # characters, Korean or not
MAX_USER_ID = 100
# The webhook's events cxloop reads; others (persistentMenu, …) are acknowledged and ignored.
EVENTS = ("open", "leave", "friend", "send", "echo", "handover", "action")
# TalkTalk's partner id of the partner centre (its agents) in handover and echo options.
PARTNER_SOURCE_ID = 1
AUTH_REFUSED = "01"


def valid_user(value: str) -> bool:
    """Whether ``value`` looks like a TalkTalk user key (letters, digits, ``-`` and ``_``)."""
    return 0 < len(value) <= MAX_USER_ID and all(ch.isalnum() or ch in "-_" for ch in value)


def provider_id(message_id: int) -> str:
    """The id cxloop gives a message sent through TalkTalk (which gives none)."""
    return f"talktalk-{message_id}"


def send_body(outgoing: Outgoing) -> dict[str, Any]:
    """The send API's event for an outbox message."""
    if not valid_user(outgoing.recipient):
        raise SendFailure(f"not a TalkTalk user: {outgoing.recipient[:120]!r}", False)
    if not outgoing.text.strip() or len(outgoing.text) > MAX_TEXT:
        raise SendFailure(f"a TalkTalk text is 1 to {MAX_TEXT:,} characters", False)
    # A reply comes minutes after the question, often after the user left the chat: the
    # notification brings them back (TalkTalk sends none while they are in the chat).
    return {
        "event": "send",
        "user": outgoing.recipient,
        "textContent": {"text": outgoing.text},
        "options": {"notification": True},
    }


class TalkTalkSession:
    """One HTTP client for a batch of replies."""

    def __init__(self, settings: Settings) -> None:
        token = settings.talktalk_partner_token
        if token is None or not token.get_secret_value():
            raise SendFailure("Naver TalkTalk is not configured", True)
        self._client = httpx.Client(
            base_url=settings.talktalk_api_url.rstrip("/"),
            timeout=httpx.Timeout(settings.provider_timeout_seconds),
            headers={
                "Accept": "application/json",
                "Content-Type": "application/json;charset=UTF-8",
                "Authorization": token.get_secret_value(),
            },
        )
        self._reachable = True

    def __enter__(self) -> TalkTalkSession:
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

    def send(self, outgoing: Outgoing) -> Delivery:
        """Hand one reply to TalkTalk; SendFailure when it was not taken."""
        body = send_body(outgoing)
        try:
            response = self._client.post(
                EVENT_PATH, content=json.dumps(body, ensure_ascii=False).encode()
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._reachable = False
            raise SendFailure(f"cannot reach Naver TalkTalk: {exc}", True) from exc
        except httpx.HTTPError as exc:
            raise SendFailure(
                f"Naver TalkTalk did not answer ({type(exc).__name__}); the message may have "
                "been sent, so it is not sent again",
                False,
            ) from exc
        if not response.is_success:
            raise http_failure("Naver TalkTalk", response)
        return _delivery(response, outgoing.message_id)


def _delivery(response: httpx.Response, message_id: int) -> Delivery:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        raise SendFailure("Naver TalkTalk's answer is not JSON; it may have been sent", False)
    if body.get("success") is True:
        return Delivery(provider_message_id=provider_id(message_id))
    code = str(body.get("resultCode") or "")
    reason = f"Naver TalkTalk refused the message: {code} {body.get('resultMessage') or ''}"
    raise SendFailure(reason.strip()[:500], code == AUTH_REFUSED)


# --- the webhook ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TalkTalkEvent:
    """One webhook event, read: its name, the user, what they wrote or sent, and its options."""

    event: str
    user: str
    text: str = ""
    image_url: str = ""
    code: str = ""
    input_type: str = ""
    standby: bool = False
    echoed: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def readable(self) -> bool:
        return self.event in EVENTS


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def read_event(payload: bytes) -> TalkTalkEvent:
    """A webhook body read into an event; NotUnderstood when it is not TalkTalk's JSON."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotUnderstood("The event is not JSON.") from exc
    if not isinstance(body, Mapping) or not isinstance(body.get("event"), str):
        raise NotUnderstood("A TalkTalk event is a JSON object with its event name.")
    event = body["event"][:32]
    user = body.get("user")
    if event in EVENTS and event != "action" and not (isinstance(user, str) and valid_user(user)):
        raise NotUnderstood(f"The {event} event names no valid user.")
    options = body.get("options")
    text_content = body.get("textContent")
    image_content = body.get("imageContent")
    text = code = input_type = image_url = ""
    if isinstance(text_content, Mapping):
        text = _text(text_content.get("text"), MAX_TEXT * 2)
        code = _text(text_content.get("code"), 1000)
        input_type = _text(text_content.get("inputType"), 32)
    if isinstance(image_content, Mapping):
        image_url = _text(image_content.get("imageUrl"), 2000)
    if event == "send" and not text and not image_url:
        raise NotUnderstood("The send event holds neither text nor an image.")
    return TalkTalkEvent(
        event=event,
        user=user if isinstance(user, str) else "",
        text=text,
        image_url=image_url,
        code=code,
        input_type=input_type,
        standby=body.get("standby") is True,
        echoed=_text(body.get("echoedEvent"), 32),
        options=dict(options) if isinstance(options, Mapping) else {},
    )


def read_messages(payload: bytes) -> list[Received]:
    """The users' messages in a webhook body (a ``send`` event), as inbound messages; other
    events hold none. TalkTalk's events carry no id: the caller gives each one its own."""
    event = read_event(payload)
    if event.event != "send":
        return []
    return [
        Inbound(
            channel="talktalk",
            sender=event.user,
            sender_name="",
            recipient="",
            subject="",
            text=event.text or event.image_url,
            html="",
            provider_message_id="",
        )
    ]


class NaverTalkTalkAdapter:
    """Replies to Naver TalkTalk users through the partner account's send API."""

    channel = "talktalk"

    def ready(self, settings: Settings) -> bool:
        token = settings.talktalk_partner_token
        return token is not None and bool(token.get_secret_value())

    def connect(self, settings: Settings) -> TalkTalkSession:
        return TalkTalkSession(settings)

    def receive(self, payload: bytes, *, content_type: str = "application/json") -> list[Received]:
        return read_messages(payload)
