"""The e-mail that invites someone to a workspace: queued in the outbox (sent once the request
commits), in Korean and English since the invited person's language is not known yet."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cxloop.channels.notice_mail import NoticePart, render_notice_mail
from cxloop.channels.outbox import queue_email
from cxloop.core.i18n import LOCALES, gettext
from cxloop.core.settings import get_settings
from cxloop.models import MemberInvitation, Workspace


def mail_invitation(
    session: Session, invitation: MemberInvitation, workspace: Workspace, token: str
) -> None:
    """Queue the invitation's e-mail with its accept link (each sending its own message)."""
    url = f"{get_settings().public_url.rstrip('/')}/invitations/{token}"
    label = invitation.invited_by_label
    # An API key or the operator's CLI is not a person to name: "an administrator" then.
    named = bool(label) and label != "cli" and not label.startswith("key:")
    parts = []
    for locale in LOCALES:
        params = {
            "inviter": label if named else gettext(locale, "invite.mail_admin"),
            "workspace": workspace.name,
            "role": gettext(locale, f"role.{invitation.role}"),
            "days": 7,
        }
        parts.append(
            NoticePart(
                lang=locale,
                body=gettext(locale, "invite.mail_body", **params),
                action=gettext(locale, "invite.mail_action"),
                url=url,
                note=gettext(locale, "invite.mail_note", **params),
            )
        )
    subject = " · ".join(
        gettext(locale, "invite.mail_subject", workspace=workspace.name) for locale in LOCALES
    )
    text, html = render_notice_mail(subject, parts)
    queue_email(
        session,
        workspace_id=invitation.workspace_id,
        recipient=invitation.email,
        subject=f"[cxloop] {subject}",
        text=text,
        html=html,
        dedupe_key=f"member-invitation:{invitation.id}:{invitation.sent_count}",
        purpose="service",
    )
