"""The settings pages of canned replies and macros: list (a page at a time), create, edit, and
delete after a confirmation page. Admins and owners only; every change is audited by the
service it calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from cxloop.accounts.access import require
from cxloop.care import canned, macros
from cxloop.care import views as care_views
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.models import CannedReply, Macro
from cxloop.models.care import CONVERSATION_STATUSES, PRIORITIES
from cxloop.web import errors
from cxloop.web.accounts.admin import settings_page
from cxloop.web.rendering import link, redirect
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(prefix="/settings", include_in_schema=False, dependencies=[Depends(verify_csrf)])

PAGE_SIZE = 50
MAX_ID = 2**31


def _page(
    page: WebContext, template: str, section: str, *, status: int = 200, **values: Any
) -> HTMLResponse:
    return settings_page(
        page,
        template,
        section=section,
        status=status,
        **values,
    )


def _confirm_delete(
    page: WebContext, section: str, item_id: int, title: str, body: str
) -> HTMLResponse:
    """The page that asks before an item of ``/settings/<section>`` is deleted."""
    return _page(
        page,
        "care/settings_confirm_delete.html",
        section,
        title=title,
        body=body,
        action=f"/settings/{section}/{item_id}/delete",
        back=f"/settings/{section}",
    )


def _id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise NotFound(f"No item with id {value} in this workspace.")
    return value


# --- canned replies ----------------------------------------------------------------------------


def _canned_form(reply: CannedReply | None = None) -> dict[str, str]:
    if reply is None:
        return {"name": "", "shortcut": "", "language": "ko", "body": "", "team": ""}
    return {
        "name": reply.name,
        "shortcut": reply.shortcut,
        "language": reply.language,
        "body": reply.body,
        "team": reply.team,
    }


def _canned_page(
    page: WebContext,
    *,
    cursor: str = "",
    editing: CannedReply | None = None,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    try:
        rows, next_cursor = canned.list_canned(
            page.db, workspace_id=page.workspace.id, cursor=cursor[:500] or None, limit=PAGE_SIZE
        )
    except ValidationFailed:
        rows, next_cursor = canned.list_canned(
            page.db, workspace_id=page.workspace.id, limit=PAGE_SIZE
        )
    return _page(
        page,
        "care/settings_canned.html",
        "canned-replies",
        status=status,
        replies=rows,
        more_link=link("/settings/canned-replies", cursor=next_cursor) if next_cursor else "",
        first_link="/settings/canned-replies" if cursor else "",
        editing=editing,
        form=form or _canned_form(editing),
        error=error,
        variables=canned.VARIABLES,
    )


@router.get("/canned-replies")
def canned_replies(page: Page, cursor: str = "", edit: str = "") -> Response:
    """The workspace's canned replies, newest first, and a form to add or edit one."""
    require(page.principal, "care:manage")
    editing = None
    if edit.isdigit() and len(edit) < 10:
        editing = canned.get_canned(page.db, workspace_id=page.workspace.id, canned_id=int(edit))
    return _canned_page(page, cursor=cursor, editing=editing)


def _save_canned(page: WebContext, editing: CannedReply | None, form: dict[str, str]) -> Response:
    try:
        with page.db.begin_nested():
            if editing is None:
                saved = canned.create_canned(page.db, principal=page.principal, **form)
            else:
                saved = canned.update_canned(
                    page.db, principal=page.principal, canned=editing, **form
                )
    except (ValidationFailed, Conflict) as exc:
        if editing is not None:
            page.db.refresh(editing)
        return _canned_page(
            page,
            editing=editing,
            form=form,
            error=errors.describe(page.locale, exc),
            status=exc.status,
        )
    page.flash("success", "canned.saved", name=saved.name)
    return redirect("/settings/canned-replies")


class CannedForm(BaseModel):
    name: str = ""
    shortcut: str = ""
    language: str = "ko"
    body: str = ""
    team: str = ""

    def fields(self) -> dict[str, str]:
        return {
            "name": self.name[:200],
            "shortcut": self.shortcut[:64],
            "language": self.language if self.language in ("ko", "en") else "ko",
            "body": self.body[: canned.MAX_BODY + 1],
            "team": self.team[:64],
        }


@router.post("/canned-replies")
def create_canned(page: Page, form: Annotated[CannedForm, Form()]) -> Response:
    """Add a canned reply."""
    require(page.principal, "care:manage")
    return _save_canned(page, None, form.fields())


@router.post("/canned-replies/{canned_id:int}")
def update_canned(page: Page, canned_id: int, form: Annotated[CannedForm, Form()]) -> Response:
    """Change a canned reply."""
    require(page.principal, "care:manage")
    editing = canned.get_canned(page.db, workspace_id=page.workspace.id, canned_id=_id(canned_id))
    return _save_canned(page, editing, form.fields())


@router.get("/canned-replies/{canned_id:int}/delete")
def confirm_delete_canned(page: Page, canned_id: int) -> Response:
    """Ask before deleting a canned reply."""
    require(page.principal, "care:manage")
    reply = canned.get_canned(page.db, workspace_id=page.workspace.id, canned_id=_id(canned_id))
    return _confirm_delete(
        page,
        "canned-replies",
        reply.id,
        page.t("canned.delete_title", name=reply.name),
        page.t("canned.delete_body"),
    )


@router.post("/canned-replies/{canned_id:int}/delete")
def delete_canned(page: Page, canned_id: int) -> Response:
    """Delete a canned reply (macros that used it keep their other actions)."""
    require(page.principal, "care:manage")
    reply = canned.get_canned(page.db, workspace_id=page.workspace.id, canned_id=_id(canned_id))
    name = reply.name
    canned.delete_canned(page.db, principal=page.principal, canned=reply)
    page.flash("success", "canned.deleted", name=name)
    return redirect("/settings/canned-replies")


# --- macros ------------------------------------------------------------------------------------


def _macro_form(macro: Macro | None = None) -> dict[str, str]:
    if macro is None:
        return {
            "name": "",
            "canned_reply_id": "",
            "add_tags": "",
            "remove_tags": "",
            "status": "",
            "snooze_minutes": "",
            "priority": "",
            "team": "",
            "assign": "",
        }
    assign = {"user": str(macro.assignee_id or "")}.get(macro.assign_mode, macro.assign_mode)
    return {
        "name": macro.name,
        "canned_reply_id": str(macro.canned_reply_id or ""),
        "add_tags": ", ".join(macro.add_tags),
        "remove_tags": ", ".join(macro.remove_tags),
        "status": macro.status or "",
        "snooze_minutes": str(macro.snooze_minutes or ""),
        "priority": macro.priority or "",
        "team": macro.team or "",
        "assign": assign,
    }


def _macros_page(
    page: WebContext,
    *,
    editing: Macro | None = None,
    form: dict[str, str] | None = None,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    replies, _ = canned.list_canned(page.db, workspace_id=page.workspace.id, limit=200)
    return _page(
        page,
        "care/settings_macros.html",
        "macros",
        status=status,
        macros=macros.list_macros(page.db, workspace_id=page.workspace.id),
        replies=sorted(replies, key=lambda r: (r.language, r.name)),
        reply_names={r.id: r.name for r in replies},
        members=care_views.assignable_members(page.db, workspace_id=page.workspace.id),
        statuses=CONVERSATION_STATUSES,
        priorities=PRIORITIES,
        editing=editing,
        form=form or _macro_form(editing),
        error=error,
    )


@router.get("/macros")
def macros_page(page: Page, edit: str = "") -> Response:
    """The workspace's macros and a form to add or edit one."""
    require(page.principal, "care:manage")
    editing = None
    if edit.isdigit() and len(edit) < 10:
        editing = macros.get_macro(page.db, workspace_id=page.workspace.id, macro_id=int(edit))
    return _macros_page(page, editing=editing)


def _spec(form: dict[str, str]) -> macros.MacroSpec:
    def number(value: str) -> int | None:
        value = value.strip()
        return int(value) if value.isdigit() and len(value) < 10 else None

    assign = form["assign"]
    return macros.MacroSpec(
        name=form["name"],
        canned_reply_id=number(form["canned_reply_id"]),
        add_tags=[t for t in form["add_tags"].split(",") if t.strip()],
        remove_tags=[t for t in form["remove_tags"].split(",") if t.strip()],
        status=form["status"] or None,
        snooze_minutes=number(form["snooze_minutes"]),
        priority=form["priority"] or None,
        team=form["team"].strip() or None,
        assign_mode="user" if assign.isdigit() else assign,
        assignee_id=number(assign),
    )


def _save_macro(page: WebContext, editing: Macro | None, form: dict[str, str]) -> Response:
    try:
        with page.db.begin_nested():
            if editing is None:
                saved = macros.create_macro(page.db, principal=page.principal, spec=_spec(form))
            else:
                saved = macros.update_macro(
                    page.db, principal=page.principal, macro=editing, spec=_spec(form)
                )
    except (ValidationFailed, Conflict, NotFound) as exc:
        if editing is not None:
            page.db.refresh(editing)
        return _macros_page(
            page,
            editing=editing,
            form=form,
            error=errors.describe(page.locale, exc),
            status=422 if isinstance(exc, NotFound) else exc.status,
        )
    page.flash("success", "macros.saved", name=saved.name)
    return redirect("/settings/macros")


class MacroForm(BaseModel):
    name: str = ""
    canned_reply_id: str = ""
    add_tags: str = ""
    remove_tags: str = ""
    status: str = ""
    snooze_minutes: str = ""
    priority: str = ""
    team: str = ""
    assign: str = ""

    def fields(self) -> dict[str, str]:
        return {name: str(value)[:2000] for name, value in self.model_dump().items()}


@router.post("/macros")
def create_macro(page: Page, form: Annotated[MacroForm, Form()]) -> Response:
    """Add a macro."""
    require(page.principal, "care:manage")
    return _save_macro(page, None, form.fields())


@router.post("/macros/{macro_id:int}")
def update_macro(page: Page, macro_id: int, form: Annotated[MacroForm, Form()]) -> Response:
    """Change what a macro does."""
    require(page.principal, "care:manage")
    editing = macros.get_macro(page.db, workspace_id=page.workspace.id, macro_id=_id(macro_id))
    return _save_macro(page, editing, form.fields())


@router.get("/macros/{macro_id:int}/delete")
def confirm_delete_macro(page: Page, macro_id: int) -> Response:
    """Ask before deleting a macro."""
    require(page.principal, "care:manage")
    macro = macros.get_macro(page.db, workspace_id=page.workspace.id, macro_id=_id(macro_id))
    return _confirm_delete(
        page,
        "macros",
        macro.id,
        page.t("macros.delete_title", name=macro.name),
        page.t("macros.delete_body"),
    )


@router.post("/macros/{macro_id:int}/delete")
def delete_macro(page: Page, macro_id: int) -> Response:
    """Delete a macro."""
    require(page.principal, "care:manage")
    macro = macros.get_macro(page.db, workspace_id=page.workspace.id, macro_id=_id(macro_id))
    name = macro.name
    macros.delete_macro(page.db, principal=page.principal, macro=macro)
    page.flash("success", "macros.deleted", name=name)
    return redirect("/settings/macros")
