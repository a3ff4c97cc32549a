"""Identity resolution and merge: through ingestion and the API, and the resolver directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.core.errors import Conflict, ValidationFailed
from cxloop.events.segment import parse_message
from cxloop.events.service import ingest
from cxloop.models import (
    ConsentRecord,
    Customer,
    CustomerMerge,
    Event,
    Identity,
    Order,
    Workspace,
)
from cxloop.profiles.contact import display_phone, normalise_phone
from cxloop.profiles.identity import IdentityResolver, merge_customers
from tests.factories import Tenant, make_customer, make_workspace

FAMILY = "family@example.com"


def send(client: TestClient, tenant: Tenant, *events: dict[str, Any]) -> None:
    response = client.post("/v1/batch", json={"batch": list(events)}, headers=tenant.write)
    assert response.json() == {"success": True}, response.text


def live_profiles(session: Session, workspace_id: int) -> list[Customer]:
    session.expire_all()
    return list(
        session.scalars(
            select(Customer)
            .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
            .order_by(Customer.id)
        )
    )


def identities(session: Session, customer_id: int) -> set[tuple[str, str]]:
    return {
        (kind, value)
        for kind, value in session.execute(
            select(Identity.kind, Identity.value).where(Identity.customer_id == customer_id)
        )
    }


def holder(session: Session, workspace_id: int, kind: str, value: str) -> int:
    return session.scalars(
        select(Identity.customer_id).where(
            Identity.workspace_id == workspace_id, Identity.kind == kind, Identity.value == value
        )
    ).one()


# --- through ingestion ---


def test_identify_joins_the_anonymous_profile(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given an anonymous visitor who browsed
    send(client, tenant, {"type": "page", "anonymousId": "anon-1", "name": "Home"})
    [visitor] = live_profiles(session, tenant.id)
    assert visitor.lifecycle_stage == "anonymous"
    # when they sign up on the same device
    send(
        client,
        tenant,
        {
            "type": "identify",
            "userId": "user-1",
            "anonymousId": "anon-1",
            "traits": {"name": "김민지"},
        },
    )
    # then the same profile now holds both ids and is a lead
    [profile] = live_profiles(session, tenant.id)
    assert profile.id == visitor.id
    assert (profile.display_name, profile.lifecycle_stage) == ("김민지", "lead")
    assert identities(session, profile.id) == {("anonymous_id", "anon-1"), ("user_id", "user-1")}


def test_an_identify_with_its_traits_in_the_context_fills_the_profile(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given an identify as RudderStack's SDKs send it (traits in context.traits) and one as
    # analytics.js sends it (known traits repeated in context.traits, the call's own on top)
    send(
        client,
        tenant,
        {
            "type": "identify",
            "userId": "user-7",
            "context": {"traits": {"email": "Minji@Example.com", "name": "김민지"}},
        },
        {
            "type": "identify",
            "userId": "user-8",
            "traits": {"name": "이서준", "plan": "gold"},
            "context": {"traits": {"name": "옛 이름", "email": "seojun@example.com"}},
        },
        # a track's context.traits describe the user to destinations; they change no profile
        {
            "type": "track",
            "userId": "user-8",
            "event": "Cart Viewed",
            "context": {"traits": {"name": "다른 이름"}},
        },
    )
    # then each profile holds the e-mail and the name, the top-level trait winning
    minji, seojun = live_profiles(session, tenant.id)
    assert (minji.display_name, minji.email) == ("김민지", "minji@example.com")
    assert ("email", "minji@example.com") in identities(session, minji.id)
    assert (seojun.display_name, seojun.email) == ("이서준", "seojun@example.com")
    assert seojun.traits["plan"] == "gold"


def test_anonymous_events_after_identify_land_on_the_same_profile(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    send(
        client,
        tenant,
        {"type": "identify", "userId": "user-1", "anonymousId": "anon-1"},
        {"type": "track", "anonymousId": "anon-1", "event": "Cart Viewed"},
        {"type": "track", "userId": "user-1", "event": "Checkout Started"},
    )
    [profile] = live_profiles(session, tenant.id)
    assert (
        session.scalars(select(Event.customer_id).where(Event.workspace_id == tenant.id)).all()
        == [profile.id] * 3
    )


@pytest.mark.parametrize("first", ["anonymous-first", "user-first"])
def test_profiles_sharing_a_unique_identity_merge_into_the_older(
    client: TestClient, tenant: Tenant, session: Session, first: str
) -> None:
    anonymous = [
        {"type": "page", "anonymousId": "anon-1", "name": "Landing", "messageId": "a-1"},
    ]
    known = [
        {
            "type": "identify",
            "userId": "user-1",
            "traits": {"name": "Kim", "plan": "gold"},
            "messageId": "u-1",
        },
        {
            "type": "track",
            "userId": "user-1",
            "event": "Order Completed",
            "properties": {"order_id": "O-1", "total": 5000},
            "messageId": "u-2",
        },
    ]
    # given two profiles of one person, created one after the other
    for events in (anonymous, known) if first == "anonymous-first" else (known, anonymous):
        send(client, tenant, *events)
    older, newer = live_profiles(session, tenant.id)
    consent = client.post(
        f"/api/v1/customers/{newer.id}/consent",
        json={"purpose": "marketing", "channel": "sms", "granted": True, "source": "form"},
        headers=tenant.api,
    )
    assert consent.status_code == 201
    # when an identify shows both ids belong together
    send(
        client,
        tenant,
        {
            "type": "identify",
            "userId": "user-1",
            "anonymousId": "anon-1",
            "traits": {"email": "kim@example.com"},
            "messageId": "both",
        },
    )
    # then the older survives with everything of the newer
    [survivor] = live_profiles(session, tenant.id)
    assert survivor.id == older.id
    assert session.get(Customer, newer.id).merged_into_id == older.id  # type: ignore[union-attr]
    assert identities(session, survivor.id) == {
        ("anonymous_id", "anon-1"),
        ("user_id", "user-1"),
        ("email", "kim@example.com"),
    }
    assert identities(session, newer.id) == set()
    assert sorted(
        session.scalars(select(Event.message_id).where(Event.customer_id == survivor.id))
    ) == ["a-1", "both", "u-1", "u-2"]
    assert session.scalars(select(Order.customer_id).where(Order.external_id == "O-1")).all() == [
        survivor.id
    ]
    assert session.scalars(
        select(ConsentRecord.customer_id).where(ConsentRecord.workspace_id == tenant.id)
    ).all() == [survivor.id]
    assert survivor.traits == {"name": "Kim", "plan": "gold", "email": "kim@example.com"}
    assert (survivor.display_name, survivor.email) == ("Kim", "kim@example.com")
    merges = session.execute(
        select(CustomerMerge.survivor_id, CustomerMerge.merged_id, CustomerMerge.reason).where(
            CustomerMerge.workspace_id == tenant.id
        )
    ).all()
    assert merges == [(older.id, newer.id, "shared identity")]
    # and the merged id still leads to the survivor
    redirected = client.get(f"/api/v1/customers/{newer.id}", headers=tenant.api).json()
    assert redirected["id"] == older.id


@pytest.mark.parametrize(
    ("keys", "merged"),
    [
        pytest.param(["user_id", "email", "phone"], True, id="email-is-a-key"),
        pytest.param(["user_id"], False, id="email-is-not-a-key"),
    ],
)
def test_an_anonymous_profile_joins_a_user_by_email_only_where_email_is_a_key(
    client: TestClient, session: Session, keys: list[str], merged: bool
) -> None:
    tenant = Tenant(session, identity_keys=keys)
    # an anonymous newsletter sign-up, later a login with the same email
    send(client, tenant, {"type": "identify", "anonymousId": "anon-1", "traits": {"email": FAMILY}})
    send(client, tenant, {"type": "identify", "userId": "user-1", "traits": {"email": FAMILY}})
    assert len(live_profiles(session, tenant.id)) == (1 if merged else 2)


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param(["user_id", "email", "phone"], id="email-is-a-key"),
        pytest.param(["user_id"], id="email-is-not-a-key"),
    ],
)
def test_a_shared_family_email_never_merges_two_user_ids(
    client: TestClient, session: Session, keys: list[str]
) -> None:
    tenant = Tenant(session, identity_keys=keys)
    send(
        client,
        tenant,
        {
            "type": "identify",
            "userId": "mom",
            "traits": {"email": FAMILY, "phone": "010-1111-2222"},
        },
    )
    send(
        client,
        tenant,
        {
            "type": "identify",
            "userId": "son",
            "traits": {"email": FAMILY, "phone": "010-1111-2222"},
        },
        {"type": "track", "userId": "son", "event": "Game Bought"},
    )
    mom, son = live_profiles(session, tenant.id)
    assert (mom.email, son.email) == (FAMILY, FAMILY)
    assert ("user_id", "son") in identities(session, son.id)
    assert session.scalars(
        select(Event.customer_id).where(Event.workspace_id == tenant.id, Event.user_id == "son")
    ).all() == [son.id, son.id]
    if "email" in keys:
        # the unique identity stays with its first holder
        assert holder(session, tenant.id, "email", FAMILY) == mom.id
    else:
        assert ("email", FAMILY) in identities(session, son.id)


def test_a_shared_device_keeps_two_users_apart(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    send(
        client,
        tenant,
        {"type": "identify", "userId": "u1", "anonymousId": "tablet"},
        {"type": "identify", "userId": "u2", "anonymousId": "tablet"},
        {"type": "track", "userId": "u2", "anonymousId": "tablet", "event": "Played"},
    )
    first, second = live_profiles(session, tenant.id)
    assert identities(session, first.id) == {("user_id", "u1"), ("anonymous_id", "tablet")}
    assert identities(session, second.id) == {("user_id", "u2")}
    played = session.scalars(select(Event.customer_id).where(Event.name == "Played")).one()
    assert played == second.id


@pytest.mark.parametrize(
    "previous",
    [pytest.param("anon-9", id="anonymous-to-user"), pytest.param("old-user", id="user-to-user")],
)
def test_alias_merges_explicitly(
    client: TestClient, tenant: Tenant, session: Session, previous: str
) -> None:
    kind = "anonymous_id" if previous.startswith("anon") else "user_id"
    key = "anonymousId" if kind == "anonymous_id" else "userId"
    send(client, tenant, {"type": "track", key: previous, "event": "Old"})
    send(client, tenant, {"type": "identify", "userId": "new-user"})
    older, _newer = live_profiles(session, tenant.id)
    # when the app says the two ids are one person
    send(client, tenant, {"type": "alias", "userId": "new-user", "previousId": previous})
    [profile] = live_profiles(session, tenant.id)
    assert profile.id == older.id
    assert identities(session, profile.id) == {(kind, previous), ("user_id", "new-user")}
    reasons = session.scalars(
        select(CustomerMerge.reason).where(CustomerMerge.workspace_id == tenant.id)
    ).all()
    assert reasons == ["alias"]


def test_after_an_alias_of_two_user_ids_both_ids_keep_landing_on_one_profile(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given an explicit alias that joined two user ids
    send(client, tenant, {"type": "identify", "userId": "old-id"})
    send(client, tenant, {"type": "identify", "userId": "new-id"})
    send(client, tenant, {"type": "alias", "userId": "new-id", "previousId": "old-id"})
    [profile] = live_profiles(session, tenant.id)
    # when later events name either id
    send(
        client,
        tenant,
        {"type": "track", "userId": "old-id", "event": "A"},
        {"type": "identify", "userId": "new-id", "traits": {"name": "Lee"}},
    )
    send(client, tenant, {"type": "track", "userId": "new-id", "event": "B"})
    # then no new profile appears and every event is on the aliased profile
    assert [p.id for p in live_profiles(session, tenant.id)] == [profile.id]
    assert set(
        session.scalars(select(Event.customer_id).where(Event.workspace_id == tenant.id))
    ) == {profile.id}


def test_alias_of_an_unknown_previous_id_adopts_it(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    send(client, tenant, {"type": "alias", "userId": "u1", "previousId": "never-seen"})
    send(client, tenant, {"type": "track", "anonymousId": "never-seen", "event": "Later"})
    [profile] = live_profiles(session, tenant.id)
    assert identities(session, profile.id) == {("user_id", "u1"), ("anonymous_id", "never-seen")}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("010-1234-5678", id="dashed"),
        pytest.param("01012345678", id="digits"),
        pytest.param("010 1234 5678", id="spaced"),
        pytest.param("+82 10-1234-5678", id="international"),
        pytest.param("+821012345678", id="e164"),
    ],
)
def test_phone_is_stored_e164_and_shown_the_korean_way(
    client: TestClient, tenant: Tenant, session: Session, raw: str
) -> None:
    send(client, tenant, {"type": "identify", "userId": "u1", "traits": {"phone": raw}})
    [profile] = live_profiles(session, tenant.id)
    assert profile.phone == "+821012345678"
    assert ("phone", "+821012345678") in identities(session, profile.id)
    assert display_phone(profile.phone) == "010-1234-5678"


def test_an_invalid_phone_is_not_an_identity(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    send(client, tenant, {"type": "identify", "userId": "u1", "traits": {"phone": "12345"}})
    [profile] = live_profiles(session, tenant.id)
    assert profile.phone is None
    assert identities(session, profile.id) == {("user_id", "u1")}


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        pytest.param("+821012345678", "010-1234-5678", id="mobile"),
        pytest.param("+8225551234", "02-555-1234", id="seoul-landline"),
        pytest.param("+14155552671", "+1 415-555-2671", id="foreign"),
        pytest.param(None, "", id="none"),
    ],
)
def test_display_phone(e164: str | None, shown: str) -> None:
    assert display_phone(e164) == shown


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("010-9876-5432", "+821098765432", id="mobile"),
        pytest.param("02-555-1234", "+8225551234", id="landline"),
        pytest.param(1098765432, "+821098765432", id="number"),
        pytest.param("not a phone", None, id="words"),
        pytest.param("", None, id="empty"),
    ],
)
def test_normalise_phone(raw: object, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


# --- the resolver directly ---


def _ingest(session: Session, workspace: Workspace, *raws: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    messages = [
        parse_message(raw, type_=None, index=i, received_at=now) for i, raw in enumerate(raws)
    ]
    ingest(session, workspace=workspace, messages=messages, received_at=now)
    session.flush()


def test_one_batch_resolves_like_separate_requests(session: Session) -> None:
    workspace = make_workspace(session)
    _ingest(
        session,
        workspace,
        {"type": "track", "anonymousId": "a1", "event": "Viewed"},
        {"type": "identify", "anonymousId": "a2", "traits": {"email": "x@example.com"}},
        {"type": "identify", "userId": "u1", "anonymousId": "a1"},
        {"type": "identify", "userId": "u1", "anonymousId": "a2"},
    )
    [profile] = live_profiles(session, workspace.id)
    assert identities(session, profile.id) == {
        ("anonymous_id", "a1"),
        ("anonymous_id", "a2"),
        ("email", "x@example.com"),
        ("user_id", "u1"),
    }


def test_resolver_refuses_two_user_ids_in_one_event(session: Session) -> None:
    workspace = make_workspace(session)
    resolver = IdentityResolver(session, workspace)
    with pytest.raises(ValidationFailed, match="only one userId"):
        resolver.resolve([("user_id", "a"), ("user_id", "b")])


def test_merge_moves_counters_and_keeps_the_earliest_and_latest_seen(session: Session) -> None:
    workspace = make_workspace(session)
    older = make_customer(session, workspace=workspace, user_id="u-old")
    newer = make_customer(session, workspace=workspace, user_id="u-new", traits={"name": "New"})
    older.first_seen_at = datetime(2026, 1, 10, tzinfo=UTC)
    older.last_seen_at = datetime(2026, 2, 1, tzinfo=UTC)
    newer.first_seen_at = datetime(2026, 1, 1, tzinfo=UTC)
    newer.last_seen_at = datetime(2026, 3, 1, tzinfo=UTC)
    older.event_count, newer.event_count = 3, 4
    older.touchpoints, newer.touchpoints = {"web": 3}, {"web": 1, "ios": 3}
    newer.lifecycle_stage = "customer"
    session.flush()
    record = merge_customers(session, survivor=older, merged=newer, reason="manual")
    assert (record.survivor_id, record.merged_id) == (older.id, newer.id)
    assert (older.first_seen_at, older.last_seen_at) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert (older.event_count, older.touchpoints, older.lifecycle_stage) == (
        7,
        {"web": 4, "ios": 3},
        "customer",
    )
    assert older.display_name == "New"
    assert (newer.merged_into_id, newer.event_count, newer.traits) == (older.id, 0, {})


@pytest.mark.parametrize("case", ["itself", "other-workspace", "already-merged"])
def test_merge_refuses_impossible_merges(session: Session, case: str) -> None:
    workspace = make_workspace(session)
    a = make_customer(session, workspace=workspace)
    b = make_customer(session, workspace=workspace)
    if case == "itself":
        b = a
    elif case == "other-workspace":
        b = make_customer(session, workspace=make_workspace(session))
    else:
        c = make_customer(session, workspace=workspace)
        merge_customers(session, survivor=c, merged=b, reason="manual")
    with pytest.raises(Conflict):
        merge_customers(session, survivor=a, merged=b, reason="manual")


def test_identity_keys_accept_only_user_id_email_and_phone(session: Session) -> None:
    workspace = make_workspace(session)
    with pytest.raises(ValidationFailed):
        accounts.set_identity_keys(session, workspace=workspace, kinds=["user_id", "kakao"])
    accounts.set_identity_keys(session, workspace=workspace, kinds=["phone"])
    assert workspace.identity_keys == ["user_id", "phone"]


# --- a property over any sequence of calls ---

USERS = st.sampled_from(["u1", "u2", "u3"])
DEVICES = st.sampled_from(["a1", "a2", "a3"])
TRAITS = st.fixed_dictionaries(
    {},
    optional={
        "email": st.sampled_from(["fam@example.com", "solo@example.com"]),
        "phone": st.sampled_from(["010-1111-2222", "010-3333-4444"]),
    },
)
IDENTIFY = st.fixed_dictionaries(
    {"type": st.just("identify"), "traits": TRAITS},
    optional={"userId": USERS, "anonymousId": DEVICES},
).filter(lambda m: "userId" in m or "anonymousId" in m)
TRACK = st.fixed_dictionaries(
    {"type": st.just("track"), "event": st.just("Clicked")},
    optional={"userId": USERS, "anonymousId": DEVICES},
).filter(lambda m: "userId" in m or "anonymousId" in m)
ALIAS = st.fixed_dictionaries(
    {"type": st.just("alias"), "userId": USERS, "previousId": st.one_of(USERS, DEVICES)}
)
CALL = st.one_of(IDENTIFY, IDENTIFY, TRACK, ALIAS)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(st.lists(CALL, min_size=1, max_size=4), min_size=1, max_size=5),
    email_is_key=st.booleans(),
)
def test_every_id_names_exactly_one_live_profile_after_any_calls(
    session: Session, batches: list[list[dict[str, Any]]], email_is_key: bool
) -> None:
    # each example in its own savepoint: a failing one leaves the transaction usable
    with session.begin_nested():
        check_calls(session, batches, email_is_key)


def check_calls(session: Session, batches: list[list[dict[str, Any]]], email_is_key: bool) -> None:
    keys = ["user_id", "email", "phone"] if email_is_key else ["user_id"]
    workspace = make_workspace(session, identity_keys=keys)
    for batch in batches:
        _ingest(session, workspace, *batch)
    session.expire_all()
    live = set(
        session.scalars(
            select(Customer.id).where(
                Customer.workspace_id == workspace.id, Customer.merged_into_id.is_(None)
            )
        )
    )
    held = session.execute(
        select(Identity.kind, Identity.value, Identity.customer_id).where(
            Identity.workspace_id == workspace.id
        )
    ).all()
    # identities live only on live profiles; a unique identity on exactly one of them
    assert {cid for _, _, cid in held} <= live
    unique_kinds = {"user_id", "anonymous_id", *(k for k in keys if k != "user_id")}
    holders: dict[tuple[str, str], set[int]] = {}
    for kind, value, cid in held:
        holders.setdefault((kind, value), set()).add(cid)
    for (kind, value), cids in holders.items():
        if kind in unique_kinds:
            assert len(cids) == 1, (kind, value, cids)
    # every user id that was sent maps to one live profile, which has all its events
    sent_users = {m["userId"] for batch in batches for m in batch if "userId" in m}
    for user_id in sent_users:
        [owner] = holders[("user_id", user_id)]
        on = set(
            session.scalars(
                select(Event.customer_id).where(
                    Event.workspace_id == workspace.id, Event.user_id == user_id
                )
            )
        )
        assert on == {owner}, (user_id, on, owner)
    # every event is on a live profile
    on_events = set(
        session.scalars(select(Event.customer_id).where(Event.workspace_id == workspace.id))
    )
    assert on_events <= live
    events = session.scalar(
        select(func.count()).select_from(Event).where(Event.workspace_id == workspace.id)
    )
    assert events == sum(len(b) for b in batches)


def test_a_new_device_signing_in_within_one_batch_joins_without_a_stored_merge(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # given a member known from earlier
    send(client, tenant, {"type": "identify", "userId": "member-9", "traits": {"name": "이서연"}})
    [member] = live_profiles(session, tenant.id)
    # when a new device browses and signs in, all in one batch
    send(
        client,
        tenant,
        {"type": "page", "anonymousId": "phone-9", "name": "Home", "properties": {"path": "/"}},
        {"type": "track", "anonymousId": "phone-9", "event": "Product Viewed"},
        {"type": "identify", "anonymousId": "phone-9", "userId": "member-9"},
    )
    # then every event is the member's, the device id joined the profile, and no other
    # profile was written (so there was nothing to merge and nothing recorded)
    session.expire_all()
    assert [c.id for c in live_profiles(session, tenant.id)] == [member.id]
    assert (
        session.scalar(
            select(func.count()).select_from(Customer).where(Customer.workspace_id == tenant.id)
        )
        == 1
    )
    assert ("anonymous_id", "phone-9") in identities(session, member.id)
    owners = set(session.scalars(select(Event.customer_id).where(Event.workspace_id == tenant.id)))
    assert owners == {member.id}
    assert not session.scalars(
        select(CustomerMerge).where(CustomerMerge.workspace_id == tenant.id)
    ).all()
