"""The knowledge base and the bot through their interfaces: ``cxloop kb import``/``export`` and
``cxloop bot ask`` on the command line, the import and answer APIs; articles update in place
with their history, any question gets an answer or a handoff, and a workspace's bot answers from
its own articles only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.settings import get_settings
from cxloop.help import kb as help_kb
from cxloop.help import tasks
from cxloop.help.kb import _stamp, index_folder, saved_index
from cxloop.help.retrieval import ANALYSIS, KnowledgeIndex
from cxloop.models import AuditEntry, HelpArticle, HelpArticleRevision, HelpArticleVersion
from tests.factories import Tenant, held_jobs, make_key
from tests.helpers.cli import Cli, workspace_id

SHOP_KB = Path(__file__).parents[2] / "src/cxloop/demo/help/shop_kb.jsonl"
NDJSON = {"Content-Type": "application/x-ndjson"}


def kb_lines() -> list[str]:
    return SHOP_KB.read_text("utf-8").splitlines()


@pytest.fixture
def shop_kb(client: TestClient, tenant: Tenant) -> Tenant:
    imported = client.post(
        "/api/v1/help/articles/import",
        content="\n".join(kb_lines()).encode(),
        headers={**tenant.api, **NDJSON},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"created": 60, "updated": 0, "unchanged": 0, "articles": 30}
    return tenant


def ask(client: TestClient, tenant: Tenant, text: str, **extra: str) -> dict[str, object]:
    answered = client.post("/api/v1/bot/answer", json={"text": text, **extra}, headers=tenant.api)
    assert answered.status_code == 200, answered.text
    result: dict[str, object] = answered.json()
    return result


def test_the_cli_imports_again_in_place_keeps_history_and_exports(
    cli: Cli, slug: str, tmp_path: Path, database: Database
) -> None:
    kb = tmp_path / "kb.jsonl"
    kb.write_text("\n".join(kb_lines()), "utf-8")

    first = cli("kb", "import", str(kb), "--workspace", slug)
    again = cli("kb", "import", str(kb), "--workspace", slug)
    changed = [json.loads(line) for line in kb_lines()]
    changed[0]["body"] += "\n\n설 연휴에는 하루 더 걸립니다."
    kb.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in changed), "utf-8")
    third = cli("kb", "import", str(kb), "--workspace", slug)
    exported = cli("kb", "export", "--workspace", slug)

    assert first.code == 0 and "30 articles: 60 versions added, 0 updated" in first.out
    assert "The bot answers from 30 published articles." in first.out
    assert again.code == 0 and "0 articles: 0 versions added, 0 updated, 60 unchanged" in again.out
    assert third.code == 0 and "1 articles: 0 versions added, 1 updated, 59 unchanged" in third.out
    rows = [json.loads(line) for line in exported.out.splitlines()]
    assert len(rows) == 60
    first_row = next(
        r for r in rows if (r["external_id"], r["locale"]) == (changed[0]["external_id"], "ko")
    )
    assert first_row["body"].endswith("설 연휴에는 하루 더 걸립니다.")
    with database.session() as session:
        ws = workspace_id(database, slug)
        article = session.scalar(
            select(HelpArticle).where(
                HelpArticle.workspace_id == ws,
                HelpArticle.external_id == changed[0]["external_id"],
            )
        )
        assert article is not None and article.status == "published"
        history = session.scalars(
            select(HelpArticleRevision.body)
            .where(HelpArticleRevision.article_id == article.id, HelpArticleRevision.locale == "ko")
            .order_by(HelpArticleRevision.id)
        ).all()
        assert len(history) == 2 and history[1].endswith("하루 더 걸립니다.")


def test_an_import_starts_building_the_index_once_committed(
    client: TestClient, tenant: Tenant
) -> None:
    with held_jobs() as huey:
        refused = client.post(
            "/api/v1/help/articles/import", content=b"not json", headers={**tenant.api, **NDJSON}
        )
        assert refused.status_code == 422 and huey.pending() == []  # nothing committed
        imported = client.post(
            "/api/v1/help/articles/import",
            content="\n".join(kb_lines()[:4]).encode(),
            headers={**tenant.api, **NDJSON},
        )
        assert imported.status_code == 200
        [job] = huey.pending()
        assert (job.name, job.args) == (tasks.build_index.task_class.__name__, (tenant.id,))


def test_the_index_job_builds_and_saves_the_published_articles_index(
    cli: Cli, slug: str, tmp_path: Path, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = tmp_path / "kb.jsonl"
    kb.write_text("\n".join(kb_lines()), "utf-8")
    assert cli("kb", "import", str(kb), "--workspace", slug).code == 0  # builds it too
    settings = get_settings()
    workspace = workspace_id(database, slug)
    shutil.rmtree(index_folder(settings, workspace))
    monkeypatch.setattr(help_kb, "_cache", {})  # as in a worker process of its own

    assert tasks.build_index.call_local(workspace) == 60
    with database.read_session() as session:
        stamp = _stamp(session, workspace)
    index = KnowledgeIndex.load(saved_index(settings, workspace, stamp))
    assert len(index.articles) == 30 and len(index.meaning.texts) > 60

    # A damaged copy in its place, and one saved by an earlier analysis beside it: built again
    # in place of the first, the second removed.
    (saved_index(settings, workspace, stamp) / "terms.json").write_text("{", "utf-8")
    older = index_folder(settings, workspace) / f"{ANALYSIS - 1}-{stamp}"
    shutil.copytree(saved_index(settings, workspace, stamp), older)
    monkeypatch.setattr(help_kb, "_cache", {})

    assert tasks.build_index.call_local(workspace) == 60
    assert KnowledgeIndex.load(saved_index(settings, workspace, stamp)).docs == index.docs
    assert [p.name for p in index_folder(settings, workspace).iterdir()] == [f"{ANALYSIS}-{stamp}"]


def test_one_bad_line_imports_nothing_and_says_which(
    cli: Cli, slug: str, tmp_path: Path, database: Database
) -> None:
    kb = tmp_path / "kb.jsonl"
    bad = '{"external_id": "x", "locale": "jp", "title": "t", "body": "b"}'
    kb.write_text("\n".join([*kb_lines()[:4], bad, "not json"]), "utf-8")

    result = cli("kb", "import", str(kb), "--workspace", slug)

    assert result.code == 2
    assert result.error_lines == [
        'Nothing was imported: line 5: "locale" must be "ko" or "en"; line 6: not JSON.'
    ]
    with database.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(HelpArticle)
            .where(HelpArticle.workspace_id == workspace_id(database, slug))
        )
    assert count == 0
    missing = cli("kb", "import", str(tmp_path / "nope.jsonl"), "--workspace", slug)
    assert missing.code == 2 and missing.error_lines[0].startswith("Cannot read")


def test_bot_ask_prints_one_line_per_question_whatever_it_holds(
    cli: Cli, slug: str, tmp_path: Path
) -> None:
    kb = tmp_path / "kb.jsonl"
    kb.write_text("\n".join(kb_lines()), "utf-8")
    assert cli("kb", "import", str(kb), "--workspace", slug).code == 0
    questions = [
        {"id": "pw", "text": "비밀번호를 잊어버렸는데 어떻게 찾아요?"},
        {"id": "person", "text": "상담원 연결해 주세요"},
        {"id": "long", "text": "배송 " + "ㅋ" * 10_000},
        {"id": "emoji", "text": "😡😡😡"},
        {"id": "other", "text": "配送はいつですか"},
        {"id": 7, "text": ""},
    ]
    asked = tmp_path / "q.jsonl"
    asked.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in questions), "utf-8")

    result = cli("bot", "ask", "--workspace", slug, str(asked))

    assert result.code == 0, result.err
    rows = {row["id"]: row for row in map(json.loads, result.out.splitlines())}
    assert list(rows) == ["pw", "person", "long", "emoji", "other", 7]
    for row in rows.values():
        assert set(row) == {"id", "article_external_id", "confidence", "handoff", "reason"}
        assert 0.0 <= row["confidence"] <= 1.0
    assert rows["pw"]["article_external_id"] == "shop-reset-password"
    assert (rows["pw"]["handoff"], rows["pw"]["reason"]) == (False, "answered")
    assert (rows["person"]["handoff"], rows["person"]["reason"]) == (True, "asked_for_person")
    assert rows["emoji"]["handoff"] and rows[7]["handoff"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}', "utf-8")
    refused = cli("bot", "ask", "--workspace", slug, str(bad))
    assert refused.code == 2
    assert refused.error_lines == ['line 1: not a JSON object with a "text" string.']


def test_the_answer_api_answers_hands_over_and_says_why(
    client: TestClient, shop_kb: Tenant
) -> None:
    answered = ask(client, shop_kb, "적립금은 어디에 쓰고 언제 사라지나요?")
    person = ask(client, shop_kb, "환불 받고 싶은데 사람이랑 얘기할래요")
    upset = ask(client, shop_kb, "진짜 최악이네요. 몇 번을 말해야 알아들어요? 너무 화가 납니다")
    unknown = ask(client, shop_kb, "이번 주말 서울 날씨 어때요?")

    assert answered["article_external_id"] == "shop-points"
    assert (answered["handoff"], answered["reason"]) == (False, "answered")
    assert answered["title"] and answered["answer"]
    assert "\n\n" not in str(answered["answer"])  # the article's first paragraph alone
    assert (person["handoff"], person["reason"]) == (True, "asked_for_person")
    assert person["answer"] == ""
    assert (upset["handoff"], upset["reason"]) == (True, "upset")
    assert unknown["handoff"] is True and unknown["reason"] in ("not_sure", "no_match")
    english = ask(client, shop_kb, "i forgot my password, how do i reset it?", locale="en")
    assert english["article_external_id"] == "shop-reset-password"
    assert str(english["title"]).isascii()


def test_any_text_gets_an_answer_or_a_handoff(client: TestClient, shop_kb: Tenant) -> None:
    for text in ("", " ", "🙂" * 500, "a" * 20_000, "\u0000\u202e배송", "<script>x</script>"):
        result = ask(client, shop_kb, text)
        assert isinstance(result["handoff"], bool), text[:20]
    too_long = client.post("/api/v1/bot/answer", json={"text": "가" * 20_001}, headers=shop_kb.api)
    assert too_long.status_code == 422
    assert too_long.headers["content-type"] == "application/problem+json"


def test_a_workspace_answers_from_its_own_articles_only(
    client: TestClient, session: Session, shop_kb: Tenant
) -> None:
    other = Tenant(session)
    session.commit()

    result = ask(client, other, "비밀번호를 잊어버렸어요")

    assert (result["article_external_id"], result["reason"]) == (None, "no_match")
    assert client.post("/api/v1/bot/answer", json={"text": "x"}).status_code == 401
    listed = client.get("/api/v1/help/articles?limit=20", headers=shop_kb.api).json()
    assert len(listed["items"]) == 20 and listed["next_cursor"]
    rest = client.get(
        f"/api/v1/help/articles?cursor={listed['next_cursor']}", headers=shop_kb.api
    ).json()
    assert len(rest["items"]) == 10 and rest["next_cursor"] is None
    assert set(listed["items"][0]["titles"]) == {"ko", "en"}
    assert client.get("/api/v1/help/articles", headers=other.api).json()["items"] == []


def test_a_viewer_may_ask_but_not_import(
    client: TestClient, session: Session, shop_kb: Tenant
) -> None:
    _key, secret = make_key(session, workspace=shop_kb.workspace, role="viewer")
    session.commit()
    viewer = {"Authorization": f"Bearer {secret}"}

    asked = client.post("/api/v1/bot/answer", json={"text": "배송비"}, headers=viewer)
    assert asked.status_code == 200
    refused = client.post(
        "/api/v1/help/articles/import", content=kb_lines()[0].encode(), headers={**viewer, **NDJSON}
    )
    assert refused.status_code == 403
    assert (
        session.scalar(
            select(func.count())
            .select_from(HelpArticleVersion)
            .where(HelpArticleVersion.workspace_id == shop_kb.workspace.id)
        )
        == 60
    )


def test_admins_set_the_threshold_and_the_topics_left_to_people(
    client: TestClient, session: Session, shop_kb: Tenant
) -> None:
    question = "환불은 언제 들어오나요?"
    before = ask(client, shop_kb, question)
    assert client.get("/api/v1/bot/settings", headers=shop_kb.api).json() == {
        "threshold": 0.6,
        "people_categories": [],
        "tone": "haeyo",
        "greeting": "",
        "category_teams": {},
    }

    changed = client.patch(
        "/api/v1/bot/settings",
        json={"people_categories": ["payments", " payments "]},
        headers=shop_kb.api,
    )
    after = ask(client, shop_kb, question)
    strict = client.patch("/api/v1/bot/settings", json={"threshold": 0.95}, headers=shop_kb.api)
    unsure = ask(client, shop_kb, "배송비 얼마에요?")

    assert (before["article_external_id"], before["handoff"]) == ("shop-refund-timing", False)
    assert changed.json() == {
        "threshold": 0.6,
        "people_categories": ["payments"],
        "tone": "haeyo",
        "greeting": "",
        "category_teams": {},
    }
    assert (after["handoff"], after["reason"]) == (True, "people_topic")
    assert after["article_external_id"] == "shop-refund-timing"
    assert strict.json()["threshold"] == 0.95
    assert (unsure["handoff"], unsure["reason"]) == (True, "not_sure")
    for bad in (
        {"threshold": 0.01},
        {"threshold": 1.5},
        {"people_categories": ["x" * 65]},
        {"tone": "banmal"},
        {"greeting": "x" * 501},
        {"category_teams": {"payments": "x" * 65}},
    ):
        refused = client.patch("/api/v1/bot/settings", json=bad, headers=shop_kb.api)
        assert refused.status_code == 422, bad
    entries = session.scalars(
        select(AuditEntry.detail).where(
            AuditEntry.workspace_id == shop_kb.workspace.id,
            AuditEntry.action == "help.bot_settings",
        )
    ).all()
    assert len(entries) == 2
    _key, secret = make_key(session, workspace=shop_kb.workspace, role="agent")
    session.commit()
    agent = {"Authorization": f"Bearer {secret}"}
    assert client.patch("/api/v1/bot/settings", json={}, headers=agent).status_code == 403
