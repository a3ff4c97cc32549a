"""The messaging providers' delivery webhooks (Solapi, NHN Cloud Alimtalk): a call at the
workspace's secret address, signed when NHN Cloud's signature is set, is kept on the disk and
answered at once; its reports are applied right after the answer, or by the spool's sweep when
the process died first, and applying a call again changes nothing. A wrong address or
signature, or a body that is not the provider's reports, is refused and nothing is kept."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session

from cxloop.channels.provider_hooks import accept_provider_hook, hook_token, spool_kind
from cxloop.core.db import Database
from cxloop.core.settings import Settings
from cxloop.core.spool import Spool, Sweeper, spool_of
from cxloop.models import OutboundMessage
from tests.factories import Tenant, unique
from tests.helpers.outbox import reload
from tests.helpers.providers import FakeNhnAlimtalk, FakeSolapi
from tests.helpers.texting import deliver, queue_alimtalk, queue_sms

NHN_SIGNATURE = "toast-signature-1"
SIGNED = {"X-Toast-Webhook-Signature": NHN_SIGNATURE}


@pytest.fixture
def signed_by_nhn(client: TestClient) -> Iterator[None]:
    """The server checks NHN Cloud's webhook signature."""
    app_settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = app_settings.model_copy(  # type: ignore[attr-defined]
        update={"nhn_webhook_signature": SecretStr(NHN_SIGNATURE)}
    )
    try:
        yield
    finally:
        client.app.state.settings = app_settings  # type: ignore[attr-defined]


def spools(settings: Settings) -> list[Spool]:
    return [spool_of(settings, spool_kind(p)) for p in ("solapi", "nhn-alimtalk")]


def sent_sms(session: Session, tenant: Tenant, db: Database, solapi_settings: Settings) -> str:
    """A text message Solapi took: its provider id, which Solapi's reports name."""
    message = queue_sms(session, tenant, "배송이 시작되었습니다.")
    deliver(db, solapi_settings)
    provider_id = reload(session, message).provider_message_id
    assert provider_id is not None
    return provider_id


@pytest.fixture
def sent_texts(
    session: Session, tenant: Tenant, tx_database: Database, settings: Settings, solapi: FakeSolapi
) -> tuple[str, str]:
    """Two text messages Solapi took: their provider ids."""
    first = sent_sms(session, tenant, tx_database, solapi.settings(settings))
    return first, sent_sms(session, tenant, tx_database, solapi.settings(settings))


@pytest.fixture
def solapi_hook(tenant: Tenant, settings: Settings) -> str:
    """The workspace's Solapi webhook path."""
    return "/hooks/solapi/" + hook_token("solapi", workspace_id=tenant.id, settings=settings)


def solapi_report(provider_id: str, code: str = "4000") -> dict[str, str]:
    message = "수신완료" if code == "4000" else "수신거부 번호"
    return {"messageId": provider_id, "statusCode": code, "statusMessage": message}


def nhn_result(request_id: str, status: str, resend: str = "RSC01") -> dict[str, Any]:
    return {
        "hookId": unique("hook"),
        "requestId": request_id,
        "recipientSeq": 1,
        "recipientNo": "01012345678",
        "messageStatus": status,
        "resultCode": "1000" if status == "COMPLETED" else "3018",
        "resultCodeName": "성공" if status == "COMPLETED" else "메시지를 전송할 수 없음",
        "resendStatus": resend,
    }


def nhn_body(*results: dict[str, Any]) -> dict[str, Any]:
    return {
        "hooksId": unique("hooks"),
        "webhookConfigId": "cfg-1",
        "productName": "KakaoTalk Bizmessage",
        "appKey": "nhnTestAppKey01",
        "event": "MESSAGE_RESULT_UPDATE",
        "hooks": list(results),
    }


def outbox_of(session: Session, tenant: Tenant) -> dict[str, tuple[str, str]]:
    """The workspace's messages by provider id: status and last error."""
    session.expire_all()
    return {
        m.provider_message_id or "": (m.status, m.last_error)
        for m in session.query(OutboundMessage).filter_by(workspace_id=tenant.id)
    }


def reported_at(session: Session, tenant: Tenant) -> dict[str, datetime | None]:
    """When each of the workspace's messages was last reported on, by provider id."""
    session.expire_all()
    return {
        m.provider_message_id or "": m.reported_at
        for m in session.query(OutboundMessage).filter_by(workspace_id=tenant.id)
    }


def test_operators_get_the_webhook_addresses_of_their_workspace(
    client: TestClient, tenant: Tenant, settings: Settings
) -> None:
    answer = client.get("/api/v1/outbox/hooks", headers=tenant.api)
    assert answer.status_code == 200
    urls = answer.json()
    token = hook_token("solapi", workspace_id=tenant.id, settings=settings)
    assert urls["solapi"].endswith(f"/hooks/solapi/{token}")
    assert "/hooks/nhn-alimtalk/" in urls["nhn_alimtalk"]
    assert client.get("/api/v1/outbox/hooks").status_code == 401


def test_solapi_reports_are_applied_right_after_the_answer(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    settings: Settings,
    sent_texts: tuple[str, str],
    solapi_hook: str,
) -> None:
    delivered_id, bounced_id = sent_texts
    reports = [
        solapi_report(delivered_id),
        solapi_report(bounced_id, "3104"),
        {"messageId": "M4V-UNKNOWN", "statusCode": "3000", "statusMessage": "이통사 접수"},
    ]

    answer = client.post(solapi_hook, json=reports)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "accepted", "id": answer.json()["id"], "reports": 2}
    assert outbox_of(session, tenant) == {
        delivered_id: ("delivered", ""),
        bounced_id: ("bounced", "3104 수신거부 번호"),
    }
    assert [spool.depth() for spool in spools(settings)] == [0, 0]


def test_a_replayed_report_body_is_applied_once(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    sent_texts: tuple[str, str],
    solapi_hook: str,
) -> None:
    delivered_id, bounced_id = sent_texts
    body = orjson.dumps([solapi_report(delivered_id), solapi_report(bounced_id, "3104")])
    first = client.post(solapi_hook, content=body)
    assert first.status_code == 200, first.text
    applied, applied_at = outbox_of(session, tenant), reported_at(session, tenant)

    replay = client.post(solapi_hook, content=body)

    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] != first.json()["id"]  # kept apart, applied apart
    assert (outbox_of(session, tenant), reported_at(session, tenant)) == (applied, applied_at)
    assert applied == {
        delivered_id: ("delivered", ""),
        bounced_id: ("bounced", "3104 수신거부 번호"),
    }


def test_nhn_results_count_the_fallback(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    nhn: FakeNhnAlimtalk,
    signed_by_nhn: None,
) -> None:
    by_text = [queue_alimtalk(session, tenant) for _ in range(3)]
    deliver(tx_database, nhn.settings(settings))
    request_ids = [(reload(session, m).provider_message_id or "").split(":")[0] for m in by_text]
    body = nhn_body(
        nhn_result(request_ids[0], "COMPLETED"),
        nhn_result(request_ids[1], "FAILED", "RSC04"),  # KakaoTalk failed, the fallback text went
        nhn_result(request_ids[2], "FAILED", "RSC05"),  # the fallback failed as well
    )
    token = hook_token("nhn-alimtalk", workspace_id=tenant.id, settings=settings)

    answer = client.post(f"/hooks/nhn-alimtalk/{token}", json=body, headers=SIGNED)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "accepted", "id": answer.json()["id"], "reports": 3}
    assert [(m.status, m.last_error) for m in (reload(session, m) for m in by_text)] == [
        ("delivered", ""),
        ("delivered", ""),
        ("bounced", "3018 메시지를 전송할 수 없음"),
    ]


@pytest.mark.parametrize(
    ("provider", "token_of", "headers", "body_of", "status"),
    [
        pytest.param("solapi", lambda t, _: f"{t}.forged-token", {}, "solapi", 401, id="forged"),
        pytest.param(
            "solapi",
            lambda t, s: hook_token("solapi", workspace_id=t + 1, settings=s).replace(
                str(t + 1), str(t), 1
            ),
            {},
            "solapi",
            401,
            id="another-workspaces-mac",
        ),
        pytest.param(
            "solapi",
            lambda t, s: hook_token("nhn-alimtalk", workspace_id=t, settings=s),
            {},
            "solapi",
            401,
            id="the-other-providers-token",
        ),
        pytest.param("nhn-alimtalk", None, {}, "nhn", 401, id="nhn-unsigned"),
        pytest.param(
            "nhn-alimtalk",
            None,
            {"X-Toast-Webhook-Signature": "toast-signature-2"},
            "nhn",
            401,
            id="nhn-wrong-signature",
        ),
        pytest.param("solapi", None, {}, "not json", 422, id="not-json"),
        pytest.param("nhn-alimtalk", None, SIGNED, "solapi", 422, id="solapi-body-at-nhn"),
    ],
)
def test_a_refused_call_keeps_nothing(
    client: TestClient,
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    sent_texts: tuple[str, str],
    nhn: FakeNhnAlimtalk,
    signed_by_nhn: None,
    provider: str,
    token_of: Any,
    headers: dict[str, str],
    body_of: str,
    status: int,
) -> None:
    sms_id = sent_texts[0]
    alimtalk = queue_alimtalk(session, tenant)
    deliver(tx_database, nhn.settings(settings))
    request_id = (reload(session, alimtalk).provider_message_id or "").split(":")[0]
    bodies = {
        "solapi": orjson.dumps([solapi_report(sms_id)]),
        "nhn": orjson.dumps(nhn_body(nhn_result(request_id, "COMPLETED"))),
        "not json": b"not json",
    }
    token = (
        token_of(tenant.id, settings)
        if token_of
        else hook_token(provider, workspace_id=tenant.id, settings=settings)
    )
    before = outbox_of(session, tenant)

    answer = client.post(f"/hooks/{provider}/{token}", content=bodies[body_of], headers=headers)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [spool.depth() for spool in spools(settings)] == [0, 0]
    assert outbox_of(session, tenant) == before
    assert {state for state, _ in before.values()} == {"sent"}


def test_reports_a_dead_process_left_on_the_disk_are_applied_by_the_sweep(
    session: Session,
    tenant: Tenant,
    tx_database: Database,
    settings: Settings,
    sent_texts: tuple[str, str],
) -> None:
    # Two calls were answered: the process died before applying the first, and while applying
    # the second (taken long enough ago that its taker must be dead).
    waiting_id, taken_id = sent_texts
    token = hook_token("solapi", workspace_id=tenant.id, settings=settings)
    for provider_id in (waiting_id, taken_id):
        kept = accept_provider_hook(
            settings,
            provider="solapi",
            token=token,
            payload=orjson.dumps([solapi_report(provider_id)]),
            content_type="application/json",
            headers={},
        )
        assert kept.reports == 1
    spool = spool_of(settings, "solapi")
    taken = spool.take(kept.name)
    assert taken is not None
    long_ago = time.time() - 3600
    os.utime(taken.path, (long_ago, long_ago))
    assert outbox_of(session, tenant) == {waiting_id: ("sent", ""), taken_id: ("sent", "")}

    assert Sweeper(tx_database, settings).sweep_once(older_than=0) == 2

    assert outbox_of(session, tenant) == {
        waiting_id: ("delivered", ""),
        taken_id: ("delivered", ""),
    }
    assert spool.depth() == 0
