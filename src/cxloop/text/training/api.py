"""REST of retraining: queue a retraining of the workspace's model."""

from __future__ import annotations

from fastapi import APIRouter

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.text.registry import service
from cxloop.text.registry.api import model_run_out
from cxloop.text.registry.schemas import ModelRunOut
from cxloop.text.training import tasks

router = APIRouter(prefix="/api/v1/text", tags=["text"])


@router.post("/models/retrain", response_model=ModelRunOut, status_code=202)
def retrain_model(principal: ApiPrincipal, session: DbSession) -> ModelRunOut:
    """Queue a retraining of the workspace's model (the queued or running one if there is
    one); it is used once trained only if it is not worse than the model in use."""
    require(principal, "text:manage")
    run = service.request_retraining(
        session, workspace_id=principal.workspace_id, principal=principal
    )
    if run.status == "queued":
        tasks.queue_training(session, run.id)
    return model_run_out(session, principal, run)
