"""Texts and analyses for the text tests: stored analyses with known labels, analysed survey
comments, two obvious topics, a survey with a comment question."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.feedback import texts as survey_texts
from cxloop.models import (
    Customer,
    Response,
    TextAnalysis,
    TextAnalysisCategory,
    Workspace,
)
from cxloop.text.sources import SourceText
from cxloop.text.store import service
from tests.factories import Tenant

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

# Two topics nobody would confuse, each written 25 ways: late parcels, and a sign-in that fails.
PARCEL = (
    ("택배가", "배송이", "주문한 택배가", "배송 상품이", "새벽 배송이"),
    (
        "{n}일째 안 와요",
        "너무 늦게 왔어요",
        "조회가 안 돼요",
        "엉뚱한 곳에 왔어요",
        "지연되고 있어요",
    ),
    (
        "기사님 연락도 없어요",
        "선물인데 속상해요",
        "배송 조회도 안 되네요",
        "경비실에 두고 갔어요",
        "택배사에 물어봐도 몰라요",
    ),
)
LOGIN = (
    (
        "앱 로그인이",
        "로그인이",
        "앱에서 로그인이",
        "비밀번호 변경 후 로그인이",
        "업데이트 후 로그인이",
    ),
    ("계속 안 돼요", "오류가 나요", "자꾸 튕겨요", "인증 문자 없이 실패해요", "화면에서 멈춰요"),
    (
        "비밀번호 재설정도 안 돼요",
        "앱을 다시 설치했어요",
        "인증 메일이 안 와요",
        "로그인 오류 코드만 보여요",
        "아이디 찾기도 안 돼요",
    ),
)


def written(parts: tuple[tuple[str, ...], ...], i: int) -> str:
    first, second, third = parts
    return " ".join(
        (first[i % 5], second[(i // 5) % 5].format(n=2 + i % 4), third[(i + i // 5) % 5])
    )


def topic_texts() -> list[tuple[str, str]]:
    out = []
    for i in range(25):
        out += [("parcel", written(PARCEL, i)), ("login", written(LOGIN, i))]
    return out


def store(session: Session, ws: Workspace, texts: list[str], *, start: int = 1) -> list[int]:
    """Analyse the texts with the real pipeline, as comments written over the last weeks."""
    items = [
        SourceText(
            source_id=start + i,
            text=text,
            occurred_at=NOW - timedelta(days=1 + i % 60, hours=i),
        )
        for i, text in enumerate(texts)
    ]
    report = service.analyse_and_store(
        session, workspace_id=ws.id, source_type="survey_response", items=items
    )
    return report.analysis_ids


_source_ids = itertools.count(10_000_000)


def make_analysis(
    session: Session,
    workspace: Workspace,
    *,
    at: datetime,
    sentiment: str = "neutral",
    score: float = 0.0,
    categories: tuple[str, ...] = (),
    customer: Customer | None = None,
    lang: str = "ko",
    keywords: tuple[str, ...] = (),
) -> TextAnalysis:
    """A stored analysis with exactly these labels (and its category rows)."""
    analysis = TextAnalysis(
        workspace_id=workspace.id,
        source_type="survey_response",
        source_id=next(_source_ids),
        customer_id=customer.id if customer else None,
        lang=lang,
        sentiment=sentiment,
        score=score,
        categories=list(categories),
        aspects=[],
        keywords=list(keywords),
        corrected=[],
        text_hash="x",
        occurred_at=at,
    )
    session.add(analysis)
    session.flush()
    session.add_all(
        TextAnalysisCategory(
            analysis_id=analysis.id,
            workspace_id=workspace.id,
            category=c,
            sentiment=sentiment,
            occurred_at=at,
        )
        for c in categories
    )
    session.flush()
    return analysis


def comment(
    session: Session,
    ws: Workspace,
    text: str,
    *,
    at: datetime,
    touchpoint: str | None = None,
    customer: Customer | None = None,
) -> Response:
    """A completed survey answer with a comment, analysed by the real pipeline."""
    from tests.helpers.dashboard import answer, make_survey

    survey = make_survey(session, ws)
    row = answer(session, survey, at=at, nps=5, touchpoint=touchpoint, customer=customer)
    row.comment = text
    session.flush()
    items = survey_texts.survey_texts.fetch(session, workspace_id=ws.id, ids=[row.id])
    service.analyse_and_store(
        session, workspace_id=ws.id, source_type="survey_response", items=items
    )
    return row


def survey_definition() -> dict[str, Any]:
    return {
        "questions": [
            {"id": "nps", "type": "nps", "required": True, "text": {"ko": "추천?", "en": "Rec?"}},
            {"id": "comment", "type": "text", "text": {"ko": "한 말씀", "en": "Anything else?"}},
        ]
    }


def live_survey(client: TestClient, tenant: Tenant) -> int:
    reply = client.post(
        "/api/v1/surveys",
        json={"key": "nps", "name": "NPS", "kind": "nps", "definition": survey_definition()},
        headers=tenant.api,
    )
    assert reply.status_code == 201, reply.text
    survey_id = int(reply.json()["id"])
    reply = client.post(
        f"/api/v1/surveys/{survey_id}/status", json={"status": "live"}, headers=tenant.api
    )
    assert reply.status_code == 200, reply.text
    return survey_id


def answer(
    client: TestClient,
    tenant: Tenant,
    survey_id: int,
    *,
    nps: int,
    comment: str | None,
    customer_id: int | None = None,
) -> int:
    answers: dict[str, Any] = {"nps": nps}
    if comment is not None:
        answers["comment"] = comment
    body: dict[str, Any] = {"answers": answers}
    if customer_id is not None:
        body["customer_id"] = customer_id
    reply = client.post(f"/api/v1/surveys/{survey_id}/responses", json=body, headers=tenant.api)
    assert reply.status_code == 201, reply.text
    return int(reply.json()["response"]["id"])


def texts_of(session: Session, tenant: Tenant, ids: list[int]) -> list[SourceText]:
    return survey_texts.survey_texts.fetch(session, workspace_id=tenant.id, ids=ids)


LATE = "배송이 너무 늦게 와서 짜증났어요. 다시는 안 시킬래요"


def definition() -> dict[str, Any]:
    return {
        "questions": [
            {"id": "nps", "type": "nps", "required": True, "text": {"ko": "추천?", "en": "Rec?"}},
            {"id": "comment", "type": "text", "text": {"ko": "한 말씀", "en": "Anything else?"}},
        ]
    }


COMMENTS = [
    "배송이 너무 늦어요 ㅠㅠ",
    "상담원분이 친절했어요",
    "가격이 비싸네요",
    "앱이 자꾸 튕겨요 결제가 안돼요",
    "포인트 적립이 잘 돼서 좋아요",
    "The delivery was quick and the box was intact.",
    "매장 직원분들이 불친절했어요",
]
