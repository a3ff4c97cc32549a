"""What the rewards and goals settings pages share: the posted form and the saved program, the
page drawn inside the loyalty settings, reading a posted field, a local date and time as an aware
instant, and the reasons a reward or a goal is refused, in the reader's words (the field labels
of ``loyalty_rewards_pages.field``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from cxloop.core.errors import NotFound
from cxloop.loyalty import program as loyalty_program
from cxloop.loyalty.goals import GoalIn
from cxloop.loyalty.rewards import RewardIn
from cxloop.loyalty.schemas import ProgramOut
from cxloop.web.accounts import admin

# One way of writing numbers and moments in a loyalty form, whichever page shows it.
from cxloop.web.loyalty.program_form import (
    FormRefused,
    Translate,
    local_input,
    moment_of,
    plain_number,
    program_message,
)
from cxloop.web.session import WebContext

# Every field of a reward or a goal, labelled by loyalty_rewards_pages.field.<name>.
FIELDS = tuple(sorted({*RewardIn.model_fields, *GoalIn.model_fields, "goals"}))
# Refusals of the reward and goal models themselves, worded by loyalty_rewards_pages.err.<key>;
# the rest are worded as the program form words them.
OWN_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^a reward needs a name"), "reward_name"),
    (re.compile(r"^names and the description cannot hold"), "nul"),
    (re.compile(r"^a challenge has a start and an end"), "challenge_dates"),
    (re.compile(r"^goal keys must differ"), "goal_keys"),
    (re.compile(r"^starts_at and ends_at need a time zone"), "zone"),
    (re.compile(r"^ends_at must come after starts_at"), "window"),
)

__all__ = [
    "FIELDS",
    "OWN_ERRORS",
    "FormRefused",
    "PostedForm",
    "field_text",
    "local_input",
    "local_moment",
    "plain_number",
    "program_or_none",
    "refusals",
    "settings_page",
]


async def _posted(request: Request) -> FormData:
    """The form of the request (already read, and cached, by the CSRF check)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted)]


def program_or_none(page: WebContext) -> ProgramOut | None:
    """The workspace's program as its settings show it, None when it has none yet."""
    try:
        return loyalty_program.program_settings(page.db, workspace_id=page.workspace.id)
    except NotFound:
        return None


def settings_page(
    page: WebContext, template: str, *, tab: str, status: int = 200, **values: Any
) -> Response:
    """A loyalty settings page, in the settings menu with the loyalty tab ``tab`` current."""
    return admin.settings_page(
        page,
        template,
        section="loyalty",
        loyalty_tab=tab,
        editable=page.can("loyalty:write"),
        status=status,
        **values,
    )


def field_text(form: FormData, name: str, limit: int = 2_000) -> str:
    """A posted text field, trimmed and cut to ``limit`` ("" when absent or a file)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def local_moment(text: str, zone: ZoneInfo, label: str, t: Translate, problems: list[str]) -> Any:
    """A ``YYYY-MM-DDTHH:MM`` typed in the workspace's zone as an aware instant (None when
    blank); a problem in words when it is not a date and time."""
    moment = moment_of(text, zone)
    if isinstance(moment, str):
        problems.append(t("loyalty_rewards_pages.err_moment", field=label, value=moment[:40]))
        return None
    return moment


def _place(loc: Iterable[Any], t: Translate) -> str:
    """("goals", 1, "count") as "Badge or challenge 2 · Count"."""
    parts = []
    loc = list(loc)
    if len(loc) >= 2 and loc[0] == "goals" and isinstance(loc[1], int):
        parts.append(t("loyalty_rewards_pages.at_goal", n=loc[1] + 1))
        loc = loc[2:]
    for part in loc:
        if isinstance(part, str) and part in FIELDS:
            parts.append(t(f"loyalty_rewards_pages.field.{part}"))
        else:
            parts.append(str(part))
    return " · ".join(parts)


def refusals(exc: ValidationError, t: Translate) -> list[str]:
    """Why a reward or the goals were refused, one line per problem (at most 20)."""
    reasons = []
    for error in exc.errors()[:20]:
        text = str(error.get("msg", "")).removeprefix("Value error, ")
        key = next((key for pattern, key in OWN_ERRORS if pattern.match(text)), None)
        message = t(f"loyalty_rewards_pages.err.{key}") if key else program_message(error, t)
        where = _place(error.get("loc", ()), t)
        if where:
            message = t("loyalty_pages.err_at", where=where, message=message)
        reasons.append(message)
    return reasons
