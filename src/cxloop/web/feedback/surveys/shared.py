"""What the survey pages share: loading a survey of the workspace, the posted form, reading
its fields, and the messages for a definition the service refused."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Survey
from cxloop.web import errors
from cxloop.web.session import WebContext


async def _posted_form(request: Request) -> FormData:
    """The form of the request (already read, and cached, by the CSRF check)."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(_posted_form)]

MAX_ID = 2**31 - 1
OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in")


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _field(form: FormData, name: str, limit: int = 5000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _number(text: str) -> Any:
    """An int or float for number-like text; other text stays text (the check names it)."""
    if re.fullmatch(r"-?\d{1,9}", text):
        return int(text)
    if re.fullmatch(r"-?\d{1,9}\.\d{1,6}", text):
        return float(text)
    return text


def _load(page: WebContext, survey_id: int) -> Survey:
    if not 0 < survey_id <= MAX_ID:
        raise NotFound(f"No survey with id {survey_id}.")
    return survey_service.get_survey(page.db, workspace_id=page.workspace.id, survey_id=survey_id)


# The feedback service's checks of a survey's fields, in the reader's words.
FIELD_MESSAGES = {
    "kind": "surveys.err_kind",
    "name": "surveys.err_name",
    "key": "surveys.err_key",
    "owner_team": "surveys.err_team",
}


def _survey_problems(page: WebContext, exc: ValidationFailed) -> dict[str, str]:
    """Each field the service refused, with its message in the user's language."""
    problems = {
        str(e.get("field")): page.t(FIELD_MESSAGES[str(e.get("field"))])
        for e in exc.errors
        if e.get("field") in FIELD_MESSAGES
    }
    return problems or {"key": errors.describe(page.locale, exc)}
