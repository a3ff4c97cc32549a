"""Segment pages (/insights/segments): the list (active and archived, by name, in cursor
pages), the builder (rows of conditions drawn by segment-builder.js over the rule's JSON, with
a live count and sample from the preview route; without the script the JSON is edited and
previewed by the form itself), and a segment's page: its rule in words, members, trend, CSV,
refresh, archive and restore. A list segment (a fixed snapshot saved from a funnel step) shows
where its members came from instead of a rule, is never edited or refreshed, and is deleted."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse

from cxloop.accounts.access import require
from cxloop.core.csvfile import csv_chunks
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.http import JSONBytesResponse, database_of
from cxloop.insights.rfm import CELL_KEYS, cell_name
from cxloop.insights.segments import service as segments
from cxloop.models import Customer, Segment
from cxloop.web import errors
from cxloop.web.care.routing import PostedForm
from cxloop.web.charts import interval_trend_chart
from cxloop.web.exports import column_names
from cxloop.web.insights.rule_form import (
    builder_spec,
    read_rule,
    rule_problems,
    rule_summary,
)
from cxloop.web.rendering import customer_label, redirect, render, zone
from cxloop.web.session import Page, WebContext, flash_text, verify_csrf

router = APIRouter(prefix="/insights", include_in_schema=False, dependencies=[Depends(verify_csrf)])

LIST_PAGE = 50
MEMBERS_PAGE = 50
SAMPLE = 10
TREND_DAYS = 90
MAX_ID = 2**31 - 1
EMPTY_RULE = '{\n  "type": "all",\n  "rules": []\n}'
# As the API exports members (insights.api), so both files read alike.
MEMBER_CSV_HEADER = ("customer_id", "user_id", "name", "email", "phone", "entered_at")
IN_USE = re.compile(r"^Segments (?P<names>.+) use this one")


@dataclass
class SegmentForm:
    """The builder's fields as typed (text, so a refused rule is shown as it was)."""

    name: str = ""
    description: str = ""
    rule: str = EMPTY_RULE
    problems: list[dict[str, str]] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class PreviewView:
    count: int
    sample: list[Customer]
    description: str


def _load(page: WebContext, segment_id: int) -> Segment:
    if not 0 < segment_id <= MAX_ID:
        raise NotFound("No such segment.")
    return segments.get_segment(page.db, workspace_id=page.workspace.id, segment_id=segment_id)


def _rule_text(rule: dict[str, Any]) -> str:
    return json.dumps(rule, ensure_ascii=False, indent=2)


def _segment_id_of(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 11 else None


def _text(form: Any, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


# --- the list ----------------------------------------------------------------------------------


@router.get("")
def insights_home(page: Page) -> Response:
    require(page.principal, "insights:read")
    return redirect("/insights/segments")


@router.get("/segments")
def segment_list(page: Page, archived: str = "", cursor: str = "") -> Response:
    """The workspace's segments by name, with their member counts; archived ones on a tab."""
    require(page.principal, "insights:read")
    shown_archived = archived == "1"
    rows, next_cursor = segments.list_segments(
        page.db,
        workspace_id=page.workspace.id,
        archived=shown_archived,
        cursor=cursor[:500] or None,
        limit=LIST_PAGE,
    )
    return render(
        page.request,
        "insights/segments.html",
        page=page,
        section="insights",
        insights_tab="segments",
        rows=rows,
        archived=shown_archived,
        cursor=cursor,
        next_cursor=next_cursor,
    )


# --- the builder -------------------------------------------------------------------------------


def _builder(
    page: WebContext,
    *,
    form: SegmentForm,
    segment: Segment | None,
    preview: PreviewView | None = None,
    status: int = 200,
) -> Response:
    choices, _ = segments.list_segments(page.db, workspace_id=page.workspace.id, limit=500)
    others = [s for s in choices if segment is None or s.id != segment.id]
    return render(
        page.request,
        "insights/segment_builder.html",
        page=page,
        section="insights",
        insights_tab="segments",
        status=status,
        form=form,
        segment=segment,
        preview=preview,
        spec=builder_spec(page, others),
        max_name=segments.MAX_NAME,
        max_description=segments.MAX_DESCRIPTION,
    )


@router.get("/segments/new")
def new_segment(page: Page, rfm_cell: str = "") -> Response:
    """The builder for a new segment (viewers may try rules; saving needs insights:write),
    started from an RFM cell when the grid links here."""
    require(page.principal, "insights:read")
    form = SegmentForm()
    if rfm_cell in CELL_KEYS:
        form.name = cell_name(rfm_cell, page.locale)
        form.rule = _rule_text(
            {
                "type": "all",
                "rules": [
                    {"type": "prediction", "field": "rfm_cell", "op": "in", "value": [rfm_cell]}
                ],
            }
        )
    return _builder(page, form=form, segment=None)


@router.get("/segments/{segment_id:int}/edit")
def edit_segment(page: Page, segment_id: int) -> Response:
    require(page.principal, "insights:read")
    segment = _load(page, segment_id)
    if segment.archived_at is not None:
        page.flash("info", "insights.seg.archived_no_edit")
        return redirect(f"/insights/segments/{segment.id}")
    if segment.kind == "list":
        page.flash("error", "insights_list.no_edit")
        return redirect(f"/insights/segments/{segment.id}")
    form = SegmentForm(
        name=segment.name, description=segment.description, rule=_rule_text(segment.rule)
    )
    return _builder(page, form=form, segment=segment)


def _typed(form: Any) -> SegmentForm:
    return SegmentForm(
        name=_text(form, "name", segments.MAX_NAME + 1),
        description=_text(form, "description", segments.MAX_DESCRIPTION + 1),
        rule=_text(form, "rule", 100_001),
    )


def _preview(page: WebContext, rule: dict[str, Any], segment_id: int | None) -> PreviewView:
    """Count and sample the rule in a read session: a preview writes nothing and, on SQLite,
    must not wait for the write lock."""
    with database_of(page.request).read_session() as session:
        found = segments.preview(
            session,
            workspace_id=page.workspace.id,
            rule=rule,
            segment_id=segment_id,
            sample=SAMPLE,
        )
        for customer in found.sample:
            session.expunge(customer)
    language = "ko" if page.locale == "ko" else "en"
    return PreviewView(found.count, found.sample, found.description[language])


def _submit(page: WebContext, form: Any, segment: Segment | None) -> Response:
    typed = _typed(form)
    action = form.get("action")
    try:
        rule = read_rule(typed.rule)
        if action == "preview":
            shown = _preview(page, rule, segment.id if segment else None)
            return _builder(page, form=typed, segment=segment, preview=shown)
        require(page.principal, "insights:write")
        with page.db.begin_nested():
            if segment is None:
                saved = segments.create_segment(
                    page.db,
                    principal=page.principal,
                    name=typed.name,
                    description=typed.description,
                    rule=rule,
                )
            else:
                saved = segments.update_segment(
                    page.db,
                    principal=page.principal,
                    segment_id=segment.id,
                    name=typed.name,
                    description=typed.description,
                    rule=rule,
                )
    except ValidationFailed as exc:
        if exc.errors and str(exc.errors[0].get("code", "")).startswith(("segment_rule", "value")):
            typed.problems = rule_problems(page, exc)
            typed.error = rule_summary(page, typed.problems)
        else:
            typed.error = _segment_message(page, exc)
        return _builder(page, form=typed, segment=segment, status=422)
    except Conflict as exc:
        typed.error = errors.describe(page.locale, exc)
        return _builder(page, form=typed, segment=segment, status=409)
    page.flash(
        "success",
        "insights.seg.created" if segment is None else "insights.seg.saved",
        name=saved.name,
        n=saved.members,
    )
    return redirect(f"/insights/segments/{saved.id}")


def _segment_message(page: WebContext, exc: ValidationFailed) -> str:
    """A refusal of the name or description in the user's language."""
    if exc.detail.startswith("A segment needs a name"):
        return page.t("insights.seg.err_name")
    if exc.detail.startswith("A segment's name is at most"):
        return page.t("insights.seg.err_name_long", n=segments.MAX_NAME)
    if exc.detail.startswith("A description is at most"):
        return page.t("insights.seg.err_description_long", n=segments.MAX_DESCRIPTION)
    return errors.describe(page.locale, exc)


@router.post("/segments/new")
def create_segment(page: Page, form: PostedForm) -> Response:
    """Save a new segment ("save"), or show the rule's count and sample ("preview")."""
    require(page.principal, "insights:read")
    return _submit(page, form, None)


@router.post("/segments/{segment_id:int}/edit")
def save_segment(page: Page, segment_id: int, form: PostedForm) -> Response:
    require(page.principal, "insights:read")
    segment = _load(page, segment_id)
    if segment.kind == "list":
        page.flash("error", "insights_list.no_edit")
        return redirect(f"/insights/segments/{segment.id}")
    return _submit(page, form, segment)


@router.post("/segments/preview")
def preview_segment(page: Page, form: PostedForm) -> Response:
    """The builder's live count: how many customers the rule matches now, some of them, and
    the rule in words; a refused rule answers 422 with its problems in the user's language."""
    require(page.principal, "insights:read")
    segment_id = _segment_id_of(form.get("segment_id"))
    try:
        if segment_id is not None:
            _load(page, segment_id)
        shown = _preview(page, read_rule(_text(form, "rule", 100_001)), segment_id)
    except ValidationFailed as exc:
        problems = rule_problems(page, exc)
        return JSONBytesResponse(
            {"error": rule_summary(page, problems), "errors": problems},
            status_code=422,
            headers={"Cache-Control": "no-store"},
        )
    return JSONBytesResponse(
        {
            "count": shown.count,
            "count_text": page.t("insights.seg.matching", n=f"{shown.count:,}"),
            "description": shown.description,
            "sample": [
                {
                    "id": c.id,
                    "name": customer_label(c, page.t),
                    "url": f"/customers/{c.id}",
                }
                for c in shown.sample
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


# --- one segment -------------------------------------------------------------------------------


def _trend_chart(page: WebContext, segment: Segment) -> tuple[Any, list[Any]]:
    days = segments.trend(page.db, segment=segment, days=TREND_DAYS)
    if not days:
        return None, []
    peak = max(d.members for d in days)
    points = [
        (d.day.strftime("%m-%d"), float(d.members), float(d.members), float(d.members))
        for d in days
    ]
    last = days[-1]
    chart = interval_trend_chart(
        points,
        lo=0.0,
        hi=float(max(peak, 1)) * 1.1,
        chart_id=f"segment-trend-{segment.id}",
        title=page.t("insights.seg.trend_title", days=TREND_DAYS),
        desc=page.t(
            "insights.seg.trend_desc",
            first=f"{days[0].members:,}",
            last=f"{last.members:,}",
            peak=f"{peak:,}",
            days=len(days),
        ),
    )
    return chart, list(reversed(days))


@router.get("/segments/{segment_id:int}")
def segment_page(page: Page, segment_id: int, cursor: str = "") -> Response:
    """A segment: its rule in words, member count, members in pages, and its trend."""
    require(page.principal, "insights:read")
    segment = _load(page, segment_id)
    members, next_cursor = segments.members_page(
        page.db,
        workspace_id=page.workspace.id,
        segment_id=segment.id,
        cursor=cursor[:500] or None,
        limit=MEMBERS_PAGE,
    )
    described = segments.describe_segment(page.db, segment=segment)
    chart, days = _trend_chart(page, segment) if segment.kind == "rule" else (None, [])
    return render(
        page.request,
        "insights/segment.html",
        page=page,
        section="insights",
        insights_tab="segments",
        segment=segment,
        described=described["ko" if page.locale == "ko" else "en"],
        members=members,
        cursor=cursor,
        next_cursor=next_cursor,
        chart=chart,
        days=days[:14],
    )


def _change(page: WebContext, segment_id: int, action: str) -> Response:
    require(page.principal, "insights:write")
    segment = _load(page, segment_id)
    try:
        with page.db.begin_nested():
            if action == "archive":
                segments.archive_segment(page.db, principal=page.principal, segment_id=segment.id)
                page.flash("success", "insights.seg.archived", name=segment.name)
            elif action == "restore":
                segments.restore_segment(page.db, principal=page.principal, segment_id=segment.id)
                page.flash("success", "insights.seg.restored", name=segment.name, n=segment.members)
            elif action == "delete":
                segments.delete_segment(page.db, principal=page.principal, segment_id=segment.id)
                page.flash("success", "insights_list.deleted", name=segment.name)
            else:
                if segment.archived_at is not None:
                    raise Conflict("The segment is archived; restore it first.")
                if segment.kind == "list":
                    raise Conflict(segments.LIST_NOT_REFRESHED)
                change = segments.refresh_segment(page.db, segment=segment)
                page.flash(
                    "success",
                    "insights.seg.refresh_done",
                    entered=change.entered,
                    exited=change.exited,
                    n=change.members,
                )
    except Conflict as exc:
        in_use = IN_USE.match(exc.detail)
        if in_use:
            page.flash("error", "insights.seg.err_in_use", names=in_use["names"])
        elif exc.detail == segments.LIST_NOT_REFRESHED:
            page.flash("error", "insights_list.no_refresh")
        elif exc.detail.startswith("A rule segment is archived"):
            page.flash("error", "insights_list.rule_not_deleted")
        else:
            flash_text(page.request, "error", errors.describe(page.locale, exc))
    else:
        if action == "delete":
            return redirect("/insights/segments")
    return redirect(f"/insights/segments/{segment.id}")


@router.post("/segments/{segment_id:int}/archive")
def archive_segment(page: Page, segment_id: int) -> Response:
    """Stop keeping the segment (undone by restore on its page)."""
    return _change(page, segment_id, "archive")


@router.post("/segments/{segment_id:int}/restore")
def restore_segment(page: Page, segment_id: int) -> Response:
    return _change(page, segment_id, "restore")


@router.post("/segments/{segment_id:int}/refresh")
def refresh_segment(page: Page, segment_id: int) -> Response:
    """Bring the members up to date now (who joined and left is announced)."""
    return _change(page, segment_id, "refresh")


@router.post("/segments/{segment_id:int}/delete")
def delete_segment(page: Page, segment_id: int) -> Response:
    """Delete a list segment and its members (a rule segment is archived instead)."""
    return _change(page, segment_id, "delete")


@router.get("/segments/{segment_id:int}/members.csv")
def segment_csv(page: Page, segment_id: int) -> Response:
    """Every member as CSV (UTF-8 with BOM), as the API exports them."""
    require(page.principal, "insights:export")
    segment = _load(page, segment_id)
    rows = list(segments.member_rows(page.db, segment=segment))
    return StreamingResponse(
        csv_chunks(column_names(page, MEMBER_CSV_HEADER), rows, tz=zone(page.workspace.timezone)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="segment-{segment.id}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
