"""REST of the workspace taxonomy: list, add and edit its categories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as FastPath

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.models import TextCategory
from cxloop.text.taxonomy import service
from cxloop.text.taxonomy.schemas import CategoryIn, CategoryOut, CategoryPage, CategoryUpdate

router = APIRouter(prefix="/api/v1/text", tags=["text"])

CategoryKeyPath = Annotated[str, FastPath(min_length=1, max_length=64, description="Category key")]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=200)]


def _category_out(category: TextCategory) -> CategoryOut:
    return CategoryOut.model_validate(
        {name: getattr(category, name) for name in CategoryOut.model_fields}
    )


@router.get("/categories", response_model=CategoryPage)
def list_categories(
    principal: ApiPrincipal, session: DbSession, cursor: Cursor = None, limit: Limit = 50
) -> CategoryPage:
    """The workspace's taxonomy (seeded from the default one on first use), inactive ones too."""
    require(principal, "text:read")
    rows, next_cursor = service.list_categories(
        session, workspace_id=principal.workspace_id, cursor=cursor, limit=limit
    )
    return CategoryPage(items=[_category_out(c) for c in rows], next_cursor=next_cursor)


@router.post("/categories", response_model=CategoryOut, status_code=201)
def create_category(body: CategoryIn, principal: ApiPrincipal, session: DbSession) -> CategoryOut:
    """Add a category with its Korean and English names and keyword seeds."""
    require(principal, "text:manage")
    return _category_out(
        service.create_category(
            session,
            workspace_id=principal.workspace_id,
            key=body.key,
            name_ko=body.name_ko,
            name_en=body.name_en,
            seeds_ko=body.seeds_ko,
            seeds_en=body.seeds_en,
            principal=principal,
        )
    )


@router.patch("/categories/{key}", response_model=CategoryOut)
def update_category(
    key: CategoryKeyPath, body: CategoryUpdate, principal: ApiPrincipal, session: DbSession
) -> CategoryOut:
    """Rename a category, change its seeds or switch it off (new analyses then leave it out)."""
    require(principal, "text:manage")
    category = service.get_category(session, workspace_id=principal.workspace_id, key=key)
    return _category_out(
        service.update_category(
            session,
            category=category,
            name_ko=body.name_ko,
            name_en=body.name_en,
            seeds_ko=body.seeds_ko,
            seeds_en=body.seeds_en,
            active=body.active,
            principal=principal,
        )
    )
