"""What the inbox's composer and conversation pane add to the inbox: the canned-reply picker (a
form that puts the rendered reply into the draft, asking for the variables the conversation
does not know; the page's script does the same in place), the macro buttons, the members a note
can mention, the files of each message, and the download of a file.

Everything works as plain forms; ``/static/inbox-composer.js`` only saves the round trip."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.care import attachments, canned, macros
from cxloop.care.mentions import mentionable_members
from cxloop.care.replies_api import download
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.models import Conversation, Customer, Membership
from cxloop.web import errors
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(prefix="/inbox", include_in_schema=False, dependencies=[Depends(verify_csrf)])

MAX_ID = 2**53
VALUE_FIELD = "var."  # a variable's value in a form: var.order.number


def _teams(page: WebContext) -> list[str]:
    teams = page.db.scalar(
        select(Membership.teams).where(
            Membership.workspace_id == page.workspace.id, Membership.user_id == page.user.id
        )
    )
    return list(teams or [])


def _language(page: WebContext, conversation: Conversation) -> str:
    """The language replies in this conversation are likely in: the conversation's, the
    customer's, or the agent's."""
    if conversation.language in ("ko", "en"):
        return conversation.language
    customer = page.db.get(Customer, conversation.customer_id) if conversation.customer_id else None
    locale = (customer.locale or "")[:2] if customer is not None else ""
    return locale if locale in ("ko", "en") else page.locale


def composer_context(
    page: WebContext, conversation: Conversation, message_ids: list[int]
) -> dict[str, Any]:
    """What the conversation pane shows beside the messages (for ``care/inbox.html``)."""
    db, workspace_id = page.db, page.workspace.id
    offered = canned.offered(
        db, workspace_id=workspace_id, teams=[conversation.team, *_teams(page)]
    )
    language = _language(page, conversation)
    offered.sort(key=lambda r: (r.language != language, r.language, r.name))
    return {
        "canned_replies": offered,
        "canned_language": language,
        "macros": macros.list_macros(db, workspace_id=workspace_id),
        "mentionable": mentionable_members(db, workspace_id=workspace_id),
        "files": attachments.attachments_by_message(
            db, workspace_id=workspace_id, message_ids=message_ids
        ),
        "canned_prompt": None,
        "macro_prompt": None,
    }


def upload_files(
    page: WebContext, conversation: Conversation, files: list[UploadFile]
) -> list[int]:
    """Store the files chosen in the composer (an empty file input sends one without a name)
    and return their ids; ValidationFailed for one that cannot be kept."""
    chosen = [f for f in files if f.filename or f.size]
    if not chosen:
        return []
    saved = attachments.upload(
        page.db,
        conversation=conversation,
        principal=page.principal,
        files=[
            attachments.Incoming(f.filename or "", f.content_type or "", f.file, size=f.size)
            for f in chosen
        ],
        settings=page.request.app.state.settings,
    )
    return [a.id for a in saved]


def _values(form: FormData) -> dict[str, str]:
    return {
        key[len(VALUE_FIELD) :]: value
        for key, value in form.multi_items()
        if key.startswith(VALUE_FIELD) and isinstance(value, str)
    }


def _field(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _load(page: WebContext, conversation_id: int) -> Conversation:
    from cxloop.web.care.inbox import _load as load_conversation

    return load_conversation(page, conversation_id)


def _again(
    page: WebContext,
    conversation: Conversation,
    next_url: str,
    *,
    where: str = "",
    message: str = "",
    draft: str = "",
    code: int = 200,
    **composer: Any,
) -> Response:
    """The conversation again, the draft in the composer and what to ask beside it."""
    from cxloop.web.care.inbox import _refused

    return _refused(
        page,
        conversation,
        next_url,
        where,
        message,
        draft=draft,
        code=code,
        composer=composer,
    )


def _shortcut_at_end(draft: str) -> tuple[str, str]:
    """The draft without a ``/shortcut`` typed as its last word, and that shortcut."""
    head, _, last = draft.rstrip().rpartition(" ")
    if "\n" in last:
        head_line, _, last = last.rpartition("\n")
        head = f"{head} {head_line}" if head else head_line
    if last.startswith("/") and len(last) > 1:
        return (head + (" " if head and not head.endswith("\n") else "")).rstrip(" "), last
    return draft, ""


@router.post("/{conversation_id:int}/canned")
async def insert_canned(page: Page, conversation_id: int, request: Request) -> Response:
    """Put a canned reply (chosen, or typed as ``/shortcut`` at the end of the draft) into the
    draft, rendered for this conversation; ask for the variables it does not know first."""
    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    form = await request.form()
    draft = _field(form, "text", 50_000)
    next_url = _field(form, "next", 2000)
    chosen = _field(form, "canned", 20)
    offered = canned.offered(
        page.db, workspace_id=page.workspace.id, teams=[conversation.team, *_teams(page)]
    )
    reply = next((r for r in offered if str(r.id) == chosen), None) if chosen.isdigit() else None
    rest, shortcut = _shortcut_at_end(draft)
    if reply is None:
        reply = canned.by_shortcut(offered, shortcut, _language(page, conversation))
    if reply is not None and shortcut == reply.shortcut:
        draft = rest  # the typed shortcut gives way to the reply it names
    if reply is None:
        return _again(
            page,
            conversation,
            next_url,
            where="compose",
            message=page.t("canned.err.pick"),
            draft=draft,
            code=422,
        )
    rendered = canned.render_for(
        page.db,
        canned=reply,
        conversation=conversation,
        principal=page.principal,
        values=_values(form),
    )
    if rendered.missing:
        return _again(
            page,
            conversation,
            next_url,
            draft=draft,
            canned_prompt={"canned": reply, "missing": rendered.missing},
        )
    joined = f"{draft.rstrip()}\n\n{rendered.text}" if draft.strip() else rendered.text
    return _again(page, conversation, next_url, draft=joined[:50_000])


@router.get("/{conversation_id:int}/canned/{canned_id:int}")
def render_canned(
    page: Page, conversation_id: int, canned_id: int, request: Request
) -> JSONResponse:
    """The canned reply rendered for this conversation, for the composer's script:
    {text, missing}; ``var.<name>`` query parameters fill variables."""
    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    if not 0 < canned_id <= MAX_ID:
        raise NotFound(f"No canned reply with id {canned_id} in this workspace.")
    reply = canned.get_canned(page.db, workspace_id=page.workspace.id, canned_id=canned_id)
    values = {
        k[len(VALUE_FIELD) :]: v
        for k, v in request.query_params.multi_items()
        if k.startswith(VALUE_FIELD)
    }
    rendered = canned.render_for(
        page.db, canned=reply, conversation=conversation, principal=page.principal, values=values
    )
    return JSONResponse(
        {"text": rendered.text, "missing": rendered.missing},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/{conversation_id:int}/macros/{macro_id:int}")
async def apply_macro(
    page: Page, conversation_id: int, macro_id: int, request: Request
) -> Response:
    """Apply a macro; when its reply needs variables the conversation does not know, ask for
    them and apply it once they are filled."""
    from cxloop.web.care.inbox import _back

    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    form = await request.form()
    next_url = _field(form, "next", 2000)
    if not 0 < macro_id <= MAX_ID:
        raise NotFound(f"No macro with id {macro_id} in this workspace.")
    macro = macros.get_macro(page.db, workspace_id=page.workspace.id, macro_id=macro_id)
    try:
        with page.db.begin_nested():
            macros.apply_macro(
                page.db,
                conversation=conversation,
                macro=macro,
                principal=page.principal,
                values=_values(form),
            )
    except macros.MissingVariables as exc:
        page.db.refresh(conversation)
        return _again(
            page,
            conversation,
            next_url,
            macro_prompt={"macro": macro, "missing": exc.missing},
        )
    except (ValidationFailed, Conflict) as exc:
        page.db.refresh(conversation)
        return _again(
            page,
            conversation,
            next_url,
            where="actions",
            message=errors.describe(page.locale, exc),
            code=exc.status,
        )
    page.flash("success", "macros.applied", name=macro.name)
    return _back(conversation, next_url)


@router.get("/attachments/{attachment_id:int}")
def download_attachment(page: Page, attachment_id: int, request: Request) -> StreamingResponse:
    """A file of a message of this workspace, as a download; another workspace's is 404."""
    require(page.principal, "care:work")
    if not 0 < attachment_id <= MAX_ID:
        raise NotFound(f"No attachment with id {attachment_id} in this workspace.")
    attachment = attachments.get_attachment(
        page.db, workspace_id=page.workspace.id, attachment_id=attachment_id
    )
    return download(attachment, request)
