"""What the inbox settings show of each channel: which channels an inbox can be made for here,
and, once one is made, where its channel posts (the webhook address with its secret token),
with the signing secret of a social or review inbox and how to try it."""

from __future__ import annotations

from typing import Any

from cxloop.care import social
from cxloop.care.webhooks import webhook_path
from cxloop.core.settings import Settings
from cxloop.models import CareInbox
from cxloop.web.session import WebContext

INBOX_CHOICES = ("email", "talktalk", "kakao", "social", "review", "phone")


def created_inbox(page: WebContext, inbox: CareInbox, token: str) -> dict[str, Any]:
    """The values of the page shown once after an inbox was made."""
    settings: Settings = page.request.app.state.settings
    path = webhook_path(inbox.channel, token)
    host = str(page.request.base_url).rstrip("/")
    signing = social.signing_secret(inbox, settings) if inbox.channel in social.INBOX_KINDS else ""
    return {
        "inbox": inbox,
        "webhook_url": f"{host}{path}" if path else "",
        "signing_secret": signing,
    }
