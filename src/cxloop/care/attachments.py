"""Files attached to conversation messages: what customers attach to their mail, and what agents
attach to replies (sent with the email) and notes.

Every file gets a record with a sanitised name, its content type, size and SHA-256; its bytes go
to the attachment store (``core.attachment_store``), once per content in a workspace. A file over
the per-file limit, or past the per-message limits (total size, number of files), is recorded
with the reason and not stored — the message itself is always kept. Agents upload first (a file
of a conversation without a message yet) and name the uploads in the reply or note that carries
them. Files are handed out only as downloads (``Content-Disposition: attachment``, never sniffed
or shown inline), and only in their own workspace.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO
from urllib.parse import quote

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.channels.adapters import AttachedFile
from cxloop.core.attachment_store import TooLarge, attachment_store
from cxloop.core.bodylimit import size_text
from cxloop.core.db import rowcount
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.settings import Settings, get_settings
from cxloop.models import Conversation, ConversationAttachment, ConversationMessage

MAX_FILENAME = 200
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")
# Types a browser would run or render as a page: always handed out as plain bytes.
_ACTIVE_TYPES = ("html", "xml", "javascript", "ecmascript", "svg", "xhtml")


@dataclass(frozen=True)
class Incoming:
    """A file on its way in: its name and type as the sender gave them, and its bytes."""

    filename: str
    content_type: str
    source: BinaryIO
    size: int | None = None  # when known before reading


@dataclass(frozen=True)
class Limits:
    per_file: int
    per_message: int
    files: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            per_file=settings.max_attachment_bytes,
            per_message=settings.max_message_attachment_bytes,
            files=settings.max_message_attachments,
        )


def sanitise_filename(name: str) -> str:
    """A file name safe to store and hand back: no folders, control characters, quotes or
    leading dots; at most 200 characters with the extension kept; "attachment" when nothing is
    left."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(
        " " if unicodedata.category(ch).startswith(("C", "Z")) else ch
        for ch in text
        if ch not in '"<>|:*?'
    )
    text = " ".join(text.split()).lstrip(". ")
    if len(text) > MAX_FILENAME:
        stem, dot, ext = text.rpartition(".")
        ext = ext[:20] if dot and stem else ""
        text = text[: MAX_FILENAME - len(ext) - 1].rstrip() + ("." + ext if ext else "")
    return text or "attachment"


def clean_content_type(value: str) -> str:
    """``type/subtype`` in lower case, without parameters; octet-stream when it is not one."""
    kind = (value or "").split(";", 1)[0].strip().lower()
    return kind if _CONTENT_TYPE.match(kind) else "application/octet-stream"


def _record(
    conversation_id: int,
    workspace_id: int,
    message_id: int | None,
    incoming: Incoming,
    uploaded_by: int | None,
) -> ConversationAttachment:
    return ConversationAttachment(
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        message_id=message_id,
        uploaded_by_id=uploaded_by,
        filename=sanitise_filename(incoming.filename),
        content_type=clean_content_type(incoming.content_type),
    )


def _save(
    session: Session,
    *,
    conversation_id: int,
    workspace_id: int,
    message_id: int | None,
    files: Sequence[Incoming],
    uploaded_by: int | None,
    settings: Settings,
) -> list[ConversationAttachment]:
    """A record for each file; the bytes of each stored while the limits allow."""
    limits = Limits.of(settings)
    store = attachment_store(settings)
    saved: list[ConversationAttachment] = []
    total = kept = 0
    for incoming in files:
        record = _record(conversation_id, workspace_id, message_id, incoming, uploaded_by)
        room = min(limits.per_file, limits.per_message - total)
        if kept >= limits.files:
            record.problem = f"Not stored: a message keeps at most {limits.files} files."
        elif incoming.size is not None and incoming.size > room:
            record.size = incoming.size
            record.problem = _too_large(incoming.size, limits, total)
        else:
            try:
                stored = store.put(workspace_id, incoming.source, max_bytes=max(room, 0))
            except TooLarge as exc:
                record.size = exc.size
                record.problem = _too_large(exc.size, limits, total)
            else:
                record.size, record.sha256, record.storage_key = (
                    stored.size,
                    stored.sha256,
                    stored.key,
                )
                total += stored.size
                kept += 1
        if record.problem and not record.size:
            record.size = incoming.size or 0
        session.add(record)
        saved.append(record)
    session.flush()
    return saved


def _too_large(size: int, limits: Limits, total: int) -> str:
    if size > limits.per_file:
        return (
            f"Too large, not stored: {size:,} bytes, over the {size_text(limits.per_file)} limit."
        )
    return (
        f"Too large, not stored: with the message's other files it passes the "
        f"{size_text(limits.per_message)} limit of a message ({total:,} bytes before it)."
    )


def save_inbound(
    session: Session,
    *,
    message: ConversationMessage,
    files: Sequence[AttachedFile],
    settings: Settings | None = None,
) -> list[ConversationAttachment]:
    """Keep the files of a customer's message (each a record; the bytes where limits allow)."""
    if not files:
        return []
    return _save(
        session,
        conversation_id=message.conversation_id,
        workspace_id=message.workspace_id,
        message_id=message.id,
        files=[
            Incoming(f.filename, f.content_type, io.BytesIO(f.data), size=len(f.data))
            for f in files
        ],
        uploaded_by=None,
        settings=settings or get_settings(),
    )


def upload(
    session: Session,
    *,
    conversation: Conversation,
    principal: Principal,
    files: Sequence[Incoming],
    settings: Settings | None = None,
) -> list[ConversationAttachment]:
    """An agent's files for a reply or note still to be written. A file that cannot be kept is
    refused (ValidationFailed naming it): the agent is there to choose another."""
    limits = Limits.of(settings or get_settings())
    if not files:
        raise ValidationFailed(
            "Choose a file to attach.", errors=[{"field": "files", "message": "no file"}]
        )
    if len(files) > limits.files:
        raise ValidationFailed(
            f"At most {limits.files} files can be attached to a message.",
            errors=[{"field": "files", "message": f"at most {limits.files}"}],
        )
    saved = _save(
        session,
        conversation_id=conversation.id,
        workspace_id=conversation.workspace_id,
        message_id=None,
        files=files,
        uploaded_by=principal.user_id,
        settings=settings or get_settings(),
    )
    refused = [a for a in saved if a.problem]
    if refused:
        raise ValidationFailed(
            f"{refused[0].filename}: {refused[0].problem}",
            errors=[{"field": "files", "message": f"{a.filename}: {a.problem}"} for a in refused],
        )
    return saved


def claim(
    session: Session,
    *,
    message: ConversationMessage,
    ids: Sequence[int],
    channel: str,
    settings: Settings | None = None,
) -> list[ConversationAttachment]:
    """Give the uploads ``ids`` (this conversation's, not yet on a message) to ``message``;
    ValidationFailed for an id that is not such an upload, past a message's limits, or on a
    reply whose channel carries no files."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    if message.direction == "out" and channel != "email":
        raise ValidationFailed(
            f"Replies on the {channel} channel cannot carry files; add them to a note instead.",
            errors=[{"field": "attachment_ids", "message": f"no files on {channel}"}],
        )
    limits = Limits.of(settings or get_settings())
    found = list(
        session.scalars(
            select(ConversationAttachment).where(
                ConversationAttachment.workspace_id == message.workspace_id,
                ConversationAttachment.conversation_id == message.conversation_id,
                ConversationAttachment.message_id.is_(None),
                ConversationAttachment.id.in_(wanted),
            )
        )
    )
    if len(found) != len(wanted) or any(a.problem for a in found):
        missing = sorted(set(wanted) - {a.id for a in found if not a.problem})
        raise ValidationFailed(
            "Attach files uploaded to this conversation and not yet sent.",
            errors=[{"field": "attachment_ids", "message": f"unknown upload {i}"} for i in missing],
        )
    if len(found) > limits.files or sum(a.size for a in found) > limits.per_message:
        raise ValidationFailed(
            f"A message carries at most {limits.files} files and "
            f"{size_text(limits.per_message)} in all.",
            errors=[{"field": "attachment_ids", "message": "over a message's limits"}],
        )
    order = {attachment_id: n for n, attachment_id in enumerate(wanted)}
    found.sort(key=lambda a: order[a.id])
    for attachment in found:
        attachment.message_id = message.id
    session.flush()
    return found


def email_files(attachments: Iterable[ConversationAttachment]) -> list[dict[str, str]]:
    """What the email adapter needs to attach each stored file (outbox ``details``)."""
    return [
        {"key": a.storage_key, "filename": a.filename, "content_type": a.content_type}
        for a in attachments
        if a.storage_key
    ]


# --- reading and handing out -------------------------------------------------------------------


def get_attachment(
    session: Session, *, workspace_id: int, attachment_id: int
) -> ConversationAttachment:
    """One of the workspace's attachments; NotFound for another workspace's as for none."""
    attachment = session.scalar(
        select(ConversationAttachment).where(
            ConversationAttachment.id == attachment_id,
            ConversationAttachment.workspace_id == workspace_id,
        )
    )
    if attachment is None:
        raise NotFound(f"No attachment with id {attachment_id} in this workspace.")
    return attachment


def open_attachment(
    attachment: ConversationAttachment, settings: Settings | None = None
) -> BinaryIO:
    """The stored bytes; NotFound when the file was not kept or is gone."""
    if not attachment.storage_key:
        raise NotFound(attachment.problem or "This file was not stored.")
    try:
        return attachment_store(settings or get_settings()).open(attachment.storage_key)
    except FileNotFoundError as exc:
        raise NotFound("This file is no longer stored.") from exc


def download_headers(attachment: ConversationAttachment) -> dict[str, str]:
    """Headers that make a browser save the file, never run or show it as a page."""
    kind = attachment.content_type
    if kind.startswith("text/") or any(a in kind for a in _ACTIVE_TYPES):
        kind = "application/octet-stream"
    ascii_name = (
        unicodedata.normalize("NFKD", attachment.filename).encode("ascii", "ignore").decode()
    )
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", ascii_name).strip() or "attachment"
    return {
        "Content-Type": kind,
        "Content-Disposition": (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''"
            f"{quote(attachment.filename, safe='')}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store",
    }


def attachments_by_message(
    session: Session, *, workspace_id: int, message_ids: Iterable[int]
) -> dict[int, list[ConversationAttachment]]:
    """The files of each message among ``message_ids`` (one query)."""
    ids = set(message_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(ConversationAttachment)
        .where(
            ConversationAttachment.workspace_id == workspace_id,
            ConversationAttachment.message_id.in_(ids),
        )
        .order_by(ConversationAttachment.id)
    )
    found: dict[int, list[ConversationAttachment]] = {}
    for attachment in rows:
        assert attachment.message_id is not None
        found.setdefault(attachment.message_id, []).append(attachment)
    return found


def of_conversation(
    session: Session, *, conversation: Conversation, limit: int = 500
) -> list[ConversationAttachment]:
    """The files of a conversation's messages and its uploads, oldest first."""
    return list(
        session.scalars(
            select(ConversationAttachment)
            .where(
                ConversationAttachment.workspace_id == conversation.workspace_id,
                ConversationAttachment.conversation_id == conversation.id,
            )
            .order_by(ConversationAttachment.id)
            .limit(limit)
        )
    )


# --- erasure -----------------------------------------------------------------------------------


def erase_conversations(
    session: Session,
    *,
    workspace_id: int,
    conversation_ids: Sequence[int],
    settings: Settings | None = None,
) -> int:
    """Delete the files of these conversations: their records, and their bytes unless another
    record of the workspace still holds the same content. How many records went."""
    if not conversation_ids:
        return 0
    keys = set(
        session.scalars(
            select(ConversationAttachment.storage_key).where(
                ConversationAttachment.workspace_id == workspace_id,
                ConversationAttachment.conversation_id.in_(conversation_ids),
            )
        )
    )
    removed = session.execute(
        delete(ConversationAttachment)
        .where(
            ConversationAttachment.workspace_id == workspace_id,
            ConversationAttachment.conversation_id.in_(conversation_ids),
        )
        .execution_options(synchronize_session=False)
    )
    _delete_unused(session, workspace_id, keys, settings or get_settings())
    return rowcount(removed)


def _delete_unused(session: Session, workspace_id: int, keys: set[str], settings: Settings) -> None:
    """Delete the stored bytes of ``keys`` that no record of the workspace holds any more."""
    keys.discard("")
    if not keys:
        return
    still_used = set(
        session.scalars(
            select(ConversationAttachment.storage_key)
            .where(
                ConversationAttachment.workspace_id == workspace_id,
                ConversationAttachment.storage_key.in_(keys),
            )
            .group_by(ConversationAttachment.storage_key)
            .having(func.count() > 0)
        )
    )
    store = attachment_store(settings)
    for key in sorted(keys - still_used):
        store.delete(key)


def forget_unsent_uploads(
    session: Session, *, before: datetime, settings: Settings | None = None, limit: int = 1000
) -> int:
    """Delete agents' uploads that no reply or note took before ``before`` (a draft left
    behind), with their bytes where nothing else holds them. How many went."""
    stale = list(
        session.execute(
            select(
                ConversationAttachment.id,
                ConversationAttachment.workspace_id,
                ConversationAttachment.storage_key,
            )
            .where(
                ConversationAttachment.message_id.is_(None),
                ConversationAttachment.created_at < before,
            )
            .order_by(ConversationAttachment.id)
            .limit(limit)
        )
    )
    if not stale:
        return 0
    session.execute(
        delete(ConversationAttachment)
        .where(
            ConversationAttachment.id.in_([row.id for row in stale]),
            ConversationAttachment.message_id.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    by_workspace: dict[int, set[str]] = {}
    for row in stale:
        by_workspace.setdefault(row.workspace_id, set()).add(row.storage_key)
    for workspace_id, keys in by_workspace.items():
        _delete_unused(session, workspace_id, keys, settings or get_settings())
    return len(stale)
