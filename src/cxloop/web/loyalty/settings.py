"""The loyalty program's settings page (/settings/loyalty): the program, its tiers and its earning
rules as one form. Those who may (``loyalty:write``) save it through the same service and
models as the API; a refused form comes back as typed with the reasons in words. A workspace
without a program sees a program to start from, saved only when the operator saves it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.core.errors import NotFound
from cxloop.loyalty import program as loyalty_program
from cxloop.web.accounts import admin
from cxloop.web.loyalty.program_form import (
    KINDS,
    MEASURES,
    ProgramForm,
    form_of,
    posted_form,
    read_program,
    save_or_refusals,
    starting_form,
)
from cxloop.web.rendering import redirect, zone
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(
    prefix="/settings/loyalty", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

HOME = "/settings/loyalty"


async def _posted(request: Request) -> FormData:
    """The form of the request (already read, and cached, by the CSRF check)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted)]


def _page(
    page: WebContext,
    form: ProgramForm,
    *,
    saved: bool,
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    return admin.settings_page(
        page,
        "loyalty/settings.html",
        section="loyalty",
        loyalty_tab="settings",
        status=status,
        editable=page.can("loyalty:write"),
        form=form,
        saved=saved,
        problems=problems or [],
        measures=MEASURES,
        kinds=KINDS,
    )


@router.get("")
def settings_page(page: Page) -> Response:
    """The program as saved, or a program to start from (read-only without loyalty:write)."""
    require(page.principal, "loyalty:read")
    try:
        saved = loyalty_program.program_settings(page.db, workspace_id=page.workspace.id)
    except NotFound:
        return _page(page, starting_form(page.locale).with_blank_rows(), saved=False)
    form = form_of(saved, zone(page.workspace.timezone))
    return _page(page, form.with_blank_rows(), saved=True)


@router.post("")
def save_settings(page: Page, posted: PostedForm) -> Response:
    """Save the program, or add a row to the form (``add`` = tier or rule) without saving."""
    require(page.principal, "loyalty:write")
    form = posted_form(posted)
    exists = loyalty_program.program_of(page.db, workspace_id=page.workspace.id) is not None
    adding = posted.get("add")
    if adding in ("tier", "rule"):
        more = form.with_blank_rows(tiers=int(adding == "tier"), rules=int(adding == "rule"))
        return _page(page, more, saved=exists)
    problems = save_or_refusals(
        page.db,
        page.locale,
        lambda: loyalty_program.save_program(
            page.db,
            principal=page.principal,
            workspace_id=page.workspace.id,
            program_in=read_program(form, zone(page.workspace.timezone), page.t),
        ),
    )
    if not problems:
        page.flash("success", "loyalty_pages.saved")
        return redirect(HOME)
    return _page(page, form.with_blank_rows(), saved=exists, problems=problems, status=422)
