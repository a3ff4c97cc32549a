"""Social posts and reviews: a webhook signed with the inbox's secret (timestamp and body, old
timestamps refused) takes mentions and comments into a social inbox and reviews, with their
rating, into a review inbox, each once by its id; a wrong signature stores nothing; an item
that cannot be read is kept for the agents. The same items come in by CSV or JSON import
through the API and the CLI, bad rows reported with their line and reason."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.accounts import service as accounts
from cxloop.care import hooks_api, social
from cxloop.care import service as care
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.models import (
    AuditEntry,
    CareInbox,
    Conversation,
    ConversationMessage,
    Customer,
    Identity,
)
from tests.factories import Tenant, make_user, unique
from tests.helpers.cli import Result
from tests.helpers.web import get, login, text_of
from tests.helpers.web import post as web_post


def make_inbox(client: TestClient, tenant: Tenant, channel: str) -> tuple[int, str]:
    made = client.post(
        "/api/v1/care/inboxes",
        json={"name": f"{channel} inbox", "channel": channel},
        headers=tenant.api,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    return body["id"], body["webhook_path"]


def secret_of(client: TestClient, tenant: Tenant, inbox_id: int) -> str:
    response = client.get(f"/api/v1/care/inboxes/{inbox_id}/signing-secret", headers=tenant.api)
    assert response.status_code == 200, response.text
    secret: str = response.json()["signing_secret"]
    return secret


def signed(secret: str, body: bytes, *, at: int | None = None) -> dict[str, str]:
    stamp = str(at if at is not None else int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Cxloop-Timestamp": stamp,
        "X-Cxloop-Signature": social.signature(secret, timestamp=stamp, body=body),
    }


def item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": unique("post-"),
        "kind": "mention",
        "platform": "instagram",
        "author": {"name": "김민지", "handle": "@minji.k", "url": "https://instagram.com/minji.k"},
        "text": "가나다몰 배송 진짜 느리네요… 일주일째 기다리는 중",
        "url": "https://instagram.com/p/abc",
        "posted_at": "2026-12-05T21:10:00+09:00",
    }
    return base | fields


def messages_by_id(session: Session, workspace_id: int, message_id: str) -> list[Any]:
    return list(
        session.scalars(
            select(ConversationMessage).where(
                ConversationMessage.workspace_id == workspace_id,
                ConversationMessage.channel_message_id == message_id,
            )
        )
    )


def test_a_signed_mention_and_review_become_conversations_once(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    social_id, social_hook = make_inbox(client, tenant, "social")
    review_id, review_hook = make_inbox(client, tenant, "review")
    assert social_hook.startswith("/hooks/social/") and review_hook != social_hook
    mention = item()
    review = item(
        kind="review",
        platform="naver_place",
        rating=2,
        text="직원분은 친절했는데 포장이 엉망이었어요.",
        author={"name": "네이버 사용자"},
    )
    mention_body = json.dumps(mention, ensure_ascii=False).encode()
    review_body = json.dumps({"items": [review]}, ensure_ascii=False).encode()

    first = client.post(
        social_hook,
        content=mention_body,
        headers=signed(secret_of(client, tenant, social_id), mention_body),
    )
    again = client.post(
        social_hook,
        content=mention_body,
        headers=signed(secret_of(client, tenant, social_id), mention_body),
    )
    reviewed = client.post(
        review_hook,
        content=review_body,
        headers=signed(secret_of(client, tenant, review_id), review_body),
    )

    assert first.status_code == 200, first.text
    assert [i["status"] for i in first.json()["items"]] == ["stored"]
    assert [i["status"] for i in again.json()["items"]] == ["duplicate"]
    assert [i["status"] for i in reviewed.json()["items"]] == ["stored"]
    [stored] = messages_by_id(session, tenant.id, f"social:instagram:{mention['id']}")
    conversation = session.get(Conversation, stored.conversation_id)
    assert conversation is not None
    assert (conversation.channel, conversation.inbox_id, conversation.subject) == (
        "social",
        social_id,
        "instagram mention",
    )
    assert stored.body_text == mention["text"]
    assert stored.details["social"]["author"]["handle"] == "minji.k"
    customer = session.get(Customer, conversation.customer_id)
    assert customer is not None and customer.display_name == "김민지"
    handle = session.scalar(
        select(Identity.value).where(Identity.customer_id == customer.id, Identity.kind == "social")
    )
    assert handle == "instagram:minji.k"
    [rated] = messages_by_id(session, tenant.id, f"social:naver_place:{review['id']}")
    assert rated.details["social"]["rating"] == 2
    review_conversation = session.get(Conversation, rated.conversation_id)
    assert review_conversation is not None
    assert (review_conversation.channel, review_conversation.subject) == (
        "review",
        "naver_place ★2",
    )
    # A review without an author handle still has a profile of its own, so it is analysed.
    assert review_conversation.customer_id is not None
    assert review_conversation.customer_id != conversation.customer_id


@pytest.mark.parametrize(
    "tamper",
    ["no signature", "wrong secret", "body changed", "old timestamp", "unknown token"],
)
def test_an_unsigned_or_replayed_call_is_401_and_nothing_is_stored(
    client: TestClient, session: Session, tenant: Tenant, tamper: str
) -> None:
    inbox_id, hook = make_inbox(client, tenant, "social")
    secret = secret_of(client, tenant, inbox_id)
    post = item()
    body = json.dumps(post).encode()
    headers = signed(secret, body)
    if tamper == "no signature":
        headers.pop("X-Cxloop-Signature")
    elif tamper == "wrong secret":
        headers = signed(secret + "x", body)
    elif tamper == "body changed":
        body = body.replace(b"instagram", b"facebook0")
    elif tamper == "old timestamp":
        headers = signed(secret, body, at=int(time.time()) - 600)
    else:
        hook = "/hooks/social/" + unique("nope")

    response = client.post(hook, content=body, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert messages_by_id(session, tenant.id, f"social:instagram:{post['id']}") == []
    assert messages_by_id(session, tenant.id, f"social:facebook0:{post['id']}") == []


def test_items_that_cannot_be_read_are_kept_for_the_agents(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    inbox_id, hook = make_inbox(client, tenant, "social")
    good = item()
    bad_rating = item(rating=4)
    review_here = item(kind="review", rating=5)
    body = json.dumps([good, bad_rating, review_here], ensure_ascii=False).encode()

    response = client.post(
        hook, content=body, headers=signed(secret_of(client, tenant, inbox_id), body)
    )

    assert response.status_code == 200
    assert [(i["status"], i["error"]) for i in response.json()["items"]] == [
        ("stored", ""),
        ("unreadable", "a mention has no rating"),
        ("unreadable", "a review goes to a review inbox"),
    ]
    kept = response.json()["items"][1]["message_id"]
    message = session.get(ConversationMessage, kept)
    assert message is not None and message.problem == "a mention has no rating"
    assert json.loads(message.raw)["id"] == bad_rating["id"]


CSV = (
    "id,kind,platform,author_name,author_handle,author_url,text,rating,url,posted_at\n"
    "{a},review,naver_place,박서준,seojun,,배송 빠르고 좋아요,5,,2026-12-01 10:00\n"
    '{b},review,coupang,이하늘,,,"별로예요,\n다시는 안 사요",1,,2026-12-02T09:00:00+09:00\n'
    "{c},review,google,최유나,yuna,,좋아요,7,,2026-12-03\n"
    "{d},mention,instagram,한지민,jimin,,가나다몰 최고,,,2026-12-03\n"
    ",review,google,무명,,,아이디가 없음,3,,\n"
)


def test_a_csv_import_reports_bad_rows_by_line_and_is_idempotent(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    inbox_id, _hook = make_inbox(client, tenant, "review")
    ids = {k: unique(f"{k}-") for k in "abcd"}
    body = CSV.format(**ids).encode()

    first = client.post(
        f"/api/v1/care/inboxes/{inbox_id}/import",
        content=body,
        headers=tenant.api | {"Content-Type": "text/csv"},
    )
    again = client.post(
        f"/api/v1/care/inboxes/{inbox_id}/import",
        content=body,
        headers=tenant.api | {"Content-Type": "text/csv"},
    )

    assert first.status_code == 200, first.text
    assert first.json() == {
        "rows": 5,
        "created": 2,
        "duplicates": 0,
        "errors": [
            {"line": 5, "reason": "rating must be a whole number from 1 to 5"},
            {"line": 6, "reason": "a mention goes to a social inbox"},
            {"line": 7, "reason": "id is required"},
        ],
    }
    assert (again.json()["created"], again.json()["duplicates"]) == (0, 2)
    [multi_line] = messages_by_id(session, tenant.id, f"social:coupang:{ids['b']}")
    assert multi_line.body_text == "별로예요,\n다시는 안 사요"
    [naive] = messages_by_id(session, tenant.id, f"social:naver_place:{ids['a']}")
    assert naive.sent_at is not None and naive.sent_at.isoformat() == "2026-12-01T01:00:00+00:00"
    audits = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.workspace_id == tenant.id, AuditEntry.action == "care.import")
    )
    assert audits == 2


def test_a_json_import_needs_an_admin_and_a_social_or_review_inbox(
    client: TestClient, tenant: Tenant
) -> None:
    inbox_id, _hook = make_inbox(client, tenant, "social")
    email_id, _ = make_inbox(client, tenant, "email")
    body = json.dumps([item()], ensure_ascii=False).encode()
    as_json = {"Content-Type": "application/json"}

    agent = client.post(
        f"/api/v1/care/inboxes/{inbox_id}/import",
        content=body,
        headers=tenant.key("agent") | as_json,
    )
    email = client.post(
        f"/api/v1/care/inboxes/{email_id}/import", content=body, headers=tenant.api | as_json
    )
    broken = client.post(
        f"/api/v1/care/inboxes/{inbox_id}/import", content=b"{", headers=tenant.api | as_json
    )
    taken = client.post(
        f"/api/v1/care/inboxes/{inbox_id}/import", content=body, headers=tenant.api | as_json
    )

    assert agent.status_code == 403
    assert email.status_code == 422 and "Only social, review, phone" in email.json()["detail"]
    assert broken.status_code == 422 and broken.json()["detail"].startswith("The file is not JSON")
    assert taken.json() == {"rows": 1, "created": 1, "duplicates": 0, "errors": []}


def test_the_cli_imports_a_file_with_a_progress_line(
    cli: Callable[..., Result], database: Database, settings: Settings, tmp_path: Any
) -> None:
    slug = unique("care-social-")
    assert cli("workspace", "create", "가나다 쇼핑", "--slug", slug).code == 0
    made = cli("care", "inbox-create", "-w", slug, "--name", "리뷰", "--channel", "review")
    assert made.code == 0, made.err
    hook_path, secret = made.out.split()
    assert hook_path.startswith("/hooks/social/")
    with database.session() as session:
        workspace_id = accounts.find_workspace(session, slug=slug).id
        [inbox] = care.list_inboxes(session, workspace_id=workspace_id)
        inbox_id = inbox.id
        assert secret == social.signing_secret(inbox, settings)
    ids = {k: unique(f"{k}-") for k in "abcd"}
    path = tmp_path / "reviews.csv"
    path.write_text(CSV.format(**ids), encoding="cp949")

    first = cli("care", "import-social", str(path), "-w", slug, "--inbox", str(inbox_id))
    second = cli("care", "import-social", str(path), "-w", slug, "--inbox", str(inbox_id))

    assert first.code == 0, first.err
    assert "5 rows read, 2 stored, 0 already there, 3 not taken." in first.out
    assert "reviews.csv line 5: rating must be a whole number from 1 to 5" in first.err
    assert "Importing reviews.csv" in first.err
    assert "5 rows read, 0 stored, 2 already there, 3 not taken." in second.out
    with database.session() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(ConversationMessage)
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .where(Conversation.inbox_id == inbox_id)
        )
        assert stored == 2
        wrong = session.get(CareInbox, inbox_id)
        assert wrong is not None and wrong.channel == "review"
    calls = cli("care", "import-calls", str(path), "-w", slug, "--inbox", str(inbox_id))
    assert calls.code != 0 and "is a review inbox, not phone" in calls.err


def test_a_signature_made_under_a_previous_secret_key_still_verifies(
    session: Session, tenant: Tenant, settings: Settings
) -> None:
    made = care.create_inbox(
        session, principal=accounts.cli_principal(tenant.id), name="소셜", channel="social"
    )
    old = settings.model_copy(update={"secret_key": "old-secret-" + "k" * 40})
    new = settings.model_copy(
        update={"secret_key": "new-secret-" + "k" * 40, "previous_secret_keys": old.secret_key}
    )
    body = b'{"id": "1"}'
    headers = signed(social.signing_secret(made.inbox, old), body)

    social.verify(
        made.inbox, headers={k.lower(): v for k, v in headers.items()}, body=body, settings=new
    )
    with pytest.raises(Exception, match="signature does not match"):
        social.verify(
            made.inbox,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            settings=settings.model_copy(update={"secret_key": "other-" + "k" * 40}),
        )


def test_an_inbox_over_its_rate_limit_gets_429_before_anything_is_read(
    client: TestClient, session: Session, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(hooks_api.HOOK_LIMITS, "social", "2/minute")
    inbox_id, hook = make_inbox(client, tenant, "social")
    secret = secret_of(client, tenant, inbox_id)
    posts = [item() for _ in range(3)]

    statuses = []
    for post in posts:
        body = json.dumps(post).encode()
        statuses.append(client.post(hook, content=body, headers=signed(secret, body)).status_code)

    assert statuses == [200, 200, 429]
    assert messages_by_id(session, tenant.id, f"social:instagram:{posts[2]['id']}") == []


def test_an_admin_makes_a_review_inbox_in_settings_and_is_shown_its_secret_once(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    owner = make_user(session, workspace=tenant.workspace, role="owner", locale="ko")
    session.flush()
    assert login(client, owner.email).status_code == 303
    form = {"name": "네이버 플레이스 리뷰", "channel": "review", "reopen_days": "7"}

    made = web_post(client, "/settings/inboxes", form)

    assert made.status_code == 200, made.text
    url = re.search(r'id="webhook-url" class="secret" type="text" value="([^"]+)"', made.text)
    secret = re.search(r'id="signing-secret" class="secret" type="text" value="([^"]+)"', made.text)
    assert url is not None and secret is not None
    assert "/hooks/social/" in url.group(1)
    review = item(kind="review", rating=4, platform="naver_place")
    body = json.dumps(review, ensure_ascii=False).encode()
    hook = url.group(1).split("testserver", 1)[1]
    taken = client.post(hook, content=body, headers=signed(html.unescape(secret.group(1)), body))
    assert [i["status"] for i in taken.json()["items"]] == ["stored"]
    shown = get(client, f"/inbox/{taken.json()['items'][0]['conversation_id']}")
    assert "★★★★☆ naver_place @minji.k 원문 보기" in text_of(shown)
    listed = get(client, "/settings/inboxes")
    assert "네이버 플레이스 리뷰" in text_of(listed) and secret.group(1) not in listed.text
