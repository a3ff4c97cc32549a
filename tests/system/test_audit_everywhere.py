"""Every audited action writes its audit entry in its service, so each transport that offers
it (the REST API, the web page, the CLI) leaves exactly one row with the same action and target,
its actor being the transport's (an API key, a signed-in user, the operator's `cli`)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.accounts import invitations
from cxloop.accounts import service as accounts
from cxloop.channels import outbox
from cxloop.core.db import Database
from cxloop.core.errors import ValidationFailed
from cxloop.core.timeutil import utcnow
from cxloop.feedback import texts as survey_texts
from cxloop.feedback.improvements import service as improvements
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import ApiKey, AuditEntry, Customer, TextAnalysis, TextTheme, User, Workspace
from cxloop.profiles import service as profiles
from cxloop.text.registry import service as text_registry
from cxloop.text.store import service as text_store
from cxloop.text.taxonomy import service as text_taxonomy
from tests.factories import PASSWORD, Tenant, make_customer, make_user, unique
from tests.helpers.cli import Result

HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
DEFINITION = {
    "questions": [
        {"id": "nps", "type": "nps", "required": True, "text": {"ko": "추천?", "en": "Rec?"}},
        {"id": "comment", "type": "text", "text": {"ko": "한 말씀", "en": "Anything else?"}},
    ]
}


@dataclass
class World:
    """A workspace with an owner API key, and its owner signed in to the web UI."""

    session: Session
    client: TestClient
    tenant: Tenant
    owner: User

    @property
    def workspace(self) -> Workspace:
        return self.tenant.workspace

    def api(self, method: str, path: str, **kw: Any) -> Any:
        reply = self.client.request(method, path, headers=self.tenant.api, **kw)
        assert reply.status_code < 300, (reply.status_code, reply.text[:500])
        return reply

    def web(self, path: str, data: dict[str, Any] | None = None) -> Any:
        page = self.client.get("/settings/members", headers=HTML)
        match = CSRF.search(page.text)
        assert match, page.text[:300]
        reply = self.client.post(
            path,
            data={**(data or {}), "csrf_token": html.unescape(match.group(1))},
            headers=HTML,
            follow_redirects=False,
        )
        assert reply.status_code in (200, 303), (reply.status_code, reply.text[:500])
        return reply

    # --- things to act on ---

    def member(self, role: str = "agent") -> User:
        user = make_user(self.session, workspace=self.workspace, role=role)
        self.session.flush()
        return user

    def key(self) -> ApiKey:
        key, _ = accounts.create_key(self.session, workspace_id=self.workspace.id, kind="write")
        return key

    def customer(self) -> Customer:
        customer = make_customer(self.session, workspace=self.workspace, email="a@example.com")
        self.session.flush()
        return customer

    def survey(self, status: str = "draft") -> int:
        survey = survey_service.create_survey(
            self.session,
            workspace_id=self.workspace.id,
            key=unique("nps-"),
            name="구매 후 설문",
            kind="nps",
            definition=DEFINITION,
        )
        if status != "draft":
            survey_service.set_status(self.session, survey=survey, status=status)
        self.session.flush()
        return survey.id

    def analysis(self) -> int:
        survey_id = self.survey("live")
        survey = survey_service.get_survey(
            self.session, workspace_id=self.workspace.id, survey_id=survey_id
        )
        response = response_service.submit_response(
            self.session, survey=survey, answers={"nps": 2, "comment": "배송이 너무 늦었어요"}
        )
        self.session.flush()
        text_store.analyse_and_store(
            self.session,
            workspace_id=self.workspace.id,
            source_type=survey_texts.SOURCE,
            items=survey_texts.survey_texts.fetch(
                self.session, workspace_id=self.workspace.id, ids=[response.id]
            ),
        )
        self.session.flush()
        return self.session.scalars(
            select(TextAnalysis.id).where(
                TextAnalysis.workspace_id == self.workspace.id,
                TextAnalysis.source_id == response.id,
            )
        ).one()

    def message(self, status: str) -> int:
        message = outbox.queue_email(
            self.session,
            workspace_id=self.workspace.id,
            recipient=f"{unique('c')}@example.com",
            subject="안녕하세요",
            text="본문",
            dedupe_key=unique("audit:"),
        )
        message.status = status
        self.session.flush()
        return message.id


# An action done through one transport: it returns the target id the entry must name.
Act = Callable[[World], object]


def _new_key_id(w: World) -> int:
    return w.session.scalars(
        select(ApiKey.id).where(ApiKey.workspace_id == w.workspace.id).order_by(ApiKey.id.desc())
    ).first()  # type: ignore[return-value]


def key_create_api(w: World) -> object:
    return w.api("POST", "/api/v1/keys", json={"kind": "write", "name": "shop"}).json()["id"]


def key_create_web(w: World) -> object:
    w.web("/settings/keys", {"kind": "write", "name": "shop"})
    return _new_key_id(w)


def key_revoke_api(w: World) -> object:
    key = w.key()
    w.api("DELETE", f"/api/v1/keys/{key.id}")
    return key.id


def key_revoke_web(w: World) -> object:
    key = w.key()
    w.web(f"/settings/keys/{key.id}/revoke")
    return key.id


def role_api(w: World) -> object:
    user = w.member()
    w.api("PATCH", f"/api/v1/members/{user.id}", json={"role": "analyst"})
    return user.id


def role_web(w: World) -> object:
    user = w.member()
    w.web(f"/settings/members/{user.id}/role", {"role": "analyst"})
    return user.id


def remove_api(w: World) -> object:
    user = w.member()
    w.api("DELETE", f"/api/v1/members/{user.id}")
    return user.id


def remove_web(w: World) -> object:
    user = w.member()
    w.web(f"/settings/members/{user.id}/remove")
    return user.id


def teams_api(w: World) -> object:
    user = w.member()
    w.api("PATCH", f"/api/v1/members/{user.id}", json={"teams": ["cs"]})
    return user.id


def teams_web(w: World) -> object:
    user = w.member()
    w.web(f"/settings/members/{user.id}/teams", {"teams": "cs"})
    return user.id


def invite_api(w: World) -> object:
    reply = w.api("POST", "/api/v1/invitations", json={"email": "new@example.com", "role": "agent"})
    return reply.json()["id"]


def invite_web(w: World) -> object:
    w.web("/settings/members", {"email": "new@example.com", "role": "agent"})
    [pending] = invitations.pending_invitations(w.session, workspace_id=w.workspace.id, limit=5)
    return pending.id


def _invitation(w: World) -> int:
    principal = accounts.cli_principal(w.workspace.id)
    made = invitations.invite(w.session, principal=principal, email="new@example.com", role="agent")
    w.session.flush()
    return made.id


def uninvite_api(w: World) -> object:
    invitation_id = _invitation(w)
    w.api("DELETE", f"/api/v1/invitations/{invitation_id}")
    return invitation_id


def uninvite_web(w: World) -> object:
    invitation_id = _invitation(w)
    w.web(f"/settings/invitations/{invitation_id}/revoke")
    return invitation_id


def export_api(w: World) -> object:
    customer = w.customer()
    w.api("GET", f"/api/v1/customers/{customer.id}/export")
    return customer.id


def export_web(w: World) -> object:
    customer = w.customer()
    w.web(f"/customers/{customer.id}/export")
    return customer.id


def erase_api(w: World) -> object:
    customer = w.customer()
    w.api("POST", f"/api/v1/customers/{customer.id}/erase")
    return customer.id


def erase_web(w: World) -> object:
    customer = w.customer()
    w.web(f"/customers/{customer.id}/erase", {"confirm": str(customer.id)})
    return customer.id


def _two_customers(w: World) -> tuple[int, int]:
    older = make_customer(w.session, workspace=w.workspace)
    w.session.flush()
    newer = make_customer(w.session, workspace=w.workspace)
    w.session.flush()
    return older.id, newer.id


def merge_api(w: World) -> object:
    older, newer = _two_customers(w)
    return w.api("POST", f"/api/v1/customers/{older}/merge", json={"other_id": newer}).json()["id"]


def merge_web(w: World) -> object:
    older, newer = _two_customers(w)
    w.web(f"/customers/{older}/merge", {"other": str(newer)})
    return older


CONSENT = {"purpose": "marketing", "channel": "email", "source": "agent"}


def consent_api(w: World) -> object:
    customer = w.customer()
    w.api("POST", f"/api/v1/customers/{customer.id}/consent", json={**CONSENT, "granted": True})
    return customer.id


def consent_web(w: World) -> object:
    customer = w.customer()
    w.web(f"/customers/{customer.id}/consent", {**CONSENT, "decision": "grant"})
    return customer.id


def publish_api(w: World) -> object:
    survey_id = w.survey()
    w.api("POST", f"/api/v1/surveys/{survey_id}/status", json={"status": "live"})
    return survey_id


def publish_web(w: World) -> object:
    survey_id = w.survey()
    w.web(f"/surveys/{survey_id}/status", {"status": "live"})
    return survey_id


def close_api(w: World) -> object:
    survey_id = w.survey("live")
    w.api("POST", f"/api/v1/surveys/{survey_id}/status", json={"status": "closed"})
    return survey_id


def close_web(w: World) -> object:
    survey_id = w.survey("live")
    w.web(f"/surveys/{survey_id}/status", {"status": "closed"})
    return survey_id


def _improvement(w: World) -> int:
    made = improvements.create_improvement(
        w.session, workspace_id=w.workspace.id, title_ko="배송이 빨라졌어요", body_ko="이틀 안에"
    )
    w.session.flush()
    return made.id


def announce_api(w: World) -> object:
    improvement_id = _improvement(w)
    w.api("POST", f"/api/v1/improvements/{improvement_id}/announce")
    return improvement_id


def announce_web(w: World) -> object:
    improvement_id = _improvement(w)
    w.web(f"/improvements/{improvement_id}/announce")
    return improvement_id


CATEGORY = {"key": "gift_wrap", "name_ko": "선물 포장", "name_en": "Gift wrapping"}


def category_api(w: World) -> object:
    w.api("POST", "/api/v1/text/categories", json={**CATEGORY, "seeds_ko": ["선물포장"]})
    return CATEGORY["key"]


def category_web(w: World) -> object:
    w.web("/text/taxonomy", {**CATEGORY, "seeds_ko": "선물포장"})
    return CATEGORY["key"]


def _theme(w: World) -> int:
    theme = TextTheme(
        workspace_id=w.workspace.id,
        lang="ko",
        label="선물 포장",
        keywords=["선물포장", "포장지"],
        window_start=utcnow(),
        window_end=utcnow(),
    )
    w.session.add(theme)
    w.session.flush()
    return theme.id


def promote_api(w: World) -> object:
    theme_id = _theme(w)
    body = {"key": "gift_wrap"}
    return w.api("POST", f"/api/v1/text/themes/{theme_id}/promote", json=body).json()[
        "category_key"
    ]


def promote_web(w: World) -> object:
    theme_id = _theme(w)
    w.web(f"/text/themes/{theme_id}/promote")
    return w.session.scalars(
        select(TextTheme.promoted_category_key).where(TextTheme.id == theme_id)
    ).one()


def category_edit_api(w: World) -> object:
    text_taxonomy.ensure_taxonomy(w.session, workspace_id=w.workspace.id)
    w.api("PATCH", "/api/v1/text/categories/delivery", json={"name_en": "Shipping"})
    return "delivery"


def category_edit_web(w: World) -> object:
    text_taxonomy.ensure_taxonomy(w.session, workspace_id=w.workspace.id)
    category = text_taxonomy.get_category(w.session, workspace_id=w.workspace.id, key="delivery")
    form = {
        "name_ko": category.name_ko,
        "name_en": "Shipping",
        "seeds_ko": "\n".join(category.seeds_ko),
        "seeds_en": "\n".join(category.seeds_en),
    }
    w.web("/text/taxonomy/delivery", form)
    return "delivery"


def category_off_api(w: World) -> object:
    text_taxonomy.ensure_taxonomy(w.session, workspace_id=w.workspace.id)
    w.api("PATCH", "/api/v1/text/categories/delivery", json={"active": False})
    return "delivery"


def category_off_web(w: World) -> object:
    text_taxonomy.ensure_taxonomy(w.session, workspace_id=w.workspace.id)
    w.web("/text/taxonomy/delivery/deactivate")
    return "delivery"


def category_team_api(w: World) -> object:
    text_taxonomy.ensure_taxonomy(w.session, workspace_id=w.workspace.id)
    w.api("PUT", "/api/v1/text/categories/delivery/team", json={"team": "물류팀"})
    # Naming the same team again changes nothing and is not audited again.
    w.api("PUT", "/api/v1/text/categories/delivery/team", json={"team": " 물류팀 "})
    return "delivery"


def _shipped(w: World) -> int:
    return text_registry.shipped_run(w.session).id


def activate_api(w: World) -> object:
    run_id = _shipped(w)
    w.api("POST", f"/api/v1/text/models/{run_id}/activate")
    return run_id


def activate_web(w: World) -> object:
    run_id = _shipped(w)
    w.web(f"/text/models/{run_id}/activate")
    return run_id


def correct_api(w: World) -> object:
    analysis_id = w.analysis()
    w.api(
        "POST",
        f"/api/v1/text/analyses/{analysis_id}/corrections",
        json={"sentiment": "neutral"},
    )
    return analysis_id


def correct_web(w: World) -> object:
    analysis_id = w.analysis()
    w.web(
        f"/text/analyses/{analysis_id}/correct",
        {"sentiment": "neutral", "next": "/surveys"},
    )
    return analysis_id


def retry_api(w: World) -> object:
    message_id = w.message("failed")
    w.api("POST", f"/api/v1/outbox/{message_id}/retry")
    return message_id


def retry_web(w: World) -> object:
    message_id = w.message("failed")
    w.web(f"/settings/outbox/{message_id}/retry")
    return message_id


def cancel_api(w: World) -> object:
    message_id = w.message("queued")
    w.api("POST", f"/api/v1/outbox/{message_id}/cancel")
    return message_id


def cancel_web(w: World) -> object:
    message_id = w.message("queued")
    w.web(f"/settings/outbox/{message_id}/cancel")
    return message_id


def rotate_web(w: World) -> object:
    w.web("/settings/keys/identity-secret/rotate")
    return w.workspace.id


def identity_keys_web(w: World) -> object:
    w.web("/settings/identity", {"kinds": ["email"]})
    return w.workspace.id


# (action, target type, the transports that offer it and how)
ACTIONS: list[tuple[str, str, dict[str, Act]]] = [
    ("key.create", "key", {"api": key_create_api, "web": key_create_web}),
    ("key.revoke", "key", {"api": key_revoke_api, "web": key_revoke_web}),
    ("member.role", "user", {"api": role_api, "web": role_web}),
    ("member.remove", "user", {"api": remove_api, "web": remove_web}),
    ("member.teams", "user", {"api": teams_api, "web": teams_web}),
    ("invitation.create", "invitation", {"api": invite_api, "web": invite_web}),
    ("invitation.revoke", "invitation", {"api": uninvite_api, "web": uninvite_web}),
    ("customer.export", "customer", {"api": export_api, "web": export_web}),
    ("customer.erase", "customer", {"api": erase_api, "web": erase_web}),
    ("customer.merge", "customer", {"api": merge_api, "web": merge_web}),
    ("consent.record", "customer", {"api": consent_api, "web": consent_web}),
    ("survey.publish", "survey", {"api": publish_api, "web": publish_web}),
    ("survey.close", "survey", {"api": close_api, "web": close_web}),
    ("improvement.announce", "improvement", {"api": announce_api, "web": announce_web}),
    ("text_category.create", "text_category", {"api": category_api, "web": category_web}),
    (
        "text_category.create",
        "text_category",
        {"api-theme": promote_api, "web-theme": promote_web},
    ),
    (
        "text_category.update",
        "text_category",
        {"api": category_edit_api, "web": category_edit_web},
    ),
    (
        "text_category.deactivate",
        "text_category",
        {"api": category_off_api, "web": category_off_web},
    ),
    ("text_category.team", "text_category", {"api": category_team_api}),
    ("text_model.activate", "text_model_run", {"api": activate_api, "web": activate_web}),
    ("text.correct", "text_analysis", {"api": correct_api, "web": correct_web}),
    ("outbox.retry", "outbound_message", {"api": retry_api, "web": retry_web}),
    ("outbox.cancel", "outbound_message", {"api": cancel_api, "web": cancel_web}),
    ("workspace.identity_secret_rotate", "workspace", {"web": rotate_web}),
    ("workspace.identity_keys", "workspace", {"web": identity_keys_web}),
]


@pytest.fixture
def world(session: Session, client: TestClient, tenant: Tenant) -> World:
    owner = make_user(session, workspace=tenant.workspace, role="owner")
    session.flush()
    login = client.get("/login", headers=HTML)
    token = html.unescape(CSRF.search(login.text).group(1))  # type: ignore[union-attr]
    signed_in = client.post(
        "/login",
        data={"email": owner.email, "password": PASSWORD, "csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text[:300]
    return World(session, client, tenant, owner)


def _entries(session: Session, workspace_id: int, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEntry).where(
                AuditEntry.workspace_id == workspace_id, AuditEntry.action == action
            )
        )
    )


@pytest.mark.parametrize(
    ("action", "target_type", "transport"),
    [
        pytest.param(action, target, transport, id=f"{action}-{transport}")
        for action, target, ways in ACTIONS
        for transport in ways
    ],
)
def test_each_transport_audits_the_action_once(
    world: World, action: str, target_type: str, transport: str
) -> None:
    # given the workspace's audit log so far
    acts = {t: act for name, _target, ways in ACTIONS if name == action for t, act in ways.items()}
    before = {e.id for e in _entries(world.session, world.workspace.id, action)}

    # when the action is done through the transport
    target_id = acts[transport](world)

    # then exactly one new entry names the action, its target and the transport's actor
    new = [e for e in _entries(world.session, world.workspace.id, action) if e.id not in before]
    assert [(e.action, e.target_type, e.target_id) for e in new] == [
        (action, target_type, str(target_id))
    ]
    [entry] = new
    actor = (entry.actor_key_id, entry.actor_user_id, entry.actor_label)
    if transport.startswith("api"):
        assert actor[:2] == (world.tenant.api_key.id, None)
    else:
        assert actor == (None, world.owner.id, world.owner.email)


def test_a_second_revocation_changes_nothing_and_is_not_audited_again(world: World) -> None:
    key = world.key()
    world.api("DELETE", f"/api/v1/keys/{key.id}")
    again = world.api("DELETE", f"/api/v1/keys/{key.id}")

    assert again.json()["revoked_at"] is not None
    assert len(_entries(world.session, world.workspace.id, "key.revoke")) == 1


def test_only_an_owner_creates_an_owner_key_through_any_transport(
    session: Session, client: TestClient, tenant: Tenant
) -> None:
    admin = tenant.key("admin")
    refused = client.post("/api/v1/keys", json={"kind": "api", "role": "owner"}, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["detail"] == "Only an owner can create an owner key."
    admin_principal = accounts.Principal(workspace_id=tenant.id, role="admin", label="admin")
    with pytest.raises(ValidationFailed, match="Only an owner can create an owner key"):
        accounts.create_key(
            session, workspace_id=tenant.id, kind="api", role="owner", principal=admin_principal
        )
    assert _entries(session, tenant.id, "key.create") == []


@pytest.mark.parametrize(
    ("key", "name", "team", "fields"),
    [
        pytest.param("Bad Key", "설문", "", ["key"], id="upper-case-key"),
        pytest.param("-lead", "설문", "", ["key"], id="key-starting-with-dash"),
        pytest.param("k" * 65, "설문", "", ["key"], id="key-too-long"),
        pytest.param("ok-key", "   ", "", ["name"], id="blank-name"),
        pytest.param("ok-key", "n" * 201, "", ["name"], id="long-name"),
        pytest.param("ok-key", "설문", "t" * 65, ["owner_team"], id="long-team"),
        pytest.param("Bad Key", "", "", ["key", "name"], id="key-and-name"),
    ],
)
def test_survey_key_and_name_rules_hold_for_every_caller(
    session: Session, tenant: Tenant, key: str, name: str, team: str, fields: list[str]
) -> None:
    # The service itself refuses (the web form, the API, imports and the demo all call it).
    with pytest.raises(ValidationFailed) as refused:
        survey_service.create_survey(
            session,
            workspace_id=tenant.id,
            key=key,
            name=name,
            kind="nps",
            definition=DEFINITION,
            owner_team=team,
        )
    assert [e["field"] for e in refused.value.errors] == fields


def test_a_blank_survey_key_is_made_from_the_kind_and_the_name_trimmed(
    session: Session, tenant: Tenant
) -> None:
    survey = survey_service.create_survey(
        session,
        workspace_id=tenant.id,
        key="",
        name="  구매 후  ",
        kind="nps",
        definition=DEFINITION,
    )
    assert re.fullmatch(r"nps-[0-9a-f]{6}", survey.key)
    assert survey.name == "구매 후"


# --- the command line (it commits: each run is its own workspace) ------------------------------


def _workspace_of(database: Database, slug: str) -> int:
    with database.session() as session:
        return accounts.find_workspace(session, slug=slug).id


def _cli_customer(database: Database, workspace_id: int) -> int:
    with database.session() as session:
        workspace = session.get(Workspace, workspace_id)
        assert workspace is not None
        customer = profiles.create_customer(
            session,
            workspace=workspace,
            principal=None,
            traits={},
            identities=[("email", "cli@example.com")],
        )
        session.flush()
        return customer.id


def cli_workspace(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, object]:
    return "workspace", _workspace_of(database, slug)


def cli_member_add(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, object]:
    email = f"{unique('cli')}@example.com"
    result = run(
        "user", "create", "-w", slug, "--email", email, "--role", "agent", "--password", PASSWORD
    )
    assert result.code == 0, result.err
    with database.session() as session:
        return "user", accounts.find_user(session, email=email).id


def cli_key_create(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, object]:
    result = run("key", "create", "-w", slug, "--kind", "write")
    assert result.code == 0, result.err
    return "key", int(re.search(r"\(id (\d+)\)", result.err).group(1))  # type: ignore[union-attr]


def cli_key_revoke(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, object]:
    made = run("key", "create", "-w", slug, "--kind", "write")
    key_id = re.search(r"\(id (\d+)\)", made.err).group(1)  # type: ignore[union-attr]
    assert run("key", "revoke", "-w", slug, key_id).code == 0
    # A second revocation changes nothing and is not audited again.
    assert run("key", "revoke", "-w", slug, key_id).code == 0
    return "key", int(key_id)


def cli_export(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, object]:
    customer_id = _cli_customer(database, _workspace_of(database, slug))
    assert run("export", "customer", str(customer_id), "-w", slug).code == 0
    return "customer", customer_id


def cli_erase(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, object]:
    customer_id = _cli_customer(database, _workspace_of(database, slug))
    assert run("erase", "customer", str(customer_id), "-w", slug, "--yes").code == 0
    return "customer", customer_id


def _cli_member(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, int]:
    email = f"{unique('cli')}@example.com"
    made = run(
        "user", "create", "-w", slug, "--email", email, "--role", "agent", "--password", PASSWORD
    )
    assert made.code == 0, made.err
    with database.session() as session:
        return email, accounts.find_user(session, email=email).id


def cli_sign_out(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, object]:
    email, user_id = _cli_member(run, database, slug)
    assert run("user", "sign-out", "--email", email).code == 0
    return "user", user_id


def cli_password(run: Callable[..., Result], database: Database, slug: str) -> tuple[str, object]:
    email, user_id = _cli_member(run, database, slug)
    result = run("user", "password", "--email", email, "--password", PASSWORD + "-새것")
    assert result.code == 0, result.err
    return "user", user_id


@pytest.mark.parametrize(
    ("action", "act"),
    [
        pytest.param("workspace.create", cli_workspace, id="workspace.create-cli"),
        pytest.param("member.sign_out", cli_sign_out, id="member.sign_out-cli"),
        pytest.param("member.password_set", cli_password, id="member.password_set-cli"),
        pytest.param("member.add", cli_member_add, id="member.add-cli"),
        pytest.param("key.create", cli_key_create, id="key.create-cli"),
        pytest.param("key.revoke", cli_key_revoke, id="key.revoke-cli"),
        pytest.param("customer.export", cli_export, id="customer.export-cli"),
        pytest.param("customer.erase", cli_erase, id="customer.erase-cli"),
    ],
)
def test_the_cli_audits_the_action_once(
    cli: Callable[..., Result], database: Database, action: str, act: Any
) -> None:
    slug = unique("audit-cli-")
    assert cli("workspace", "create", f"Shop {slug}", "--slug", slug).code == 0

    target_type, target_id = act(cli, database, slug)

    with database.session() as session:
        entries = _entries(session, _workspace_of(database, slug), action)
        assert [(e.action, e.target_type, e.target_id) for e in entries] == [
            (action, target_type, str(target_id))
        ]
        assert [(e.actor_key_id, e.actor_user_id, e.actor_label) for e in entries] == [
            (None, None, "cli")
        ]
