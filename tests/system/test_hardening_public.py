"""What anyone may do with a public key or link: the survey widget acts for a customer only with
a user id signed by the shop's server (userHash), survey links and the widget are rate-limited
per link and per client address, and a burst of unhappy answers reaches staff as one digest
per team, not one mail per answer."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request

from cxloop.accounts import service as accounts
from cxloop.accounts.access import Principal
from cxloop.accounts.widget_identity import identity_secret, rotate_identity_secret, user_hash
from cxloop.core.http import client_address
from cxloop.core.settings import Settings
from cxloop.core.timeutil import utcnow
from cxloop.feedback.followups import digests as followup_digests
from cxloop.models import (
    AuditEntry,
    Customer,
    FollowUp,
    FollowUpDigest,
    Identity,
    Improvement,
    ImprovementLink,
    Invitation,
    Notification,
    OutboundMessage,
    Response,
    Survey,
    User,
)
from tests.factories import Tenant, make_customer, make_user, unique
from tests.helpers.distribution import live_survey as live_widget_survey
from tests.helpers.respondent import form_token, text_of
from tests.helpers.respondent import live_survey as live_link_survey
from tests.helpers.web import get, login, post

PROMPT = "/widget/v1/prompt"
SHOP = {"Origin": "https://shop.example"}


def prompt(client: TestClient, tenant: Tenant, **params: Any) -> Any:
    return client.get(PROMPT, params={"writeKey": tenant.write_secret, **params}, headers=SHOP)


def hash_for(tenant: Tenant, settings: Settings, user_id: str) -> str:
    """What the shop's server computes, as the settings page shows it."""
    secret = identity_secret(tenant.workspace, settings=settings)
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def token_of(url: str) -> str:
    return url.split("/s/", 1)[1].removesuffix("?embed=1")


def answer_personal(client: TestClient, url: str, nps: int) -> Any:
    """Open the framed link and answer it (a detractor gives a reason too)."""
    path = "/s/" + token_of(url)
    page = client.get(path + "?embed=1")
    assert page.status_code == 200, page.text
    data = {"form_token": form_token(page.text), "q.nps": str(nps)}
    if nps <= 6:
        data["q.why_low"] = "delivery"
    return client.post(path + "?embed=1", data=data)


def responses_of(session: Session, customer: Customer) -> list[Response]:
    session.expire_all()
    return list(session.scalars(select(Response).where(Response.customer_id == customer.id)))


def invitations_of(session: Session, customer: Customer) -> list[Invitation]:
    session.expire_all()
    return list(session.scalars(select(Invitation).where(Invitation.customer_id == customer.id)))


def holder_of(session: Session, tenant: Tenant, kind: str, value: str) -> int | None:
    session.expire_all()
    return session.scalar(
        select(Identity.customer_id).where(
            Identity.workspace_id == tenant.id, Identity.kind == kind, Identity.value == value
        )
    )


# --- identity verification ---------------------------------------------------------------------


def digests_sent(session: Session, tenant: Tenant) -> int:
    """Digests of this workspace sent so far (the job sends every workspace's: other tests
    may leave theirs in the committed database)."""
    session.expire_all()
    return count(
        session,
        FollowUpDigest,
        FollowUpDigest.workspace_id == tenant.id,
        FollowUpDigest.sent_at.is_not(None),
    )


def test_an_unverified_user_id_gets_no_personal_link_and_cannot_answer_as_them(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given a customer known by their user id, and a live survey offered in the widget
    victim_id = unique("victim-")
    victim = make_customer(session, workspace=tenant.workspace, user_id=victim_id)
    live_widget_survey(client, tenant, channels=["widget"])
    attacker = unique("anon-attacker-")

    # when someone with the public write key asks the widget as that user, without a hash
    reply = prompt(client, tenant, userId=victim_id, anonymousId=attacker)

    # then they are an anonymous visitor: no invitation of the customer's, no join to them
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["verified"] is False
    assert invitations_of(session, victim) == []
    assert holder_of(session, tenant, "anonymous_id", attacker) != victim.id
    # and what they answer through the link they got lands on their own anonymous profile
    assert body["survey"] is not None  # the survey every anonymous visitor is offered
    assert answer_personal(client, body["survey"]["url"], 0).status_code == 200
    assert responses_of(session, victim) == []
    anonymous = holder_of(session, tenant, "anonymous_id", attacker)
    session.expire_all()
    answered = session.scalars(select(Response).where(Response.customer_id == anonymous)).all()
    assert [(r.nps, r.channel) for r in answered] == [(0, "widget")]


def test_nothing_tells_whether_an_unverified_user_id_exists(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    known = unique("known-")
    make_customer(session, workspace=tenant.workspace, user_id=known)
    live_widget_survey(client, tenant, channels=["widget"])

    for with_hash in ("", "0" * 64):
        params = {"userHash": with_hash} if with_hash else {}
        for_known = prompt(client, tenant, userId=known, **params)
        for_nobody = prompt(client, tenant, userId=unique("nobody-"), **params)
        assert for_known.status_code == for_nobody.status_code == 200
        assert for_known.json() == for_nobody.json()
        assert for_known.json()["survey"] is None and for_known.json()["notices"] == []


def test_a_correct_user_hash_acts_for_the_customer(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    user_id = unique("shopper-")
    shopper = make_customer(session, workspace=tenant.workspace, user_id=user_id)
    survey_id = live_widget_survey(client, tenant, channels=["widget"])
    browser = unique("anon-")

    reply = prompt(
        client, tenant, userId=user_id, userHash=hash_for(tenant, settings, user_id),
        anonymousId=browser,
    )  # fmt: skip

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["verified"] is True
    assert body["survey"]["survey_id"] == survey_id
    (invitation,) = invitations_of(session, shopper)
    assert invitation.id == body["survey"]["invitation_id"]
    assert holder_of(session, tenant, "anonymous_id", browser) == shopper.id
    assert answer_personal(client, body["survey"]["url"], 0).status_code == 200
    assert [(r.nps, r.invitation_id) for r in responses_of(session, shopper)] == [
        (0, invitation.id)
    ]
    # the hash is made over the exact user id (upper-case hex is accepted too)
    upper = prompt(
        client, tenant, userId=user_id, userHash=hash_for(tenant, settings, user_id).upper()
    )
    assert upper.json()["verified"] is True


@pytest.mark.parametrize(
    "wrong",
    [
        pytest.param(lambda secret, uid: user_hash(secret, uid + "x"), id="another-users-hash"),
        pytest.param(lambda secret, uid: user_hash("cxid_guess", uid), id="another-secret"),
        pytest.param(lambda secret, uid: user_hash(secret, uid)[:63], id="too-short"),
        pytest.param(lambda secret, uid: user_hash(secret, uid) + "00", id="too-long"),
        pytest.param(lambda secret, uid: "가" * 64, id="not-hex"),
        pytest.param(lambda secret, uid: hashlib.sha256(uid.encode()).hexdigest(), id="no-key"),
    ],
)
def test_a_wrong_hash_leaves_the_visitor_anonymous(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings, wrong: Any
) -> None:
    user_id = unique("shopper-")
    shopper = make_customer(session, workspace=tenant.workspace, user_id=user_id)
    live_widget_survey(client, tenant, channels=["widget"])
    secret = identity_secret(tenant.workspace, settings=settings)

    reply = prompt(client, tenant, userId=user_id, userHash=wrong(secret, user_id))

    assert reply.status_code == 200
    assert reply.json() == {**reply.json(), "survey": None, "notices": [], "verified": False}
    assert invitations_of(session, shopper) == []


def test_a_rotated_secret_refuses_the_old_hashes_at_once(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    user_id = unique("shopper-")
    make_customer(session, workspace=tenant.workspace, user_id=user_id)
    live_widget_survey(client, tenant, channels=["widget"])
    old_secret = identity_secret(tenant.workspace, settings=settings)
    old_hash = hash_for(tenant, settings, user_id)
    assert prompt(client, tenant, userId=user_id, userHash=old_hash).json()["verified"] is True

    owner = make_user(session, workspace=tenant.workspace, role="owner")
    principal = Principal(workspace_id=tenant.id, role="owner", user_id=owner.id, label="o")
    assert rotate_identity_secret(session, workspace=tenant.workspace, principal=principal) == 1

    new_secret = identity_secret(tenant.workspace, settings=settings)
    assert new_secret != old_secret and new_secret.startswith("cxid_")
    assert prompt(client, tenant, userId=user_id, userHash=old_hash).json()["verified"] is False
    new_hash = user_hash(new_secret, user_id)
    assert prompt(client, tenant, userId=user_id, userHash=new_hash).json()["verified"] is True


def test_hashes_made_under_a_previous_server_key_verify_while_it_is_listed(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_id = unique("shopper-")
    make_customer(session, workspace=tenant.workspace, user_id=user_id)
    old_key = settings.resolved_secret_key()
    old_hash = hash_for(tenant, settings, user_id)

    monkeypatch.setattr(settings, "secret_key", "a-new-server-key-that-is-long-enough-987654321")
    monkeypatch.setattr(settings, "previous_secret_keys", old_key)
    assert identity_secret(tenant.workspace, settings=settings) != user_hash("", "")
    assert prompt(client, tenant, userId=user_id, userHash=old_hash).json()["verified"] is True
    new_hash = hash_for(tenant, settings, user_id)
    assert new_hash != old_hash
    assert prompt(client, tenant, userId=user_id, userHash=new_hash).json()["verified"] is True

    monkeypatch.setattr(settings, "previous_secret_keys", "")
    assert prompt(client, tenant, userId=user_id, userHash=old_hash).json()["verified"] is False


def test_an_anonymous_id_joined_to_a_person_does_not_act_for_them(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    # given a customer with a pending widget invitation
    user_id = unique("shopper-")
    shopper = make_customer(session, workspace=tenant.workspace, user_id=user_id)
    survey_id = live_widget_survey(client, tenant, channels=["widget"])
    from cxloop.feedback.distribution import service as distribution

    distribution.create_invitation(
        session,
        survey=session.get(Survey, survey_id),  # type: ignore[arg-type]
        workspace=tenant.workspace,
        customer=shopper,
        channel="widget",
    )
    # when someone joins an anonymous id of their own to that customer through the public
    # ingestion API, then asks the widget with it
    planted = unique("anon-planted-")
    joined = client.post(
        "/v1/identify",
        json={"userId": user_id, "anonymousId": planted, "messageId": unique("m-")},
        headers=tenant.write,
    )
    assert joined.status_code == 200
    assert holder_of(session, tenant, "anonymous_id", planted) == shopper.id
    reply = prompt(client, tenant, anonymousId=planted).json()

    # then the widget shows nothing of the customer's
    assert (reply["survey"], reply["notices"], reply["verified"]) == (None, [], False)


def test_notices_need_the_verified_customer_to_be_shown_or_marked_seen(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    user_id = unique("shopper-")
    shopper = make_customer(session, workspace=tenant.workspace, user_id=user_id)
    survey_id = live_link_survey(session, tenant).id
    response = Response(
        workspace_id=tenant.id, survey_id=survey_id, version=1, customer_id=shopper.id,
        answers={"nps": 3}, nps=3, completed=True,
    )  # fmt: skip
    improvement = Improvement(
        workspace_id=tenant.id, title_ko="배송이 빨라졌어요", title_en="Faster delivery",
        body_ko="이제 다음 날 도착합니다.", body_en="Orders now arrive the next day.",
        announced_at=utcnow(),
    )  # fmt: skip
    session.add_all([response, improvement])
    session.flush()
    link = ImprovementLink(
        workspace_id=tenant.id,
        improvement_id=improvement.id,
        response_id=response.id,
        customer_id=shopper.id,
    )
    session.add(link)
    session.flush()

    assert prompt(client, tenant, userId=user_id).json()["notices"] == []
    stranger = client.post(
        f"/widget/v1/notices/{link.id}/seen",
        params={"writeKey": tenant.write_secret, "userId": user_id},
    )
    assert stranger.status_code == 422
    session.expire_all()
    assert session.get(ImprovementLink, link.id).widget_shown_at is None  # type: ignore[union-attr]

    signed = {"userId": user_id, "userHash": hash_for(tenant, settings, user_id)}
    assert [n["id"] for n in prompt(client, tenant, **signed).json()["notices"]] == [link.id]
    seen = client.post(
        f"/widget/v1/notices/{link.id}/seen", params={"writeKey": tenant.write_secret, **signed}
    )
    assert seen.status_code == 200, seen.text
    session.expire_all()
    assert session.get(ImprovementLink, link.id).widget_shown_at is not None  # type: ignore[union-attr]


def test_owners_see_the_secret_with_snippets_and_rotate_it_after_confirming(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings
) -> None:
    owner = make_user(session, workspace=tenant.workspace, role="owner", locale="ko")
    assert login(client, owner.email).status_code == 303
    secret = identity_secret(tenant.workspace, settings=settings)

    page = get(client, "/settings/keys")
    assert page.status_code == 200
    assert f'value="{secret}"' in page.text
    body = text_of(page.text)
    assert "설문 위젯 본인 확인" in body and "data-user-hash" in body
    assert "hmac.new(SECRET.encode(), user_id.encode(), hashlib.sha256).hexdigest()" in body
    assert 'crypto.createHmac("sha256", SECRET).update(String(userId)).digest("hex")' in body
    assert client.post("/locale", data={"locale": "en", "csrf_token": _csrf(client)}).is_success
    assert "Survey widget identity verification" in text_of(get(client, "/settings/keys").text)

    confirm = get(client, "/settings/keys/identity-secret/rotate")
    assert confirm.status_code == 200
    assert "Hashes made with the current secret are refused at once" in text_of(confirm.text)
    session.expire_all()
    unchanged = session.get(type(tenant.workspace), tenant.id)
    assert unchanged is not None and identity_secret(unchanged, settings=settings) == secret

    done = post(client, "/settings/keys/identity-secret/rotate")
    assert done.status_code == 303
    assert done.headers["location"] == "/settings/keys#widget-identity"
    session.expire_all()
    workspace = session.get(type(tenant.workspace), tenant.id)
    assert workspace is not None and workspace.identity_secret_version == 1
    assert identity_secret(workspace, settings=settings) != secret
    audit = session.scalars(
        select(AuditEntry.action).where(AuditEntry.workspace_id == tenant.id)
    ).all()
    assert "workspace.identity_secret_rotate" in audit


def _csrf(client: TestClient) -> str:
    from tests.helpers.web import session_token

    return session_token(client)


@pytest.mark.parametrize("role", ["agent", "viewer", "analyst"])
def test_other_roles_neither_see_nor_rotate_the_secret(
    client: TestClient, session: Session, tenant: Tenant, settings: Settings, role: str
) -> None:
    member = make_user(session, workspace=tenant.workspace, role=role)
    assert login(client, member.email).status_code == 303
    assert get(client, "/settings/keys").status_code == 403
    assert get(client, "/settings/keys/identity-secret/rotate").status_code == 403
    assert post(client, "/settings/keys/identity-secret/rotate").status_code == 403
    session.expire_all()
    assert session.get(type(tenant.workspace), tenant.id).identity_secret_version == 0  # type: ignore[union-attr]


# --- rate limits -------------------------------------------------------------------------------


def in_team(session: Session, tenant: Tenant, team: str) -> User:
    user = make_user(session, workspace=tenant.workspace, role="agent", locale="ko")
    accounts.set_member_teams(session, workspace_id=tenant.id, user_id=user.id, teams=[team])
    return user


def count(session: Session, model: Any, *where: Any) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def public_answer(client: TestClient, url: str, nps: int = 0, **headers: str) -> Any:
    page = client.get(url, headers=headers)
    assert page.status_code == 200, page.status_code
    data = {"form_token": form_token(page.text), "q.nps": str(nps), "q.why_low": "slow"}
    return client.post(url, data=data, headers=headers)


def test_200_answers_from_one_client_are_refused_beyond_the_limit_and_mail_stays_small(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a public NPS link, two members in its team, and the default answer limit per
    # address (10 per 10 minutes); page loads are left out of this count
    monkeypatch.setattr(settings, "survey_client_limit", "1000 per minute")
    members = [in_team(session, tenant, "cx"), in_team(session, tenant, "cx")]
    survey = live_link_survey(session, tenant, public_link=True)
    url = f"/p/{tenant.workspace.slug}/{survey.key}"

    # when one client sends 200 detractor answers in a row
    replies = [public_answer(client, url, 0, **{"Accept-Language": "ko"}) for _ in range(200)]

    # then ten are taken and the other 190 refused with a Korean 429 page, storing nothing
    codes = [r.status_code for r in replies]
    assert codes == [200] * 10 + [429] * 190
    refused = replies[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 600
    assert "잠시 후 다시 시도해 주세요" in text_of(refused.text)
    assert count(session, Response, Response.survey_id == survey.id) == 10
    follow_ups = session.scalars(
        select(FollowUp)
        .join(Response, Response.id == FollowUp.response_id)
        .where(Response.survey_id == survey.id)
    ).all()
    assert len(follow_ups) == 10
    # three announced one by one to each member, the other seven waiting in one digest
    assert count(session, Notification, Notification.workspace_id == tenant.id) == 3 * 2
    assert count(session, OutboundMessage, OutboundMessage.workspace_id == tenant.id) == 3 * 2
    (digest,) = session.scalars(select(FollowUpDigest).where(FollowUpDigest.survey_id == survey.id))
    assert (digest.answers, digest.team, digest.sent_at) == (7, "cx", None)

    # when the digest's window has passed (the job runs twice)
    later = utcnow() + timedelta(minutes=settings.follow_up_notice_window_minutes, seconds=1)
    followup_digests.send_due_digests(session, now=utcnow())
    assert digests_sent(session, tenant) == 0
    followup_digests.send_due_digests(session, now=later)
    assert digests_sent(session, tenant) == 1
    followup_digests.send_due_digests(session, now=later)
    assert digests_sent(session, tenant) == 1

    # then each member got one more notice and mail: 8 each in all, not 200
    for member in members:
        notices = session.scalars(
            select(Notification).where(Notification.user_id == member.id).order_by(Notification.id)
        ).all()
        assert [n.kind for n in notices] == ["followup_new"] * 3 + ["followup_digest"]
        assert notices[-1].params["count"] == 7
        mails = session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.user_id == member.id)
            .order_by(OutboundMessage.id)
        ).all()
        assert len(mails) == 4
        assert "불만족 응답 7건이 더 들어왔습니다" in mails[-1].subject
    assert count(session, Notification, Notification.workspace_id == tenant.id) == 8
    assert count(session, OutboundMessage, OutboundMessage.workspace_id == tenant.id) == 8


def test_another_client_still_answers_while_one_is_refused(
    app: FastAPI, client: TestClient, session: Session, tenant: Tenant
) -> None:
    survey = live_link_survey(session, tenant, public_link=True)
    url = f"/p/{tenant.workspace.slug}/{survey.key}"
    for _ in range(10):
        assert public_answer(client, url, 9).status_code == 200
    assert public_answer(client, url, 9).status_code == 429

    with TestClient(app, client=("198.51.100.23", 40000)) as other:
        assert public_answer(other, url, 9).status_code == 200
    assert count(session, Response, Response.survey_id == survey.id) == 11


def test_the_per_address_limit_covers_pages_and_the_widget(
    app: FastAPI,
    client: TestClient,
    session: Session,
    tenant: Tenant,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "survey_client_limit", "4 per minute")
    survey = live_link_survey(session, tenant, public_link=True)
    url = f"/p/{tenant.workspace.slug}/{survey.key}"

    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    assert prompt(client, tenant, anonymousId=unique("anon-")).status_code == 200
    page = client.get(url, headers={"Accept-Language": "en"})
    assert page.status_code == 429
    assert "Please try again in a moment" in text_of(page.text)
    widget = prompt(client, tenant, anonymousId=unique("anon-"), locale="en-US")
    assert widget.status_code == 429
    assert widget.headers["content-type"] == "application/problem+json"
    assert widget.headers["access-control-allow-origin"] == "*"
    assert int(widget.headers["retry-after"]) >= 1
    assert "Please try again in 1 min." in widget.json()["detail"]
    in_korean = prompt(client, tenant, anonymousId=unique("anon-"), locale="ko-KR")
    assert in_korean.status_code == 429 and "다시 시도해 주세요" in in_korean.json()["detail"]
    assert client.get("/s/unknown-token-abcdefgh").status_code == 429

    with TestClient(app, client=("198.51.100.24", 40000)) as other:
        assert other.get(url).status_code == 200


def test_a_personal_link_is_limited_autosaves_included(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.helpers.respondent import invite

    monkeypatch.setattr(settings, "personal_link_limit", "3 per 10 minutes")
    survey = live_link_survey(session, tenant)
    invitation, token = invite(session, tenant, survey, locale="en")
    page = client.get(f"/s/{token}")
    field = form_token(page.text)

    saves = [
        client.post(f"/s/{token}", data={"form_token": field, "q.nps": "9", "partial": "1"})
        for _ in range(3)
    ]
    assert [r.status_code for r in saves] == [200, 200, 200]
    refused = client.post(f"/s/{token}", data={"form_token": field, "q.nps": "2", "partial": "1"})
    assert refused.status_code == 429
    assert refused.json() == {"saved": False, "reason": "rate_limited"}
    final = client.post(f"/s/{token}", data={"form_token": field, "q.nps": "2", "q.why_low": "x"})
    assert final.status_code == 429
    assert "Please try again in a moment" in text_of(final.text)
    session.expire_all()
    (response,) = session.scalars(select(Response).where(Response.invitation_id == invitation.id))
    assert (response.nps, response.completed) == (9, False)
    assert count(session, FollowUp, FollowUp.response_id == response.id) == 0


# --- the client address behind proxies ---------------------------------------------------------


def _request(peer: str, forwarded: str | None, trusted: str) -> Request:
    app = FastAPI()
    app.state.settings = Settings(trusted_proxies=trusted)
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request(
        {"type": "http", "app": app, "client": (peer, 1234), "headers": headers, "path": "/"}
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        pytest.param("203.0.113.5", None, "", "203.0.113.5", id="direct"),
        pytest.param("203.0.113.5", "198.51.100.1", "", "203.0.113.5", id="untrusted-header"),
        pytest.param("10.0.0.2", "198.51.100.1", "10.0.0.0/8", "198.51.100.1", id="one-proxy"),
        pytest.param(
            "10.0.0.2",
            "6.6.6.6, 198.51.100.1, 10.0.0.9",
            "10.0.0.0/8",
            "198.51.100.1",
            id="forged-left-part-ignored",
        ),
        pytest.param("10.0.0.2", "10.0.0.7, 10.0.0.9", "10.0.0.0/8", "10.0.0.7", id="all-proxies"),
        pytest.param("10.0.0.2", "", "10.0.0.0/8", "10.0.0.2", id="empty-header"),
        pytest.param("10.0.0.2", "junk, 198.51.100.1", "10.0.0.0/8", "198.51.100.1", id="junk"),
        pytest.param("10.0.0.2", "198.51.100.1, junk", "10.0.0.0/8", "10.0.0.2", id="junk-last"),
        pytest.param("::1", "2001:db8::7", "::1", "2001:db8::7", id="ipv6"),
    ],
)
def test_the_client_address_trusts_only_listed_proxies(
    peer: str, forwarded: str | None, trusted: str, expected: str
) -> None:
    assert client_address(_request(peer, forwarded, trusted)) == expected


def test_a_bad_trusted_proxy_setting_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not an address or network"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.local")
    with pytest.raises(ValueError, match="not a rate limit"):
        Settings(survey_answer_limit="lots")


def test_answers_through_a_trusted_proxy_are_counted_per_forwarded_address(
    app: FastAPI,
    session: Session,
    tenant: Tenant,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "trusted_proxies", "10.0.0.1")
    monkeypatch.setattr(settings, "survey_answer_limit", "2 per 10 minutes")
    survey = live_link_survey(session, tenant, public_link=True)
    url = f"/p/{tenant.workspace.slug}/{survey.key}"
    with TestClient(app, client=("10.0.0.1", 40000)) as proxy:
        first = {"X-Forwarded-For": "198.51.100.1"}
        assert public_answer(proxy, url, 9, **first).status_code == 200
        assert public_answer(proxy, url, 9, **first).status_code == 200
        assert public_answer(proxy, url, 9, **first).status_code == 429
        forged = {"X-Forwarded-For": "198.51.100.99, 198.51.100.1"}
        assert public_answer(proxy, url, 9, **forged).status_code == 429
        assert (
            public_answer(proxy, url, 9, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 200
        )


# --- a burst of real answers -------------------------------------------------------------------


def test_a_burst_from_many_clients_gives_one_digest_per_team_per_window(
    app: FastAPI,
    session: Session,
    tenant: Tenant,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given two surveys owned by two teams, each team with one member
    monkeypatch.setattr(settings, "trusted_proxies", "10.0.0.1")
    cx, delivery = in_team(session, tenant, "cx"), in_team(session, tenant, "delivery")
    surveys = {}
    for team in ("cx", "delivery"):
        survey = live_link_survey(session, tenant, public_link=True)
        survey.owner_team = team
        surveys[team] = survey
    session.flush()

    # when 12 detractors per survey answer within a minute, each from their own address
    with TestClient(app, client=("10.0.0.1", 40000)) as proxy:
        for n in range(12):
            for team, survey in surveys.items():
                address = f"198.51.{100 if team == 'cx' else 101}.{n + 1}"
                url = f"/p/{tenant.workspace.slug}/{survey.key}"
                reply = public_answer(proxy, url, 3, **{"X-Forwarded-For": address})
                assert reply.status_code == 200

    # then every answer has its follow-up, each team heard of three one by one
    assert count(session, FollowUp, FollowUp.workspace_id == tenant.id) == 24
    for member in (cx, delivery):
        kinds = session.scalars(
            select(Notification.kind).where(Notification.user_id == member.id)
        ).all()
        assert kinds == ["followup_new"] * 3
    digests = session.scalars(
        select(FollowUpDigest).where(FollowUpDigest.workspace_id == tenant.id)
    ).all()
    assert sorted((d.team, d.answers) for d in digests) == [("cx", 9), ("delivery", 9)]

    # and once the window passes, one digest each: four notices and four mails per member
    later = utcnow() + timedelta(minutes=settings.follow_up_notice_window_minutes, seconds=1)
    followup_digests.send_due_digests(session, now=later)
    assert digests_sent(session, tenant) == 2
    followup_digests.send_due_digests(session, now=later)
    assert digests_sent(session, tenant) == 2
    for member, survey in ((cx, surveys["cx"]), (delivery, surveys["delivery"])):
        session.expire_all()
        notices = session.scalars(
            select(Notification).where(Notification.user_id == member.id).order_by(Notification.id)
        ).all()
        assert [n.kind for n in notices] == ["followup_new"] * 3 + ["followup_digest"]
        assert notices[-1].params == {
            "count": 9, "survey": survey.name, "team": notices[-1].params["team"], "minutes": 10,
        }  # fmt: skip
        assert notices[-1].link == f"/follow-ups?team={notices[-1].params['team']}"
        assert count(session, OutboundMessage, OutboundMessage.user_id == member.id) == 4

    # a further answer of the burst opens the next digest
    with TestClient(app, client=("10.0.0.1", 40000)) as proxy:
        url = f"/p/{tenant.workspace.slug}/{surveys['cx'].key}"
        assert (
            public_answer(proxy, url, 3, **{"X-Forwarded-For": "198.51.102.1"}).status_code == 200
        )
    assert count(session, FollowUpDigest, FollowUpDigest.workspace_id == tenant.id) == 3


def test_a_burst_falling_overdue_together_is_told_in_one_digest_per_team(
    app: FastAPI,
    session: Session,
    tenant: Tenant,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cxloop.feedback.followups import service as followup_service

    # given eight follow-ups of one team's burst, one of them assigned, all just past due
    monkeypatch.setattr(settings, "trusted_proxies", "10.0.0.1")
    member = in_team(session, tenant, "cx")
    assignee = in_team(session, tenant, "other")
    survey = live_link_survey(session, tenant, public_link=True)
    url = f"/p/{tenant.workspace.slug}/{survey.key}"
    with TestClient(app, client=("10.0.0.1", 40000)) as proxy:
        for n in range(8):
            forwarded = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
            assert public_answer(proxy, url, 1, **forwarded).status_code == 200
    follow_ups = session.scalars(
        select(FollowUp).where(FollowUp.workspace_id == tenant.id).order_by(FollowUp.id)
    ).all()
    for follow_up in follow_ups:
        follow_up.due_at = utcnow() - timedelta(hours=1)
    follow_ups[-1].assignee_id = assignee.id
    session.flush()
    before = count(session, Notification, Notification.user_id == member.id)

    # when the overdue job runs (twice)
    assert followup_service.notify_overdue_follow_ups(session) == 8
    assert followup_service.notify_overdue_follow_ups(session) == 0

    # then the team heard of three alone and of the other four unassigned ones at once, and
    # the assignee of their own
    kinds = session.scalars(
        select(Notification.kind)
        .where(Notification.user_id == member.id)
        .order_by(Notification.id)
        .offset(before)
    ).all()
    assert kinds == [
        "followup_overdue_digest",
        "followup_overdue",
        "followup_overdue",
        "followup_overdue",
    ]
    digest = session.scalar(
        select(Notification).where(
            Notification.user_id == member.id, Notification.kind == "followup_overdue_digest"
        )
    )
    assert digest is not None and digest.params == {"count": 4, "team": "cx"}
    assert digest.link == "/follow-ups?team=cx&overdue=1"
    told = session.scalars(
        select(Notification.kind).where(Notification.user_id == assignee.id)
    ).all()
    assert told == ["followup_overdue"]
