"""Notices to members: one in-app notice per member of a team (or named members), each with an
email in the member's language, deduplicated so retried work never notifies anyone twice; and
the member's side of it: list, count unread, mark read.

A notice stores its ``kind`` and ``params``, not its text: the text comes from the catalog
(``loop.notice.<kind>.title`` and ``.body``) in the reader's language when it is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, bindparam, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from cxloop.accounts.display_names import Names, names_of
from cxloop.channels.notice_mail import NoticePart, render_notice_mail
from cxloop.channels.outbox import queue_email
from cxloop.core.db import dialect_insert
from cxloop.core.errors import NotFound, ValidationFailed
from cxloop.core.i18n import LOCALES, gettext
from cxloop.core.pagination import newest_first
from cxloop.core.settings import get_settings
from cxloop.core.timeutil import utcnow
from cxloop.models import Membership, Notification, User, Workspace
from cxloop.models.base import table_of

if TYPE_CHECKING:
    from cxloop.text.analytics.service import SpikeNotice

# What a notice can be about; each has ``loop.notice.<kind>.title`` and ``.body`` in the
# catalog (a test checks both languages).
NOTICE_KINDS = (
    "followup_new",
    "followup_assigned",
    "followup_overdue",
    "followup_digest",
    "followup_overdue_digest",
    "text_spike",
    "care_sla_first_response",
    "care_sla_next_response",
    "care_sla_resolution",
    "care_angry_customer",
    "care_new_conversation",
    "care_assigned",
    "care_mention",
    "care_follow_message",
    "care_follow_resolved",
)
# Who hears about a team's work when the team has no members.
FALLBACK_ROLES = ("owner", "admin")
MAX_DEDUPE_KEY = 200

# The metrics a notice's ``scores`` may name (follow_up_reason.<metric> in the catalog).
SCORED_REASONS = ("nps", "csat", "ces")


@dataclass(frozen=True)
class NoticeText:
    title: str
    body: str


def render_notice(
    kind: str, params: Mapping[str, Any], locale: str, names: Names | None = None
) -> NoticeText:
    """The title and body of a notice of ``kind`` in ``locale``. A notice about an answer may
    carry its unhappy ``scores`` ([["nps", 3]]): its ``reason`` is then said in the reader's
    words ("NPS 3점 · 비추천 고객") rather than as stored; its ``team`` is said by the
    workspace's display name (``names``)."""
    values = {k: v for k, v in params.items() if isinstance(k, str)}
    if names is not None and isinstance(values.get("team"), str):
        values["team"] = names.name("team", values["team"], locale)
    scores = values.get("scores")
    if isinstance(scores, list) and scores:
        words = [
            gettext(locale, f"follow_up_reason.{pair[0]}", score=pair[1])
            for pair in scores
            if isinstance(pair, list) and len(pair) == 2 and pair[0] in SCORED_REASONS
        ]
        if words:
            values["reason"] = " · ".join(words)
    return NoticeText(
        title=gettext(locale, f"loop.notice.{kind}.title", **values),
        body=gettext(locale, f"loop.notice.{kind}.body", **values),
    )


def team_members(session: Session, *, workspace_id: int, team: str) -> list[User]:
    """The active members of ``team`` in the workspace; its owners and admins when the team
    is empty or has nobody in it."""
    rows = session.execute(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, User.is_active.is_(True))
        .order_by(User.id)
    ).all()
    # Team lists live in a JSON column whose containment test differs by database; a
    # workspace has few members, so they are matched here.
    chosen = [u for u, m in rows if team and team in (m.teams or [])]
    if not chosen:
        chosen = [u for u, m in rows if m.role in FALLBACK_ROLES]
    return chosen


def _told(dedupe_key: str) -> Any:
    """Whether the member (``User``) already has a notice with ``dedupe_key``."""
    return (
        select(Notification.id)
        .where(Notification.user_id == User.id, Notification.dedupe_key == dedupe_key)
        .exists()
    )


def _untold_members(
    session: Session, *, workspace_id: int, user_ids: Iterable[int], dedupe_key: str
) -> list[User]:
    """The active members among ``user_ids`` who have no notice with ``dedupe_key`` yet."""
    ids = set(user_ids)
    if not ids:
        return []
    return list(session.scalars(_untold(select(User), workspace_id, ids, dedupe_key)))


def _untold(query: Any, workspace_id: int, user_ids: set[int], dedupe_key: str) -> Any:
    """``query`` of users narrowed to the active members among ``user_ids`` without a notice
    with ``dedupe_key``, in id order."""
    return (
        query.join(Membership, Membership.user_id == User.id)
        .where(
            Membership.workspace_id == workspace_id,
            User.id.in_(user_ids),
            User.is_active.is_(True),
            ~_told(dedupe_key),
        )
        .order_by(User.id)
    )


def tell_text_spike(session: Session, notice: SpikeNotice) -> bool:
    """Listener of text's spike notices: tell the category's team; True when someone new was
    told."""
    return bool(
        notify(
            session,
            workspace_id=notice.workspace_id,
            kind=notice.kind,
            params=notice.params,
            link=notice.link,
            dedupe_key=notice.dedupe_key,
            team=notice.team,
        )
    )


def notify(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    params: Mapping[str, Any],
    link: str,
    dedupe_key: str,
    team: str | None = None,
    user_ids: Iterable[int] | None = None,
    email: bool = True,
) -> list[Notification]:
    """Notify a team (``team``) or some members (``user_ids``): one in-app notice each, plus an
    email in their language. A member who already has a notice with ``dedupe_key`` gets
    nothing new; the new notices are returned."""
    _check(kind, dedupe_key)
    if user_ids is not None:
        fresh = _untold_members(
            session, workspace_id=workspace_id, user_ids=user_ids, dedupe_key=dedupe_key
        )
    else:
        users = team_members(session, workspace_id=workspace_id, team=team or "")
        if not users:
            return []
        already = set(
            session.scalars(
                select(Notification.user_id).where(
                    Notification.user_id.in_([u.id for u in users]),
                    Notification.dedupe_key == dedupe_key,
                )
            )
        )
        fresh = [u for u in users if u.id not in already]
    if not fresh:
        return []
    # One statement for every member, handing back the notices it wrote: a concurrent run
    # that wrote the same notice a moment ago keeps its own (the unique user and dedupe key),
    # and this one is dropped.
    written = session.scalars(
        _insert_notices(session, Notification).returning(Notification),
        _notice_rows(workspace_id, [u.id for u in fresh], kind, params, link, dedupe_key),
    )
    notices = {n.user_id: n for n in written}
    created = [(user, notices[user.id]) for user in fresh if user.id in notices]
    if email and created:
        _queue_emails(session, workspace_id=workspace_id, notices=created)
    return [n for _, n in created]


def notify_in_app(
    session: Session,
    *,
    workspace_id: int,
    kind: str,
    params: Mapping[str, Any],
    link: str,
    dedupe_key: str,
    user_ids: Iterable[int],
) -> None:
    """Notify some members in the app only, as :func:`notify` with ``email=False`` does, for
    callers that need nothing back: a new conversation tells its whole team, and this writes
    the notices without loading each member or the notices written."""
    _check(kind, dedupe_key)
    ids = set(user_ids)
    if not ids:
        return
    fresh = session.scalars(_untold(select(User.id), workspace_id, ids, dedupe_key)).all()
    _write_notices(session, [NewNotice(workspace_id, kind, params, link, dedupe_key, fresh)])


@dataclass(frozen=True)
class NewNotice:
    """An in-app notice about something just made (its dedupe key is one nobody holds yet), to
    members the caller has just read as active."""

    workspace_id: int
    kind: str
    params: Mapping[str, Any]
    link: str
    dedupe_key: str
    user_ids: Sequence[int]


def notify_new_in_app(session: Session, notices: Sequence[NewNotice]) -> None:
    """Write many :class:`NewNotice` at once (a batch of new conversations tells each its
    team): with fresh dedupe keys there is nobody to leave out first, and a notice a concurrent
    run wrote a moment ago keeps its own."""
    for notice in notices:
        _check(notice.kind, notice.dedupe_key)
    _write_notices(session, notices)


_NOTICES = table_of(Notification)
# A notice to many members as one INSERT on PostgreSQL: the members as one array.
_PG_NOTICES = (
    postgresql.insert(_NOTICES)
    .from_select(
        ["workspace_id", "user_id", "kind", "params", "link", "dedupe_key", "created_at"],
        select(
            bindparam("workspace_id", type_=_NOTICES.c.workspace_id.type),
            func.unnest(bindparam("user_ids", type_=postgresql.ARRAY(BigInteger))),
            *(
                bindparam(name, type_=_NOTICES.c[name].type)
                for name in ("kind", "params", "link", "dedupe_key", "created_at")
            ),
        ),
    )
    .on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
)


def _write_notices(session: Session, notices: Sequence[NewNotice]) -> None:
    """Write ``notices`` into the table, not through the ORM (nothing is handed back), leaving
    out a member's notice with the same dedupe key (a concurrent run wrote it a moment ago).

    On PostgreSQL it is one statement a notice, its members sent as one array: the server
    inserts a team's notices together, where the driver's executemany would run one statement
    a member (a third less time for a batch of new conversations told to teams of 55). On
    SQLite, in the process, executemany of the rows is as fast."""
    notices = [notice for notice in notices if notice.user_ids]
    if not notices:
        return
    if session.get_bind().dialect.name == "postgresql":
        now = utcnow()
        session.execute(
            _PG_NOTICES,
            [
                {
                    "workspace_id": notice.workspace_id,
                    "user_ids": list(dict.fromkeys(notice.user_ids)),
                    "kind": notice.kind,
                    "params": dict(notice.params),
                    "link": notice.link,
                    "dedupe_key": notice.dedupe_key,
                    "created_at": now,
                }
                for notice in notices
            ],
        )
        return
    rows = []
    for notice in notices:
        rows += _notice_rows(
            notice.workspace_id,
            dict.fromkeys(notice.user_ids),
            notice.kind,
            notice.params,
            notice.link,
            notice.dedupe_key,
        )
    session.execute(_insert_notices(session, _NOTICES), rows)


def _check(kind: str, dedupe_key: str) -> None:
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    if len(dedupe_key) > MAX_DEDUPE_KEY - 40:
        raise ValueError("dedupe_key is too long")


def _insert_notices(session: Session, target: Any) -> Any:
    """INSERT of notices that leaves out a member's notice with the same dedupe key (written a
    moment ago by a concurrent run). Its rows go as parameters of one cached statement, not as
    literal VALUES compiled again on every call."""
    return dialect_insert(session)(target).on_conflict_do_nothing(
        index_elements=["user_id", "dedupe_key"]
    )


def _notice_rows(
    workspace_id: int,
    user_ids: Iterable[int],
    kind: str,
    params: Mapping[str, Any],
    link: str,
    dedupe_key: str,
) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "workspace_id": workspace_id,
            "user_id": user_id,
            "kind": kind,
            "params": dict(params),
            "link": link,
            "dedupe_key": dedupe_key,
            "created_at": now,
        }
        for user_id in user_ids
    ]


def _queue_emails(
    session: Session, *, workspace_id: int, notices: list[tuple[User, Notification]]
) -> None:
    workspace = session.get(Workspace, workspace_id)
    workspace_name = workspace.name if workspace is not None else ""
    base = get_settings().public_url.rstrip("/")
    names = names_of(session, workspace_id=workspace_id)
    for user, notice in notices:
        locale = user.locale if user.locale in LOCALES else "ko"
        text = render_notice(notice.kind, notice.params, locale, names)
        url = f"{base}{notice.link}" if notice.link.startswith("/") else notice.link
        subject = f"[cxloop] {text.title}"[:300]
        body_text, body_html = render_notice_mail(
            subject,
            [
                NoticePart(
                    lang=locale,
                    body=text.body,
                    action=gettext(locale, "loop.notice.email_open"),
                    url=url,
                    note=gettext(locale, "loop.notice.email_footer", workspace=workspace_name),
                )
            ],
        )
        try:
            queue_email(
                session,
                workspace_id=workspace_id,
                recipient=user.email,
                subject=subject,
                text=body_text,
                html=body_html,
                dedupe_key=f"notify:{notice.kind}:{notice.dedupe_key}:{user.id}",
                user_id=user.id,
                purpose="service",
            )
        except ValidationFailed:
            # A login address mail cannot go to: the in-app notice is still there.
            continue


# --- the member's side -------------------------------------------------------------------------


def list_notifications(
    session: Session,
    *,
    workspace_id: int,
    user_id: int,
    unread_only: bool = False,
    cursor: str | None = None,
    limit: int = 30,
) -> tuple[list[Notification], str | None]:
    """A page of the member's notices in this workspace, newest first, and the next cursor."""
    limit = max(1, min(limit, 200))
    query = select(Notification).where(
        Notification.workspace_id == workspace_id, Notification.user_id == user_id
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return newest_first(
        session,
        query,
        time=Notification.created_at,
        id=Notification.id,
        cursor=cursor,
        limit=limit,
    )


def unread_count(session: Session, *, workspace_id: int, user_id: int) -> int:
    """How many of the member's notices in this workspace are unread."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.workspace_id == workspace_id,
                Notification.user_id == user_id,
                Notification.read_at.is_(None),
            )
        )
        or 0
    )


def get_notification(
    session: Session, *, workspace_id: int, user_id: int, notification_id: int
) -> Notification:
    """One of the member's own notices (another member's is not found)."""
    notice = session.scalar(
        select(Notification).where(
            Notification.workspace_id == workspace_id,
            Notification.user_id == user_id,
            Notification.id == notification_id,
        )
    )
    if notice is None:
        raise NotFound(f"No notification with id {notification_id}.")
    return notice


def mark_read(
    session: Session, *, workspace_id: int, user_id: int, notification_id: int
) -> Notification:
    """Mark one of the member's notices read (reading it again changes nothing)."""
    notice = get_notification(
        session, workspace_id=workspace_id, user_id=user_id, notification_id=notification_id
    )
    if notice.read_at is None:
        notice.read_at = utcnow()
        session.flush()
    return notice


def mark_all_read(session: Session, *, workspace_id: int, user_id: int) -> int:
    """Mark every unread notice of the member in this workspace read; how many were."""
    result = session.execute(
        update(Notification)
        .where(
            Notification.workspace_id == workspace_id,
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
