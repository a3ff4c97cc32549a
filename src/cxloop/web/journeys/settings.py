"""Stages and touchpoints of the journey map (/journeys/settings): the current ones with their
rules in words ("Order Completed 이벤트의 2번째"); those who may (``journeys:write``) edit them as
JSON, checked by the same models as the API (a refused text is shown again with the reasons),
and restore an online shop's defaults after confirming."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.journeys import stages as journey_stages
from cxloop.journeys.stages import (
    DEFAULT_STAGES,
    DEFAULT_TOUCHPOINTS,
    EventRule,
    Place,
    StagesIn,
    TouchpointsIn,
)
from cxloop.web.journeys.map import place_name
from cxloop.web.rendering import redirect, render
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(prefix="/journeys", include_in_schema=False, dependencies=[Depends(verify_csrf)])

MAX_JSON = 100_000
OPS = {"eq": "=", "neq": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


async def _posted_form(request: Request) -> FormData:
    """The form of the request (already read, and cached, by the CSRF check)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]


def _ordinal_en(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _filter_words(page: WebContext, rule: EventRule) -> str:
    words = []
    for test in rule.where:
        if test.op == "exists":
            words.append(page.t("journeys.settings.has_property", property=test.key))
        elif test.op in OPS:
            words.append(f"{test.key} {OPS[test.op]} {json.dumps(test.value, ensure_ascii=False)}")
        else:
            value = json.dumps(test.value, ensure_ascii=False)
            words.append(f"{test.key} {test.op} {value}")
    return ", ".join(words)


def rule_words(page: WebContext, rule: EventRule) -> str:
    """A rule in the reader's language: "Order Completed 이벤트의 2번째 (platform = "ios")"."""
    if rule.page:
        said = page.t("journeys.settings.any_page")
    elif rule.nth > 1:
        nth = f"{rule.nth}번째" if page.locale == "ko" else _ordinal_en(rule.nth)
        said = page.t("journeys.settings.nth_event", event=rule.event, nth=nth)
    else:
        said = page.t("journeys.settings.event", event=rule.event)
    where = _filter_words(page, rule)
    return page.t("journeys.settings.where", rule=said, where=where) if where else said


def _json_of(places: list[Place], kind: str) -> str:
    listed = [
        {
            "key": place.key,
            "name": place.name,
            "rules": [rule.model_dump(mode="json", exclude_defaults=True) for rule in place.rules],
        }
        for place in places
    ]
    return json.dumps({kind: listed}, ensure_ascii=False, indent=2)


def _listed(page: WebContext, places: list[Place], kind: str) -> list[dict[str, Any]]:
    return [
        {
            "key": place.key,
            "name": place_name(page, place, kind),
            "rules": [rule_words(page, rule) for rule in place.rules],
        }
        for place in places
    ]


def _page(
    page: WebContext,
    *,
    texts: dict[str, str] | None = None,
    problems: dict[str, list[str]] | None = None,
    confirm: bool = False,
    status: int = 200,
) -> Response:
    stages = journey_stages.stages_of(page.db, workspace_id=page.workspace.id)
    touchpoints = journey_stages.touchpoints_of(page.db, workspace_id=page.workspace.id)
    return render(
        page.request,
        "journeys/settings.html",
        page=page,
        section="journeys",
        journeys_tab="settings",
        status=status,
        editable=page.can("journeys:write"),
        stages=_listed(page, stages, "stage"),
        touchpoints=_listed(page, touchpoints, "touchpoint"),
        stages_text=(texts or {}).get("stages") or _json_of(stages, "stages"),
        touchpoints_text=(texts or {}).get("touchpoints") or _json_of(touchpoints, "touchpoints"),
        problems=problems or {},
        confirm=confirm,
    )


@router.get("/settings")
def settings_page(page: Page) -> Response:
    """The stages and touchpoints (read-only without ``journeys:write``)."""
    require(page.principal, "journeys:read")
    return _page(page)


def read_json(page: WebContext, text: str, model: type[BaseModel]) -> tuple[Any, list[str]]:
    """The text as ``model``, or the reasons it is refused in the reader's language."""
    if len(text) > MAX_JSON:
        return None, [page.t("journeys.settings.err_long", n=MAX_JSON)]
    try:
        data = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        return None, [page.t("journeys.settings.err_json", line=line, column=column)]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        reasons = []
        for error in exc.errors()[:20]:
            where = ".".join(str(part) for part in error.get("loc", ()))
            message = str(error.get("msg", "")).removeprefix("Value error, ")
            if where:
                message = page.t("journeys.settings.err_at", where=where, message=message)
            reasons.append(message)
        return None, reasons


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[: MAX_JSON + 1] if isinstance(value, str) else ""


def _save(page: WebContext, form: FormData, kind: str) -> Response:
    """Replace the stages or the touchpoints (``kind``) with the posted JSON; a refused text
    is shown again with the reasons."""
    require(page.principal, "journeys:write")
    text = _text(form, kind)
    model = StagesIn if kind == "stages" else TouchpointsIn
    places, problems = read_json(page, text, model)
    if problems:
        return _page(page, texts={kind: text}, problems={kind: problems}, status=422)
    ws = page.workspace.id
    if isinstance(places, StagesIn):
        journey_stages.save_stages(
            page.db, principal=page.principal, workspace_id=ws, stages=places
        )
        page.flash("success", "journeys.settings.stages_saved", n=len(places.stages))
    else:
        journey_stages.save_touchpoints(
            page.db, principal=page.principal, workspace_id=ws, touchpoints=places
        )
        page.flash("success", "journeys.settings.touchpoints_saved", n=len(places.touchpoints))
    return redirect("/journeys/settings")


@router.post("/settings/stages")
def save_stages(page: Page, form: PostedForm) -> Response:
    return _save(page, form, "stages")


@router.post("/settings/touchpoints")
def save_touchpoints(page: Page, form: PostedForm) -> Response:
    return _save(page, form, "touchpoints")


@router.post("/settings/defaults")
def restore_defaults(page: Page, form: PostedForm) -> Response:
    """Ask first; with ``confirm=1``, save an online shop's stages and touchpoints."""
    require(page.principal, "journeys:write")
    if form.get("confirm") != "1":
        return _page(page, confirm=True)
    journey_stages.save_stages(
        page.db,
        principal=page.principal,
        workspace_id=page.workspace.id,
        stages=StagesIn(stages=list(DEFAULT_STAGES)),
    )
    journey_stages.save_touchpoints(
        page.db,
        principal=page.principal,
        workspace_id=page.workspace.id,
        touchpoints=TouchpointsIn(touchpoints=list(DEFAULT_TOUCHPOINTS)),
    )
    page.flash("success", "journeys.settings.defaults_restored")
    return redirect("/journeys/settings")
