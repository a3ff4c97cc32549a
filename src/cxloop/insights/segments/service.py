"""Saved segments: create, edit, archive (and restore), preview a rule with a live count, and
keep the members current; list segments, a fixed snapshot of customers saved by another domain
(the persons at a funnel step), kept as they were saved and deleted when no longer wanted.

Membership is materialised in ``segment_members``. A refresh runs the segment's one compiled
query and compares it with the stored members in SQL: who joined is inserted, who left is
deleted, and each change is appended to the event log as ``Segment Entered`` or ``Segment
Exited`` (channel ``cxloop``, so it is not counted as the customer's own activity). The first
materialisation of a segment announces nothing: its members did not *enter* it, it was drawn
around them. A list segment has no rule: no refresh touches its members, and its ``origin``
says where they came from in words. Other domains (campaigns, workflows, the inbox) read members
of either kind through ``members_of`` and ``segments_of_customer`` or react to the events on the
bus.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, Select, delete, func, literal, select, update
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal
from cxloop.accounts.service import record_audit
from cxloop.core.batching import chunked
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.pagination import decode_cursor, encode_cursor
from cxloop.core.timeutil import utcnow
from cxloop.events import service as events
from cxloop.events.consumers import SYSTEM_CHANNEL
from cxloop.insights.segments.compiler import compile_rule, count_matching, sample_matching
from cxloop.insights.segments.language import (
    check_segment_references,
    parse_rule,
    referenced_segments,
)
from cxloop.insights.segments.wording import describe
from cxloop.models import (
    Customer,
    Identity,
    Segment,
    SegmentCount,
    SegmentMember,
    Workspace,
)
from cxloop.models.base import table_of

SEGMENT_ENTERED = "Segment Entered"
SEGMENT_EXITED = "Segment Exited"
MAX_SEGMENTS = 500  # per workspace, archived ones included
MAX_NAME = 200
MAX_DESCRIPTION = 2_000
MAX_LIST_MEMBERS = 1_000_000  # customers of one list segment
MAX_ORIGIN = 20_000  # characters of a list segment's origin as JSON
_CHUNK = 2_000
LIST_NOT_EDITED = (
    "A list segment keeps the customers it was saved with; its rule cannot be edited "
    "(save a new segment instead)."
)
LIST_NOT_REFRESHED = "A list segment keeps the customers it was saved with; it is not refreshed."


@dataclass(frozen=True)
class Change:
    entered: int
    exited: int
    members: int


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[Customer]
    description: dict[str, str]  # language → the rule in words


def _zone(session: Session, workspace_id: int) -> str:
    found = session.scalar(select(Workspace.timezone).where(Workspace.id == workspace_id))
    return found or "Asia/Seoul"


def _checked_text(name: str, description: str) -> tuple[str, str]:
    name = name.strip()
    if not name:
        raise ValidationFailed("A segment needs a name.")
    if len(name) > MAX_NAME:
        raise ValidationFailed(f"A segment's name is at most {MAX_NAME} characters.")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(f"A description is at most {MAX_DESCRIPTION} characters.")
    return name, description.strip()


def _checked_rule(
    session: Session, rule: Mapping[str, Any], *, workspace_id: int, segment_id: int | None
) -> dict[str, Any]:
    parsed = parse_rule(rule)
    check_segment_references(session, parsed, workspace_id=workspace_id, segment_id=segment_id)
    return parsed.model_dump(mode="json", exclude_none=True)


def get_segment(session: Session, *, workspace_id: int, segment_id: int) -> Segment:
    """The workspace's segment, or 404."""
    if not 1 <= segment_id < 2**31:  # no such id; a huge one must not reach the driver
        raise NotFound("No such segment.")
    segment = session.scalar(
        select(Segment).where(Segment.id == segment_id, Segment.workspace_id == workspace_id)
    )
    if segment is None:
        raise NotFound("No such segment.")
    return segment


def list_segments(
    session: Session,
    *,
    workspace_id: int,
    archived: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Segment], str | None]:
    """A page of the workspace's segments, by name then id."""
    query = select(Segment).where(
        Segment.workspace_id == workspace_id,
        Segment.archived_at.is_not(None) if archived else Segment.archived_at.is_(None),
    )
    if cursor:
        name, after_id = decode_cursor(cursor, 2)
        query = query.where(
            (Segment.name > name) | ((Segment.name == name) & (Segment.id > after_id))
        )
    found = list(session.scalars(query.order_by(Segment.name, Segment.id).limit(limit + 1)))
    page = found[:limit]
    more = encode_cursor([page[-1].name, page[-1].id]) if len(found) > limit else None
    return page, more


def preview(
    session: Session,
    *,
    workspace_id: int,
    rule: Mapping[str, Any],
    segment_id: int | None = None,
    sample: int = 10,
) -> Preview:
    """How many customers a rule matches now, some of them, and the rule in words."""
    parsed = parse_rule(rule)
    names = _segment_names(session, workspace_id=workspace_id)
    return Preview(
        count=count_matching(session, parsed, workspace_id=workspace_id, segment_id=segment_id),
        sample=sample_matching(
            session, parsed, workspace_id=workspace_id, segment_id=segment_id, limit=sample
        ),
        description={
            language: describe(parsed, language, segment_names=names) for language in ("ko", "en")
        },
    )


def _segment_names(session: Session, *, workspace_id: int) -> dict[int, str]:
    return {
        int(sid): name
        for sid, name in session.execute(
            select(Segment.id, Segment.name).where(Segment.workspace_id == workspace_id)
        )
    }


def describe_segment(session: Session, *, segment: Segment) -> dict[str, str]:
    """The segment's rule in Korean and in English (a list segment's origin)."""
    if segment.kind == "list":
        said = segment.origin.get("description")
        said = said if isinstance(said, dict) else {}
        return {
            language: str(said.get(language) or said.get("en") or segment.name)
            for language in ("ko", "en")
        }
    names = _segment_names(session, workspace_id=segment.workspace_id)
    return {
        language: describe(segment.rule, language, segment_names=names) for language in ("ko", "en")
    }


def _check_room(session: Session, *, workspace_id: int) -> None:
    existing = session.scalar(
        select(func.count()).select_from(Segment).where(Segment.workspace_id == workspace_id)
    )
    if (existing or 0) >= MAX_SEGMENTS:
        raise Conflict(f"A workspace keeps at most {MAX_SEGMENTS} segments; archive some.")


def create_segment(
    session: Session,
    *,
    principal: Principal,
    name: str,
    rule: Mapping[str, Any],
    description: str = "",
) -> Segment:
    """Save a segment and draw its first members (announcing none)."""
    workspace_id = principal.workspace_id
    name, description = _checked_text(name, description)
    checked = _checked_rule(session, rule, workspace_id=workspace_id, segment_id=None)
    _check_room(session, workspace_id=workspace_id)
    segment = Segment(
        workspace_id=workspace_id,
        name=name,
        description=description,
        rule=checked,
        created_by_id=principal.user_id,
    )
    session.add(segment)
    session.flush()
    record_audit(
        session,
        principal=principal,
        action="segment.create",
        target_type="segment",
        target_id=segment.id,
        detail={"name": name},
    )
    refresh_segment(session, segment=segment, announce=False)
    return segment


def update_segment(
    session: Session,
    *,
    principal: Principal,
    segment_id: int,
    name: str | None = None,
    description: str | None = None,
    rule: Mapping[str, Any] | None = None,
) -> Segment:
    """Rename, describe or redefine a segment; a new rule moves members in and out at once."""
    segment = get_segment(session, workspace_id=principal.workspace_id, segment_id=segment_id)
    if segment.archived_at is not None:
        raise Conflict("An archived segment cannot be edited; restore it first.")
    if segment.kind == "list" and rule is not None:
        raise Conflict(LIST_NOT_EDITED)
    new_name, new_description = _checked_text(
        segment.name if name is None else name,
        segment.description if description is None else description,
    )
    changed = {}
    if new_name != segment.name:
        changed["name"] = new_name
    if new_description != segment.description:
        changed["description"] = new_description
    segment.name, segment.description = new_name, new_description
    if rule is not None:
        checked = _checked_rule(
            session, rule, workspace_id=segment.workspace_id, segment_id=segment.id
        )
        if checked != segment.rule:
            segment.rule = checked
            changed["rule"] = "changed"
    if changed:
        record_audit(
            session,
            principal=principal,
            action="segment.update",
            target_type="segment",
            target_id=segment.id,
            detail=changed,
        )
    if "rule" in changed:
        refresh_segment(session, segment=segment)
    session.flush()
    return segment


def _refuse_if_used(session: Session, *, segment: Segment) -> None:
    """A Conflict naming the active segments whose rule names ``segment``, if any."""
    users = [
        other.name
        for other in session.scalars(
            select(Segment).where(
                Segment.workspace_id == segment.workspace_id,
                Segment.kind == "rule",
                Segment.archived_at.is_(None),
                Segment.id != segment.id,
            )
        )
        if segment.id in referenced_segments(parse_rule(other.rule))
    ]
    if users:
        raise Conflict(f"Segments {', '.join(sorted(users))} use this one; change them first.")


def archive_segment(session: Session, *, principal: Principal, segment_id: int) -> Segment:
    """Stop keeping a segment (members are kept, so restoring is instant); refused while
    another segment's rule names it."""
    segment = get_segment(session, workspace_id=principal.workspace_id, segment_id=segment_id)
    if segment.archived_at is not None:
        return segment
    _refuse_if_used(session, segment=segment)
    segment.archived_at = utcnow()
    record_audit(
        session,
        principal=principal,
        action="segment.archive",
        target_type="segment",
        target_id=segment.id,
    )
    session.flush()
    return segment


def restore_segment(session: Session, *, principal: Principal, segment_id: int) -> Segment:
    """Keep an archived segment again, its members refreshed."""
    segment = get_segment(session, workspace_id=principal.workspace_id, segment_id=segment_id)
    if segment.archived_at is None:
        return segment
    segment.archived_at = None
    record_audit(
        session,
        principal=principal,
        action="segment.restore",
        target_type="segment",
        target_id=segment.id,
    )
    refresh_segment(session, segment=segment, announce=False)
    return segment


def _checked_origin(origin: Mapping[str, Any]) -> dict[str, Any]:
    kept = dict(origin)
    said = kept.get("description")
    if not isinstance(said, dict) or not all(
        isinstance(said.get(language), str) and said[language].strip() for language in ("ko", "en")
    ):
        raise ValidationFailed("A list segment's origin says where it came from in ko and en.")
    if len(json.dumps(kept, ensure_ascii=False, default=str)) > MAX_ORIGIN:
        raise ValidationFailed(f"A list segment's origin is at most {MAX_ORIGIN} characters.")
    return json.loads(json.dumps(kept, ensure_ascii=False, default=str))


def create_list_segment(
    session: Session,
    *,
    principal: Principal,
    name: str,
    customer_ids: Iterable[int],
    origin: Mapping[str, Any],
    description: str = "",
    now: datetime | None = None,
) -> Segment:
    """Save a segment of exactly these customers of the workspace (live profiles; others are
    left out), a snapshot no refresh changes, with where they came from (``origin``: its
    ``source``, its ``description`` in ko and en, and any detail)."""
    workspace_id = principal.workspace_id
    name, description = _checked_text(name, description)
    checked_origin = _checked_origin(origin)
    ids = sorted({int(cid) for cid in customer_ids if 1 <= int(cid) < 2**63})
    if len(ids) > MAX_LIST_MEMBERS:
        raise Conflict(
            f"A list segment holds at most {MAX_LIST_MEMBERS:,} customers; this one would "
            f"hold {len(ids):,}."
        )
    _check_room(session, workspace_id=workspace_id)
    now = now or utcnow()
    segment = Segment(
        workspace_id=workspace_id,
        name=name,
        description=description,
        kind="list",
        rule={},
        origin=checked_origin,
        created_by_id=principal.user_id,
        refreshed_at=now,
    )
    session.add(segment)
    session.flush()
    table = table_of(SegmentMember)
    for chunk in chunked(ids, _CHUNK):
        live = select(
            literal(segment.id, Integer()),
            Customer.id,
            literal(workspace_id, Integer()),
            literal(now, SegmentMember.entered_at.type),
        ).where(
            Customer.id.in_(chunk),
            Customer.workspace_id == workspace_id,
            Customer.merged_into_id.is_(None),
            Customer.erased_at.is_(None),
        )
        session.execute(
            table.insert().from_select(
                ["segment_id", "customer_id", "workspace_id", "entered_at"], live
            )
        )
    segment.members = int(
        session.scalar(
            select(func.count())
            .select_from(SegmentMember)
            .where(SegmentMember.segment_id == segment.id)
        )
        or 0
    )
    record_audit(
        session,
        principal=principal,
        action="segment.create_list",
        target_type="segment",
        target_id=segment.id,
        detail={
            "name": name,
            "members": segment.members,
            "source": checked_origin.get("source"),
        },
    )
    _count_day(
        session, segment=segment, now=now, tz=_zone(session, workspace_id), entered=[], exited=[]
    )
    return segment


def move_list_members_on_merge(
    session: Session, workspace_id: int, survivor_id: int, merged_id: int
) -> dict[str, int]:
    """A merged profile's places in list segments become the survivor's (a list segment is never
    refreshed, so nothing else would); where the survivor is already a member, the merged
    profile's place goes and the segment counts one fewer. Rule segments follow at their next
    refresh, which counts live profiles only."""
    lists = select(Segment.id).where(Segment.workspace_id == workspace_id, Segment.kind == "list")
    held = set(
        session.scalars(
            select(SegmentMember.segment_id).where(
                SegmentMember.customer_id == merged_id, SegmentMember.segment_id.in_(lists)
            )
        )
    )
    if not held:
        return {}
    both = set(
        session.scalars(
            select(SegmentMember.segment_id).where(
                SegmentMember.customer_id == survivor_id, SegmentMember.segment_id.in_(held)
            )
        )
    )
    if both:
        session.execute(
            delete(SegmentMember).where(
                SegmentMember.customer_id == merged_id, SegmentMember.segment_id.in_(both)
            )
        )
        session.execute(
            update(Segment).where(Segment.id.in_(both)).values(members=Segment.members - 1)
        )
    if held - both:
        session.execute(
            update(SegmentMember)
            .where(
                SegmentMember.customer_id == merged_id,
                SegmentMember.segment_id.in_(held - both),
            )
            .values(customer_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
    return {"segment_members": len(held)}


def delete_segment(session: Session, *, principal: Principal, segment_id: int) -> None:
    """Delete a list segment and its members; refused for a rule segment (archive it) and
    while another segment's rule names it."""
    segment = get_segment(session, workspace_id=principal.workspace_id, segment_id=segment_id)
    if segment.kind != "list":
        raise Conflict("A rule segment is archived, not deleted.")
    _refuse_if_used(session, segment=segment)
    record_audit(
        session,
        principal=principal,
        action="segment.delete",
        target_type="segment",
        target_id=segment.id,
        detail={"name": segment.name, "members": segment.members},
    )
    for table in (SegmentMember, SegmentCount):
        session.execute(delete(table).where(table.segment_id == segment.id))
    session.delete(segment)
    session.flush()


def refresh_segment(
    session: Session,
    *,
    segment: Segment,
    customer_ids: Sequence[int] | None = None,
    now: datetime | None = None,
    announce: bool = True,
) -> Change:
    """Bring the members up to date (only ``customer_ids`` when given): insert who matches
    and is missing, delete who is stored and no longer matches, and announce each change. A
    list segment is left as it was saved."""
    if segment.kind == "list":  # a snapshot: nobody enters or leaves it
        return Change(0, 0, segment.members)
    now = now or utcnow()
    tz = _zone(session, segment.workspace_id)
    matching = compile_rule(segment.rule, workspace_id=segment.workspace_id, now=now, tz=tz)
    stored = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
    scope: ColumnElement[bool] | None = None
    if customer_ids is not None:
        ids = sorted(set(customer_ids))
        if not ids:
            return Change(0, 0, segment.members)
        scope = Customer.id.in_(ids)
        stored = stored.where(SegmentMember.customer_id.in_(ids))
    wanted = matching if scope is None else matching.where(scope)
    entered = list(session.scalars(wanted.where(Customer.id.not_in(stored))))
    exited = list(session.scalars(stored.where(SegmentMember.customer_id.not_in(wanted))))
    table = table_of(SegmentMember)
    for chunk in chunked(entered, _CHUNK):
        session.connection().execute(
            table.insert(),
            [
                {
                    "segment_id": segment.id,
                    "customer_id": cid,
                    "workspace_id": segment.workspace_id,
                    "entered_at": now,
                }
                for cid in chunk
            ],
        )
    for chunk in chunked(exited, _CHUNK):
        session.execute(
            delete(SegmentMember).where(
                SegmentMember.segment_id == segment.id, SegmentMember.customer_id.in_(chunk)
            )
        )
    members = int(
        session.scalar(
            select(func.count())
            .select_from(SegmentMember)
            .where(SegmentMember.segment_id == segment.id)
        )
        or 0
    )
    if announce and (entered or exited):
        _announce(session, segment=segment, entered=entered, exited=exited, now=now)
    segment.members = members
    segment.refreshed_at = now
    # The first drawing of a segment is no movement: the trend counts only announced changes.
    moved = (entered, exited) if announce else ([], [])
    _count_day(session, segment=segment, now=now, tz=tz, entered=moved[0], exited=moved[1])
    return Change(entered=len(entered), exited=len(exited), members=members)


def _announce(
    session: Session, *, segment: Segment, entered: list[int], exited: list[int], now: datetime
) -> None:
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    properties = {"segment_id": segment.id, "segment_name": segment.name}
    for name, kind, ids in (
        (SEGMENT_ENTERED, "entered", entered),
        (SEGMENT_EXITED, "exited", exited),
    ):
        for chunk in chunked(ids, _CHUNK):
            events.record_activities(
                session,
                workspace_id=segment.workspace_id,
                activities=[
                    events.Activity(
                        customer_id=cid,
                        message_id=f"cxloop-segment-{segment.id}-{kind}-{cid}-{stamp}",
                        name=name,
                        channel=SYSTEM_CHANNEL,
                        timestamp=now,
                        properties=properties,
                    )
                    for cid in chunk
                ],
            )


def _count_day(
    session: Session,
    *,
    segment: Segment,
    now: datetime,
    tz: str,
    entered: list[int],
    exited: list[int],
) -> None:
    day = now.astimezone(ZoneInfo(tz)).date()
    row = session.get(SegmentCount, (segment.id, day))
    if row is None:
        session.add(
            SegmentCount(
                segment_id=segment.id,
                day=day,
                members=segment.members,
                entered=len(entered),
                exited=len(exited),
            )
        )
    else:
        row.members = segment.members
        row.entered += len(entered)
        row.exited += len(exited)
    session.flush()


def refresh_workspace(
    session: Session, *, workspace_id: int, customer_ids: Sequence[int] | None = None
) -> Change:
    """Refresh every active rule segment of a workspace, segments that others name first."""
    entered = exited = members = 0
    for segment in _in_dependency_order(session, workspace_id=workspace_id):
        change = refresh_segment(session, segment=segment, customer_ids=customer_ids)
        entered += change.entered
        exited += change.exited
        members += change.members
    return Change(entered, exited, members)


def _in_dependency_order(session: Session, *, workspace_id: int) -> list[Segment]:
    active = list(
        session.scalars(
            select(Segment)
            .where(
                Segment.workspace_id == workspace_id,
                Segment.kind == "rule",
                Segment.archived_at.is_(None),
            )
            .order_by(Segment.id)
        )
    )
    needs = {s.id: set(referenced_segments(parse_rule(s.rule))) for s in active}
    ordered: list[Segment] = []
    done: set[int] = set()
    pending = list(active)
    while pending:
        ready = [s for s in pending if needs[s.id] <= done | (needs[s.id] - set(needs))]
        if not ready:  # a cycle cannot be saved; refresh what is left as it comes
            ready = pending
        for segment in ready:
            ordered.append(segment)
            done.add(segment.id)
        pending = [s for s in pending if s.id not in done]
    return ordered


def members_page(
    session: Session,
    *,
    workspace_id: int,
    segment_id: int,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[tuple[Customer, datetime]], str | None]:
    """A page of a segment's members (the customer and when they joined), by customer id."""
    get_segment(session, workspace_id=workspace_id, segment_id=segment_id)
    query = (
        select(Customer, SegmentMember.entered_at)
        .join(SegmentMember, SegmentMember.customer_id == Customer.id)
        .where(SegmentMember.segment_id == segment_id, Customer.workspace_id == workspace_id)
    )
    if cursor:
        (after_id,) = decode_cursor(cursor, 1)
        query = query.where(Customer.id > after_id)
    rows = [(c, at) for c, at in session.execute(query.order_by(Customer.id).limit(limit + 1))]
    page = rows[:limit]
    more = encode_cursor([page[-1][0].id]) if len(rows) > limit else None
    return page, more


def member_rows(session: Session, *, segment: Segment) -> Iterator[tuple[Any, ...]]:
    """Every member as (customer id, user id, name, email, phone, since when), by id."""
    user_id = (
        select(Identity.value)
        .where(Identity.customer_id == Customer.id, Identity.kind == "user_id")
        .order_by(Identity.id)
        .limit(1)
        .scalar_subquery()
    )
    yield from session.execute(
        select(
            Customer.id,
            user_id,
            Customer.display_name,
            Customer.email,
            Customer.phone,
            SegmentMember.entered_at,
        )
        .join(SegmentMember, SegmentMember.customer_id == Customer.id)
        .where(
            SegmentMember.segment_id == segment.id,
            Customer.workspace_id == segment.workspace_id,
        )
        .order_by(Customer.id)
        .execution_options(yield_per=_CHUNK)
    ).tuples()


def members_of(session: Session, *, workspace_id: int, segment_id: int) -> Iterator[int]:
    """Every member's customer id, in order: what a campaign or workflow sends to."""
    get_segment(session, workspace_id=workspace_id, segment_id=segment_id)
    yield from session.scalars(
        select(SegmentMember.customer_id)
        .where(SegmentMember.segment_id == segment_id)
        .order_by(SegmentMember.customer_id)
        .execution_options(yield_per=_CHUNK)
    )


def members_query(session: Session, *, workspace_id: int, segment_id: int) -> Select[tuple[int]]:
    """The members' customer ids as a statement other domains filter by (404 for a segment
    of another workspace)."""
    get_segment(session, workspace_id=workspace_id, segment_id=segment_id)
    return select(SegmentMember.customer_id).where(
        SegmentMember.workspace_id == workspace_id, SegmentMember.segment_id == segment_id
    )


def segments_of_customer(
    session: Session, *, workspace_id: int, customer_id: int
) -> list[tuple[Segment, datetime]]:
    """The active segments a customer is in, and since when."""
    return [
        (segment, at)
        for segment, at in session.execute(
            select(Segment, SegmentMember.entered_at)
            .join(SegmentMember, SegmentMember.segment_id == Segment.id)
            .where(
                SegmentMember.customer_id == customer_id,
                Segment.workspace_id == workspace_id,
                Segment.archived_at.is_(None),
            )
            .order_by(Segment.name)
        )
    ]


def trend(
    session: Session, *, segment: Segment, days: int = 90, today: date | None = None
) -> list[SegmentCount]:
    """The segment's size per refreshed day over the last ``days`` days, oldest first."""
    today = today or utcnow().astimezone(ZoneInfo(_zone(session, segment.workspace_id))).date()
    return list(
        session.scalars(
            select(SegmentCount)
            .where(
                SegmentCount.segment_id == segment.id,
                SegmentCount.day > today - timedelta(days=days),
            )
            .order_by(SegmentCount.day)
        )
    )
