"""The channels domain's part of erasing a customer: what was to be sent to them is cancelled
and every message to them loses its address, subject and words (status, purpose and times stay
for the counts)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from cxloop.core.db import rowcount
from cxloop.models import Customer, OutboundMessage


def scrub_outbox(session: Session, customer: Customer) -> dict[str, int]:
    """Cancel the customer's queued messages and blank the personal part of all of them."""
    mine = (
        OutboundMessage.workspace_id == customer.workspace_id,
        OutboundMessage.customer_id == customer.id,
    )
    cancelled = rowcount(
        session.execute(
            update(OutboundMessage)
            .where(*mine, OutboundMessage.status == "queued")
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
    )
    scrubbed = rowcount(
        session.execute(
            update(OutboundMessage)
            .where(*mine)
            .values(recipient="", subject="", body_text="", body_html="", last_error="")
            .execution_options(synchronize_session=False)
        )
    )
    return {"outbound_messages_cancelled": cancelled, "outbound_messages_scrubbed": scrubbed}
