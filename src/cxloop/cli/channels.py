"""The ``cxloop outbox`` commands: the queue of outgoing email."""

from __future__ import annotations

import typer

from cxloop.cli.common import (
    _ready_database,
    console,
    err,
)
from cxloop.core.errors import CxloopError

outbox_app = typer.Typer(name="outbox", help="Outgoing email (the outbox).", no_args_is_help=True)


@outbox_app.command("status")
def outbox_status() -> None:
    """How many messages are queued, sent, delivered, bounced and failed (all workspaces)."""
    from cxloop.channels import outbox

    with _ready_database().session() as session:
        counts = outbox.counts(session)
    console.print(
        f"queued {counts.queued} (due {counts.due}), sending {counts.sending}, "
        f"sent {counts.sent} (delivered {counts.delivered}, bounced {counts.bounced}), "
        f"failed {counts.failed}, cancelled {counts.cancelled}"
    )


@outbox_app.command("send")
def outbox_send() -> None:
    """Send the due queued messages now through their channels' configured providers."""
    from cxloop.channels.tasks import deliver_outbox
    from cxloop.core.settings import get_settings

    settings = get_settings()
    if not settings.smtp_host:
        raise CxloopError("No SMTP server is configured; set CXLOOP_SMTP_HOST.")
    report = deliver_outbox(_ready_database(), settings=settings)
    console.print(f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed.")
    for reason in sorted(set(report.errors))[:5]:
        err.print(f"  {reason}", highlight=False)
