"""Settings → display names: the Korean and English words for the workspace's teams, survey
touchpoints, traits and event names, beside the codes in use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cxloop.accounts import display_names
from cxloop.accounts import service as accounts
from cxloop.accounts.access import require
from cxloop.core.errors import ValidationFailed
from cxloop.feedback.responses.service import touchpoints_in_use
from cxloop.journeys.catalogue import event_names
from cxloop.metrics.dashboard.pickers import trait_keys
from cxloop.web.accounts.admin import flash_error, settings_page
from cxloop.web.rendering import link, redirect
from cxloop.web.session import Page, verify_csrf

router = APIRouter(prefix="/settings", include_in_schema=False, dependencies=[Depends(verify_csrf)])

MAX_ROWS = 500

# Where each kind's codes in use come from.
_IN_USE: dict[str, Callable[[Session, int], list[str]]] = {
    "team": lambda db, ws: accounts.teams_in_use(db, workspace_id=ws),
    "touchpoint": lambda db, ws: touchpoints_in_use(db, workspace_id=ws),
    "trait": lambda db, ws: trait_keys(db, workspace_id=ws),
    "event": lambda db, ws: event_names(db, workspace_id=ws),
}


def _kind(value: str) -> str:
    return value if value in display_names.KINDS else display_names.KINDS[0]


@router.get("/names")
def names(page: Page, kind: str = "") -> Response:
    """The codes of one kind (in use, and those already named) with their names."""
    require(page.principal, "workspace:manage")
    kind = _kind(kind)
    named = {
        row.key: row
        for row in display_names.list_names(
            page.db, workspace_id=page.workspace.id, kind=kind, limit=MAX_ROWS
        )
    }
    in_use = _IN_USE[kind](page.db, page.workspace.id)
    codes = list(dict.fromkeys([*in_use, *sorted(named)]))[:MAX_ROWS]
    shown = display_names.Names({})
    rows = [
        {
            "key": code,
            "ko": named[code].name_ko if code in named else "",
            "en": named[code].name_en if code in named else "",
            "default_ko": shown.name(kind, code, "ko"),
            "default_en": shown.name(kind, code, "en"),
            "in_use": code in in_use,
        }
        for code in codes
    ]
    return settings_page(
        page,
        "accounts/settings_names.html",
        section="names",
        kinds=display_names.KINDS,
        kind=kind,
        rows=rows,
        max_name=display_names.MAX_NAME,
    )


@router.post("/names")
def save_names(
    page: Page,
    kind: Annotated[str, Form()] = "",
    key: Annotated[list[str], Form()] = [],  # noqa: B006
    ko: Annotated[list[str], Form()] = [],  # noqa: B006
    en: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    """Save the names typed; a code with both names emptied goes back to its default."""
    require(page.principal, "workspace:manage")
    kind = _kind(kind)
    if not (len(key) == len(ko) == len(en)):
        page.flash("error", "display_names.form_mismatch")
        return redirect(link("/settings/names", kind=kind))
    try:
        with page.db.begin_nested():
            changed = display_names.save_names(
                page.db,
                workspace_id=page.workspace.id,
                kind=kind,
                names={k: (a, b) for k, a, b in zip(key, ko, en, strict=True)},
                principal=page.principal,
            )
    except ValidationFailed as exc:
        flash_error(page, exc)
    else:
        page.flash("success", "display_names.saved", count=changed)
    return redirect(link("/settings/names", kind=kind))
