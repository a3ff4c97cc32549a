"""Surveys through the REST API for the feedback tests: a standard NPS definition, create, go live,
submit, invitations, follow-ups."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.core.timeutil import utcnow
from cxloop.feedback.distribution import links as invitation_links
from cxloop.models import Invitation
from tests.factories import Tenant, make_customer

T = {"ko": "질문", "en": "Question"}


def nps_definition(**extra: Any) -> dict[str, Any]:
    """NPS, a follow-up shown to detractors only, a reason choice and a comment."""
    return {
        "questions": [
            {
                "id": "nps",
                "type": "nps",
                "required": True,
                "text": {"ko": "추천하시겠어요?", "en": "Would you recommend us?"},
            },
            {
                "id": "why_low",
                "type": "single",
                "required": True,
                "text": {"ko": "무엇이 아쉬웠나요?", "en": "What went wrong?"},
                "options": [
                    {"id": "delivery", "label": {"ko": "배송", "en": "Delivery"}},
                    {"id": "price", "label": {"ko": "가격", "en": "Price"}},
                ],
                "show_if": {"question": "nps", "op": "<=", "value": 6},
            },
            {
                "id": "liked",
                "type": "multiple",
                "text": {"ko": "좋았던 점", "en": "What did you like?"},
                "options": [
                    {"id": "speed", "label": {"ko": "속도", "en": "Speed"}},
                    {"id": "staff", "label": {"ko": "직원", "en": "Staff"}},
                    {"id": "app", "label": {"ko": "앱", "en": "App"}},
                ],
            },
            {
                "id": "comment",
                "type": "text",
                "max_length": 20,
                "text": {"ko": "한 말씀", "en": "Anything else?"},
            },
        ],
        "hidden_fields": ["order_id", "touchpoint"],
        "thank_you": {
            "promoter": {
                "ko": "감사합니다! 추천 부탁드려요",
                "en": "Thanks, please tell a friend!",
            },
            "detractor": {"ko": "죄송합니다. 개선하겠습니다", "en": "Sorry, we will do better."},
            "default": {"ko": "감사합니다", "en": "Thank you"},
        },
        **extra,
    }


def create(client: TestClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    payload = {"key": "post-purchase", "name": "구매 후 설문", "kind": "nps"}
    payload["definition"] = nps_definition()
    payload.update(body)
    reply = client.post("/api/v1/surveys", json=payload, headers=tenant.api)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def go_live(client: TestClient, tenant: Tenant, survey_id: int) -> None:
    reply = client.post(
        f"/api/v1/surveys/{survey_id}/status", json={"status": "live"}, headers=tenant.api
    )
    assert reply.status_code == 200, reply.text


def submit(
    client: TestClient, tenant: Tenant, survey_id: int, **body: Any
) -> Any:  # the httpx response
    return client.post(f"/api/v1/surveys/{survey_id}/responses", json=body, headers=tenant.api)


def make_invitation(session: Session, tenant: Tenant, survey_id: int, token: str) -> Invitation:
    customer = make_customer(session, workspace=tenant.workspace)
    invitation = Invitation(
        workspace_id=tenant.id,
        survey_id=survey_id,
        customer_id=customer.id,
        token_hash=invitation_links.hash_token(token),
        channel="email",
        status="sent",
        hidden={"order_id": "O-7"},
        send_at=utcnow(),
        expires_at=utcnow() + timedelta(days=14),
    )
    session.add(invitation)
    session.flush()
    return invitation


URL = "/api/v1/follow-ups"


def follow_ups(client: TestClient, tenant: Tenant, query: str = "") -> list[dict[str, Any]]:
    reply = client.get(f"{URL}{query}", headers=tenant.api)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["items"])


def import_rows(client: TestClient, tenant: Tenant, survey_id: int, rows: list[Any]) -> Any:
    reply = client.post(
        f"/api/v1/surveys/{survey_id}/responses/import", json={"rows": rows}, headers=tenant.api
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def _one_follow_up(client: TestClient, tenant: Tenant, external_id: str = "p1", **row: Any) -> int:
    """The id of the follow-up of one imported detractor answer."""
    survey = create(client, tenant, key=f"s-{external_id}")
    answers = {"nps": 3, "why_low": "price"}
    row = {"external_id": external_id, "answers": answers, **row}
    [response_id] = import_rows(client, tenant, survey["id"], [row])["ids"]
    [follow_up_id] = [
        i["id"] for i in follow_ups(client, tenant) if i["response_id"] == response_id
    ]
    return int(follow_up_id)
