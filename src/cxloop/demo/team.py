"""The demo workspace itself: wiped and made anew, with its team and keys."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.accounts.passwords import verify_password
from cxloop.core.errors import NotFound
from cxloop.demo.context import DemoContext
from cxloop.models import BusCheckpoint, Event, User, Workspace

DEMO_SLUG = "demo"
DEMO_NAME = "Demo 데모 쇼핑몰"
# Not a secret: `cxloop demo` prints it, and every demo login uses it.
DEMO_PASSWORD = "cxloop-demo-2026"  # noqa: S105
OWNER_EMAIL = "owner@demo.cxloop.dev"
# (email, display name, UI language, role, teams): one login per role, so each can be tried;
# the teams own the follow-ups of the demo's surveys (delivery, cs, cx). The owner leads CX and
# keeps an eye on deliveries, the shop's most frequent complaint, so the bell has work in it.
TEAM: tuple[tuple[str, str, str, str, list[str]], ...] = (
    (OWNER_EMAIL, "박서연", "ko", "owner", ["cx", "delivery"]),
    ("admin@demo.cxloop.dev", "이준호", "ko", "admin", ["cx", "delivery"]),
    ("agent@demo.cxloop.dev", "최민지", "ko", "agent", ["cs", "delivery"]),
    ("agent2@demo.cxloop.dev", "Emily Carter", "en", "agent", ["cs"]),
    ("marketer@demo.cxloop.dev", "정하은", "ko", "marketer", []),
    ("analyst@demo.cxloop.dev", "강도윤", "ko", "analyst", []),
    ("viewer@demo.cxloop.dev", "윤서준", "ko", "viewer", []),
)


def remove_demo_workspace(session: Session) -> bool:
    """Delete the demo workspace and, through ON DELETE CASCADE, every row of it."""
    workspace_id = session.scalar(select(Workspace.id).where(Workspace.slug == DEMO_SLUG))
    if workspace_id is None:
        return False
    session.execute(delete(Workspace).where(Workspace.id == workspace_id))
    if session.get_bind().dialect.name == "sqlite":
        # SQLite hands out the largest deleted rowids again: a bus checkpoint past the new
        # end of the log would skip the events stored next, so it goes back to that end.
        last = session.scalar(select(func.max(Event.id))) or 0
        session.execute(
            update(BusCheckpoint).where(BusCheckpoint.position > last).values(position=last)
        )
    return True


def _team_member(session: Session, email: str, name: str, locale: str) -> User:
    try:
        user = accounts.find_user(session, email=email)
    except NotFound:
        return accounts.create_user(
            session, email=email, password=DEMO_PASSWORD, display_name=name, locale=locale
        )
    if not verify_password(user.password_hash, DEMO_PASSWORD):
        accounts.change_password(session, user=user, password=DEMO_PASSWORD)
    user.is_active = True
    return user


def build_workspace(ctx: DemoContext) -> None:
    """Phase: wipe any earlier demo, then create the workspace, its team and two keys."""
    task = ctx.task("Workspace and team", len(TEAM) + 2)
    with ctx.database.session() as session:
        remove_demo_workspace(session)
        workspace = accounts.create_workspace(
            session,
            name=DEMO_NAME,
            slug=DEMO_SLUG,
            by_operator=True,
            audit_detail={"demo": True, "seed": ctx.seed, "customers": ctx.members},
        )
        ctx.workspace_id = workspace.id
        for email, name, locale, role, teams in TEAM:
            user = _team_member(session, email, name, locale)
            membership = accounts.add_member(session, workspace=workspace, user=user, role=role)
            membership.teams = list(teams)
            if role == "owner":
                ctx.owner_id = user.id
            task.advance()
        _, write_key = accounts.create_key(
            session, workspace_id=workspace.id, kind="write", name="데모몰 웹사이트 (analytics.js)"
        )
        task.advance()
        _, api_key = accounts.create_key(
            session,
            workspace_id=workspace.id,
            kind="api",
            role="owner",
            name="Demo API key (owner)",
            created_by_id=ctx.owner_id,
        )
        task.advance()
        ctx.secrets.update(write_key=write_key, api_key=api_key)
