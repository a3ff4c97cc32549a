"""REST API of what agents answer with: canned replies (admins keep them, agents render them for
a conversation), macros (admins keep them, agents apply them), and the files of messages (agents
upload them for a reply or note, and download any of their workspace)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, File, Query, Request, UploadFile
from fastapi import Path as FastPath
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.care import attachments, canned, macros, service
from cxloop.models import CannedReply, Conversation, ConversationAttachment, Macro

router = APIRouter(prefix="/api/v1/care", tags=["care"])

Id = Annotated[int, FastPath(ge=1, le=2**53)]
Language = Literal["ko", "en"]
Status = Literal["open", "pending", "snoozed", "resolved"]
Priority = Literal["urgent", "high", "normal", "low"]


# --- canned replies ----------------------------------------------------------------------------


class CannedIn(BaseModel):
    name: str = Field(max_length=200)
    shortcut: str = Field(max_length=64, description="e.g. /배송 (the slash may be left out)")
    language: Language = "ko"
    body: str = Field(
        max_length=canned.MAX_BODY,
        description="Plain text; variables: "
        + ", ".join("{{" + v + "}}" for v in canned.VARIABLES),
    )
    team: str = Field(default="", max_length=64, description='"" for every team')


class CannedPatch(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    shortcut: str | None = Field(default=None, max_length=64)
    language: Language | None = None
    body: str | None = Field(default=None, max_length=canned.MAX_BODY)
    team: str | None = Field(default=None, max_length=64)


class CannedOut(BaseModel):
    id: int
    name: str
    shortcut: str
    language: str
    body: str
    team: str
    variables: list[str]
    created_at: datetime
    updated_at: datetime


class CannedPage(BaseModel):
    items: list[CannedOut]
    next_cursor: str | None


class ValuesIn(BaseModel):
    values: dict[str, Annotated[str, Field(max_length=canned.MAX_VALUE)]] = Field(
        default_factory=dict,
        max_length=len(canned.VARIABLES),
        description='Values the agent typed for variables, e.g. {"order.number": "A-1"}',
    )


class RenderedOut(BaseModel):
    text: str
    missing: list[str] = Field(description="Variables this conversation has no value for")


def _canned_out(reply: CannedReply) -> CannedOut:
    return CannedOut(
        **{n: getattr(reply, n) for n in CannedOut.model_fields if n != "variables"},
        variables=canned.variables_in(reply.body),
    )


def _canned(session: DbSession, principal: Principal, canned_id: int) -> CannedReply:
    return canned.get_canned(session, workspace_id=principal.workspace_id, canned_id=canned_id)


def _conversation(session: DbSession, principal: Principal, conversation_id: int) -> Conversation:
    return service.get_conversation(
        session, workspace_id=principal.workspace_id, conversation_id=conversation_id
    )


@router.get("/canned-replies", response_model=CannedPage)
def list_canned(
    principal: ApiPrincipal,
    session: DbSession,
    language: Language | None = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CannedPage:
    """The workspace's canned replies, newest first, with cursor pagination."""
    require(principal, "care:work")
    rows, next_cursor = canned.list_canned(
        session,
        workspace_id=principal.workspace_id,
        language=language,
        team=team,
        cursor=cursor,
        limit=limit,
    )
    return CannedPage(items=[_canned_out(r) for r in rows], next_cursor=next_cursor)


@router.post("/canned-replies", response_model=CannedOut, status_code=201)
def create_canned(body: CannedIn, principal: ApiPrincipal, session: DbSession) -> CannedOut:
    """Keep a canned reply; a body naming anything but the listed variables is refused."""
    require(principal, "care:manage")
    return _canned_out(canned.create_canned(session, principal=principal, **body.model_dump()))


@router.get("/canned-replies/{canned_id}", response_model=CannedOut)
def get_canned(canned_id: Id, principal: ApiPrincipal, session: DbSession) -> CannedOut:
    require(principal, "care:work")
    return _canned_out(_canned(session, principal, canned_id))


@router.patch("/canned-replies/{canned_id}", response_model=CannedOut)
def update_canned(
    canned_id: Id, body: CannedPatch, principal: ApiPrincipal, session: DbSession
) -> CannedOut:
    require(principal, "care:manage")
    reply = _canned(session, principal, canned_id)
    changes = body.model_dump(exclude_unset=True)
    return _canned_out(canned.update_canned(session, principal=principal, canned=reply, **changes))


@router.delete("/canned-replies/{canned_id}", status_code=204)
def delete_canned(canned_id: Id, principal: ApiPrincipal, session: DbSession) -> Response:
    require(principal, "care:manage")
    canned.delete_canned(
        session, principal=principal, canned=_canned(session, principal, canned_id)
    )
    return Response(status_code=204)


@router.post(
    "/conversations/{conversation_id}/canned/{canned_id}/render", response_model=RenderedOut
)
def render_canned(
    conversation_id: Id,
    canned_id: Id,
    principal: ApiPrincipal,
    session: DbSession,
    body: Annotated[ValuesIn | None, Body()] = None,
) -> RenderedOut:
    """The canned reply's text for this conversation, and the variables it has no value for
    (left in the text as they are: ask the agent, then render again with ``values``)."""
    require(principal, "care:work")
    rendered = canned.render_for(
        session,
        canned=_canned(session, principal, canned_id),
        conversation=_conversation(session, principal, conversation_id),
        principal=principal,
        values=body.values if body else None,
    )
    return RenderedOut(text=rendered.text, missing=rendered.missing)


# --- macros ------------------------------------------------------------------------------------


class MacroIn(BaseModel):
    name: str = Field(max_length=200)
    canned_reply_id: int | None = Field(default=None, ge=1, le=2**31)
    add_tags: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    remove_tags: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    status: Status | None = None
    snooze_minutes: int | None = Field(
        default=None, ge=1, le=macros.MAX_SNOOZE_MINUTES, description="With status snoozed"
    )
    priority: Priority | None = None
    team: str | None = Field(default=None, max_length=64)
    assign_mode: Literal["", "me", "nobody", "user"] = Field(
        default="", description='"" leaves the assignee; user assigns assignee_id'
    )
    assignee_id: int | None = Field(default=None, ge=1, le=2**31)


class MacroOut(MacroIn):
    id: int
    created_at: datetime


class AppliedOut(BaseModel):
    conversation_id: int
    status: str
    priority: str
    tags: list[str]
    team: str
    assignee_id: int | None
    snoozed_until: datetime | None
    reply_message_id: int | None


def _macro_out(macro: Macro) -> MacroOut:
    return MacroOut(**{n: getattr(macro, n) for n in MacroOut.model_fields})


def _macro(session: DbSession, principal: Principal, macro_id: int) -> Macro:
    return macros.get_macro(session, workspace_id=principal.workspace_id, macro_id=macro_id)


class MacroPage(BaseModel):
    items: list[MacroOut]
    next_cursor: str | None


@router.get("/macros", response_model=MacroPage)
def list_macros(
    principal: ApiPrincipal,
    session: DbSession,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MacroPage:
    """The workspace's macros, newest first, with cursor pagination."""
    require(principal, "care:work")
    rows, next_cursor = macros.page_macros(
        session, workspace_id=principal.workspace_id, cursor=cursor, limit=limit
    )
    return MacroPage(items=[_macro_out(m) for m in rows], next_cursor=next_cursor)


@router.post("/macros", response_model=MacroOut, status_code=201)
def create_macro(body: MacroIn, principal: ApiPrincipal, session: DbSession) -> MacroOut:
    require(principal, "care:manage")
    spec = macros.MacroSpec(**body.model_dump())
    return _macro_out(macros.create_macro(session, principal=principal, spec=spec))


@router.get("/macros/{macro_id}", response_model=MacroOut)
def get_macro(macro_id: Id, principal: ApiPrincipal, session: DbSession) -> MacroOut:
    require(principal, "care:work")
    return _macro_out(_macro(session, principal, macro_id))


@router.put("/macros/{macro_id}", response_model=MacroOut)
def update_macro(
    macro_id: Id, body: MacroIn, principal: ApiPrincipal, session: DbSession
) -> MacroOut:
    """Replace what a macro does."""
    require(principal, "care:manage")
    macro = _macro(session, principal, macro_id)
    spec = macros.MacroSpec(**body.model_dump())
    return _macro_out(macros.update_macro(session, principal=principal, macro=macro, spec=spec))


@router.delete("/macros/{macro_id}", status_code=204)
def delete_macro(macro_id: Id, principal: ApiPrincipal, session: DbSession) -> Response:
    require(principal, "care:manage")
    macros.delete_macro(session, principal=principal, macro=_macro(session, principal, macro_id))
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/macros/{macro_id}", response_model=AppliedOut)
def apply_macro(
    conversation_id: Id,
    macro_id: Id,
    principal: ApiPrincipal,
    session: DbSession,
    body: Annotated[ValuesIn | None, Body()] = None,
) -> AppliedOut:
    """Apply a macro: its reply (422 naming the variables still missing, fill them in
    ``values``), tags, priority, team, assignee and status, each once."""
    require(principal, "care:work")
    applied = macros.apply_macro(
        session,
        conversation=_conversation(session, principal, conversation_id),
        macro=_macro(session, principal, macro_id),
        principal=principal,
        values=body.values if body else None,
    )
    c = applied.conversation
    return AppliedOut(
        conversation_id=c.id,
        status=c.status,
        priority=c.priority,
        tags=c.tags,
        team=c.team,
        assignee_id=c.assignee_id,
        snoozed_until=c.snoozed_until,
        reply_message_id=applied.reply.id if applied.reply else None,
    )


# --- attachments -------------------------------------------------------------------------------


class AttachmentOut(BaseModel):
    id: int
    conversation_id: int
    message_id: int | None = Field(description="None for an upload no reply or note carries yet")
    filename: str
    content_type: str
    size: int
    sha256: str
    problem: str = Field(description="Why the file was not stored; empty when it was")
    created_at: datetime


def attachment_out(attachment: ConversationAttachment) -> AttachmentOut:
    return AttachmentOut(**{n: getattr(attachment, n) for n in AttachmentOut.model_fields})


@router.post(
    "/conversations/{conversation_id}/attachments",
    response_model=list[AttachmentOut],
    status_code=201,
)
def upload_attachments(
    conversation_id: Id,
    principal: ApiPrincipal,
    session: DbSession,
    request: Request,
    files: Annotated[list[UploadFile], File(description="One or more files")],
) -> list[AttachmentOut]:
    """Upload files for a reply or note of this conversation; name their ids in its
    ``attachment_ids``. A file over the size limit is refused (422)."""
    require(principal, "care:work")
    saved = attachments.upload(
        session,
        conversation=_conversation(session, principal, conversation_id),
        principal=principal,
        files=[
            attachments.Incoming(f.filename or "", f.content_type or "", f.file, size=f.size)
            for f in files
        ],
        settings=request.app.state.settings,
    )
    return [attachment_out(a) for a in saved]


@router.get("/conversations/{conversation_id}/attachments", response_model=list[AttachmentOut])
def conversation_attachments(
    conversation_id: Id, principal: ApiPrincipal, session: DbSession
) -> list[AttachmentOut]:
    """The files of this conversation's messages and its uploads, oldest first (at most 500)."""
    require(principal, "care:work")
    conversation = _conversation(session, principal, conversation_id)
    return [
        attachment_out(a) for a in attachments.of_conversation(session, conversation=conversation)
    ]


@router.get(
    "/attachments/{attachment_id}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_attachment(
    attachment_id: Id, principal: ApiPrincipal, session: DbSession, request: Request
) -> StreamingResponse:
    """The file, as a download (never shown inline); 404 for another workspace's."""
    require(principal, "care:work")
    attachment = attachments.get_attachment(
        session, workspace_id=principal.workspace_id, attachment_id=attachment_id
    )
    return download(attachment, request)


def download(attachment: ConversationAttachment, request: Request) -> StreamingResponse:
    """The response that hands ``attachment`` out as a download."""
    handle = attachments.open_attachment(attachment, request.app.state.settings)
    headers = attachments.download_headers(attachment)
    media_type = headers.pop("Content-Type")
    headers["Content-Length"] = str(attachment.size)

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(256 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers=headers)
