"""The webhooks providers call with delivery reports: one secret address per workspace and
provider, and the check that a call really comes from there.

A provider's webhook carries no cxloop API key, so its address does the work: the path holds
a token made of the workspace id and an HMAC of it under the server's secret key (derived,
never stored; a token made with a key still listed in ``CXLOOP_PREVIOUS_SECRET_KEYS`` keeps
working while it is listed). NHN Cloud also sends the signature entered in its webhook
settings (``X-Toast-Webhook-Signature``), checked against ``CXLOOP_NHN_WEBHOOK_SIGNATURE`` when
that is set. A call that fails either check, or whose body is not the provider's reports, is
refused and nothing of it is kept.

A call that passes is kept on the disk (``core.spool``, one kind per provider, labelled with
the workspace id) and answered at once, without the database; its reports are applied right
after the answer, or by the spool's sweep after a crash. Applying a call twice changes
nothing, so a provider's retry or a crash between the commit and the removal is harmless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from cxloop.channels.receiving import read_status_reports, take_status_reports
from cxloop.core.db import Database
from cxloop.core.errors import AuthenticationFailed, NotFound, ValidationFailed
from cxloop.core.settings import Settings
from cxloop.core.spool import Spooled, SpoolHandler, spool_of

log = logging.getLogger(__name__)

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


def spool_kind(provider: str) -> str:
    """The spool a provider's accepted calls wait in (``solapi``, ``nhn_alimtalk``)."""
    return provider.replace("-", "_")


@dataclass(frozen=True)
class KeptReports:
    """A provider's call kept on the disk: the name it is kept under, and how many delivery
    reports it holds."""

    name: str
    reports: int


def accept_provider_hook(
    settings: Settings,
    *,
    provider: str,
    token: str,
    payload: bytes,
    content_type: str,
    headers: Mapping[str, str],
) -> KeptReports:
    """Keep the delivery reports a provider posted to a workspace's webhook on the disk, to be
    applied after the answer. AuthenticationFailed for a token or signature that is not right
    (the body is not read then), ValidationFailed for a body that is not the provider's
    reports; nothing is kept either way."""
    channel = HOOK_CHANNELS.get(provider)
    if channel is None:
        raise NotFound(f"cxloop takes no webhook from {provider!r}.")
    workspace_id = workspace_of(provider, token, settings=settings)
    if workspace_id is None:
        raise AuthenticationFailed("This webhook address is not one cxloop gave out.")
    if provider == "nhn-alimtalk" and not _signed_by_nhn(headers, settings):
        raise AuthenticationFailed("The webhook signature is missing or wrong.")
    reports = read_status_reports(channel, payload=payload, content_type=content_type)
    name = spool_of(settings, spool_kind(provider)).put(payload, label=str(workspace_id))
    return KeptReports(name=name, reports=len(reports))


def _reports_applier(provider: str) -> SpoolHandler:
    channel = HOOK_CHANNELS[provider]

    def apply_kept_reports(database: Database, item: Spooled) -> None:
        """Apply the reports of one accepted call to its workspace's messages."""
        with database.session() as session:
            try:
                # Solapi's and NHN Cloud's reports are JSON whatever the call's Content-Type.
                take_status_reports(
                    session,
                    workspace_id=int(item.label),
                    channel=channel,
                    payload=item.read(),
                    content_type="application/json",
                )
            except ValidationFailed:
                # Read when it was accepted, unreadable now (the adapter changed since):
                # trying again would not help.
                log.warning("Dropped %s %s: its reports can no longer be read", provider, item.name)

    return SpoolHandler(spool_kind(provider), apply_kept_reports)


solapi_spool = _reports_applier("solapi")
nhn_alimtalk_spool = _reports_applier("nhn-alimtalk")
