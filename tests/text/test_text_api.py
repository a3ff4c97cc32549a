"""Text analysis on demand: the REST endpoint and `cxloop text analyze`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.text.taxonomy import service
from tests.factories import Tenant

CONTRAST = "배송은 늦었지만 상담원은 친절했어요"


def test_one_text_is_analysed(client: TestClient, tenant: Tenant) -> None:
    reply = client.post("/api/v1/text/analyze", json={"text": CONTRAST}, headers=tenant.api)
    assert reply.status_code == 200, reply.text
    [item] = reply.json()["items"]
    assert item["lang"] == "ko"
    assert set(item["categories"]) >= {"delivery", "customer_service"}
    aspects = {(a["category"], a["sentiment"]) for a in item["aspects"]}
    assert {("delivery", "negative"), ("customer_service", "positive")} <= aspects
    assert -1 <= item["score"] <= 1
    assert "배송" in item["keywords"]
    assert "tokens" not in item


def test_several_texts_keep_their_order_and_languages(client: TestClient, tenant: Tenant) -> None:
    texts = ["너무 좋아요 강추합니다!!", {"text": "The app keeps crashing.", "lang": "en"}, "ㅋㅋ"]
    reply = client.post("/api/v1/text/analyze", json={"texts": texts}, headers=tenant.key("viewer"))
    assert reply.status_code == 200, reply.text
    items = reply.json()["items"]
    assert [i["lang"] for i in items] == ["ko", "en", "ko"]
    assert items[0]["sentiment"] == "positive"
    assert items[1]["sentiment"] == "negative"
    assert "website_app" in items[1]["categories"]


def test_bad_requests_are_422_problems(client: TestClient, tenant: Tenant) -> None:
    for body in (
        {},
        {"text": "a", "texts": ["b"]},
        {"texts": []},
        {"texts": ["x"] * 101},
        {"text": "가" * 5001},
        {"text": "ok", "lang": "fr"},
    ):
        reply = client.post("/api/v1/text/analyze", json=body, headers=tenant.api)
        assert reply.status_code == 422, body
        assert reply.headers["content-type"].startswith("application/problem+json")


def test_the_workspace_model_knows_the_workspaces_own_categories(
    client: TestClient, session: Session, tenant: Tenant
) -> None:
    service.create_category(
        session,
        workspace_id=tenant.id,
        key="gift_wrapping",
        name_ko="선물 포장",
        name_en="Gift wrapping",
        seeds_ko=["선물포장"],
    )
    session.flush()
    body = {"text": "선물포장이 정말 예뻤어요"}

    shipped = client.post("/api/v1/text/analyze", json=body, headers=tenant.api)
    own = client.post(
        "/api/v1/text/analyze", json={**body, "model": "workspace"}, headers=tenant.api
    )

    assert shipped.status_code == own.status_code == 200, own.text
    assert "gift_wrapping" not in shipped.json()["items"][0]["categories"]
    [item] = own.json()["items"]
    assert "gift_wrapping" in item["categories"] and item["sentiment"] == "positive"
    refused = client.post(
        "/api/v1/text/analyze", json={**body, "model": "mine"}, headers=tenant.api
    )
    assert refused.status_code == 422


def test_analysis_needs_an_api_key(client: TestClient) -> None:
    assert client.post("/api/v1/text/analyze", json={"text": "hi"}).status_code == 401


def _cxloop(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "cxloop"
    return subprocess.run(
        [str(executable), *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def test_the_cli_adds_the_analysis_to_each_line_and_keeps_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": "r1", "text": CONTRAST, "store": "강남점"}, ensure_ascii=False)
        + "\n\n"
        + json.dumps({"id": "r2", "text": "Refund still not received.", "lang": "en"})
        + "\n",
        encoding="utf-8",
    )
    done = _cxloop("text", "analyze", str(source))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert (first["id"], first["store"], first["lang"]) == ("r1", "강남점", "ko")
    assert {"sentiment", "score", "categories", "aspects", "keywords"} <= set(first)
    assert (second["id"], second["lang"], second["sentiment"]) == ("r2", "en", "negative")
    assert "payment_refund" in second["categories"]


def test_the_cli_names_the_bad_line(tmp_path: Path) -> None:
    done = _cxloop("text", "analyze", stdin='{"text": "좋아요"}\n{"id": 2}\n')
    assert done.returncode != 0
    assert done.stdout == ""
    assert "line 2" in done.stderr
