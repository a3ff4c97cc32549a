"""The badges and challenges settings page (/settings/loyalty/goals): every goal of the program
as one row of one form, saved together with ``goals.save_goals`` (``loyalty:write``); a refused
form comes back as typed with the reasons in words. A row left out stops counting but keeps who
reached it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from cxloop.accounts.access import require
from cxloop.loyalty import goals
from cxloop.loyalty import program as loyalty_program
from cxloop.loyalty.goals import GoalsIn
from cxloop.loyalty.schemas import ProgramOut
from cxloop.models import LoyaltyGoal
from cxloop.web.loyalty.catalogue_form import (
    FormRefused,
    PostedForm,
    field_text,
    local_input,
    local_moment,
    program_or_none,
    refusals,
    settings_page,
)
from cxloop.web.loyalty.program_form import save_or_refusals
from cxloop.web.rendering import redirect, zone
from cxloop.web.session import Page, WebContext, verify_csrf

router = APIRouter(
    prefix="/settings/loyalty/goals", include_in_schema=False, dependencies=[Depends(verify_csrf)]
)

HOME = "/settings/loyalty/goals"
GOAL_KINDS = ("badge", "challenge")
MAX_ROWS = 100  # GoalsIn takes at most 100 goals


@dataclass
class GoalRow:
    key: str = ""
    kind: str = "badge"
    name: str = ""
    description: str = ""
    event: str = ""
    count: str = "1"
    streak_weeks: str = ""
    starts_at: str = ""
    ends_at: str = ""
    reward_points: str = "0"
    point_type: str = "points"
    active: bool = True

    def blank(self) -> bool:
        return not (self.key or self.name or self.event or self.description)


@dataclass
class GoalsForm:
    rows: list[GoalRow] = field(default_factory=list)

    def with_blank_row(self, point_type: str) -> GoalsForm:
        self.rows.append(GoalRow(point_type=point_type))
        return self


def _row_of(goal: LoyaltyGoal, zone: ZoneInfo) -> GoalRow:
    return GoalRow(
        key=goal.key,
        kind=goal.kind,
        name=goal.name,
        description=goal.description,
        event=goal.event,
        count=str(goal.count),
        streak_weeks=str(goal.streak_weeks or ""),
        starts_at=local_input(goal.starts_at, zone),
        ends_at=local_input(goal.ends_at, zone),
        reward_points=str(goal.reward_points),
        point_type=goal.point_type,
        active=goal.active,
    )


def posted_form(posted: FormData) -> GoalsForm:
    """The rows as posted, those marked for removal left out."""
    pattern = re.compile(r"^goals-(\d{1,3})-")
    indices = sorted({int(m[1]) for name in posted if (m := pattern.match(name))})[:MAX_ROWS]
    rows = []
    for i in indices:
        if posted.get(f"goals-{i}-remove") is not None:
            continue
        values: dict[str, Any] = {}
        for spec in fields(GoalRow):
            name = f"goals-{i}-{spec.name}"
            if spec.type == "bool":
                values[spec.name] = posted.get(name) is not None
            else:
                values[spec.name] = field_text(posted, name)
        rows.append(GoalRow(**values))
    return GoalsForm(rows)


def read_goals(form: GoalsForm, zone: ZoneInfo, t: Any) -> GoalsIn:
    """The goals the form describes; FormRefused with the reasons in words otherwise."""
    problems: list[str] = []
    goals_data = []
    for number, row in enumerate(form.rows, 1):
        if row.blank():
            continue
        data: dict[str, Any] = {
            "key": row.key,
            "kind": row.kind,
            "name": row.name,
            "description": row.description,
            "event": row.event,
            "count": row.count or 1,
            "streak_weeks": row.streak_weeks or None,
            "reward_points": row.reward_points or 0,
            "point_type": row.point_type or "points",
            "active": row.active,
        }
        for name in ("starts_at", "ends_at"):
            label = t("loyalty_rewards_pages.at_goal", n=number) + " · "
            label += t(f"loyalty_rewards_pages.field.{name}")
            data[name] = local_moment(getattr(row, name), zone, label, t, problems)
        goals_data.append(data)
    if problems:
        raise FormRefused(problems)
    try:
        return GoalsIn.model_validate({"goals": goals_data})
    except ValidationError as exc:
        raise FormRefused(refusals(exc, t)) from None


def _page(
    page: WebContext,
    program: ProgramOut | None,
    form: GoalsForm,
    *,
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    return settings_page(
        page,
        "loyalty/goals.html",
        tab="goals",
        status=status,
        program=program,
        form=form,
        problems=problems or [],
        goal_kinds=GOAL_KINDS,
    )


def _first_type(program: ProgramOut) -> str:
    return program.point_types[0] if program.point_types else "points"


@router.get("")
def goals_page(page: Page) -> Response:
    """The program's badges and challenges, with an empty row to add one."""
    require(page.principal, "loyalty:read")
    program = program_or_none(page)
    if program is None:
        return _page(page, None, GoalsForm())
    found = loyalty_program.require_program(page.db, workspace_id=page.workspace.id)
    saved = goals.goals_of(page.db, program_id=found.id)
    form = GoalsForm([_row_of(g, zone(page.workspace.timezone)) for g in saved])
    return _page(page, program, form.with_blank_row(_first_type(program)))


@router.post("")
def save_goals(page: Page, posted: PostedForm) -> Response:
    """Save every goal, or add a row without saving (``add``)."""
    require(page.principal, "loyalty:write")
    program = program_or_none(page)
    if program is None:
        return redirect(HOME)
    form = posted_form(posted)
    if posted.get("add") == "goal":
        return _page(page, program, form.with_blank_row(_first_type(program)))
    problems = save_or_refusals(
        page.db,
        page.locale,
        lambda: goals.save_goals(
            page.db,
            principal=page.principal,
            workspace_id=page.workspace.id,
            goals=read_goals(form, zone(page.workspace.timezone), page.t),
        ),
    )
    if not problems:
        page.flash("success", "loyalty_rewards_pages.goals_saved")
        return redirect(HOME)
    form = form.with_blank_row(_first_type(program))
    return _page(page, program, form, problems=problems, status=422)
