"""Improvements, "you said, we did": a record of what changed (in Korean and English), linked to
the responses that asked for it (by hand or by a saved filter), with how many responses and
customers each one has and how many of them were told."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.i18n import normalise_locale
from cxloop.core.pagination import newest_first
from cxloop.core.timeutil import as_utc, parse_iso, utcnow
from cxloop.models import (
    Improvement,
    ImprovementLink,
    Response,
    Survey,
)
from cxloop.models.base import UTCDateTime, table_of

METRICS = ("nps", "csat", "ces")
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
MAX_WORDS = 5
MAX_WORD_LENGTH = 50
# Linking by filter stops at this many responses: a broader filter is almost surely a mistake.
MAX_LINK_BY_FILTER = 10_000
MAX_LINK_BY_HAND = 500
TITLE_LENGTH = 200
BODY_LENGTH = 5000


# --- the record --------------------------------------------------------------------------------


def _code(code: str, **params: Any) -> dict[str, Any]:
    """The code and parameters a page needs to say a field's problem in its reader's language."""
    return {"code": code, "params": params}


def _check_texts(
    title_ko: str, title_en: str, body_ko: str, body_en: str
) -> tuple[str, str, str, str]:
    errors = []
    texts = [t.strip() for t in (title_ko, title_en, body_ko, body_en)]
    for name, value, limit in zip(
        ("title_ko", "title_en", "body_ko", "body_en"),
        texts,
        (TITLE_LENGTH, TITLE_LENGTH, BODY_LENGTH, BODY_LENGTH),
        strict=True,
    ):
        if len(value) > limit:
            errors.append(
                {"field": name, "message": f"must be at most {limit} characters"}
                | _code("value.string_too_long", max_length=limit)
            )
        elif "\x00" in value:
            errors.append(
                {"field": name, "message": "must not contain NUL characters"} | _code("nul")
            )
    if not texts[0] and not texts[1]:
        errors.append(
            {"field": "title_ko", "message": "give a title in Korean or English"}
            | _code("improvement_title")
        )
    if not texts[2] and not texts[3]:
        errors.append(
            {"field": "body_ko", "message": "say what changed, in Korean or English"}
            | _code("improvement_body")
        )
    if errors:
        raise ValidationFailed("The improvement is incomplete or too long.", errors=errors)
    return texts[0], texts[1], texts[2], texts[3]


def create_improvement(
    session: Session,
    *,
    workspace_id: int,
    title_ko: str = "",
    title_en: str = "",
    body_ko: str = "",
    body_en: str = "",
    created_by_id: int | None = None,
) -> Improvement:
    """Record an improvement (a title and a text in Korean, English or both)."""
    title_ko, title_en, body_ko, body_en = _check_texts(title_ko, title_en, body_ko, body_en)
    improvement = Improvement(
        workspace_id=workspace_id,
        title_ko=title_ko,
        title_en=title_en,
        body_ko=body_ko,
        body_en=body_en,
        created_by_id=created_by_id,
        criteria={},
    )
    session.add(improvement)
    session.flush()
    return improvement


def update_improvement(
    session: Session,
    *,
    improvement: Improvement,
    title_ko: str | None = None,
    title_en: str | None = None,
    body_ko: str | None = None,
    body_en: str | None = None,
) -> Improvement:
    """Change an improvement's texts (customers told already keep what they were told)."""
    texts = _check_texts(
        improvement.title_ko if title_ko is None else title_ko,
        improvement.title_en if title_en is None else title_en,
        improvement.body_ko if body_ko is None else body_ko,
        improvement.body_en if body_en is None else body_en,
    )
    (improvement.title_ko, improvement.title_en, improvement.body_ko, improvement.body_en) = texts
    session.flush()
    return improvement


def get_improvement(session: Session, *, workspace_id: int, improvement_id: int) -> Improvement:
    """The improvement with this id in this workspace."""
    improvement = session.scalar(
        select(Improvement).where(
            Improvement.workspace_id == workspace_id, Improvement.id == improvement_id
        )
    )
    if improvement is None:
        raise NotFound(f"No improvement with id {improvement_id}.")
    return improvement


def list_improvements(
    session: Session, *, workspace_id: int, cursor: str | None = None, limit: int = 30
) -> tuple[list[Improvement], str | None]:
    """A page of the workspace's improvements, newest first, and the next page's cursor."""
    limit = max(1, min(limit, 200))
    return newest_first(
        session,
        select(Improvement).where(Improvement.workspace_id == workspace_id),
        time=Improvement.created_at,
        id=Improvement.id,
        cursor=cursor,
        limit=limit,
    )


@dataclass(frozen=True)
class LinkCounts:
    responses: int = 0
    customers: int = 0
    told: int = 0  # customers told by any channel


def link_counts(
    session: Session, *, workspace_id: int, improvement_ids: Iterable[int]
) -> dict[int, LinkCounts]:
    """Per improvement: linked responses, distinct customers, and customers told."""
    ids = set(improvement_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(
            ImprovementLink.improvement_id,
            func.count(),
            func.count(func.distinct(ImprovementLink.customer_id)),
        )
        .where(
            ImprovementLink.workspace_id == workspace_id, ImprovementLink.improvement_id.in_(ids)
        )
        .group_by(ImprovementLink.improvement_id)
    ).all()
    told_rows: dict[int, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(
                ImprovementLink.improvement_id,
                func.count(func.distinct(ImprovementLink.customer_id)),
            )
            .where(
                ImprovementLink.workspace_id == workspace_id,
                ImprovementLink.improvement_id.in_(ids),
                ImprovementLink.notified_at.is_not(None),
            )
            .group_by(ImprovementLink.improvement_id)
        ).all()
    )
    return {
        int(i): LinkCounts(responses=int(n), customers=int(c), told=int(told_rows.get(i, 0)))
        for i, n, c in rows
    }


def text_in(improvement: Improvement, locale: str) -> tuple[str, str]:
    """Title and body in ``locale``, the other language where that one is empty."""
    if normalise_locale(locale) == "en":
        return (
            improvement.title_en or improvement.title_ko,
            improvement.body_en or improvement.body_ko,
        )
    return (
        improvement.title_ko or improvement.title_en,
        improvement.body_ko or improvement.body_en,
    )


# --- picking responses -------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseCriteria:
    """Which completed responses an improvement answers: a survey, a score range of one
    metric, words the comment contains (all of them), a period of submission."""

    survey_id: int | None = None
    metric: str | None = None
    score_min: int | None = None
    score_max: int | None = None
    words: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def is_empty(self) -> bool:
        return self == ResponseCriteria()

    def as_json(self) -> dict[str, Any]:
        """What is kept in Improvement.criteria."""
        out: dict[str, Any] = {}
        for name in ("survey_id", "metric", "score_min", "score_max"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.words:
            out["words"] = list(self.words)
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                out[name] = as_utc(value).isoformat()
        return out


def parse_criteria(
    session: Session, *, workspace_id: int, raw: Mapping[str, Any]
) -> ResponseCriteria:
    """Check a filter (as sent by the API or kept in Improvement.criteria); field-level 422s."""
    errors: list[dict[str, Any]] = []

    def as_int(name: str) -> int | None:
        value = raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            errors.append(
                {"field": name, "message": "must be a whole number"} | _code("value.int_parsing")
            )
            return None
        try:
            number = int(value)
        except ValueError:
            errors.append(
                {"field": name, "message": "must be a whole number"} | _code("value.int_parsing")
            )
            return None
        if not -(2**31) < number < 2**31:
            errors.append({"field": name, "message": "out of range"} | _code("out_of_range"))
            return None
        return number

    def as_time(name: str) -> datetime | None:
        value = raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return as_utc(value)
        if not isinstance(value, str):
            errors.append({"field": name, "message": "must be an ISO date or time"} | _code("date"))
            return None
        try:
            return parse_iso(value if "T" in value or " " in value else f"{value}T00:00:00+09:00")
        except (ValueError, OverflowError):
            errors.append({"field": name, "message": "must be an ISO date or time"} | _code("date"))
            return None

    survey_id = as_int("survey_id")
    survey: Survey | None = None
    if survey_id is not None:
        survey = session.scalar(
            select(Survey).where(Survey.workspace_id == workspace_id, Survey.id == survey_id)
        )
        if survey is None:
            errors.append(
                {"field": "survey_id", "message": "no such survey in this workspace"}
                | _code("no_survey")
            )
    metric = raw.get("metric") or None
    score_min, score_max = as_int("score_min"), as_int("score_max")
    if metric is not None and metric not in METRICS:
        errors.append(
            {"field": "metric", "message": "must be nps, csat or ces"}
            | _code("value.literal_error", expected="NPS, CSAT, CES")
        )
        metric = None
    if (score_min is not None or score_max is not None) and metric is None:
        if survey is not None and survey.kind in METRICS:
            metric = survey.kind
        elif not any(e["field"] == "metric" for e in errors):
            errors.append(
                {"field": "metric", "message": "say which score the range is of"}
                | _code("range_metric")
            )
    if metric is not None:
        low, high = SCORE_RANGES[metric]
        for name, value in (("score_min", score_min), ("score_max", score_max)):
            if value is not None and not low <= value <= high:
                errors.append(
                    {"field": name, "message": f"must be {low} to {high} for {metric}"}
                    | _code("score_range", low=low, high=high, metric=metric.upper())
                )
        if score_min is not None and score_max is not None and score_min > score_max:
            errors.append(
                {"field": "score_max", "message": "must not be below score_min"}
                | _code("range_order")
            )
    raw_words = raw.get("words")
    if isinstance(raw_words, str):
        raw_words = raw_words.split()
    words: list[str] = []
    if raw_words is not None:
        if not isinstance(raw_words, list) or not all(isinstance(w, str) for w in raw_words):
            errors.append(
                {"field": "words", "message": "must be a list of words"} | _code("words_list")
            )
        else:
            words = [w.strip() for w in raw_words if w.strip()]
            if len(words) > MAX_WORDS:
                errors.append(
                    {"field": "words", "message": f"at most {MAX_WORDS} words"}
                    | _code("value.too_long", max_length=MAX_WORDS)
                )
            elif any(len(w) > MAX_WORD_LENGTH or "\x00" in w for w in words):
                errors.append(
                    {"field": "words", "message": f"each word at most {MAX_WORD_LENGTH} characters"}
                    | _code("word_long", n=MAX_WORD_LENGTH)
                )
    since, until = as_time("since"), as_time("until")
    if since is not None and until is not None and since >= until:
        errors.append({"field": "until", "message": "must be after since"} | _code("until_after"))
    unknown = set(raw) - {
        "survey_id",
        "metric",
        "score_min",
        "score_max",
        "words",
        "since",
        "until",
    }
    errors.extend(
        {"field": name, "message": "not a filter"} | _code("value.extra_forbidden")
        for name in sorted(unknown)
    )
    if errors:
        raise ValidationFailed("The response filter is invalid.", errors=errors)
    return ResponseCriteria(
        survey_id=survey_id,
        metric=metric,
        score_min=score_min,
        score_max=score_max,
        words=tuple(dict.fromkeys(words)),
        since=since,
        until=until,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matching(workspace_id: int, criteria: ResponseCriteria) -> Select[tuple[Response]]:
    query = select(Response).where(
        Response.workspace_id == workspace_id, Response.completed.is_(True)
    )
    if criteria.survey_id is not None:
        query = query.where(Response.survey_id == criteria.survey_id)
    if criteria.metric is not None:
        column = {"nps": Response.nps, "csat": Response.csat, "ces": Response.ces}[criteria.metric]
        if criteria.score_min is not None:
            query = query.where(column >= criteria.score_min)
        if criteria.score_max is not None:
            query = query.where(column <= criteria.score_max)
    for word in criteria.words:
        query = query.where(Response.comment.ilike(f"%{_escape_like(word)}%", escape="\\"))
    if criteria.since is not None:
        query = query.where(Response.submitted_at >= criteria.since)
    if criteria.until is not None:
        query = query.where(Response.submitted_at < criteria.until)
    return query


def count_matching(session: Session, *, workspace_id: int, criteria: ResponseCriteria) -> int:
    """How many completed responses the filter picks."""
    query = _matching(workspace_id, criteria).with_only_columns(func.count()).order_by(None)
    return int(session.scalar(query) or 0)


def matching_responses(
    session: Session,
    *,
    workspace_id: int,
    criteria: ResponseCriteria,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[Response], str | None]:
    """A page of the responses the filter picks, newest first."""
    limit = max(1, min(limit, 200))
    return newest_first(
        session,
        _matching(workspace_id, criteria),
        time=Response.submitted_at,
        id=Response.id,
        cursor=cursor,
        limit=limit,
    )


def link_by_filter(
    session: Session, *, improvement: Improvement, criteria: ResponseCriteria
) -> int:
    """Link every response the filter picks (those not linked yet) and keep the filter in
    Improvement.criteria; how many were linked now."""
    if criteria.is_empty():
        raise ValidationFailed(
            "Give at least one condition; linking every response is never what was meant.",
            errors=[{"field": "criteria", "message": "empty filter"} | _code("filter_empty")],
        )
    workspace_id = improvement.workspace_id
    total = count_matching(session, workspace_id=workspace_id, criteria=criteria)
    if total > MAX_LINK_BY_FILTER:
        raise ValidationFailed(
            f"The filter picks {total} responses; narrow it to at most {MAX_LINK_BY_FILTER}.",
            errors=[
                {"field": "criteria", "message": "picks too many responses"}
                | _code("filter_many", n=total, max=MAX_LINK_BY_FILTER)
            ],
        )
    already = exists().where(
        ImprovementLink.improvement_id == improvement.id,
        ImprovementLink.response_id == Response.id,
    )
    picked = (
        _matching(workspace_id, criteria)
        .where(~already)
        .with_only_columns(
            literal(workspace_id),
            literal(improvement.id),
            Response.id,
            Response.customer_id,
            literal(utcnow(), UTCDateTime()),
        )
    )
    # RETURNING counts the new links on every backend (rowcount of INSERT … SELECT is not
    # reported by every driver).
    linked = len(
        session.execute(
            insert(table_of(ImprovementLink))
            .from_select(
                ["workspace_id", "improvement_id", "response_id", "customer_id", "created_at"],
                picked,
            )
            .returning(table_of(ImprovementLink).c.id)
        ).all()
    )
    improvement.criteria = criteria.as_json()
    session.flush()
    return linked


def link_responses(
    session: Session, *, improvement: Improvement, response_ids: Sequence[int]
) -> int:
    """Link responses picked by hand (ids of this workspace's responses); how many were new."""
    ids = list(dict.fromkeys(response_ids))
    if not ids:
        raise ValidationFailed(
            "Name at least one response.",
            errors=[{"field": "response_ids", "message": "empty"}],
        )
    if len(ids) > MAX_LINK_BY_HAND:
        raise ValidationFailed(
            f"Link at most {MAX_LINK_BY_HAND} responses by hand at once.",
            errors=[{"field": "response_ids", "message": "too many"}],
        )
    found: dict[int, int | None] = dict(
        session.execute(  # type: ignore[arg-type]
            select(Response.id, Response.customer_id).where(
                Response.workspace_id == improvement.workspace_id, Response.id.in_(ids)
            )
        ).all()
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationFailed(
            f"No response with id {', '.join(map(str, missing[:10]))} in this workspace.",
            errors=[
                {"field": f"response_ids.{ids.index(i)}", "message": "no such response"}
                for i in missing
            ],
        )
    linked = set(
        session.scalars(
            select(ImprovementLink.response_id).where(
                ImprovementLink.workspace_id == improvement.workspace_id,
                ImprovementLink.improvement_id == improvement.id,
                ImprovementLink.response_id.in_(ids),
            )
        )
    )
    new = [i for i in ids if i not in linked]
    for response_id in new:
        session.add(
            ImprovementLink(
                workspace_id=improvement.workspace_id,
                improvement_id=improvement.id,
                response_id=response_id,
                customer_id=found[response_id],
            )
        )
    session.flush()
    return len(new)


def unlink_response(session: Session, *, improvement: Improvement, response_id: int) -> None:
    """Remove a linked response whose customer has not been told yet."""
    link = session.scalar(
        select(ImprovementLink).where(
            ImprovementLink.workspace_id == improvement.workspace_id,
            ImprovementLink.improvement_id == improvement.id,
            ImprovementLink.response_id == response_id,
        )
    )
    if link is None:
        raise NotFound(f"Response {response_id} is not linked to this improvement.")
    if link.notified_at is not None or link.widget_shown_at is not None:
        raise Conflict(
            "This response's customer has been told already; the link stays as the record."
        )
    session.delete(link)
    session.flush()


def linked_responses(
    session: Session,
    *,
    improvement: Improvement,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[tuple[ImprovementLink, Response]], str | None]:
    """A page of the improvement's links with their responses, newest link first."""
    limit = max(1, min(limit, 200))
    links, next_cursor = newest_first(
        session,
        select(ImprovementLink).where(
            ImprovementLink.workspace_id == improvement.workspace_id,
            ImprovementLink.improvement_id == improvement.id,
        ),
        time=ImprovementLink.created_at,
        id=ImprovementLink.id,
        cursor=cursor,
        limit=limit,
    )
    responses = {
        r.id: r
        for r in session.scalars(
            select(Response).where(
                Response.workspace_id == improvement.workspace_id,
                Response.id.in_({link.response_id for link in links}),
            )
        )
    }
    return [(link, responses[link.response_id]) for link in links], next_cursor
