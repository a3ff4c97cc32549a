"""Surveys and their versions: create and edit surveys (a changed definition becomes a new
version), publish, close or unpublish them, and read the definition of any version."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import (
    decode_cursor,
    encode_cursor,
)
from cxloop.feedback.settings import parse_distribution
from cxloop.feedback.surveys.definition import (
    SurveyDefinition,
    dump_definition,
    load_definition,
    parse_definition,
)
from cxloop.models import Response, Survey, SurveyVersion
from cxloop.models.feedback import SURVEY_KINDS, SURVEY_STATUSES

# Status changes a survey may make; back to draft only while nobody has answered.
STATUS_CHANGES: dict[str, frozenset[str]] = {
    "draft": frozenset({"live", "closed"}),
    "live": frozenset({"closed", "draft"}),
    "closed": frozenset({"live"}),
}


# --- surveys -----------------------------------------------------------------------------------


SURVEY_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_SURVEY_NAME = 200
MAX_OWNER_TEAM = 64
# The audit action of each status a survey moves to.
STATUS_ACTIONS = {"live": "survey.publish", "closed": "survey.close", "draft": "survey.unpublish"}


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_SURVEY_NAME:
        raise ValidationFailed(
            f"A survey's name has 1-{MAX_SURVEY_NAME} characters.",
            errors=[{"field": "name", "message": f"1-{MAX_SURVEY_NAME} characters"}],
        )
    return name


def _check_owner_team(team: str) -> str:
    team = team.strip()
    if len(team) > MAX_OWNER_TEAM:
        raise ValidationFailed(
            f"A team name has at most {MAX_OWNER_TEAM} characters.",
            errors=[{"field": "owner_team", "message": f"at most {MAX_OWNER_TEAM} characters"}],
        )
    return team


def _check_key(key: str) -> str:
    if not SURVEY_KEY.fullmatch(key):
        raise ValidationFailed(
            "A survey key is 1-64 lower-case letters, digits, '-' or '_', starting with a "
            "letter or digit.",
            errors=[{"field": "key", "message": "a-z, 0-9, - and _ (1-64), not - or _ first"}],
        )
    return key


def _check_kind(kind: str) -> None:
    if kind not in SURVEY_KINDS:
        raise ValidationFailed(
            f"kind must be one of {', '.join(SURVEY_KINDS)}.",
            errors=[{"field": "kind", "message": "unknown survey kind"}],
        )


def create_survey(
    session: Session,
    *,
    workspace_id: int,
    key: str,
    name: str,
    kind: str,
    definition: SurveyDefinition | Mapping[str, Any],
    owner_team: str = "",
    distribution: Mapping[str, Any] | None = None,
) -> Survey:
    """A new draft survey with its definition as version 1 (a blank key: one made from the
    kind)."""
    key = key.strip() or f"{kind}-{secrets.token_hex(3)}"
    problems: list[ValidationFailed] = []
    for check, value in (
        (_check_kind, kind),
        (_check_key, key),
        (_check_name, name),
        (_check_owner_team, owner_team),
    ):
        try:
            check(value)
        except ValidationFailed as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:  # every field's problem at once, so a form shows them together
        raise ValidationFailed(
            " ".join(p.detail for p in problems), errors=[e for p in problems for e in p.errors]
        )
    name, owner_team = name.strip(), owner_team.strip()
    checked = parse_definition(definition, kind=kind)
    taken = session.scalar(
        select(Survey.id).where(Survey.workspace_id == workspace_id, Survey.key == key)
    )
    if taken is not None:
        raise Conflict(
            f"A survey with key {key!r} already exists.",
            errors=[{"field": "key", "message": "already used in this workspace"}],
        )
    survey = Survey(
        workspace_id=workspace_id,
        key=key,
        name=name,
        kind=kind,
        status="draft",
        current_version=1,
        distribution=parse_distribution(distribution).model_dump(mode="json"),
        owner_team=owner_team,
    )
    session.add(survey)
    session.flush()
    session.add(
        SurveyVersion(
            workspace_id=workspace_id,
            survey_id=survey.id,
            number=1,
            definition=dump_definition(checked),
        )
    )
    session.flush()
    return survey


def get_survey(session: Session, *, workspace_id: int, survey_id: int) -> Survey:
    """The survey with this id in this workspace."""
    survey = session.scalar(
        select(Survey).where(Survey.workspace_id == workspace_id, Survey.id == survey_id)
    )
    if survey is None:
        raise NotFound(f"No survey with id {survey_id}.")
    return survey


def list_surveys(
    session: Session,
    *,
    workspace_id: int,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Survey], str | None]:
    """A page of the workspace's surveys, newest first, and the next page's cursor."""
    limit = max(1, min(limit, 200))
    query = select(Survey).where(Survey.workspace_id == workspace_id)
    if status is not None:
        query = query.where(Survey.status == status)
    query = query.order_by(Survey.id.desc())
    if cursor:
        (last_id,) = decode_cursor(cursor, 1)
        query = query.where(Survey.id < last_id)
    rows = list(session.scalars(query.limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].id])


def get_version(session: Session, *, survey: Survey, number: int | None = None) -> SurveyVersion:
    """Version ``number`` of the survey (its current one by default)."""
    number = survey.current_version if number is None else number
    version = session.scalar(
        select(SurveyVersion).where(
            SurveyVersion.workspace_id == survey.workspace_id,
            SurveyVersion.survey_id == survey.id,
            SurveyVersion.number == number,
        )
    )
    if version is None:
        raise NotFound(f"Survey {survey.id} has no version {number}.")
    return version


def current_definition(session: Session, *, survey: Survey) -> SurveyDefinition:
    return load_definition(get_version(session, survey=survey).definition)


def update_survey(
    session: Session,
    *,
    survey: Survey,
    name: str | None = None,
    owner_team: str | None = None,
    definition: SurveyDefinition | Mapping[str, Any] | None = None,
    distribution: Mapping[str, Any] | None = None,
) -> Survey:
    """Rename the survey, change its owner team or how it goes out; a changed definition
    becomes a new version."""
    if name is not None:
        survey.name = _check_name(name)
    if owner_team is not None:
        survey.owner_team = _check_owner_team(owner_team)
    if distribution is not None:
        survey.distribution = parse_distribution(distribution).model_dump(mode="json")
    if definition is not None:
        update_definition(session, survey=survey, definition=definition)
    session.flush()
    return survey


def update_definition(
    session: Session, *, survey: Survey, definition: SurveyDefinition | Mapping[str, Any]
) -> SurveyVersion:
    """Save ``definition`` as the survey's next version (unless it equals the current one).

    Responses keep the version they answered; no answer is touched.
    """
    checked = dump_definition(parse_definition(definition, kind=survey.kind))
    current = get_version(session, survey=survey)
    if current.definition == checked:
        return current
    version = SurveyVersion(
        workspace_id=survey.workspace_id,
        survey_id=survey.id,
        number=survey.current_version + 1,
        definition=checked,
    )
    session.add(version)
    survey.current_version = version.number
    session.flush()
    return version


def set_status(
    session: Session, *, survey: Survey, status: str, principal: Principal | None = None
) -> Survey:
    """Move the survey to draft, live or closed (live takes responses). A change made by
    ``principal`` is audited (``survey.publish``, ``survey.close``, ``survey.unpublish``)."""
    if status not in SURVEY_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(SURVEY_STATUSES)}.",
            errors=[{"field": "status", "message": "unknown status"}],
        )
    if status == survey.status:
        return survey
    if status not in STATUS_CHANGES[survey.status]:
        raise Conflict(f"A {survey.status} survey cannot become {status}.")
    if status == "draft" and _has_responses(session, survey):
        raise Conflict("A survey that has responses cannot go back to draft; close it instead.")
    was = survey.status
    survey.status = status
    session.flush()
    if principal is not None:
        record_audit(
            session,
            principal=principal,
            action=STATUS_ACTIONS[status],
            workspace_id=survey.workspace_id,
            target_type="survey",
            target_id=survey.id,
            detail={"status": status, "was": was},
        )
    return survey


def _has_responses(session: Session, survey: Survey) -> bool:
    return (
        session.scalar(
            select(Response.id)
            .where(Response.workspace_id == survey.workspace_id, Response.survey_id == survey.id)
            .limit(1)
        )
        is not None
    )
