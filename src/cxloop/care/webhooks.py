"""What the channel intakes share: where each kind of inbox is posted to (its webhook path, the
inbox's secret token at the end; a phone inbox takes imports and calls logged by agents), and
the profile of whoever wrote, found or made by their identity on the channel."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cxloop.models import CareInbox, Customer, Workspace
from cxloop.profiles import service as profiles
from cxloop.profiles.activity import survivor_of

HOOK_PATHS = {
    "email": "/hooks/email/",
    "talktalk": "/hooks/naver-talktalk/",
    "social": "/hooks/social/",
    "review": "/hooks/social/",
}


def webhook_path(channel: str, token: str) -> str:
    """The path an inbox of ``channel`` is posted to, or "" when it takes no webhook."""
    prefix = HOOK_PATHS.get(channel)
    return f"{prefix}{token}" if prefix else ""


def customer_for(session: Session, *, inbox: CareInbox, kind: str, value: str) -> Customer:
    """The live profile holding identity ``kind`` = ``value`` in the inbox's workspace, made
    when there is none (a merged profile's survivor when it was merged)."""
    workspace = session.get(Workspace, inbox.workspace_id)
    assert workspace is not None
    customer = profiles.create_customer(
        session,
        workspace=workspace,
        principal=None,
        traits={},
        identities=[(kind, value)],
        source=f"care:{inbox.channel}",
    )
    return survivor_of(session, customer) or customer
