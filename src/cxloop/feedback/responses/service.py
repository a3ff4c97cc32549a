"""Survey responses: take a respondent's answers (one response per invitation, partial until
completed; an anonymous one once per public-link submission), import responses collected
elsewhere, put completed answers on the customer's timeline, and list them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import (
    newest_first,
)
from cxloop.core.timeutil import as_utc, utcnow
from cxloop.events import service as events
from cxloop.feedback.distribution.links import invitation_expired
from cxloop.feedback.followups.service import open_follow_up_if_unhappy
from cxloop.feedback.settings import parse_distribution
from cxloop.feedback.surveys.definition import (
    SurveyDefinition,
    headline_scores,
    load_definition,
    shown_key,
    storable_text,
    validate_answers,
)
from cxloop.feedback.surveys.service import get_version
from cxloop.models import Invitation, Response, Survey
from cxloop.profiles import service as profiles

MAX_HIDDEN_VALUE = 200
MAX_IMPORT_ROWS = 1000


# --- responses ---------------------------------------------------------------------------------


def _clean_hidden(
    definition: SurveyDefinition, hidden: Mapping[str, Any], *, prefix: str = "hidden"
) -> dict[str, Any]:
    """Hidden values the version declares, as short scalars; anything else is a 422."""
    errors: list[dict[str, str]] = []
    cleaned: dict[str, Any] = {}
    allowed = set(definition.hidden_fields)
    for name, value in hidden.items():
        where = f"{prefix}.{shown_key(name)}"
        if name not in allowed:
            errors.append({"field": where, "message": "not a hidden field of this survey"})
        elif value is None:
            continue
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            errors.append({"field": where, "message": "must be text or a number"})
        elif isinstance(value, str) and len(value) > MAX_HIDDEN_VALUE:
            errors.append(
                {"field": where, "message": f"must be at most {MAX_HIDDEN_VALUE} characters"}
            )
        elif isinstance(value, str) and not _storable(value):
            errors.append({"field": where, "message": "must be valid text without NUL characters"})
        elif isinstance(value, int) and not -(2**53) <= value <= 2**53:
            errors.append({"field": where, "message": "the number is too large"})
        elif isinstance(value, float) and not abs(value) < float("inf"):
            errors.append({"field": where, "message": "must be a finite number"})
        else:
            cleaned[str(name)] = value
    if errors:
        raise ValidationFailed("Some hidden fields are invalid.", errors=errors)
    return cleaned


def _storable(value: str) -> bool:
    try:
        storable_text(value)
    except ValueError:
        return False
    return True


def _first_text(definition: SurveyDefinition, answers: Mapping[str, Any]) -> str | None:
    """The verbatim of a response: its first answered open-text question."""
    for question in definition.questions:
        if question.type == "text" and answers.get(question.id):
            return str(answers[question.id])
    return None


def _fill(response: Response, definition: SurveyDefinition, answers: dict[str, Any]) -> None:
    response.answers = answers
    response.nps, response.csat, response.ces = headline_scores(definition, answers)
    response.comment = _first_text(definition, answers)
    touchpoint = response.hidden.get("touchpoint")
    response.touchpoint = str(touchpoint)[:100] if touchpoint is not None else None


def _response_for_invitation(session: Session, invitation: Invitation) -> Response | None:
    return session.scalar(
        select(Response).where(
            Response.workspace_id == invitation.workspace_id,
            Response.invitation_id == invitation.id,
        )
    )


def submit_response(
    session: Session,
    *,
    survey: Survey,
    answers: Mapping[str, Any],
    locale: str = "ko",
    customer_id: int | None = None,
    invitation: Invitation | None = None,
    channel: str | None = None,
    hidden: Mapping[str, Any] | None = None,
    partial: bool = False,
    version: int | None = None,
) -> Response:
    """Record a respondent's answers to a live survey; one response per invitation.

    A partial response to an invitation is updated by the next submission (new answers
    merged over the earlier ones) until one completes it; after that the invitation is
    answered and another submission is a Conflict. Answers are checked against the version
    the respondent saw: ``version`` when given, the response's own version when continuing a
    partial response, else the survey's current version.
    """
    if survey.status != "live":
        raise Conflict(f"The survey is {survey.status}; it does not take responses.")
    response: Response | None = None
    if invitation is not None:
        if invitation.survey_id != survey.id or invitation.workspace_id != survey.workspace_id:
            raise NotFound("No invitation of this survey has that token.")
        response = _response_for_invitation(session, invitation)
        if response is not None and response.completed:
            raise Conflict("This invitation has already been answered.")
        if response is None and invitation_expired(invitation):
            raise Conflict("This invitation has expired.")
        customer_id = invitation.customer_id
    elif customer_id is not None:
        customer_id = profiles.get_customer(
            session, workspace_id=survey.workspace_id, customer_id=customer_id
        ).id

    if response is not None:
        number = response.version
    else:
        number = survey.current_version if version is None else version
    if not 1 <= number <= survey.current_version:
        raise ValidationFailed(
            f"Survey {survey.id} has no version {number}.",
            errors=[{"field": "version", "message": "no such version"}],
        )
    definition = load_definition(get_version(session, survey=survey, number=number).definition)
    merged = {**(response.answers if response is not None else {}), **dict(answers)}
    cleaned = validate_answers(definition, merged, partial=partial)
    extra_hidden = _clean_hidden(definition, hidden or {})
    now = utcnow()
    if response is None:
        base_hidden = dict(invitation.hidden) if invitation is not None else {}
        response = Response(
            workspace_id=survey.workspace_id,
            survey_id=survey.id,
            version=number,
            invitation_id=invitation.id if invitation is not None else None,
            customer_id=customer_id,
            channel=channel or (invitation.channel if invitation is not None else "link"),
            locale=locale,
            hidden={**base_hidden, **extra_hidden},
            source="cxloop",
            started_at=now,
        )
        session.add(response)
    else:
        response.hidden = {**response.hidden, **extra_hidden}
        response.locale = locale
    _fill(response, definition, cleaned)
    response.completed = not partial
    response.submitted_at = now
    if invitation is not None and not partial:
        invitation.status = "answered"
    session.flush()
    open_follow_up_if_unhappy(session, survey=survey, response=response)
    _record_on_timeline(session, survey=survey, responses=[response])
    session.flush()
    return response


SURVEY_ANSWERED = "Survey Answered"


def _record_on_timeline(session: Session, *, survey: Survey, responses: Sequence[Response]) -> None:
    """Completed answers of known customers join their event log (timeline, bus): the scores
    and the survey, not the free text, which stays on the response alone."""
    activities = [
        events.Activity(
            customer_id=r.customer_id,
            message_id=f"cxloop-survey-response-{r.id}",
            name=SURVEY_ANSWERED,
            channel="survey",
            timestamp=as_utc(r.submitted_at),
            properties={
                "survey_id": survey.id,
                "survey_key": survey.key,
                "survey_name": survey.name,
                "response_id": r.id,
                "response_channel": r.channel,
                **{k: v for k in ("nps", "csat", "ces") if (v := getattr(r, k)) is not None},
                **({"touchpoint": r.touchpoint} if r.touchpoint else {}),
            },
        )
        for r in responses
        if r.completed and r.customer_id is not None
    ]
    events.record_activities(session, workspace_id=survey.workspace_id, activities=activities)


@dataclass(frozen=True)
class ResponseFilter:
    completed: bool | None = None
    metric: str | None = None  # nps, csat or ces: the score that min/max apply to
    score_min: int | None = None
    score_max: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    customer_id: int | None = None
    channel: str | None = None
    version: int | None = None
    has_comment: bool | None = None
    text: str | None = None  # words the comment contains (case-insensitive)


def _score_column(metric: str) -> Any:
    columns = {"nps": Response.nps, "csat": Response.csat, "ces": Response.ces}
    if metric not in columns:
        raise ValidationFailed(
            "metric must be nps, csat or ces.",
            errors=[{"field": "metric", "message": "unknown metric"}],
        )
    return columns[metric]


def list_responses(
    session: Session,
    *,
    survey: Survey,
    filters: ResponseFilter = ResponseFilter(),
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Response], str | None]:
    """A page of the survey's responses matching ``filters``, newest first."""
    limit = max(1, min(limit, 200))
    query: Select[tuple[Response]] = select(Response).where(
        Response.workspace_id == survey.workspace_id, Response.survey_id == survey.id
    )
    if filters.completed is not None:
        query = query.where(Response.completed.is_(filters.completed))
    if filters.score_min is not None or filters.score_max is not None:
        column = _score_column(filters.metric or survey.kind)
        if filters.score_min is not None:
            query = query.where(column >= filters.score_min)
        if filters.score_max is not None:
            query = query.where(column <= filters.score_max)
    if filters.since is not None:
        query = query.where(Response.submitted_at >= as_utc(filters.since))
    if filters.until is not None:
        query = query.where(Response.submitted_at < as_utc(filters.until))
    if filters.customer_id is not None:
        query = query.where(Response.customer_id == filters.customer_id)
    if filters.channel is not None:
        query = query.where(Response.channel == filters.channel)
    if filters.version is not None:
        query = query.where(Response.version == filters.version)
    if filters.has_comment is not None:
        with_comment = and_(Response.comment.is_not(None), Response.comment != "")
        query = query.where(with_comment if filters.has_comment else ~with_comment)
    if filters.text:
        # autoescape: a % or _ in the words is looked for as itself
        query = query.where(Response.comment.icontains(filters.text, autoescape=True))
    return newest_first(
        session, query, time=Response.submitted_at, id=Response.id, cursor=cursor, limit=limit
    )


# --- import ------------------------------------------------------------------------------------


@dataclass
class ImportRow:
    """One response collected outside cxloop."""

    external_id: str
    answers: dict[str, Any]
    submitted_at: datetime | None = None
    completed: bool = True
    locale: str = "ko"
    channel: str = "import"
    hidden: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None
    email: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class ImportResult:
    created: list[Response]
    duplicates: list[str]  # external ids already imported (or repeated in the batch)
    unlinked: int  # rows that named a customer cxloop does not know


def import_responses(
    session: Session, *, survey: Survey, rows: Sequence[ImportRow], source: str = "import"
) -> ImportResult:
    """Store responses collected elsewhere; an external id seen before is skipped.

    All rows are checked first: one invalid row rejects the whole import (field names
    ``rows.<i>.…``), so nothing is half-written. A row is linked to the customer holding its
    user id (or else its email); a customer cxloop does not know leaves it unlinked.
    """
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(f"Import at most {MAX_IMPORT_ROWS} rows per request.")
    ids = [row.external_id for row in rows]
    existing = (
        set(
            session.scalars(
                select(Response.external_id).where(
                    Response.workspace_id == survey.workspace_id,
                    Response.survey_id == survey.id,
                    Response.external_id.in_(set(ids)),
                )
            )
        )
        if ids
        else set()
    )
    definitions: dict[int, SurveyDefinition] = {}
    errors: list[dict[str, str]] = []
    prepared: list[tuple[ImportRow, int, dict[str, Any], dict[str, Any]]] = []
    duplicates: list[str] = []
    seen: set[str] = {e for e in existing if e is not None}
    for index, row in enumerate(rows):
        if row.external_id in seen:
            duplicates.append(row.external_id)
            continue
        seen.add(row.external_id)
        number = survey.current_version if row.version is None else row.version
        if not 1 <= number <= survey.current_version:
            errors.append({"field": f"rows.{index}.version", "message": "no such version"})
            continue
        if number not in definitions:
            definitions[number] = load_definition(
                get_version(session, survey=survey, number=number).definition
            )
        definition = definitions[number]
        try:
            answers = validate_answers(definition, row.answers, partial=not row.completed)
            hidden = _clean_hidden(definition, row.hidden, prefix="hidden")
        except ValidationFailed as exc:
            errors.extend(
                {"field": f"rows.{index}.{e['field']}", "message": e["message"]} for e in exc.errors
            )
            continue
        prepared.append((row, number, answers, hidden))
    if errors:
        shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(
            f"Some rows are invalid, nothing was imported: {shown}.", errors=errors
        )

    created: list[Response] = []
    unlinked = 0
    now = utcnow()
    for row, number, answers, hidden in prepared:
        customer_id = _customer_of(session, survey.workspace_id, row)
        if customer_id is None and (row.user_id or row.email):
            unlinked += 1
        moment = as_utc(row.submitted_at) if row.submitted_at is not None else now
        response = Response(
            workspace_id=survey.workspace_id,
            survey_id=survey.id,
            version=number,
            customer_id=customer_id,
            channel=row.channel,
            locale=row.locale,
            hidden=hidden,
            completed=row.completed,
            source=source,
            external_id=row.external_id,
            started_at=moment,
            submitted_at=moment,
        )
        _fill(response, definitions[number], answers)
        session.add(response)
        created.append(response)
    session.flush()
    for response in created:
        open_follow_up_if_unhappy(session, survey=survey, response=response)
    _record_on_timeline(session, survey=survey, responses=created)
    session.flush()
    return ImportResult(created=created, duplicates=duplicates, unlinked=unlinked)


def _customer_of(session: Session, workspace_id: int, row: ImportRow) -> int | None:
    for kind, value in (("user_id", row.user_id), ("email", row.email)):
        if value:
            customer = profiles.find_customer(
                session, workspace_id=workspace_id, kind=kind, value=value
            )
            if customer is not None:
                return customer.id
    return None


def customer_responses(
    session: Session,
    *,
    workspace_id: int,
    customer_id: int,
    cursor: str | None = None,
    limit: int = 10,
) -> tuple[list[tuple[Response, str]], str | None]:
    """A page of one customer's survey answers with their survey's name, newest first."""
    limit = max(1, min(limit, 100))
    query: Select[tuple[Response]] = select(Response).where(
        Response.workspace_id == workspace_id, Response.customer_id == customer_id
    )
    rows, next_cursor = newest_first(
        session, query, time=Response.submitted_at, id=Response.id, cursor=cursor, limit=limit
    )
    names: dict[int, str] = {
        survey_id: name
        for survey_id, name in session.execute(
            select(Survey.id, Survey.name).where(
                Survey.workspace_id == workspace_id,
                Survey.id.in_({r.survey_id for r in rows}),
            )
        )
    }
    return [(r, names.get(r.survey_id, "")) for r in rows], next_cursor


# --- respondent pages (personal and public links) ----------------------------------------------


def response_to_invitation(session: Session, *, invitation: Invitation) -> Response | None:
    """The (partial or completed) response given to an invitation, if any."""
    return _response_for_invitation(session, invitation)


def public_survey(session: Session, *, workspace_id: int, key: str) -> Survey:
    """The survey ``key`` of the workspace when it takes answers through its public link."""
    survey = session.scalar(
        select(Survey).where(Survey.workspace_id == workspace_id, Survey.key == key)
    )
    if survey is None or not parse_distribution(survey.distribution).public_link:
        raise NotFound(f"No public survey {key!r}.")
    return survey


PUBLIC_SUBMISSION_PREFIX = "link:"


def submit_public_response(
    session: Session,
    *,
    survey: Survey,
    submission_id: str,
    answers: Mapping[str, Any],
    locale: str = "ko",
    hidden: Mapping[str, Any] | None = None,
) -> tuple[Response, bool]:
    """An anonymous answer through the survey's public link, once per form submission:
    the same ``submission_id`` sent again returns the first response (and False)."""
    external_id = PUBLIC_SUBMISSION_PREFIX + submission_id[:100]
    earlier = session.scalar(
        select(Response).where(
            Response.workspace_id == survey.workspace_id,
            Response.survey_id == survey.id,
            Response.external_id == external_id,
        )
    )
    if earlier is not None:
        return earlier, False
    response = submit_response(
        session, survey=survey, answers=answers, locale=locale, channel="link", hidden=hidden
    )
    response.external_id = external_id
    session.flush()
    return response, True


def touchpoints_in_use(
    session: Session, *, workspace_id: int, days: int = 365, limit: int = 200
) -> list[str]:
    """The touchpoints the workspace's answers of the last ``days`` days were given at, most
    answered first."""
    since = utcnow() - timedelta(days=days)
    count = func.count()
    rows = session.execute(
        select(Response.touchpoint, count)
        .where(
            Response.workspace_id == workspace_id,
            Response.submitted_at >= since,
            Response.touchpoint.is_not(None),
            Response.touchpoint != "",
        )
        .group_by(Response.touchpoint)
        .order_by(count.desc(), Response.touchpoint)
        .limit(limit)
    )
    return [touchpoint for touchpoint, _ in rows]
