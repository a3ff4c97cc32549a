"""Identity verification for the survey widget: a per-workspace secret the shop's server uses to
sign its user ids (``userHash = HMAC-SHA256(secret, userId)``, hex), as chat widgets do. The
write key is public, so a user id the widget sends stands for a customer only when it comes
with its hash.

The secret is derived, never stored: an HMAC of the workspace and its rotation counter under the
server's secret key. A database copy therefore reveals no secret, rotating adds one to the
counter (old hashes stop at once), and hashes made under a key listed in
``CXLOOP_PREVIOUS_SECRET_KEYS`` keep verifying while it is listed, so changing the server's
key does not break every shop's widget at the same moment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from sqlalchemy import update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.settings import Settings
from cxloop.core.timeutil import as_utc
from cxloop.models import Workspace

SECRET_PREFIX = "cxid_"  # noqa: S105  (the prefix of a secret, not a secret)
# A hex SHA-256 digest; anything longer is not a hash and is not compared.
HASH_LENGTH = 64


def _derive(workspace: Workspace, key: str) -> str:
    message = "\x00".join(
        (
            "cxloop-widget-identity",
            str(workspace.id),
            as_utc(workspace.created_at).isoformat(),
            str(workspace.identity_secret_version),
        )
    )
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def identity_secret(workspace: Workspace, *, settings: Settings) -> str:
    """The workspace's current identity-verification secret (for its owners and admins)."""
    return _derive(workspace, settings.resolved_secret_key())


def user_hash(secret: str, user_id: str) -> str:
    """``HMAC-SHA256(secret, user_id)`` in hex: what the shop's server computes."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify_user_hash(
    workspace: Workspace, *, user_id: str, sent_hash: str | None, settings: Settings
) -> bool:
    """Whether ``sent_hash`` is the hash of ``user_id`` under the workspace's current secret
    (made with the server's current or a previous key). Compared in constant time; the answer
    depends on the hash alone, never on whether a customer has that user id."""
    if not sent_hash or len(sent_hash) != HASH_LENGTH:
        return False
    sent = sent_hash.strip().lower().encode("ascii", "replace")
    matched = False
    for key in settings.secret_keys():
        expected = user_hash(_derive(workspace, key), user_id).encode()
        # Every key is tried, so the time taken does not say which one matched.
        matched |= hmac.compare_digest(expected, sent)
    return matched


def rotate_identity_secret(session: Session, *, workspace: Workspace, principal: Principal) -> int:
    """Replace the workspace's secret: hashes made with the old one stop verifying at once.
    Audited; returns the new rotation number."""
    session.execute(
        update(Workspace)
        .where(Workspace.id == workspace.id)
        .values(identity_secret_version=Workspace.identity_secret_version + 1)
    )
    session.refresh(workspace, ["identity_secret_version"])
    record_audit(
        session,
        principal=principal,
        action="workspace.identity_secret_rotate",
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        detail={"version": workspace.identity_secret_version},
    )
    session.flush()
    return workspace.identity_secret_version
