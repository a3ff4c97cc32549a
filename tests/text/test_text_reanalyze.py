"""`cxloop text reanalyze` and the batched reanalysis behind it (also the demo's phase): batches
per transaction, unchanged texts skipped, --force, --since, resuming after a crash, and
`cxloop text analyze --workspace` with the workspace's own taxonomy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select

from cxloop.accounts import service as accounts
from cxloop.core.db import Database
from cxloop.demo.calendar import Calendar
from cxloop.demo.context import DemoContext
from cxloop.demo.texts import analyse_texts
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.surveys import service as survey_service
from cxloop.models import Response, TextAnalysis
from cxloop.text.store import tasks
from cxloop.text.taxonomy import service
from tests.factories import unique
from tests.helpers.cli import Cli
from tests.helpers.text import COMMENTS

pytestmark = pytest.mark.usefixtures("database")


@dataclass
class Workspace:
    id: int
    slug: str
    response_ids: list[int]


@pytest.fixture
def workspace(database: Database) -> Workspace:
    """A committed workspace with a live survey: seven comments (one a month old) and an
    answer without one."""
    slug = unique("texts-")
    with database.session() as session:
        ws = accounts.create_workspace(session, name=slug, slug=slug)
        session.flush()
        survey = survey_service.create_survey(
            session,
            workspace_id=ws.id,
            key="nps",
            name="NPS",
            kind="nps",
            definition={
                "questions": [
                    {"id": "nps", "type": "nps", "text": {"ko": "추천?", "en": "Rec?"}},
                    {"id": "comment", "type": "text", "text": {"ko": "의견", "en": "Say"}},
                ]
            },
        )
        survey_service.set_status(session, survey=survey, status="live")
        ids = []
        for n, comment in enumerate(COMMENTS):
            response = response_service.submit_response(
                session, survey=survey, answers={"nps": n, "comment": comment}
            )
            ids.append(response.id)
        response_service.submit_response(session, survey=survey, answers={"nps": 9})
        session.flush()
        old = session.get(Response, ids[0])
        assert old is not None
        old.submitted_at = datetime.now(UTC) - timedelta(days=40)
        return Workspace(ws.id, slug, ids)


def stored(database: Database, workspace: Workspace) -> dict[int, TextAnalysis]:
    with database.session() as session:
        return {
            a.source_id: a
            for a in session.scalars(
                select(TextAnalysis).where(TextAnalysis.workspace_id == workspace.id)
            )
        }


def test_reanalyze_analyses_every_comment_once_with_a_progress_bar(
    cli: Cli, database: Database, workspace: Workspace
) -> None:
    first = cli("text", "reanalyze", "--workspace", workspace.slug, "--source", "survey_response")
    assert first.code == 0, first.err
    assert "7 texts read: 7 analysed, 0 unchanged and skipped." in first.out
    assert "Analysing texts" in first.err and "7/7" in first.err
    analyses = stored(database, workspace)
    assert sorted(analyses) == sorted(workspace.response_ids)
    assert analyses[workspace.response_ids[5]].lang == "en"
    assert "delivery" in analyses[workspace.response_ids[0]].categories

    again = cli("text", "reanalyze", "--workspace", workspace.slug)
    assert "7 texts read: 0 analysed, 7 unchanged and skipped." in again.out
    assert {a.analysed_at for a in stored(database, workspace).values()} == {
        a.analysed_at for a in analyses.values()
    }

    forced = cli("text", "reanalyze", "--workspace", workspace.slug, "--force")
    assert "7 texts read: 7 analysed, 0 unchanged" in forced.out
    assert len(stored(database, workspace)) == 7

    today = datetime.now(UTC).date() - timedelta(days=10)
    recent = cli("text", "reanalyze", "-w", workspace.slug, "--since", today.isoformat(), "--force")
    assert "6 texts read: 6 analysed" in recent.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--source", "tweets"), "Unknown text source 'tweets'", id="unknown-source"),
        pytest.param(("--since", "last week"), "--since takes a date", id="bad-date"),
        pytest.param(("--workspace", "no-such-workspace"), "no-such-workspace", id="workspace"),
    ],
)
def test_reanalyze_reports_bad_arguments_in_one_line(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    result = cli("text", "reanalyze", *args)
    assert result.code == 1
    assert message in result.err
    assert len([line for line in result.err.splitlines() if line.strip()]) == 1


def test_a_reanalysis_stopped_midway_resumes_where_it_stopped(
    database: Database, workspace: Workspace
) -> None:
    batches: list[int] = []

    def crash_after_first_batch(n: int) -> None:
        batches.append(n)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tasks.reanalyse(
            database,
            workspace_ids=[workspace.id],
            batch_size=3,
            progress=crash_after_first_batch,
        )
    assert batches == [3]
    assert sorted(stored(database, workspace)) == workspace.response_ids[:3]

    sizes: list[int] = []
    report = tasks.reanalyse(
        database, workspace_ids=[workspace.id], batch_size=3, progress=sizes.append
    )
    assert sizes == [3, 3, 1]
    assert (report.texts, report.analysed, report.skipped) == (7, 4, 3)
    assert sorted(stored(database, workspace)) == sorted(workspace.response_ids)


def test_the_demo_phase_analyses_every_comment(database: Database, workspace: Workspace) -> None:
    now = datetime.now(UTC)
    ctx = DemoContext(
        database=database,
        seed=1,
        members=0,
        now=now,
        calendar=Calendar(now),
        workspace_id=workspace.id,
    )
    analyse_texts(ctx)
    with database.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(TextAnalysis)
            .where(TextAnalysis.workspace_id == workspace.id)
        )
    assert count == len(COMMENTS)


def test_analyze_with_a_workspace_uses_its_taxonomy(
    cli: Cli, database: Database, workspace: Workspace
) -> None:
    with database.session() as session:
        service.create_category(
            session,
            workspace_id=workspace.id,
            key="gift_wrapping",
            name_ko="선물 포장",
            name_en="Gift wrapping",
            seeds_ko=["선물포장"],
        )
    line = orjson.dumps({"text": "선물포장이 정말 예뻤어요", "id": 7}).decode()
    shipped = cli("text", "analyze", stdin=line)
    own = cli("text", "analyze", "--workspace", workspace.slug, stdin=line)
    assert shipped.code == own.code == 0, own.err
    assert "gift_wrapping" not in orjson.loads(shipped.out)["categories"]
    result = orjson.loads(own.out)
    assert "gift_wrapping" in result["categories"] and result["id"] == 7
