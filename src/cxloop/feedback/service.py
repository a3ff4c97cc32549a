"""Surveys, their versions and responses: create and edit surveys (each edit a new version),
take responses (one per invitation, partial until completed), import responses collected
elsewhere, open a follow-up for every unhappy answer and work it to closure, and summarise the
headline scores with their confidence intervals."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit, role_in
from cxloop.channels import notifications
from cxloop.core import stats
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import (
    decode_cursor,
    encode_cursor,
    newest_first,
    oldest_first,
)
from cxloop.core.settings import get_settings
from cxloop.core.timeutil import KST, as_utc, utcnow
from cxloop.events import service as events
from cxloop.feedback import followup_digests
from cxloop.feedback.definition import (
    SurveyDefinition,
    dump_definition,
    headline_scores,
    load_definition,
    parse_definition,
    shown_key,
    storable_text,
    validate_answers,
)
from cxloop.feedback.settings import parse_distribution
from cxloop.models import FollowUp, Invitation, Notification, Response, Survey, SurveyVersion
from cxloop.models.feedback import FOLLOW_UP_STATUSES, SURVEY_KINDS, SURVEY_STATUSES
from cxloop.profiles import service as profiles

# Status changes a survey may make; back to draft only while nobody has answered.
STATUS_CHANGES: dict[str, frozenset[str]] = {
    "draft": frozenset({"live", "closed"}),
    "live": frozenset({"closed", "draft"}),
    "closed": frozenset({"live"}),
}
MAX_HIDDEN_VALUE = 200
MAX_IMPORT_ROWS = 1000


def hash_token(token: str) -> str:
    """How an invitation token is stored: only its SHA-256 is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


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


def find_invitation(session: Session, *, survey: Survey, token: str) -> Invitation:
    """The invitation of this survey whose personal token is ``token``."""
    invitation = session.scalar(
        select(Invitation).where(
            Invitation.workspace_id == survey.workspace_id,
            Invitation.survey_id == survey.id,
            Invitation.token_hash == hash_token(token),
        )
    )
    if invitation is None:
        raise NotFound("No invitation of this survey has that token.")
    return invitation


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
    _open_follow_up_if_unhappy(session, survey=survey, response=response)
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
        _open_follow_up_if_unhappy(session, survey=survey, response=response)
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


# --- scores ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreSummary:
    """The survey's headline scores over completed responses; None where nobody answered."""

    responses: int
    nps: stats.NpsEstimate | None
    csat: stats.ProportionEstimate | None
    ces: stats.MeanEstimate | None


def _count_when(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def score_summary(
    session: Session,
    *,
    workspace_id: int,
    survey_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    min_n: int = stats.DEFAULT_MIN_N,
) -> ScoreSummary:
    """NPS, CSAT and CES with their intervals from counts aggregated in SQL."""
    clauses = [
        Response.workspace_id == workspace_id,
        Response.survey_id == survey_id,
        Response.completed.is_(True),
    ]
    if since is not None:
        clauses.append(Response.submitted_at >= as_utc(since))
    if until is not None:
        clauses.append(Response.submitted_at < as_utc(until))
    row = session.execute(
        select(
            func.count(),
            _count_when(Response.nps >= 9),
            _count_when(and_(Response.nps >= 7, Response.nps <= 8)),
            _count_when(Response.nps <= 6),
            func.count(Response.csat),
            _count_when(Response.csat >= stats.CSAT_SATISFIED_FROM),
            func.count(Response.ces),
            func.coalesce(func.sum(Response.ces), 0),
            func.coalesce(func.sum(Response.ces * Response.ces), 0),
        ).where(*clauses)
    ).one()
    total, promoters, passives, detractors, csat_n, satisfied, ces_n, ces_sum, ces_squares = (
        int(v) for v in row
    )
    nps = (
        stats.nps_from_counts(
            promoters=promoters, passives=passives, detractors=detractors, min_n=min_n
        )
        if promoters + passives + detractors
        else None
    )
    csat = (
        stats.csat_from_counts(satisfied=satisfied, total=csat_n, min_n=min_n) if csat_n else None
    )
    ces = None
    if ces_n:
        mean = ces_sum / ces_n
        # Exact integer arithmetic for the sample variance (ddof 1).
        variance = (ces_n * ces_squares - ces_sum**2) / (ces_n * (ces_n - 1)) if ces_n > 1 else 0.0
        ces = stats.mean_from_summary(
            n=ces_n,
            mean=mean,
            std=max(variance, 0.0) ** 0.5,
            min_n=min_n,
            bounds=(float(stats.CES_SCALE[0]), float(stats.CES_SCALE[1])),
        )
    return ScoreSummary(responses=total, nps=nps, csat=csat, ces=ces)


# --- follow-ups --------------------------------------------------------------------------------

# An answer is unhappy, and someone must follow it up, at these scores (inclusive): NPS
# detractors (0–6), CSAT dissatisfied (1–2 of 5) and CES high effort (1–3 of 7, where a higher
# score means the task was easier).
NPS_UNHAPPY_MAX = 6
CSAT_UNHAPPY_MAX = 2
CES_UNHAPPY_MAX = 3
# The workspace default: a follow-up is due this many business days after the answer.
FOLLOW_UP_BUSINESS_DAYS = 2
# Team of follow-ups whose survey names no owner team.
DEFAULT_FOLLOW_UP_TEAM = "cx"
CLOSED_FOLLOW_UP_STATUSES = frozenset({"done", "dismissed"})


class _Unset:
    """A PATCH field the caller left out (as opposed to one set to None)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def unhappy_reason(response: Response) -> str | None:
    """Why this response needs a follow-up ("NPS 3 (detractor)"), or None when it does not."""
    reasons = []
    if response.nps is not None and response.nps <= NPS_UNHAPPY_MAX:
        reasons.append(f"NPS {response.nps} (detractor)")
    if response.csat is not None and response.csat <= CSAT_UNHAPPY_MAX:
        reasons.append(f"CSAT {response.csat} (dissatisfied)")
    if response.ces is not None and response.ces <= CES_UNHAPPY_MAX:
        reasons.append(f"CES {response.ces} (high effort)")
    return "; ".join(reasons) or None


def add_business_days(moment: datetime, days: int, *, zone: ZoneInfo = KST) -> datetime:
    """``moment`` moved ``days`` working days on, at the same local time, skipping Saturdays and
    Sundays in ``zone`` (Korean public holidays are not counted as days off)."""
    local = as_utc(moment).astimezone(zone)
    day = local.date()
    left = days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    # Rebuild from the wall-clock time so a change of UTC offset keeps the local hour.
    due = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
    return as_utc(due)


def _open_follow_up_if_unhappy(
    session: Session, *, survey: Survey, response: Response
) -> FollowUp | None:
    """The follow-up of a completed unhappy response, created on its first completion only."""
    if not response.completed:
        return None
    reason = unhappy_reason(response)
    if reason is None:
        return None
    existing = session.scalar(
        select(FollowUp).where(
            FollowUp.workspace_id == response.workspace_id, FollowUp.response_id == response.id
        )
    )
    if existing is not None:
        return existing
    follow_up = FollowUp(
        workspace_id=response.workspace_id,
        response_id=response.id,
        customer_id=response.customer_id,
        team=survey.owner_team or DEFAULT_FOLLOW_UP_TEAM,
        reason=reason[:200],
        status="open",
        due_at=add_business_days(response.submitted_at, FOLLOW_UP_BUSINESS_DAYS),
        note="",
    )
    session.add(follow_up)
    session.flush()
    # An old answer imported long after the fact is on the board (overdue) but pages nobody;
    # a burst of answers is told in one digest after the first few.
    if as_utc(follow_up.due_at) > utcnow() and (
        followup_digests.add_to_digest(session, follow_up=follow_up, survey=survey) is None
    ):
        _notify_follow_up(session, follow_up=follow_up, kind="followup_new", survey=survey)
    return follow_up


def _notify_follow_up(
    session: Session,
    *,
    follow_up: FollowUp,
    kind: str,
    survey: Survey | None = None,
    user_ids: Sequence[int] | None = None,
) -> None:
    """Tell the follow-up's team (or ``user_ids``) about it, in-app and by email, once."""
    if survey is None:
        survey = session.scalar(
            select(Survey)
            .join(Response, Response.survey_id == Survey.id)
            .where(
                Response.workspace_id == follow_up.workspace_id,
                Response.id == follow_up.response_id,
            )
        )
    suffix = f":{user_ids[0]}" if kind == "followup_assigned" and user_ids else ""
    notifications.notify(
        session,
        workspace_id=follow_up.workspace_id,
        kind=kind,
        params={
            "id": follow_up.id,
            "reason": follow_up.reason,
            "team": follow_up.team,
            "survey": survey.name if survey is not None else "",
        },
        link=f"/follow-ups/{follow_up.id}",
        dedupe_key=f"{kind}:{follow_up.id}{suffix}",
        team=follow_up.team if user_ids is None else None,
        user_ids=user_ids,
    )


# Follow-ups that fell overdue longer ago than this are not announced by the overdue job (an
# import of old answers, or a job that did not run for weeks, should not page anyone).
OVERDUE_NOTICE_WINDOW = timedelta(days=7)


def notify_overdue_follow_ups(session: Session, *, now: datetime | None = None) -> int:
    """Notify, once, the assignee (else the team) of each follow-up that became overdue in the
    last week; how many follow-ups were announced. A team with more unassigned overdue
    follow-ups in one run than the burst setting hears of the first few alone and of the rest
    in one digest (a burst of answers falls overdue together)."""
    now = now or utcnow()
    told = (
        select(Notification.id)
        .where(
            Notification.workspace_id == FollowUp.workspace_id,
            Notification.dedupe_key == literal("followup_overdue:") + cast(FollowUp.id, String),
        )
        .exists()
    )
    rows = list(
        session.scalars(
            select(FollowUp)
            .where(
                FollowUp.status.not_in(CLOSED_FOLLOW_UP_STATUSES),
                FollowUp.due_at < now,
                FollowUp.due_at >= now - OVERDUE_NOTICE_WINDOW,
                FollowUp.overdue_told_at.is_(None),
                ~told,
            )
            .order_by(FollowUp.due_at, FollowUp.id)
            .limit(1000)
        )
    )
    burst = get_settings().follow_up_notice_burst
    unassigned: dict[tuple[int, str], list[FollowUp]] = {}
    for follow_up in rows:
        if follow_up.assignee_id is None:
            unassigned.setdefault((follow_up.workspace_id, follow_up.team), []).append(follow_up)
    batched: set[int] = set()
    for (workspace_id, team), group in unassigned.items():
        rest = group[burst:]
        if len(rest) < 2:  # a digest of one says no more than the notice itself
            continue
        batched.update(f.id for f in rest)
        notifications.notify(
            session,
            workspace_id=workspace_id,
            kind="followup_overdue_digest",
            params={"count": len(rest), "team": team},
            link="/follow-ups?" + urlencode({"team": team, "overdue": "1"}),
            # Two runs at once pick the same rows, so the same first id: one digest.
            dedupe_key=f"followup_overdue_digest:{rest[0].id}",
            team=team,
        )
    for follow_up in rows:
        if follow_up.id not in batched:
            _notify_follow_up(
                session,
                follow_up=follow_up,
                kind="followup_overdue",
                user_ids=[follow_up.assignee_id] if follow_up.assignee_id is not None else None,
            )
        follow_up.overdue_told_at = now
    session.flush()
    return len(rows)


def is_overdue(follow_up: FollowUp, *, now: datetime | None = None) -> bool:
    """Still open (or in progress) after its due time."""
    return follow_up.status not in CLOSED_FOLLOW_UP_STATUSES and as_utc(follow_up.due_at) < (
        now or utcnow()
    )


def list_follow_ups(
    session: Session,
    *,
    workspace_id: int,
    status: str | None = None,
    team: str | None = None,
    assignee_id: int | None = None,
    overdue: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[FollowUp], str | None]:
    """A page of the workspace's follow-ups, soonest due first (the most urgent on top), and
    the next page's cursor; ``overdue`` keeps only open ones past their due time."""
    limit = max(1, min(limit, 200))
    query = select(FollowUp).where(FollowUp.workspace_id == workspace_id)
    if status is not None:
        query = query.where(FollowUp.status == status)
    if team is not None:
        query = query.where(FollowUp.team == team)
    if assignee_id is not None:
        query = query.where(FollowUp.assignee_id == assignee_id)
    if overdue:
        query = query.where(
            FollowUp.status.not_in(CLOSED_FOLLOW_UP_STATUSES), FollowUp.due_at < utcnow()
        )
    return oldest_first(
        session, query, time=FollowUp.due_at, id=FollowUp.id, cursor=cursor, limit=limit
    )


def get_follow_up(session: Session, *, workspace_id: int, follow_up_id: int) -> FollowUp:
    """The follow-up with this id in this workspace."""
    follow_up = session.scalar(
        select(FollowUp).where(FollowUp.workspace_id == workspace_id, FollowUp.id == follow_up_id)
    )
    if follow_up is None:
        raise NotFound(f"No follow-up with id {follow_up_id}.")
    return follow_up


def update_follow_up(
    session: Session,
    *,
    follow_up: FollowUp,
    status: str | None = None,
    assignee_id: int | None = UNSET,
    note: str | None = None,
    due_at: datetime | None = None,
    actor_id: int | None = None,
) -> FollowUp:
    """Move, assign (None unassigns), annotate or reschedule a follow-up; closing it (done or
    dismissed) stamps closed_at, reopening it clears that. A new assignee other than the
    acting user (``actor_id``) is notified."""
    if status is not None:
        if status not in FOLLOW_UP_STATUSES:
            raise ValidationFailed(
                f"status must be one of {', '.join(FOLLOW_UP_STATUSES)}.",
                errors=[{"field": "status", "message": "unknown status"}],
            )
        if status in CLOSED_FOLLOW_UP_STATUSES:
            if follow_up.status not in CLOSED_FOLLOW_UP_STATUSES or follow_up.closed_at is None:
                follow_up.closed_at = utcnow()
        else:
            follow_up.closed_at = None
        follow_up.status = status
    if assignee_id is not UNSET:
        if assignee_id is not None and (
            role_in(session, user_id=assignee_id, workspace_id=follow_up.workspace_id) is None
        ):
            raise ValidationFailed(
                "The assignee must be a member of this workspace.",
                errors=[{"field": "assignee_id", "message": "not a member of this workspace"}],
            )
        previous = follow_up.assignee_id
        follow_up.assignee_id = assignee_id
        if assignee_id is not None and assignee_id not in (previous, actor_id):
            session.flush()
            _notify_follow_up(
                session, follow_up=follow_up, kind="followup_assigned", user_ids=[assignee_id]
            )
    if note is not None:
        follow_up.note = note
    if due_at is not None:
        try:
            follow_up.due_at = as_utc(due_at)
        except (OverflowError, ValueError):
            raise ValidationFailed(
                "due_at is out of range.",
                errors=[{"field": "due_at", "message": "not a representable time"}],
            ) from None
    session.flush()
    return follow_up


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


def invitation_for_token(session: Session, *, token: str) -> Invitation:
    """The invitation whose personal link carries ``token``; the token alone names it (and
    so its workspace), as a customer opening the link has nothing else."""
    invitation = session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
    )
    if invitation is None:
        raise NotFound("No invitation has that token.")
    return invitation


def response_to_invitation(session: Session, *, invitation: Invitation) -> Response | None:
    """The (partial or completed) response given to an invitation, if any."""
    return _response_for_invitation(session, invitation)


def mark_opened(session: Session, *, invitation: Invitation) -> None:
    """Record that the customer opened their link (a later status is never undone)."""
    if invitation.status in ("scheduled", "sent"):
        invitation.status = "opened"
        session.flush()


def invitation_expired(invitation: Invitation, *, now: datetime | None = None) -> bool:
    """Whether an invitation can no longer be answered for its age (the one rule)."""
    return invitation.status == "expired" or as_utc(invitation.expires_at) <= (now or utcnow())


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


@dataclass(frozen=True)
class ResponseCounts:
    completed: int
    partial: int
    last_at: datetime | None


def response_counts(
    session: Session, *, workspace_id: int, survey_ids: Sequence[int]
) -> dict[int, ResponseCounts]:
    """Completed and partial responses and the latest answer time of each listed survey."""
    if not survey_ids:
        return {}
    rows = session.execute(
        select(
            Response.survey_id,
            _count_when(Response.completed.is_(True)),
            _count_when(Response.completed.is_(False)),
            func.max(Response.submitted_at),
        )
        .where(Response.workspace_id == workspace_id, Response.survey_id.in_(set(survey_ids)))
        .group_by(Response.survey_id)
    )
    return {
        survey_id: ResponseCounts(int(done), int(partial), as_utc(last) if last else None)
        for survey_id, done, partial, last in rows
    }
