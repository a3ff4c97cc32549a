"""The webhooks providers call with delivery reports: one secret address per workspace and
provider, and the check that a call really comes from there.

A provider's webhook carries no cxloop API key, so its address does the work: the path holds
a token made of the workspace id and an HMAC of it under the server's secret key (derived,
never stored; a token made with a key still listed in ``CXLOOP_PREVIOUS_SECRET_KEYS`` keeps
working while it is listed). NHN Cloud also sends the signature entered in its webhook
settings (``X-Toast-Webhook-Signature``), checked against ``CXLOOP_NHN_WEBHOOK_SIGNATURE`` when
that is set. A call that fails either check changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from sqlalchemy.orm import Session

from cxloop.channels.receiving import ReportsTaken, take_status_reports
from cxloop.core.errors import AuthenticationFailed, NotFound
from cxloop.core.settings import Settings

# Each provider's webhook, and the channel its reports are about.
HOOK_CHANNELS = {"solapi": "sms", "nhn-alimtalk": "kakao"}
NHN_SIGNATURE_HEADER = "x-toast-webhook-signature"


def _mac(provider: str, workspace_id: int, key: str) -> str:
    message = f"cxloop-provider-hook\x00{provider}\x00{workspace_id}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def hook_token(provider: str, *, workspace_id: int, settings: Settings) -> str:
    """The secret path token of a workspace's webhook for ``provider``."""
    return f"{workspace_id}.{_mac(provider, workspace_id, settings.resolved_secret_key())}"


def hook_urls(*, workspace_id: int, settings: Settings) -> dict[str, str]:
    """The addresses to enter in each provider's webhook settings for this workspace."""
    base = settings.public_url.rstrip("/")
    return {
        provider: f"{base}/hooks/{provider}/"
        + hook_token(provider, workspace_id=workspace_id, settings=settings)
        for provider in HOOK_CHANNELS
    }


def workspace_of(provider: str, token: str, *, settings: Settings) -> int | None:
    """The workspace a webhook token stands for, or None when it is not one cxloop made."""
    head, _, mac = token.partition(".")
    if not head.isdigit() or len(head) > 18 or not mac:
        return None
    workspace_id = int(head)
    matched = False
    for key in settings.secret_keys():
        # Every key is tried, so the time taken does not say which one matched.
        matched |= hmac.compare_digest(_mac(provider, workspace_id, key), mac)
    return workspace_id if matched else None


def _signed_by_nhn(headers: Mapping[str, str], settings: Settings) -> bool:
    expected = settings.nhn_webhook_signature
    if expected is None or not expected.get_secret_value():
        return True
    sent = headers.get(NHN_SIGNATURE_HEADER, "")
    return hmac.compare_digest(sent.encode(), expected.get_secret_value().encode())


def take_provider_hook(
    session: Session,
    *,
    provider: str,
    token: str,
    payload: bytes,
    content_type: str,
    headers: Mapping[str, str],
    settings: Settings,
) -> ReportsTaken:
    """Apply the delivery reports a provider posted to a workspace's webhook, once each;
    AuthenticationFailed for a token or signature that is not right (nothing is read then)."""
    channel = HOOK_CHANNELS.get(provider)
    if channel is None:
        raise NotFound(f"cxloop takes no webhook from {provider!r}.")
    workspace_id = workspace_of(provider, token, settings=settings)
    if workspace_id is None:
        raise AuthenticationFailed("This webhook address is not one cxloop gave out.")
    if provider == "nhn-alimtalk" and not _signed_by_nhn(headers, settings):
        raise AuthenticationFailed("The webhook signature is missing or wrong.")
    return take_status_reports(
        session,
        workspace_id=workspace_id,
        channel=channel,
        payload=payload,
        content_type=content_type,
    )
