"""Retraining a workspace's text model: weak labels from scores, corrections as strong labels,
held-out figures recorded on the run, and activation only when not worse than the model in use;
the retrain and activate endpoints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from huey import Huey
from sqlalchemy import select
from sqlalchemy.orm import Session

from cxloop.core.db import Database
from cxloop.core.jobs import huey
from cxloop.models import TextAnalysis, TextModelRun
from cxloop.text.registry import service as text_registry
from cxloop.text.store import service as text_store
from cxloop.text.training import service as retrain
from cxloop.text.training import tasks as text_tasks
from cxloop.text.training.dataset import training_split
from tests.factories import Tenant, held_jobs
from tests.helpers.text import answer, live_survey, texts_of


@pytest.fixture(autouse=True)
def waiting_jobs() -> Iterator[Huey]:
    """The training job waits in the queue: the tests run the training themselves."""
    with held_jobs() as huey:
        yield huey


def queue_run(client: TestClient, tenant: Tenant) -> int:
    huey.flush()
    reply = client.post("/api/v1/text/models/retrain", headers=tenant.api)
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert (body["status"], body["in_use"], body["workspace_id"]) == ("queued", False, tenant.id)
    # The request committed the run and enqueued its training job, to start at once.
    [job] = huey.pending()
    assert (job.name, job.args, job.eta) == (
        text_tasks.train_model_run.task_class.__name__,
        (body["id"],),
        None,
    )
    # Asking again while it waits gives the same run.
    again = client.post("/api/v1/text/models/retrain", headers=tenant.api).json()
    assert again["id"] == body["id"]
    return int(body["id"])


def run_of(session: Session, run_id: int) -> TextModelRun:
    session.expire_all()
    run = session.get(TextModelRun, run_id)
    assert run is not None
    return run


def test_retraining_records_figures_and_activates_only_if_not_worse(
    client: TestClient, tenant: Tenant, session: Session, tx_database: Database
) -> None:
    survey_id = live_survey(client, tenant)
    scored = [
        (1, "배송이 일주일이나 걸렸어요 최악"),
        (9, "포장도 꼼꼼하고 배송도 빨라서 만족해요"),
        (7, "보통이에요"),
        (10, "Great prices and the staff were lovely"),
    ]
    ids = [answer(client, tenant, survey_id, nps=n, comment=c) for n, c in scored]
    text_store.analyse_and_store(
        session,
        workspace_id=tenant.id,
        source_type="survey_response",
        items=texts_of(session, tenant, ids),
    )
    # One correction (of the passive's comment): a strong label, trained on or held out.
    analysis = session.scalars(
        select(TextAnalysis).where(
            TextAnalysis.workspace_id == tenant.id, TextAnalysis.source_id == ids[2]
        )
    ).one()
    text_store.correct(session, analysis=analysis, user_id=None, sentiment="neutral")
    session.flush()

    # 1. A run trained on the labelled texts, the scores and the correction.
    first_id = queue_run(client, tenant)
    outcome = retrain.run_training(tx_database, run_id=first_id)
    first = run_of(session, first_id)
    train_rows, test_rows = training_split()
    held_out_strong = 1 if retrain.is_held_out("survey_response", ids[2]) else 0
    assert first.status == "ready" and first.error == ""
    # weak: NPS 1 negative, 9 and 10 positive (the passive 7 gives none)
    assert (first.base_labels, first.weak_labels, first.strong_labels) == (
        len(train_rows),
        3,
        1 - held_out_strong,
    )
    assert first.holdout_size == len(test_rows) + held_out_strong
    assert first.accuracy is not None and 0 < first.accuracy <= 1
    assert first.macro_f1 is not None and 0 < first.macro_f1 <= 1
    assert set(first.per_language) == {"ko", "en"}
    assert first.per_language["ko"]["n"] + first.per_language["en"]["n"] == first.holdout_size
    assert first.model_bytes and len(first.model_bytes) > 10_000
    shipped = text_registry.shipped_run(session)
    assert first.comparison["against_run_id"] == shipped.id
    assert outcome.macro_f1 == first.macro_f1
    assert first.comparison["activated"] is (first.macro_f1 >= first.comparison["against_macro_f1"])
    assert first.active is first.comparison["activated"]
    in_use = text_registry.active_run(session, workspace_id=tenant.id)
    assert in_use.id == (first.id if first.active else shipped.id)

    # Running the job again trains nothing: the run is no longer queued.
    assert retrain.run_training(tx_database, run_id=first_id).status == "ready"

    # 2. Corrections that turn happy texts negative make a worse model, which stays unused.
    train_positive = [r for r in train_rows if r.sentiment == "positive"]
    poisoned = [
        answer(client, tenant, survey_id, nps=5, comment=r.text) for r in train_positive[:90]
    ]
    poisoned = [i for i in poisoned if not retrain.is_held_out("survey_response", i)]
    text_store.analyse_and_store(
        session,
        workspace_id=tenant.id,
        source_type="survey_response",
        items=texts_of(session, tenant, poisoned),
    )
    for row in session.scalars(
        select(TextAnalysis).where(
            TextAnalysis.workspace_id == tenant.id, TextAnalysis.source_id.in_(poisoned)
        )
    ):
        text_store.correct(session, analysis=row, user_id=None, sentiment="negative")
    session.flush()

    second_id = queue_run(client, tenant)
    retrain.run_training(tx_database, run_id=second_id)
    second = run_of(session, second_id)
    assert second.status == "ready"
    assert second.strong_labels == len(poisoned) + first.strong_labels
    assert second.comparison["against_run_id"] == in_use.id
    assert second.macro_f1 is not None
    assert second.macro_f1 < second.comparison["against_macro_f1"]
    assert second.comparison["activated"] is False and second.active is False
    assert "worse, so it was not activated" in second.note
    assert text_registry.active_run(session, workspace_id=tenant.id).id == in_use.id

    # The models page lists both runs and the shipped model, and says which one is in use.
    page = client.get("/api/v1/text/models", headers=tenant.key("viewer")).json()
    listed = {r["id"]: r for r in page["items"]}
    assert {first_id, second_id, shipped.id} <= set(listed)
    assert [r["id"] for r in page["items"] if r["in_use"]] == [in_use.id]
    assert "model_bytes" not in listed[first_id]

    # 3. A person may still switch to the worse run, and back to the shipped model.
    reply = client.post(f"/api/v1/text/models/{second_id}/activate", headers=tenant.api)
    assert reply.status_code == 200 and reply.json()["in_use"] is True
    assert text_registry.active_run(session, workspace_id=tenant.id).id == second_id
    reply = client.post(f"/api/v1/text/models/{shipped.id}/activate", headers=tenant.api)
    assert reply.status_code == 200 and reply.json()["in_use"] is True
    assert text_registry.active_run(session, workspace_id=tenant.id).id == shipped.id


def test_model_endpoints_check_roles_states_and_workspaces(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    assert (
        client.post("/api/v1/text/models/retrain", headers=tenant.key("agent")).status_code == 403
    )
    run_id = queue_run(client, tenant)
    # A queued run has no model yet.
    assert (
        client.post(f"/api/v1/text/models/{run_id}/activate", headers=tenant.api).status_code == 409
    )
    other = Tenant(session)
    assert (
        client.post(f"/api/v1/text/models/{run_id}/activate", headers=other.api).status_code == 404
    )
    assert client.post("/api/v1/text/models/0/activate", headers=tenant.api).status_code == 422
    assert client.get("/api/v1/text/models?limit=0", headers=tenant.api).status_code == 422
