"""REST of the model registry: a workspace's model runs and the shipped model, and choosing which
one analyses its texts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as FastPath
from sqlalchemy.orm import Session

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.models import TextModelRun
from cxloop.text.registry import service
from cxloop.text.registry.schemas import ModelRunOut, ModelRunPage

router = APIRouter(prefix="/api/v1/text", tags=["text"])

RunId = Annotated[int, FastPath(ge=1, le=2**31 - 1, description="Model run id")]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]


def model_run_out(session: Session, principal: Principal, run: TextModelRun) -> ModelRunOut:
    """A run as the API shows it, with whether it analyses the workspace's texts now."""
    data = {name: getattr(run, name, None) for name in ModelRunOut.model_fields}
    data["in_use"] = service.is_in_use(session, workspace_id=principal.workspace_id, run=run)
    return ModelRunOut.model_validate(data)


@router.get("/models", response_model=ModelRunPage)
def list_models(
    principal: ApiPrincipal, session: DbSession, cursor: Cursor = None, limit: Limit = 50
) -> ModelRunPage:
    """The workspace's model runs and the shipped model, newest first, with held-out figures."""
    require(principal, "text:read")
    rows, next_cursor = service.list_model_runs(
        session, workspace_id=principal.workspace_id, cursor=cursor, limit=limit
    )
    return ModelRunPage(
        items=[model_run_out(session, principal, r) for r in rows], next_cursor=next_cursor
    )


@router.post("/models/{run_id}/activate", response_model=ModelRunOut)
def activate_model(run_id: RunId, principal: ApiPrincipal, session: DbSession) -> ModelRunOut:
    """Use this ready model for the workspace's new analyses (the shipped one: go back to it)."""
    require(principal, "text:manage")
    run = service.get_model_run(session, workspace_id=principal.workspace_id, run_id=run_id)
    service.activate_model_run(
        session, workspace_id=principal.workspace_id, run=run, principal=principal
    )
    return model_run_out(session, principal, run)
