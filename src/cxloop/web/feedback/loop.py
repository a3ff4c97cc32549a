"""Closed-loop pages: the follow-up board (and one follow-up), the member's notifications with
the bell's unread count, and improvements ("you said, we did") from record to announcement."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from cxloop.accounts import service as accounts
from cxloop.accounts.access import require
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.i18n import gettext, in_zone
from cxloop.core.timeutil import parse_iso
from cxloop.feedback.followups import board as followup_board
from cxloop.feedback.followups import service as followup_service
from cxloop.feedback.improvements import announcements
from cxloop.feedback.improvements import service as improvements
from cxloop.feedback.surveys import service as survey_service
from cxloop.feedback.texts import SOURCE as SURVEY_TEXTS
from cxloop.models import FollowUp, Improvement
from cxloop.models.feedback import FOLLOW_UP_STATUSES
from cxloop.notifications import service as notifications
from cxloop.profiles.service import customers_by_ids
from cxloop.web import errors
from cxloop.web.labels import page_names
from cxloop.web.rendering import environment, redirect, render
from cxloop.web.session import Page, WebContext, flash_text, safe_next, verify_csrf
from cxloop.web.text.admin import text_tags

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

BOARD_PAGE = 30
NOTICES_PAGE = 30
LINKS_PAGE = 20
MATCHES_PAGE = 20
PLAN_NAMES = 50
MAX_ID = 2**53


def unread_notices(page: WebContext | None) -> int:
    """The bell's number: the signed-in member's unread notices in this workspace."""
    if page is None:
        return 0
    return notifications.unread_count(page.db, workspace_id=page.workspace.id, user_id=page.user.id)


# base.html shows the bell on every signed-in page.
environment.globals["unread_notices"] = unread_notices


def _error(page: WebContext, exc: ValidationFailed | Conflict | NotFound) -> None:
    flash_text(page.request, "error", errors.describe(page.locale, exc))


def _id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise NotFound(f"No record with id {value}.")
    return value


def _members(page: WebContext) -> list[tuple[int, str]]:
    rows = accounts.list_members(page.db, workspace_id=page.workspace.id, limit=200)
    return [(user.id, user.display_name or user.email) for user, _m in rows]


# --- the follow-up board -----------------------------------------------------------------------


@router.get("/follow-ups")
def board(
    page: Page,
    status: str = "open",
    team: str = "",
    assignee: str = "",
    mine: str = "",
    overdue: str = "",
    cursor: str = "",
) -> Response:
    """Follow-ups by status (tabs), filtered by team, assignee, mine or overdue; soonest due
    first, a page at a time."""
    require(page.principal, "followups:read")
    status = status if status in (*FOLLOW_UP_STATUSES, "all") else "open"
    team = team.strip()[:64]
    assignee_id = int(assignee) if assignee.isdigit() and len(assignee) < 10 else None
    if mine:
        assignee_id = page.user.id
    only_overdue = bool(overdue)
    rows, next_cursor = followup_service.list_follow_ups(
        page.db,
        workspace_id=page.workspace.id,
        status=None if status == "all" or only_overdue else status,
        team=team or None,
        assignee_id=assignee_id,
        overdue=only_overdue,
        cursor=cursor[:500] or None,
        limit=BOARD_PAGE,
    )
    counts = followup_board.status_counts(
        page.db, workspace_id=page.workspace.id, team=team or None, assignee_id=assignee_id
    )
    cards = followup_board.cards(page.db, workspace_id=page.workspace.id, follow_ups=rows)
    return render(
        page.request,
        "feedback/loop_board.html",
        page=page,
        section="follow-ups",
        cards=cards,
        tags=text_tags(
            page, source_type=SURVEY_TEXTS, source_ids=[c.response.id for c in cards if c.response]
        ),
        counts=counts,
        statuses=FOLLOW_UP_STATUSES,
        current=status,
        team=team,
        assignee=str(assignee_id) if assignee_id and not mine else "",
        mine=bool(mine),
        overdue=only_overdue,
        cursor=cursor,
        next_cursor=next_cursor,
        teams=followup_board.teams(page.db, workspace_id=page.workspace.id),
        members=_members(page),
        is_overdue=followup_service.is_overdue,
        unhappy=followup_service.unhappy_scores,
    )


def _follow_up(page: WebContext, follow_up_id: int) -> FollowUp:
    return followup_service.get_follow_up(
        page.db, workspace_id=page.workspace.id, follow_up_id=_id(follow_up_id)
    )


@router.get("/follow-ups/{follow_up_id:int}")
def follow_up_page(page: Page, follow_up_id: int) -> Response:
    """One follow-up: the answer behind it, the customer, and the form to work it."""
    require(page.principal, "followups:read")
    follow_up = _follow_up(page, follow_up_id)
    [card] = followup_board.cards(page.db, workspace_id=page.workspace.id, follow_ups=[follow_up])
    return render(
        page.request,
        "feedback/loop_follow_up.html",
        page=page,
        section="follow-ups",
        card=card,
        tags=text_tags(
            page, source_type=SURVEY_TEXTS, source_ids=[card.response.id] if card.response else []
        ),
        statuses=FOLLOW_UP_STATUSES,
        members=_members(page),
        overdue=followup_service.is_overdue(follow_up),
        unhappy=followup_service.unhappy_scores,
    )


@router.post("/follow-ups/{follow_up_id:int}")
def update_follow_up(
    page: Page,
    follow_up_id: int,
    status: Annotated[str | None, Form()] = None,
    assignee: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
    next_url: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Change a follow-up's status, assignee or note (the fields the form sent)."""
    require(page.principal, "followups:write")
    follow_up = _follow_up(page, follow_up_id)
    try:
        assignee_id: Any = followup_service.UNSET
        if assignee is not None:
            if assignee and not (assignee.isdigit() and len(assignee) < 10):
                raise ValidationFailed("The assignee must be a member of this workspace.")
            assignee_id = int(assignee) if assignee else None
        if note is not None and len(note) > 5000:
            raise ValidationFailed("The note is too long (at most 5,000 characters).")
        with page.db.begin_nested():
            followup_service.update_follow_up(
                page.db,
                follow_up=follow_up,
                status=status or None,
                assignee_id=assignee_id,
                note=note.replace("\x00", "") if note is not None else None,
                actor_id=page.user.id,
            )
    except ValidationFailed as exc:
        _error(page, exc)
    else:
        page.flash("success", "loop.followup.saved", id=follow_up.id)
    return redirect(safe_next(next_url, f"/follow-ups/{follow_up.id}"))


# --- notifications -----------------------------------------------------------------------------


@router.get("/notifications")
def notification_list(page: Page, unread: str = "", cursor: str = "") -> Response:
    """The member's notices, newest first, unread ones marked."""
    require(page.principal, "notifications:read")
    rows, next_cursor = notifications.list_notifications(
        page.db,
        workspace_id=page.workspace.id,
        user_id=page.user.id,
        unread_only=bool(unread),
        cursor=cursor[:500] or None,
        limit=NOTICES_PAGE,
    )
    return render(
        page.request,
        "feedback/loop_notifications.html",
        page=page,
        section="notifications",
        rows=[
            (n, notifications.render_notice(n.kind, n.params, page.locale, page_names(page)))
            for n in rows
        ],
        unread=bool(unread),
        cursor=cursor,
        next_cursor=next_cursor,
    )


@router.get("/notifications/{notification_id:int}")
def open_notification(page: Page, notification_id: int) -> Response:
    """Follow a notice to what it is about; it counts as read."""
    require(page.principal, "notifications:read")
    notice = notifications.mark_read(
        page.db,
        workspace_id=page.workspace.id,
        user_id=page.user.id,
        notification_id=_id(notification_id),
    )
    return redirect(safe_next(notice.link, "/notifications"))


@router.post("/notifications/{notification_id:int}/read")
def read_notification(
    page: Page, notification_id: int, next_url: Annotated[str, Form(alias="next")] = ""
) -> Response:
    require(page.principal, "notifications:read")
    notifications.mark_read(
        page.db,
        workspace_id=page.workspace.id,
        user_id=page.user.id,
        notification_id=_id(notification_id),
    )
    return redirect(safe_next(next_url, "/notifications"))


@router.post("/notifications/read-all")
def read_all_notifications(page: Page) -> Response:
    require(page.principal, "notifications:read")
    count = notifications.mark_all_read(
        page.db, workspace_id=page.workspace.id, user_id=page.user.id
    )
    page.flash("info", "loop.notices.all_read", n=count)
    return redirect("/notifications")


# --- improvements ------------------------------------------------------------------------------


@router.get("/improvements")
def improvement_list(page: Page, cursor: str = "") -> Response:
    """The workspace's improvements, newest first, with how many customers each has told."""
    require(page.principal, "improvements:read")
    rows, next_cursor = improvements.list_improvements(
        page.db, workspace_id=page.workspace.id, cursor=cursor[:500] or None
    )
    counts = improvements.link_counts(
        page.db, workspace_id=page.workspace.id, improvement_ids=[r.id for r in rows]
    )
    return render(
        page.request,
        "feedback/loop_improvements.html",
        page=page,
        section="improvements",
        rows=[(r, counts.get(r.id, improvements.LinkCounts())) for r in rows],
        cursor=cursor,
        next_cursor=next_cursor,
        text_in=improvements.text_in,
    )


def _form_page(
    page: WebContext,
    *,
    improvement: Improvement | None,
    form: dict[str, str],
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        page.request,
        "feedback/loop_improvement_form.html",
        page=page,
        section="improvements",
        improvement=improvement,
        form=form,
        error=error,
        status=status,
    )


TextField = Annotated[str, Form()]


@router.get("/improvements/new")
def new_improvement(page: Page) -> Response:
    require(page.principal, "improvements:write")
    blank = {"title_ko": "", "title_en": "", "body_ko": "", "body_en": ""}
    return _form_page(page, improvement=None, form=blank)


@router.post("/improvements")
def create_improvement(
    page: Page,
    title_ko: TextField = "",
    title_en: TextField = "",
    body_ko: TextField = "",
    body_en: TextField = "",
) -> Response:
    """Record an improvement; its page then picks the responses it answers."""
    require(page.principal, "improvements:write")
    form = {"title_ko": title_ko, "title_en": title_en, "body_ko": body_ko, "body_en": body_en}
    try:
        with page.db.begin_nested():
            improvement = improvements.create_improvement(
                page.db, workspace_id=page.workspace.id, created_by_id=page.user.id, **form
            )
    except ValidationFailed as exc:
        return _form_page(
            page,
            improvement=None,
            form=form,
            error=_field_errors(page, exc),
            status=422,
        )
    page.flash("success", "loop.improvement.created")
    return redirect(f"/improvements/{improvement.id}")


def _field_errors(page: WebContext, exc: ValidationFailed) -> str:
    """The errors of a form in the user's language, each after its field's label."""
    if not exc.errors:
        return errors.describe(page.locale, exc)
    shown = []
    for error in exc.errors:
        label = FIELD_LABELS.get(str(error.get("field", "")))
        text = errors.field_message(page.locale, error)
        shown.append(f"{page.t(label)}: {text}" if label else text)
    return " ".join(shown)


def _improvement(page: WebContext, improvement_id: int) -> Improvement:
    return improvements.get_improvement(
        page.db, workspace_id=page.workspace.id, improvement_id=_id(improvement_id)
    )


@router.get("/improvements/{improvement_id:int}/edit")
def edit_improvement(page: Page, improvement_id: int) -> Response:
    require(page.principal, "improvements:write")
    improvement = _improvement(page, improvement_id)
    form = {
        "title_ko": improvement.title_ko,
        "title_en": improvement.title_en,
        "body_ko": improvement.body_ko,
        "body_en": improvement.body_en,
    }
    return _form_page(page, improvement=improvement, form=form)


@router.post("/improvements/{improvement_id:int}/edit")
def save_improvement(
    page: Page,
    improvement_id: int,
    title_ko: TextField = "",
    title_en: TextField = "",
    body_ko: TextField = "",
    body_en: TextField = "",
) -> Response:
    require(page.principal, "improvements:write")
    improvement = _improvement(page, improvement_id)
    form = {"title_ko": title_ko, "title_en": title_en, "body_ko": body_ko, "body_en": body_en}
    try:
        with page.db.begin_nested():
            improvements.update_improvement(page.db, improvement=improvement, **form)
    except ValidationFailed as exc:
        page.db.refresh(improvement)
        return _form_page(
            page, improvement=improvement, form=form, error=_field_errors(page, exc), status=422
        )
    page.flash("success", "loop.improvement.saved")
    return redirect(f"/improvements/{improvement.id}")


CRITERIA_LABELS = {
    "survey": "loop.improvement.survey",
    "metric": "loop.improvement.metric",
    "score_min": "loop.improvement.score_min",
    "score_max": "loop.improvement.score_max",
    "words": "loop.improvement.words",
    "since": "loop.improvement.since",
    "until": "loop.improvement.until",
}
# The form labels of the fields an improvement's errors name (the filter's, by their names in
# the service's errors, and the improvement's own texts).
FIELD_LABELS = {
    "title_ko": "loop.improvement.title_field",
    "title_en": "loop.improvement.title_field_en",
    "body_ko": "loop.improvement.body_field",
    "body_en": "loop.improvement.body_field_en",
    **{("survey_id" if key == "survey" else key): label for key, label in CRITERIA_LABELS.items()},
}


def _criteria_parts(
    page: WebContext, criteria: dict[str, Any], surveys: list[Any]
) -> list[tuple[str, str]]:
    """The filter an improvement's responses were linked by, as (label, value) pairs in the
    reader's language (dates in the workspace's time zone)."""
    names = {s.id: s.name for s in surveys}
    zone = ZoneInfo(page.workspace.timezone or "Asia/Seoul")

    def label(name: str) -> str:
        return gettext(page.locale, CRITERIA_LABELS[name])

    parts: list[tuple[str, str]] = []
    if isinstance(criteria.get("survey_id"), int):
        survey_id = criteria["survey_id"]
        parts.append((label("survey"), names.get(survey_id, f"#{survey_id}")))
    if criteria.get("metric"):
        parts.append((label("metric"), str(criteria["metric"]).upper()))
    for name in ("score_min", "score_max"):
        if criteria.get(name) is not None:
            parts.append((label(name), str(criteria[name])))
    if criteria.get("words"):
        words = criteria["words"]
        parts.append((label("words"), ", ".join(words) if isinstance(words, list) else str(words)))
    for name in ("since", "until"):
        if criteria.get(name):
            try:
                moment = in_zone(parse_iso(str(criteria[name])), zone)
                parts.append((label(name), moment.date().isoformat()))
            except ValueError:
                parts.append((label(name), str(criteria[name])))
    return parts


# The response filter's fields, trimmed to what each can hold (query string and form alike).
FILTER_FIELD_LENGTHS = {
    "survey_id": 12,
    "metric": 8,
    "score_min": 6,
    "score_max": 6,
    "words": 300,
    "since": 40,
    "until": 40,
}


def _filter_fields(**fields: str) -> dict[str, str]:
    return {name: fields[name].strip()[:size] for name, size in FILTER_FIELD_LENGTHS.items()}


@router.get("/improvements/{improvement_id:int}")
def improvement_page(
    page: Page,
    improvement_id: int,
    survey_id: str = "",
    metric: str = "",
    score_min: str = "",
    score_max: str = "",
    words: str = "",
    since: str = "",
    until: str = "",
    match_cursor: str = "",
    links_cursor: str = "",
) -> Response:
    """An improvement: its texts, responses to pick by filter (the matching verbatims with
    their count) or by hand, the linked responses and who was told by which channel."""
    require(page.principal, "improvements:read")
    improvement = _improvement(page, improvement_id)
    db, workspace_id = page.db, page.workspace.id
    raw = _filter_fields(
        survey_id=survey_id,
        metric=metric,
        score_min=score_min,
        score_max=score_max,
        words=words,
        since=since,
        until=until,
    )
    filtering = any(raw.values())
    matches: list[Any] = []
    match_count = 0
    match_next = None
    filter_error = None
    if filtering:
        try:
            criteria = improvements.parse_criteria(
                db, workspace_id=workspace_id, raw={k: v for k, v in raw.items() if v}
            )
            match_count = improvements.count_matching(
                db, workspace_id=workspace_id, criteria=criteria
            )
            matches, match_next = improvements.matching_responses(
                db,
                workspace_id=workspace_id,
                criteria=criteria,
                cursor=match_cursor[:500] or None,
                limit=MATCHES_PAGE,
            )
        except ValidationFailed as exc:
            filter_error = _field_errors(page, exc)
            filtering = False
    links, links_next = improvements.linked_responses(
        db, improvement=improvement, cursor=links_cursor[:500] or None, limit=LINKS_PAGE
    )
    counts = improvements.link_counts(
        db, workspace_id=workspace_id, improvement_ids=[improvement.id]
    )
    surveys, _ = survey_service.list_surveys(db, workspace_id=workspace_id, limit=200)
    return render(
        page.request,
        "feedback/loop_improvement.html",
        page=page,
        section="improvements",
        improvement=improvement,
        title_body=improvements.text_in(improvement, page.locale),
        counts=counts.get(improvement.id, improvements.LinkCounts()),
        told=announcements.told_by_channel(db, improvement=improvement),
        raw=raw,
        filtering=filtering,
        filter_error=filter_error,
        matches=matches,
        match_count=match_count,
        match_next=match_next,
        match_cursor=match_cursor,
        links=links,
        link_customers=customers_by_ids(
            db, workspace_id=workspace_id, ids=[link.customer_id for link, _ in links]
        ),
        links_next=links_next,
        links_cursor=links_cursor,
        surveys=surveys,
        criteria=_criteria_parts(page, improvement.criteria or {}, surveys),
        metrics=improvements.METRICS,
    )


@router.post("/improvements/{improvement_id:int}/link-filter")
def link_by_filter(
    page: Page,
    improvement_id: int,
    survey_id: TextField = "",
    metric: TextField = "",
    score_min: TextField = "",
    score_max: TextField = "",
    words: TextField = "",
    since: TextField = "",
    until: TextField = "",
) -> Response:
    """Link every response the filter picks; the filter is kept on the improvement."""
    require(page.principal, "improvements:write")
    improvement = _improvement(page, improvement_id)
    raw = _filter_fields(
        survey_id=survey_id,
        metric=metric,
        score_min=score_min,
        score_max=score_max,
        words=words,
        since=since,
        until=until,
    )
    try:
        with page.db.begin_nested():
            criteria = improvements.parse_criteria(
                page.db, workspace_id=page.workspace.id, raw={k: v for k, v in raw.items() if v}
            )
            linked = improvements.link_by_filter(
                page.db, improvement=improvement, criteria=criteria
            )
    except ValidationFailed as exc:
        flash_text(page.request, "error", _field_errors(page, exc))
    else:
        page.flash("success", "loop.improvement.linked", n=linked)
    return redirect(f"/improvements/{improvement.id}#linked")


@router.post("/improvements/{improvement_id:int}/link")
def link_by_hand(page: Page, improvement_id: int, response_ids: TextField = "") -> Response:
    """Link responses by their ids (separated by commas or spaces)."""
    require(page.principal, "improvements:write")
    improvement = _improvement(page, improvement_id)
    parts = [p for p in response_ids.replace(",", " ").split() if p]
    try:
        if not parts or not all(p.isdigit() and len(p) < 17 for p in parts):
            raise ValidationFailed("Give response ids as numbers separated by commas.")
        with page.db.begin_nested():
            linked = improvements.link_responses(
                page.db, improvement=improvement, response_ids=[int(p) for p in parts]
            )
    except ValidationFailed as exc:
        _error(page, exc)
    else:
        page.flash("success", "loop.improvement.linked", n=linked)
    return redirect(f"/improvements/{improvement.id}#linked")


@router.post("/improvements/{improvement_id:int}/unlink/{response_id:int}")
def unlink(page: Page, improvement_id: int, response_id: int) -> Response:
    require(page.principal, "improvements:write")
    improvement = _improvement(page, improvement_id)
    try:
        with page.db.begin_nested():
            improvements.unlink_response(
                page.db, improvement=improvement, response_id=_id(response_id)
            )
    except (Conflict, NotFound) as exc:
        _error(page, exc)
    else:
        page.flash("success", "loop.improvement.unlinked", id=response_id)
    return redirect(f"/improvements/{improvement.id}#linked")


@router.get("/improvements/{improvement_id:int}/announce")
def announce_form(page: Page, improvement_id: int) -> Response:
    """Before telling anyone: who will be told by email, who only in the widget, who not."""
    require(page.principal, "improvements:announce")
    improvement = _improvement(page, improvement_id)
    plan = announcements.announcement_plan(page.db, improvement=improvement)
    return render(
        page.request,
        "feedback/loop_announce.html",
        page=page,
        section="improvements",
        improvement=improvement,
        title_body=improvements.text_in(improvement, page.locale),
        plan=plan,
        shown=PLAN_NAMES,
    )


@router.post("/improvements/{improvement_id:int}/announce")
def announce(page: Page, improvement_id: int) -> Response:
    """Tell the customers; nobody is told twice however often this is sent."""
    require(page.principal, "improvements:announce")
    improvement = _improvement(page, improvement_id)
    try:
        with page.db.begin_nested():
            result = announcements.announce(
                page.db, improvement=improvement, principal=page.principal
            )
    except ValidationFailed as exc:
        _error(page, exc)
        return redirect(f"/improvements/{improvement.id}")
    page.flash(
        "success", "loop.improvement.announced", emailed=result.emailed, widget=result.widget_only
    )
    return redirect(f"/improvements/{improvement.id}#told")
