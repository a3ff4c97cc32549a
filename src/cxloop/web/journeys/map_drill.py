"""The persons and the texts behind a stage or a cell of the journey map."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from cxloop.web.session import verify_csrf

router = APIRouter(prefix="/journeys", include_in_schema=False, dependencies=[Depends(verify_csrf)])
