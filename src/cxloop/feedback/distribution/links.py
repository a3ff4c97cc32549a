"""Invitation tokens and personal links. An invitation's token is never stored, only its hash.
It is derived from the invitation with the server's secret key (HMAC), so the link can be
rebuilt for a reminder or for the widget without keeping the token anywhere; changing the
secret key invalidates the links sent. Also: the invitation a token names, whether it may
still be answered, and that its link was opened."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.errors import NotFound
from cxloop.core.settings import Settings
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.models import Invitation, Survey

log = logging.getLogger(__name__)


# --- tokens and links --------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """How an invitation token is stored: only its SHA-256 is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_token(invitation: Invitation, *, secret: str) -> str:
    """The personal token of an invitation (derived, never stored)."""
    created = as_utc(invitation.created_at).isoformat()
    message = "\x00".join(
        str(part)
        for part in (
            "cxloop-invitation",
            invitation.workspace_id,
            invitation.survey_id,
            invitation.customer_id,
            invitation.id,
            created,
        )
    )
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link_token(invitation: Invitation, *, settings: Settings) -> str:
    """The token of the invitation's links: the one its stored hash was made from, under the
    current secret key or a previous one (``CXLOOP_PREVIOUS_SECRET_KEYS``), so a reminder
    carries the same link as the invitation. When no known key made it (a key retired while
    its invitations were open), the invitation gets a token under the current key: the links
    sent before stop working and the one made now works."""
    for secret in settings.secret_keys():
        token = invitation_token(invitation, secret=secret)
        if hmac.compare_digest(hash_token(token), invitation.token_hash):
            return token
    token = invitation_token(invitation, secret=settings.resolved_secret_key())
    invitation.token_hash = hash_token(token)
    log.warning(
        "invitation %s was made under a secret key no longer known; it has a new link",
        invitation.id,
    )
    return token


def invitation_link(invitation: Invitation, *, settings: Settings, embed: bool = False) -> str:
    """``{public_url}/s/{token}``: where the respondent answers (``?embed=1`` in the widget)."""
    token = link_token(invitation, settings=settings)
    link = f"{settings.public_url.rstrip('/')}/s/{token}"
    return f"{link}?embed=1" if embed else link


def find_invitation(session: Session, *, survey: Survey, token: str) -> Invitation:
    """The invitation of this survey whose personal token is ``token``."""
    invitation = session.scalar(
        select(Invitation).where(
            Invitation.workspace_id == survey.workspace_id,
            Invitation.survey_id == survey.id,
            Invitation.token_hash == hash_token(token),
        )
    )
    if invitation is None:
        raise NotFound("No invitation of this survey has that token.")
    return invitation


# --- respondent pages (personal links) ---------------------------------------------------------


def invitation_for_token(session: Session, *, token: str) -> Invitation:
    """The invitation whose personal link carries ``token``; the token alone names it (and
    so its workspace), as a customer opening the link has nothing else."""
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    if invitation is None:
        raise NotFound("No invitation has that token.")
    return invitation


def mark_opened(session: Session, *, invitation: Invitation) -> None:
    """Record that the customer opened their link (a later status is never undone)."""
    if invitation.status in ("scheduled", "sent"):
        invitation.status = "opened"
        session.flush()


def invitation_expired(invitation: Invitation, *, now: datetime | None = None) -> bool:
    """Whether an invitation can no longer be answered for its age (the one rule)."""
    return invitation.status == "expired" or as_utc(invitation.expires_at) <= (now or utcnow())
