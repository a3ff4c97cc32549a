"""The one interface every channel speaks, and the adapters cxloop has.

An adapter turns an outbox row into the provider's wire format and back:
- ``connect(settings)`` opens one session with the provider (an SMTP connection, an HTTP client)
  for a batch; its ``send(outgoing)`` returns the ``Delivery`` the provider acknowledged, or
  raises ``SendFailure`` (``transient`` when another attempt may succeed);
- ``receive(payload, content_type=...)`` reads what the provider sends cxloop: messages from
  people (``Inbound``) and status callbacks about messages cxloop sent (``StatusReport``:
  delivered, bounced, read), matched to the outbox by the provider's message id.

The outbox (``channels.outbox``) decides what is due, and the sender (``channels.tasks``) hands
each due message to its channel's adapter; neither knows a wire format. Adding a channel is one
adapter and one entry in ``channels.providers``; its provider's base URL is a setting, so tests
run a local server that speaks the provider's documented format.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from cxloop.core.settings import Settings

# What a status callback can say of a message the provider accepted.
ReportedStatus = Literal["delivered", "bounced"]


class SendFailure(Exception):
    """A message that did not go out; ``transient`` failures are worth another attempt."""

    def __init__(self, reason: str, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class NotUnderstood(ValueError):
    """A payload the adapter cannot read (not its wire format, or damaged)."""


@dataclass(frozen=True)
class Outgoing:
    """One outbox message, as an adapter needs it."""

    message_id: int
    channel: str
    recipient: str
    subject: str
    text: str
    html: str = ""
    # What the channel needs beyond subject and body (email headers, a template and its
    # variables, a fallback).
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What the provider acknowledged: its id for the message, which status callbacks name."""

    provider_message_id: str


@dataclass(frozen=True)
class StatusReport:
    """A provider's word on a message cxloop sent: delivered, or bounced (for good)."""

    channel: str
    provider_message_id: str
    status: ReportedStatus
    detail: str = ""
    recipient: str = ""


@dataclass(frozen=True)
class AttachedFile:
    """A file attached to a message (coming in or going out), as its sender named and typed
    it."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Inbound:
    """A message a person sent to cxloop on a channel."""

    channel: str
    sender: str
    sender_name: str
    recipient: str
    subject: str
    text: str
    html: str
    provider_message_id: str
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    sent_at: datetime | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    attachments: tuple[AttachedFile, ...] = ()


Received = Inbound | StatusReport


class Connection(Protocol):
    """One open session with a provider."""

    @property
    def connected(self) -> bool:
        """False once the provider dropped the session (the rest of the batch waits)."""
        ...

    def send(self, outgoing: Outgoing) -> Delivery: ...


class Adapter(Protocol):
    channel: str

    def ready(self, settings: Settings) -> bool:
        """Whether the provider is configured; an unconfigured channel's mail stays queued."""
        ...

    def connect(self, settings: Settings) -> AbstractContextManager[Connection]: ...

    def receive(self, payload: bytes, *, content_type: str) -> list[Received]: ...
