"""The e-mail that invites someone to a workspace: queued in the outbox (sent once the request
commits), in Korean and English since the invited person's language is not known yet."""

from __future__ import annotations

import html

from sqlalchemy.orm import Session

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
    texts, htmls = [], []
    for locale in LOCALES:
        params = {
            "inviter": label if named else gettext(locale, "invite.mail_admin"),
            "workspace": workspace.name,
            "role": gettext(locale, f"role.{invitation.role}"),
            "days": 7,
        }
        body = gettext(locale, "invite.mail_body", **params)
        action = gettext(locale, "invite.mail_action")
        note = gettext(locale, "invite.mail_note", **params)
        texts.append(f"{body}\n\n{action}: {url}\n\n{note}")
        htmls.append(
            f"<p>{html.escape(body)}</p>"
            f'<p><a href="{html.escape(url, quote=True)}">{html.escape(action)}</a></p>'
            f'<p style="color:#666;font-size:12px">{html.escape(note)}</p>'
        )
    subject = " · ".join(
        gettext(locale, "invite.mail_subject", workspace=workspace.name) for locale in LOCALES
    )
    queue_email(
        session,
        workspace_id=invitation.workspace_id,
        recipient=invitation.email,
        subject=f"[cxloop] {subject}",
        text="\n\n---\n\n".join(texts) + "\n",
        html="<hr>".join(htmls),
        dedupe_key=f"member-invitation:{invitation.id}:{invitation.sent_count}",
        purpose="service",
    )
