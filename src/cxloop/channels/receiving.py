"""What providers send back: status callbacks read by the channel's adapter and applied to the
outbox (a sent message becomes delivered or bounced)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from cxloop.channels import outbox
from cxloop.channels.adapters import Inbound, NotUnderstood, StatusReport
from cxloop.channels.providers import ADAPTERS
from cxloop.core.errors import ValidationFailed


@dataclass(frozen=True)
class ReportsTaken:
    """How a payload of status callbacks went: how many reports it held, and the messages of
    this workspace they were about (each message once, with its status after the reports)."""

    reports: int
    messages: dict[int, str]


def read_status_reports(channel: str, *, payload: bytes, content_type: str) -> list[StatusReport]:
    """The status callbacks in ``payload``, read by the channel's adapter (nothing is applied).
    A payload that is not the channel's wire format, or that holds a person's message instead
    of a report, is a ValidationFailed."""
    adapter = ADAPTERS.get(channel)
    if adapter is None:
        raise ValidationFailed(
            f"No adapter reads {channel} status reports.",
            errors=[{"field": "channel", "message": "no adapter for this channel"}],
        )
    try:
        received = adapter.receive(payload, content_type=content_type)
    except NotUnderstood as exc:
        raise ValidationFailed(
            f"This is not a {channel} status report: {exc}",
            errors=[{"field": "body", "message": str(exc)}],
        ) from exc
    if any(isinstance(item, Inbound) for item in received):
        raise ValidationFailed(
            "This is a message from a person, not a delivery status report.",
            errors=[{"field": "body", "message": "not a delivery status report"}],
        )
    return [item for item in received if isinstance(item, StatusReport)]


def take_status_reports(
    session: Session, *, workspace_id: int, channel: str, payload: bytes, content_type: str
) -> ReportsTaken:
    """Apply the status callbacks in ``payload`` to this workspace's messages. A payload that is
    not the channel's wire format, or that holds a person's message instead of a report, is a
    ValidationFailed and changes nothing; a report about a message cxloop did not send to this
    workspace is counted but matches nothing. Applying the same payload again changes nothing
    (``outbox.record_status`` moves a message only forward: sent, delivered, bounced)."""
    reports = read_status_reports(channel, payload=payload, content_type=content_type)
    messages: dict[int, str] = {}
    for report in reports:
        message = outbox.record_status(session, workspace_id=workspace_id, report=report)
        if message is not None:
            messages[message.id] = message.status
    return ReportsTaken(reports=len(reports), messages=messages)
