"""The workspace settings pages through HTTP, as a browser uses them: members and roles, API and
write keys (the secret shown once, the key then working and revoked), identity keys, the audit
log, who may see the pages at all, CSRF, and Korean and English."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.models import ApiKey, AuditEntry, MemberInvitation, OutboundMessage, User, Workspace
from tests.factories import PASSWORD, basic_auth, bearer, make_user, make_workspace, unique

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
TRACK = {"userId": "u-1", "event": "Order Completed", "properties": {"revenue": 12900}}


class Browser:
    """A signed-in test client that knows the session's CSRF token."""

    def __init__(self, client: TestClient, user: User) -> None:
        self.client = client
        self.user = user
        login = client.get("/login")
        response = client.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_of(login.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        # Every page's header carries the session's token (the language switch is a form),
        # the error page a role without access gets too.
        self.csrf = csrf_of(client.get("/settings/members", headers={"Accept": "text/html"}).text)

    def get(self, path: str) -> Page:
        return Page(self.client.get(path, headers={"Accept": "text/html"}, follow_redirects=False))

    def post(self, path: str, data: dict[str, object] | None = None, *, csrf: bool = True) -> Page:
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        return Page(
            self.client.post(
                path, data=form, headers={"Accept": "text/html"}, follow_redirects=False
            )
        )

    def follow(self, page: Page) -> Page:
        """The page a form's see-other redirect leads to."""
        assert page.status == 303, page.text[:500]
        return self.get(page.location)


class Page:
    def __init__(self, response: object) -> None:
        self.response = response
        self.status: int = response.status_code  # type: ignore[attr-defined]
        self.text: str = html.unescape(response.text)  # type: ignore[attr-defined]
        self.location: str = response.headers.get("location", "")  # type: ignore[attr-defined]

    def __contains__(self, needle: str) -> bool:
        return needle in self.text


def csrf_of(page_html: str) -> str:
    match = CSRF_INPUT.search(page_html)
    assert match, "no CSRF field on the page"
    return match.group(1)


@pytest.fixture
def workspace(session: Session) -> Workspace:
    return make_workspace(session, name="Haneul Shop")


@pytest.fixture
def sign_in(
    app: FastAPI, client: TestClient, session: Session, workspace: Workspace
) -> Callable[..., Browser]:
    """Sign in as a new member of ``workspace`` with ``role`` (a fresh client per call)."""

    def sign_in(role: str = "owner", *, locale: str = "en", fresh: bool = False) -> Browser:
        user = make_user(session, workspace=workspace, role=role, locale=locale)
        session.flush()
        return Browser(TestClient(app) if fresh else client, user)

    return sign_in


def audit_of(session: Session, workspace: Workspace, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.workspace_id == workspace.id, AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
    )


def role_of(session: Session, workspace: Workspace, user_id: int) -> str | None:
    session.expire_all()
    return accounts.role_in(session, user_id=user_id, workspace_id=workspace.id)


# --- members -----------------------------------------------------------------------------------


def _accept_link(session: Session, email: str) -> str:
    session.expire_all()
    mail = session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.recipient == email)
        .order_by(OutboundMessage.id.desc())
    ).first()
    assert mail is not None, f"no mail to {email}"
    match = re.search(r"https?://[^/\s]+(/invitations/[\w-]+)", mail.body_text)
    assert match, mail.body_text
    return match.group(1)


def test_owner_invites_a_new_member_who_accepts_and_signs_in(
    app: FastAPI, sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    form = owner.get("/settings/members")
    assert form.status == 200
    assert 'name="password"' not in form  # nobody chooses another person's password

    invited = owner.post(
        "/settings/members",
        {"email": "Jiwoo.Kim@Example.com", "display_name": "김지우", "role": "marketer"},
    )

    listing = owner.follow(invited)
    assert (
        "An invitation was sent to jiwoo.kim@example.com; they become Marketer when they "
        "accept it." in listing
    )
    assert "<td>jiwoo.kim@example.com</td>" in listing.text  # waiting for an answer
    assert session.scalar(select(User).where(User.email == "jiwoo.kim@example.com")) is None
    [entry] = audit_of(session, workspace, "invitation.create")
    assert (entry.detail, entry.actor_label) == (
        {"email": "jiwoo.kim@example.com", "role": "marketer"},
        owner.user.email,
    )
    # the invited person opens the mail's link and creates the account there
    newcomer = TestClient(app, headers={"Accept-Language": "en"})
    link = _accept_link(session, "jiwoo.kim@example.com")
    page = newcomer.get(link)
    assert "invited you to the “Haneul Shop” workspace on cxloop as Marketer" in html.unescape(
        page.text
    )
    assert 'value="김지우"' in page.text
    accepted = newcomer.post(
        f"{link}/accept",
        data={
            "display_name": "김지우",
            "password": "a-long-first-password",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert (accepted.status_code, accepted.headers["location"]) == (303, "/customers")
    user = accounts.find_user(session, email="jiwoo.kim@example.com")
    assert (user.display_name, role_of(session, workspace, user.id)) == ("김지우", "marketer")
    again = TestClient(app)
    login = again.get("/login")
    signed_in = again.post(
        "/login",
        data={
            "email": "jiwoo.kim@example.com",
            "password": "a-long-first-password",
            "csrf_token": csrf_of(login.text),
        },
        follow_redirects=False,
    )
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/customers")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        pytest.param(
            "short-pass1", "The password must have at least 12 characters.", id="eleven-chars"
        ),
        pytest.param("password1234", "This password is too easy to guess", id="common"),
    ],
)
def test_a_new_user_needs_a_strong_password_of_twelve_characters(
    app: FastAPI,
    sign_in: Callable[..., Browser],
    session: Session,
    workspace: Workspace,
    password: str,
    message: str,
) -> None:
    owner = sign_in("owner")
    owner.post("/settings/members", {"email": "new@example.com", "role": "agent"})
    newcomer = TestClient(app, headers={"Accept-Language": "en"})
    link = _accept_link(session, "new@example.com")
    page = newcomer.post(
        f"{link}/accept",
        data={
            "display_name": "New",
            "password": password,
            "csrf_token": csrf_of(newcomer.get(link).text),
        },
    )

    assert page.status_code == 422
    assert message in html.unescape(page.text)
    assert 'value="New"' in page.text  # the form keeps what was typed
    assert session.scalar(select(User).where(User.email == "new@example.com")) is None
    assert audit_of(session, workspace, "invitation.accept") == []


def test_an_existing_account_is_invited_not_added(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    elsewhere = make_workspace(session)
    other = make_user(session, workspace=elsewhere, role="owner")
    member = make_user(session, workspace=workspace, role="viewer")
    session.flush()

    invited = owner.post("/settings/members", {"email": other.email.upper(), "role": "analyst"})

    assert f"An invitation was sent to {other.email}" in owner.follow(invited)
    assert role_of(session, workspace, other.id) is None
    again = owner.post("/settings/members", {"email": other.email, "role": "viewer"})
    assert again.status == 409
    assert f"An invitation to {other.email} is already waiting; send it again instead." in again
    already = owner.post("/settings/members", {"email": member.email, "role": "agent"})
    assert already.status == 409
    assert f"{member.email} is already a member of this workspace." in already


def test_a_malformed_email_is_refused(sign_in: Callable[..., Browser]) -> None:
    owner = sign_in("owner")

    page = owner.post(
        "/settings/members", {"email": "not-an-email", "role": "agent", "password": "x" * 12}
    )

    assert page.status == 422
    assert "Not a valid email address." in page


def test_owner_changes_a_members_role(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    agent = make_user(session, workspace=workspace, role="agent")
    session.flush()

    changed = owner.post(f"/settings/members/{agent.id}/role", {"role": "admin"})

    assert f"{agent.email} is now Admin." in owner.follow(changed)
    assert role_of(session, workspace, agent.id) == "admin"
    [entry] = audit_of(session, workspace, "member.role")
    assert entry.detail == {"role": "admin", "was": "agent"}
    unchanged = owner.post(f"/settings/members/{agent.id}/role", {"role": "admin"})
    assert f"{agent.email} already has that role." in owner.follow(unchanged)
    assert len(audit_of(session, workspace, "member.role")) == 1


def test_an_admin_cannot_grant_or_touch_the_owner_role(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = make_user(session, workspace=workspace, role="owner")
    agent = make_user(session, workspace=workspace, role="agent")
    admin = sign_in("admin")

    listing = admin.get("/settings/members")
    assert '<option value="owner"' not in listing.text
    assert "Only an owner can change this" in listing  # on the owner's row

    added = admin.post("/settings/members", {"email": "boss@example.com", "role": "owner"})
    assert added.status == 403
    assert "Only an owner can do this." in added
    promoted = admin.follow(admin.post(f"/settings/members/{agent.id}/role", {"role": "owner"}))
    demoted = admin.follow(admin.post(f"/settings/members/{owner.id}/role", {"role": "viewer"}))
    removed = admin.follow(admin.post(f"/settings/members/{owner.id}/remove"))
    for page in (promoted, demoted, removed):
        assert "Only an owner can do this." in page
    confirm = admin.get(f"/settings/members/{owner.id}/remove")
    assert "Only an owner can remove an owner." in confirm
    assert f'action="/settings/members/{owner.id}/remove"' not in confirm.text
    assert role_of(session, workspace, agent.id) == "agent"
    assert role_of(session, workspace, owner.id) == "owner"
    assert (
        session.scalar(
            select(MemberInvitation).where(MemberInvitation.workspace_id == workspace.id)
        )
        is None
    )


@pytest.mark.parametrize(
    ("path", "data"),
    [
        pytest.param("role", {"role": "admin"}, id="demote"),
        pytest.param("remove", {}, id="remove"),
    ],
)
def test_the_last_owner_cannot_be_demoted_or_removed(
    sign_in: Callable[..., Browser],
    session: Session,
    workspace: Workspace,
    path: str,
    data: dict[str, object],
) -> None:
    owner = sign_in("owner")

    page = owner.follow(owner.post(f"/settings/members/{owner.user.id}/{path}", data))

    assert page.status == 200
    assert 'class="flash error"' in page.text
    assert "A workspace needs at least one owner." in page
    assert role_of(session, workspace, owner.user.id) == "owner"


def test_removing_a_member_asks_first(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    agent = make_user(session, workspace=workspace, role="agent")
    session.flush()
    listing = owner.get("/settings/members")
    assert f'href="/settings/members/{agent.id}/remove"' in listing.text

    confirm = owner.get(f"/settings/members/{agent.id}/remove")

    assert confirm.status == 200
    assert f"Remove {agent.email} (Agent) from this workspace?" in confirm
    assert role_of(session, workspace, agent.id) == "agent"  # asking changes nothing
    removed = owner.follow(owner.post(f"/settings/members/{agent.id}/remove"))
    assert f"Removed {agent.email} from the workspace." in removed
    assert f"<td>{agent.email}</td>" not in removed.text
    assert role_of(session, workspace, agent.id) is None
    [entry] = audit_of(session, workspace, "member.remove")
    assert entry.target_id == str(agent.id)


def test_members_of_another_workspace_are_out_of_reach(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    other = make_user(session, workspace=make_workspace(session), role="agent")
    session.flush()

    assert owner.get(f"/settings/members/{other.id}/remove").status == 404
    refused = owner.follow(owner.post(f"/settings/members/{other.id}/remove"))
    assert "That user is not a member of this workspace." in refused
    refused = owner.follow(owner.post(f"/settings/members/{other.id}/role", {"role": "viewer"}))
    assert "That user is not a member of this workspace." in refused
    assert role_of(session, make_workspace(session), other.id) is None


def test_the_members_list_pages_with_a_cursor(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    for _ in range(51):
        # The owner's hash is reused: hashing 51 passwords would take most of the test's time.
        user = User(email=f"{unique('m')}@example.com", password_hash=owner.user.password_hash)
        session.add(user)
        session.flush()
        accounts.add_member(session, workspace=workspace, user=user, role="viewer")
    session.flush()

    first = owner.get("/settings/members")
    match = re.search(r'href="(/settings/members\?cursor=\d+)"', first.text)
    assert match
    second = owner.get(match.group(1))

    rows = re.compile(r'<tr id="member-(\d+)"')
    first_ids, second_ids = rows.findall(first.text), rows.findall(second.text)
    assert (len(first_ids), len(second_ids)) == (50, 2)
    assert not set(first_ids) & set(second_ids)
    assert 'rel="next"' not in second.text


# --- keys --------------------------------------------------------------------------------------


def new_secret(page: Page, kind: str) -> str:
    match = re.search(r'id="key-secret" class="secret" type="text" value="([^"]+)"', page.text)
    assert match, page.text[:2000]
    secret = match.group(1)
    assert secret.startswith({"write": "cxw_", "api": "cxk_"}[kind])
    return secret


def test_a_write_key_is_shown_once_with_a_snippet_and_then_works(
    client: TestClient, sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")

    created = owner.post("/settings/keys", {"kind": "write", "name": "Online store"})

    assert created.status == 200
    assert created.response.headers["cache-control"] == "no-store"  # type: ignore[attr-defined]
    secret = new_secret(created, "write")
    assert "This is the only time the secret key is shown." in created
    assert f"analytics.write_key = '{secret}'" in created
    assert "analytics.host = 'http://testserver'" in created
    assert f"curl -u '{secret}:' http://testserver/v1/track" in created
    listing = owner.get("/settings/keys")
    assert secret not in listing
    assert f"<code>{secret[:12]}…</code>" in listing
    assert "Online store" in listing
    [entry] = audit_of(session, workspace, "key.create")
    assert entry.detail == {"kind": "write", "role": None}

    tracked = client.post("/v1/track", json=TRACK, headers=basic_auth(secret))

    assert (tracked.status_code, tracked.json()) == (200, {"success": True})


def test_an_api_key_carries_its_role_to_the_rest_api(
    client: TestClient, sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")

    created = owner.post("/settings/keys", {"kind": "api", "name": "BI export", "role": "analyst"})

    secret = new_secret(created, "api")
    assert f"curl -H 'Authorization: Bearer {secret}' http://testserver/api/v1/customers" in (
        created
    )
    assert "analytics.write_key" not in created
    assert "Never used" in owner.get("/settings/keys")
    assert client.get("/api/v1/customers", headers=bearer(secret)).status_code == 200
    assert "Never used" not in owner.get("/settings/keys")
    written = client.post(
        "/api/v1/customers",
        json={"identities": [{"kind": "user_id", "value": "u-9"}]},
        headers=bearer(secret),
    )
    assert written.status_code == 403  # an analyst key reads only
    key = session.scalar(select(ApiKey).where(ApiKey.workspace_id == workspace.id))
    assert key is not None and (key.kind, key.role, key.name) == ("api", "analyst", "BI export")


def test_an_admin_cannot_create_an_owner_key(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    admin = sign_in("admin")

    page = admin.post("/settings/keys", {"kind": "api", "name": "root", "role": "owner"})

    assert page.status == 422
    assert "Only an owner can do this." in page
    assert session.scalar(select(ApiKey).where(ApiKey.workspace_id == workspace.id)) is None


def test_revoking_a_key_asks_first_then_the_key_gets_401(
    client: TestClient, sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    secret = new_secret(owner.post("/settings/keys", {"kind": "write", "name": "App"}), "write")
    key = session.scalar(select(ApiKey).where(ApiKey.workspace_id == workspace.id))
    assert key is not None

    confirm = owner.get(f"/settings/keys/{key.id}/revoke")

    assert confirm.status == 200
    assert f"Revoke the key App ({key.prefix}…)?" in confirm
    assert client.post("/v1/track", json=TRACK, headers=basic_auth(secret)).status_code == 200
    revoked = owner.follow(owner.post(f"/settings/keys/{key.id}/revoke"))
    assert f"The key {key.prefix}… is revoked." in revoked
    assert 'class="badge bad"' in revoked.text
    assert f'href="/settings/keys/{key.id}/revoke"' not in revoked.text
    assert client.post("/v1/track", json=TRACK, headers=basic_auth(secret)).status_code == 401
    again = owner.follow(owner.post(f"/settings/keys/{key.id}/revoke"))
    assert f"The key {key.prefix}… was already revoked." in again
    assert owner.get(f"/settings/keys/{key.id}/revoke").location == "/settings/keys"
    assert len(audit_of(session, workspace, "key.revoke")) == 1


def test_an_api_key_gets_401_once_revoked(
    client: TestClient, sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    created = owner.post("/settings/keys", {"kind": "api", "name": "CRM", "role": "viewer"})
    secret = new_secret(created, "api")
    key = session.scalar(select(ApiKey).where(ApiKey.workspace_id == workspace.id))
    assert key is not None

    owner.post(f"/settings/keys/{key.id}/revoke")

    assert client.get("/api/v1/customers", headers=bearer(secret)).status_code == 401


def test_keys_of_another_workspace_are_out_of_reach(
    sign_in: Callable[..., Browser], session: Session
) -> None:
    owner = sign_in("owner")
    foreign, _secret = accounts.create_key(
        session, workspace_id=make_workspace(session).id, kind="write"
    )
    session.flush()

    assert owner.get(f"/settings/keys/{foreign.id}/revoke").status == 404
    refused = owner.follow(owner.post(f"/settings/keys/{foreign.id}/revoke"))
    assert f"There is no key {foreign.id} in this workspace." in refused
    session.expire_all()
    assert session.get(ApiKey, foreign.id).revoked_at is None  # type: ignore[union-attr]


# --- identity keys -----------------------------------------------------------------------------


def test_identity_keys_are_saved_and_audited(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    before = owner.get("/settings/identity")
    assert 'name="kinds" value="email" checked' in before.text
    assert 'name="kinds" value="phone" checked' in before.text
    assert "family email" in before

    saved = owner.follow(owner.post("/settings/identity", {"kinds": ["phone"]}))

    assert "Identity keys saved." in saved
    assert 'name="kinds" value="email">' in saved.text
    assert 'name="kinds" value="phone" checked' in saved.text
    session.expire_all()
    assert session.get(Workspace, workspace.id).identity_keys == ["user_id", "phone"]  # type: ignore[union-attr]
    [entry] = audit_of(session, workspace, "workspace.identity_keys")
    assert entry.detail == {
        "before": ["user_id", "email", "phone"],
        "after": ["user_id", "phone"],
    }
    owner.post("/settings/identity", {"kinds": ["phone"]})  # the same again: nothing to audit
    assert len(audit_of(session, workspace, "workspace.identity_keys")) == 1
    owner.post("/settings/identity", {})  # none ticked: only the user id stays unique
    session.expire_all()
    assert session.get(Workspace, workspace.id).identity_keys == ["user_id"]  # type: ignore[union-attr]


def test_an_unknown_identity_key_is_refused(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")

    page = owner.follow(owner.post("/settings/identity", {"kinds": ["email", "name"]}))

    assert 'class="flash error"' in page.text
    session.expire_all()
    assert session.get(Workspace, workspace.id).identity_keys == ["user_id", "email", "phone"]  # type: ignore[union-attr]


# --- audit log ---------------------------------------------------------------------------------


def test_the_audit_log_lists_actions_newest_first_in_pages(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace
) -> None:
    owner = sign_in("owner")
    agent = make_user(session, workspace=workspace, role="agent")
    principal = accounts.cli_principal(workspace.id)
    for n in range(55):
        accounts.record_audit(
            session,
            principal=principal,
            action="customer.export",
            target_type="customer",
            target_id=n + 1,
        )
    session.flush()
    owner.post(f"/settings/members/{agent.id}/role", {"role": "marketer"})
    owner.post("/settings/keys", {"kind": "write", "name": "Web"})

    first = owner.get("/settings/audit")

    assert first.status == 200
    rows = re.findall(r"<tr>\s*<td class=\"nowrap\"><time", first.text)
    assert len(rows) == 50
    assert first.text.index("Key created") < first.text.index("Role changed")
    assert "Agent → Marketer" in first
    assert owner.user.email in first
    assert 'href="/customers/55"' in first.text
    match = re.search(r'href="(/settings/audit\?cursor=\d+)"', first.text)
    assert match
    second = owner.get(match.group(1))
    assert len(re.findall(r"<tr>\s*<td class=\"nowrap\"><time", second.text)) == 7
    assert 'href="/customers/1"' in second.text
    assert 'href="/customers/55"' not in second.text
    assert 'rel="next"' not in second.text
    assert 'href="/settings/audit"' in second.text  # back to the first page


# --- access, CSRF, language --------------------------------------------------------------------

SETTINGS_PAGES = [
    "/settings",
    "/settings/members",
    "/settings/keys",
    "/settings/identity",
    "/settings/audit",
]
SETTINGS_FORMS = [
    ("/settings/members", {"email": "x@example.com", "role": "viewer", "password": "x" * 12}),
    ("/settings/keys", {"kind": "api", "name": "mine", "role": "owner"}),
    ("/settings/identity", {"kinds": ["email"]}),
]


@pytest.mark.parametrize("role", ["agent", "marketer", "analyst", "viewer"])
def test_only_owners_and_admins_reach_the_settings(
    sign_in: Callable[..., Browser], session: Session, workspace: Workspace, role: str
) -> None:
    user = sign_in(role)
    victim = make_user(session, workspace=workspace, role="owner")
    key, _ = accounts.create_key(session, workspace_id=workspace.id, kind="write")
    session.flush()

    for path in SETTINGS_PAGES:
        assert user.get(path).status == 403, path
    for path, data in [
        *SETTINGS_FORMS,
        (f"/settings/members/{victim.id}/role", {"role": role}),
        (f"/settings/members/{victim.id}/remove", {}),
        (f"/settings/keys/{key.id}/revoke", {}),
    ]:
        assert user.post(path, data).status == 403, path
    assert role_of(session, workspace, victim.id) == "owner"
    assert session.scalar(select(User).where(User.email == "x@example.com")) is None
    session.expire_all()
    assert session.get(ApiKey, key.id).revoked_at is None  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_see_every_section(sign_in: Callable[..., Browser], role: str) -> None:
    user = sign_in(role)

    home = user.get("/settings")

    assert (home.status, home.location) == (303, "/settings/members")
    page = user.get("/settings/members")
    for path in SETTINGS_PAGES[1:]:
        assert f'href="{path}"' in page.text
    assert '<a href="/settings/members" aria-current="page">Members</a>' in page.text
    assert "Content-Security-Policy" in page.response.headers  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "token", [pytest.param(None, id="missing"), pytest.param("forged-" * 6, id="wrong")]
)
@pytest.mark.parametrize(("path", "data"), SETTINGS_FORMS)
def test_a_form_without_the_sessions_csrf_token_is_rejected(
    sign_in: Callable[..., Browser],
    session: Session,
    workspace: Workspace,
    path: str,
    data: dict[str, object],
    token: str | None,
) -> None:
    owner = sign_in("owner")
    form = dict(data)
    if token is not None:
        form["csrf_token"] = token

    page = owner.post(path, form, csrf=False)

    assert page.status == 403
    assert "The form has expired; reload the page and try again." in page
    assert session.scalar(select(User).where(User.email == "x@example.com")) is None
    assert session.scalar(select(ApiKey).where(ApiKey.workspace_id == workspace.id)) is None
    assert audit_of(session, workspace, "workspace.identity_keys") == []


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        pytest.param(
            "ko",
            ['<html lang="ko">', "구성원 초대", "초대 보내기", "소유자", "역할별 권한 보기"],
            id="korean",
        ),
        pytest.param(
            "en",
            ['<html lang="en">', "Invite a member", "Send invitation", "Owner", "What each role"],
            id="english",
        ),
    ],
)
def test_the_members_page_speaks_the_users_language(
    sign_in: Callable[..., Browser], locale: str, expected: list[str]
) -> None:
    owner = sign_in("owner", locale=locale)

    page = owner.get("/settings/members")

    for text in expected:
        assert text in page, text
    for key in ("members.", "settings.", "role_help."):
        assert f">{key}" not in page.text  # no untranslated catalog key shows


def test_korean_flash_after_inviting_a_member(
    sign_in: Callable[..., Browser], session: Session
) -> None:
    owner = sign_in("owner", locale="ko")

    page = owner.follow(
        owner.post("/settings/members", {"email": "minji@example.com", "role": "agent"})
    )

    assert (
        "minji@example.com에게 초대 메일을 보냈습니다. 수락하면 상담원 역할로 구성원이 됩니다."
        in page
    )


def test_every_audited_action_has_a_label_in_both_languages() -> None:
    from pathlib import Path

    from cxloop.core.i18n import catalog

    source = Path(accounts.__file__).resolve().parent.parent
    actions = set()
    for path in source.rglob("*.py"):
        actions |= set(re.findall(r"""\baction=["']([\w.]+)["']""", path.read_text("utf-8")))

    assert "member.add" in actions
    missing = [
        action
        for action in sorted(actions)
        if set(catalog().get("audit_action." + action.replace(".", "_"), {})) != {"ko", "en"}
    ]
    assert missing == []
