"""Reply addresses that name their conversation: an agent's email carries ``Reply-To:
support+c<conversation id>.<mac>@shop.example`` (plus-addressing of the inbox's address), so the
customer's answer finds its conversation even from a mail client that drops ``In-Reply-To`` and
``References`` and changes the subject. The mac is an HMAC of the conversation id under the
secret key: nobody can make up an address that names another conversation.

The support mailbox must deliver plus addresses to itself, as Gmail, Microsoft 365, Fastmail
and Postfix or Dovecot with ``recipient_delimiter = +`` do."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from email.utils import getaddresses, parseaddr

from sqlalchemy.orm import Session

from cxloop.core.settings import Settings, get_settings
from cxloop.models import CareInbox, Conversation

_TOKEN = re.compile(r"^[^@+\s]+\+c(\d{1,18})\.([0-9a-f]{16})@", re.I)
# The headers a reply address shows up in when the customer's server delivers the answer.
_RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")
_MAX_LOCAL_PART = 64  # RFC 5321


def _mac(conversation_id: int, key: str) -> str:
    message = f"care-reply:{conversation_id}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:16]


def token_address(base: str, conversation_id: int, *, settings: Settings) -> str:
    """``base`` (an address, maybe with a name) plus-addressed with the conversation's token;
    "" when ``base`` is not an address or the result would be too long for one."""
    _name, address = parseaddr(base)
    local, at, domain = address.rpartition("@")
    local = local.split("+", 1)[0]
    if not at or not local or not domain:
        return ""
    tagged = f"{local}+c{conversation_id}.{_mac(conversation_id, settings.resolved_secret_key())}"
    return f"{tagged}@{domain}" if len(tagged) <= _MAX_LOCAL_PART else ""


def reply_to(session: Session, conversation: Conversation) -> dict[str, str]:
    """The ``Reply-To`` header of a reply in ``conversation``: the inbox's address (or the
    sender's) with the conversation's token; no header when there is no such address."""
    inbox = session.get(CareInbox, conversation.inbox_id)
    settings = get_settings()
    base = inbox.address if inbox is not None and "@" in inbox.address else settings.mail_from
    address = token_address(base, conversation.id, settings=settings)
    return {"Reply-To": address} if address else {}


def named_conversation(headers: Mapping[str, str], *, settings: Settings) -> int | None:
    """The conversation id a valid reply token among the message's recipients names."""
    values = [str(v) for k, v in headers.items() if k.lower() in _RECIPIENT_HEADERS]
    for _name, address in getaddresses(values):
        found = _TOKEN.match(address.strip())
        if found is None:
            continue
        conversation_id, mac = int(found.group(1)), found.group(2).lower()
        if any(hmac.compare_digest(mac, _mac(conversation_id, k)) for k in settings.secret_keys()):
            return conversation_id
    return None


def conversation_for(
    session: Session, *, inbox: CareInbox, customer_id: int, headers: Mapping[str, str]
) -> Conversation | None:
    """The conversation of this inbox and customer that a reply token in ``headers`` names."""
    conversation_id = named_conversation(headers, settings=get_settings())
    if conversation_id is None:
        return None
    conversation = session.get(Conversation, conversation_id)
    if (
        conversation is None
        or conversation.workspace_id != inbox.workspace_id
        or conversation.inbox_id != inbox.id
        or conversation.customer_id != customer_id
    ):
        return None
    return conversation
