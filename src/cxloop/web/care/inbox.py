"""The inbox: three panes on a desktop, stacked on a phone. Left, the conversations of a view
(mine, unassigned, open, pending, snoozed, resolved) filtered by inbox and status, a page at a
time; middle, the chosen conversation with its messages, the reply and note composer and the
agent's actions; right, who the customer is (profile, orders, last survey score, earlier
conversations). Every form posts with CSRF and redirects back; a refused change is shown beside
the form that asked for it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from cxloop.accounts.access import require
from cxloop.care import assignment, bulk, chat_receipts, presence, views
from cxloop.care import service as care
from cxloop.care.bulk import BULK_STATUSES
from cxloop.care.mail import new_text
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.timeutil import utcnow
from cxloop.feedback.responses import service as responses
from cxloop.models import Conversation, ConversationMessage
from cxloop.models.care import INBOX_CHANNELS, LISTED_STATUSES, PRIORITIES
from cxloop.profiles import service as profiles
from cxloop.web import errors
from cxloop.web.care.composer import composer_context, upload_files
from cxloop.web.care.followers import pane_followers
from cxloop.web.rendering import link, redirect, render, zone
from cxloop.web.session import Page, WebContext, flash_text, safe_next, verify_csrf

router = APIRouter(prefix="/inbox", include_in_schema=False, dependencies=[Depends(verify_csrf)])

PAGE_SIZE = 25
MAX_ID = 2**53
MAX_TEXT = 50_000
EARLIER_CONVERSATIONS = 10
# Badge looks shared with the rest of the UI.
STATUS_BADGES = {
    "open": "info",
    "pending": "warn",
    "snoozed": "muted",
    "resolved": "ok",
    "bot": "muted",
}
PRIORITY_BADGES = {"urgent": "bad", "high": "warn", "normal": "muted", "low": "muted"}
DELIVERY_BADGES = {
    "queued": "info",
    "sending": "warn",
    "sent": "ok",
    "delivered": "ok",
    "bounced": "bad",
    "failed": "bad",
    "cancelled": "muted",
}
# What an agent changes with the status buttons (snoozing has its own form with a time).
STATUS_ACTIONS = ("open", "pending", "resolved")

Text = Annotated[str, Form()]
NextField = Annotated[str, Form(alias="next")]
Files = Annotated[list[UploadFile] | None, File()]


# --- the list ----------------------------------------------------------------------------------

# Filters that narrow any view, by their query parameter: filter field → parameter.
NARROWING = {
    "channel": "channel",
    "priority": "priority",
    "tag": "tag",
    "language": "language",
    "sla": "sla",
    "search": "q",
}


def _narrowing(page: WebContext, problems: list[str]) -> dict[str, str]:
    """The narrowing filters of the page's query that are valid (a wrong one is dropped and
    said), by filter field."""
    params = page.request.query_params
    allowed: dict[str, tuple[str, ...] | None] = {
        "channel": INBOX_CHANNELS,
        "priority": PRIORITIES,
        "sla": care.SLA_FILTERS,
    }
    found: dict[str, str] = {}
    for field, name in NARROWING.items():
        value = " ".join((params.get(name) or "").split())[:200]
        if not value:
            continue
        choices = allowed.get(field)
        if choices is not None and value not in choices:
            problems.append(page.t("inbox.bad_filter", name=name, value=value[:40]))
            continue
        found[field] = value[:64] if field != "search" else value
    return found


def _list_pane(
    page: WebContext, *, view: str, inbox: str, status: str, cursor: str
) -> dict[str, Any]:
    """Everything the conversation list shows, with the problems of a bad filter."""
    db, workspace_id = page.db, page.workspace.id
    problems: list[str] = []
    inboxes = care.list_inboxes(db, workspace_id=workspace_id)
    view = view if view in views.VIEW_NAMES else "open"
    inbox_id = int(inbox) if inbox.isdigit() and len(inbox) < 12 else None
    if inbox and (inbox_id is None or all(i.id != inbox_id for i in inboxes)):
        problems.append(page.t("inbox.bad_inbox"))
        inbox_id = None
    if status and status not in LISTED_STATUSES:
        problems.append(page.t("inbox.bad_status", value=status[:40]))
        status = ""
    teams = views.member_teams(db, workspace_id=workspace_id, user_id=page.user.id)
    narrowed = _narrowing(page, problems)
    filters = replace(
        views.view_filter(
            view, user_id=page.user.id, teams=teams, inbox_id=inbox_id, status=status or None
        ),
        channel=narrowed.get("channel"),
        priority=narrowed.get("priority"),
        tag=narrowed.get("tag"),
        language=narrowed.get("language"),
        sla=narrowed.get("sla"),
        search=narrowed.get("search"),
    )
    try:
        rows, next_cursor = care.list_conversations(
            db,
            workspace_id=workspace_id,
            filters=filters,
            cursor=cursor[:500] or None,
            limit=PAGE_SIZE,
        )
    except ValidationFailed:  # a cursor this server did not hand out
        problems.append(page.t("inbox.bad_cursor"))
        cursor = ""
        rows, next_cursor = care.list_conversations(
            db, workspace_id=workspace_id, filters=filters, limit=PAGE_SIZE
        )
    customers = profiles.customers_by_ids(
        db, workspace_id=workspace_id, ids=[c.customer_id for c in rows]
    )
    latest = views.latest_customer_messages(
        db, workspace_id=workspace_id, conversation_ids=[c.id for c in rows]
    )
    query = {
        "view": view if view != "open" else "",
        "inbox": inbox_id or "",
        "status": status,
        **{NARROWING[k]: v for k, v in narrowed.items()},
    }
    return {
        "view": view,
        "views": views.VIEW_NAMES,
        "counts": views.view_counts(
            db, workspace_id=workspace_id, user_id=page.user.id, teams=teams, inbox_id=inbox_id
        ),
        "narrowed": {NARROWING[k]: v for k, v in narrowed.items()},
        "count_cap": views.COUNT_CAP,
        "channels": INBOX_CHANNELS,
        "sla_filters": care.SLA_FILTERS,
        "bulk_statuses": BULK_STATUSES,
        "inboxes": inboxes,
        "inbox_id": inbox_id,
        "current_status": status,
        "statuses": LISTED_STATUSES,
        "rows": [
            {
                "conversation": c,
                "customer": customers.get(c.customer_id) if c.customer_id else None,
                "preview": _preview(latest.get(c.id)),
            }
            for c in rows
        ],
        "names": views.user_names(
            db, workspace_id=workspace_id, user_ids=[c.assignee_id for c in rows]
        ),
        "next_cursor": next_cursor,
        "cursor": cursor,
        "problems": problems,
        "list_link": link("/inbox", **query),
        "row_link": lambda conversation_id: link(
            f"/inbox/{conversation_id}", **query, cursor=cursor
        ),
        "more_link": link("/inbox", **query, cursor=next_cursor) if next_cursor else "",
    }


def _preview(message: ConversationMessage | None) -> str:
    """The first line of what the customer last wrote (the quoted history left out)."""
    if message is None:
        return ""
    if message.problem and not message.body_text:
        return message.problem.splitlines()[0][:160] if message.problem else ""
    lines = [line.strip() for line in new_text(message.body_text).splitlines() if line.strip()]
    return lines[0][:160] if lines else ""


# --- the conversation --------------------------------------------------------------------------


def _load(page: WebContext, conversation_id: int) -> Conversation:
    """The workspace's conversation, or 404 (another workspace's id looks like a missing one)."""
    if not 0 < conversation_id <= MAX_ID:
        raise NotFound(f"No conversation with id {conversation_id} in this workspace.")
    return care.get_conversation(
        page.db, workspace_id=page.workspace.id, conversation_id=conversation_id
    )


def _messages(page: WebContext, conversation: Conversation) -> list[dict[str, Any]]:
    db, workspace_id = page.db, page.workspace.id
    messages = care.messages_of(db, conversation=conversation, limit=500)
    delivery = views.delivery_statuses(db, workspace_id=workspace_id, messages=messages)
    authors = views.user_names(
        db, workspace_id=workspace_id, user_ids=[m.author_user_id for m in messages]
    )
    shown = []
    for m in messages:
        full = assignment.note_text(m, page.locale) or ""
        new = new_text(full) if m.direction == "in" else full
        shown.append(
            {
                "message": m,
                "text": new,
                "history": full if m.direction == "in" and new.strip() != full.strip() else "",
                "delivery": delivery.get(m.id),
                "read_at": chat_receipts.read_at(m),
                "author": authors.get(m.author_user_id) if m.author_user_id else None,
            }
        )
    return shown


def _context(page: WebContext, conversation: Conversation) -> dict[str, Any]:
    """The customer beside the conversation: profile, last survey score, earlier threads."""
    db, workspace_id = page.db, page.workspace.id
    if conversation.customer_id is None:
        return {"customer": None, "last_answer": None, "earlier": []}
    customer = profiles.customers_by_ids(
        db, workspace_id=workspace_id, ids=[conversation.customer_id]
    ).get(conversation.customer_id)
    if customer is None:
        return {"customer": None, "last_answer": None, "earlier": []}
    answers, _ = responses.customer_responses(
        db, workspace_id=workspace_id, customer_id=customer.id, limit=1
    )
    earlier, _ = care.list_conversations(
        db,
        workspace_id=workspace_id,
        filters=care.ConversationFilter(customer_id=customer.id),
        limit=EARLIER_CONVERSATIONS + 1,
    )
    return {
        "customer": customer,
        "last_answer": answers[0] if answers else None,
        "earlier": [c for c in earlier if c.id != conversation.id][:EARLIER_CONVERSATIONS],
    }


def _snooze_default(page: WebContext) -> str:
    """Tomorrow 09:00 in the workspace's time zone, as a datetime-local value."""
    local = utcnow().astimezone(zone(page.workspace.timezone)) + timedelta(days=1)
    return local.replace(hour=9, minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


def _inbox_page(
    page: WebContext,
    *,
    view: str = "",
    inbox: str = "",
    status: str = "",
    cursor: str = "",
    conversation: Conversation | None = None,
    problem: dict[str, str] | None = None,
    draft: str = "",
    code: int = 200,
    composer: dict[str, Any] | None = None,
) -> HTMLResponse:
    values: dict[str, Any] = _list_pane(page, view=view, inbox=inbox, status=status, cursor=cursor)
    if conversation is not None:
        context = _context(page, conversation)
        members = views.assignable_members(page.db, workspace_id=page.workspace.id)
        values.update(
            assignee_name=next(
                (m.name for m in members if m.user_id == conversation.assignee_id),
                f"#{conversation.assignee_id}",
            ),
            messages=_messages(page, conversation),
            members=members,
            inbox_of={i.id: i for i in values["inboxes"]},
            can_reply=care.can_reply(page.db, conversation),
            snooze_default=_snooze_default(page),
            **pane_followers(page, conversation),
            **context,
        )
        shown = [item["message"].id for item in values["messages"]]
        values.update(composer_context(page, conversation, shown), **(composer or {}))
    values["available"], values["online"] = presence.presence_of(
        page.db, workspace_id=page.workspace.id, user_id=page.user.id
    )
    if values["problems"] and code == 200:
        code = 422  # a filter this page does not know: shown without it, and said so
    return render(
        page.request,
        "care/inbox.html",
        page=page,
        section="inbox",
        status=code,
        conversation=conversation,
        problem=problem or {},
        draft=draft,
        status_badges=STATUS_BADGES,
        priority_badges=PRIORITY_BADGES,
        delivery_badges=DELIVERY_BADGES,
        status_actions=STATUS_ACTIONS,
        priorities=PRIORITIES,
        max_text=MAX_TEXT,
        **values,
    )


@router.get("")
def inbox_page(
    page: Page, view: str = "", inbox: str = "", status: str = "", cursor: str = ""
) -> Response:
    """The conversation list of a view, no conversation chosen yet."""
    require(page.principal, "care:work")
    presence.seen(page.db, workspace_id=page.workspace.id, user_id=page.user.id)
    return _inbox_page(page, view=view, inbox=inbox, status=status, cursor=cursor)


@router.get("/{conversation_id:int}")
def conversation_page(
    page: Page,
    conversation_id: int,
    view: str = "",
    inbox: str = "",
    status: str = "",
    cursor: str = "",
) -> Response:
    """One conversation between the list and the customer's context."""
    require(page.principal, "care:work")
    presence.seen(page.db, workspace_id=page.workspace.id, user_id=page.user.id)
    conversation = _load(page, conversation_id)
    return _inbox_page(
        page, view=view, inbox=inbox, status=status, cursor=cursor, conversation=conversation
    )


# --- what an agent does ------------------------------------------------------------------------


def _back(conversation: Conversation, next_url: str, anchor: str = "") -> Response:
    home = f"/inbox/{conversation.id}"
    target = safe_next(next_url, home)
    if not target.startswith(home):
        target = home
    return redirect(target + (f"#{anchor}" if anchor else ""))


def _refused(
    page: WebContext,
    conversation: Conversation,
    next_url: str,
    where: str,
    message: str,
    *,
    draft: str = "",
    code: int = 422,
    composer: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The conversation again, with why the change was refused beside its form."""
    params: dict[str, str] = {}
    target = safe_next(next_url, "")
    if "?" in target:
        params = {k: v for k, v in parse_qsl(target.split("?", 1)[1])}
    return _inbox_page(
        page,
        view=params.get("view", ""),
        inbox=params.get("inbox", ""),
        status=params.get("status", ""),
        conversation=conversation,
        problem={where: message} if where else {},
        draft=draft,
        code=code,
        composer=composer,
    )


def _write(
    page: WebContext,
    conversation_id: int,
    text: str,
    next_url: str,
    *,
    as_note: bool,
    files: list[UploadFile] | None = None,
) -> Response:
    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    body = text.strip()
    if not body:
        return _refused(
            page, conversation, next_url, "compose", page.t("inbox.err.empty"), draft=text
        )
    if len(body) > MAX_TEXT:
        return _refused(
            page,
            conversation,
            next_url,
            "compose",
            page.t("inbox.err.too_long", n=f"{MAX_TEXT:,}"),
            draft=text[:MAX_TEXT],
        )
    try:
        with page.db.begin_nested():
            write = care.add_note if as_note else care.reply
            write(
                page.db,
                conversation=conversation,
                principal=page.principal,
                text=body,
                attachment_ids=upload_files(page, conversation, files or []),
            )
    except Conflict:
        return _refused(
            page,
            conversation,
            next_url,
            "compose",
            page.t("inbox.err.no_address"),
            draft=text,
            code=409,
        )
    except ValidationFailed as exc:
        return _refused(
            page, conversation, next_url, "compose", errors.describe(page.locale, exc), draft=text
        )
    page.flash("success", "inbox.noted" if as_note else "inbox.replied")
    return _back(conversation, next_url, "composer")


@router.post("/{conversation_id:int}/reply")
def reply(
    page: Page, conversation_id: int, text: Text = "", next_url: NextField = "", files: Files = None
) -> Response:
    """Reply to the customer: queued in the outbox, threaded under their latest message, with
    the files chosen."""
    return _write(page, conversation_id, text, next_url, as_note=False, files=files)


@router.post("/{conversation_id:int}/note")
def note(
    page: Page, conversation_id: int, text: Text = "", next_url: NextField = "", files: Files = None
) -> Response:
    """A private note for the team (the customer never sees it), with the files chosen; the
    members it names with @ are told."""
    return _write(page, conversation_id, text, next_url, as_note=True, files=files)


def _change(
    page: WebContext, conversation: Conversation, next_url: str, **changes: Any
) -> Response | None:
    """Apply ``changes``; the refusal page when the service refuses them, else None."""
    try:
        with page.db.begin_nested():
            care.update_conversation(
                page.db, conversation=conversation, actor_id=page.user.id, **changes
            )
    except ValidationFailed as exc:
        page.db.refresh(conversation)
        return _refused(page, conversation, next_url, "actions", errors.describe(page.locale, exc))
    return None


@router.post("/{conversation_id:int}/assign")
def assign(
    page: Page, conversation_id: int, assignee: Text = "", next_url: NextField = ""
) -> Response:
    """Assign the conversation to a member ("me" for oneself, empty to unassign)."""
    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    if assignee == "me":
        assignee_id: int | None = page.user.id
    elif assignee == "":
        assignee_id = None
    elif assignee.isdigit() and len(assignee) < 16:
        assignee_id = int(assignee)
    else:
        return _refused(page, conversation, next_url, "actions", page.t("inbox.err.assignee"))
    members = {
        m.user_id: m.name for m in views.assignable_members(page.db, workspace_id=page.workspace.id)
    }
    if assignee_id is not None and assignee_id not in members:
        return _refused(page, conversation, next_url, "actions", page.t("inbox.err.assignee"))
    before = conversation.assignee_id
    refused = _change(page, conversation, next_url, assignee_id=assignee_id)
    if refused is not None:
        return refused
    if assignee_id != before:
        assignment.tell_assigned(
            page.db, conversation=conversation, assignee_id=assignee_id, by_user_id=page.user.id
        )
    if assignee_id is None:
        page.flash("success", "inbox.unassigned")
    elif assignee_id == page.user.id:
        page.flash("success", "inbox.assigned_me")
    else:
        page.flash("success", "inbox.assigned", name=members[assignee_id])
    return _back(conversation, next_url)


@router.post("/{conversation_id:int}/status")
def change_status(
    page: Page, conversation_id: int, status: Text = "", next_url: NextField = ""
) -> Response:
    """Open, pending (waiting on the customer) or resolved."""
    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    if status not in STATUS_ACTIONS:
        return _refused(page, conversation, next_url, "actions", page.t("inbox.err.status"))
    refused = _change(page, conversation, next_url, status=status)
    if refused is not None:
        return refused
    page.flash("success", "inbox.status_changed", status=page.t(f"inbox.status.{status}"))
    return _back(conversation, next_url)


@router.post("/{conversation_id:int}/snooze")
def snooze(
    page: Page, conversation_id: int, until: Text = "", next_url: NextField = ""
) -> Response:
    """Put the conversation away until a time in the workspace's time zone; it reopens then."""
    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    try:
        local = datetime.fromisoformat(until.strip()[:32])
    except ValueError:
        return _refused(page, conversation, next_url, "actions", page.t("inbox.err.snooze_time"))
    tz = zone(page.workspace.timezone)
    wake = local.replace(tzinfo=tz) if local.tzinfo is None else local
    if wake <= utcnow():
        return _refused(page, conversation, next_url, "actions", page.t("inbox.err.snooze_past"))
    refused = _change(page, conversation, next_url, status="snoozed", snoozed_until=wake)
    if refused is not None:
        return refused
    page.flash("success", "inbox.snoozed", when=f"{wake.astimezone(tz):%Y-%m-%d %H:%M}")
    return _back(conversation, next_url)


@router.post("/{conversation_id:int}/priority")
def change_priority(
    page: Page, conversation_id: int, priority: Text = "", next_url: NextField = ""
) -> Response:
    """Urgent, high, normal or low."""
    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    if priority not in PRIORITIES:
        return _refused(page, conversation, next_url, "actions", page.t("inbox.err.priority"))
    refused = _change(page, conversation, next_url, priority=priority)
    if refused is not None:
        return refused
    page.flash("success", "inbox.priority_changed", priority=page.t(f"inbox.priority.{priority}"))
    return _back(conversation, next_url)


@router.post("/{conversation_id:int}/tags")
def change_tags(
    page: Page, conversation_id: int, tags: Text = "", next_url: NextField = ""
) -> Response:
    """The conversation's tags, separated by commas."""
    require(page.principal, "care:work")
    conversation = _load(page, conversation_id)
    names = [t.strip() for t in tags[:4000].split(",") if t.strip()]
    if len(names) > care.MAX_TAGS:
        return _refused(
            page, conversation, next_url, "actions", page.t("inbox.err.tags", n=care.MAX_TAGS)
        )
    refused = _change(page, conversation, next_url, tags=names)
    if refused is not None:
        return refused
    page.flash("success", "inbox.tags_saved")
    return _back(conversation, next_url)


@router.post("/bulk")
def bulk_change(
    page: Page,
    ids: Annotated[list[str] | None, Form()] = None,
    status: Text = "",
    assignee: Text = "",
    priority: Text = "",
    add_tag: Text = "",
    next_url: NextField = "",
) -> Response:
    """One change to the conversations picked in the list."""
    require(page.principal, "care:work")
    target = safe_next(next_url, "/inbox")
    if not target.startswith("/inbox"):
        target = "/inbox"
    picked = [int(i) for i in ids or [] if i.isdigit() and len(i) < 16]
    if not picked:
        page.flash("error", "inbox.bulk.none")
        return redirect(target)
    change = bulk.BulkChange(
        status=status or None,
        priority=priority or None,
        assign=assignee in ("me", "none"),
        assignee_id=page.user.id if assignee == "me" else None,
        add_tag=" ".join(add_tag.split())[:64],
    )
    try:
        with page.db.begin_nested():
            changed = bulk.apply(page.db, principal=page.principal, ids=picked, change=change)
    except ValidationFailed as exc:
        flash_text(page.request, "error", errors.describe(page.locale, exc))
        return redirect(target)
    page.flash("success", "inbox.bulk.done", count=len(changed))
    return redirect(target)
