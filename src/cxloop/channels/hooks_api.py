"""Webhooks the messaging providers call with delivery reports (Solapi for SMS/LMS, NHN Cloud
for Alimtalk), each at a secret per-workspace address; and the API that tells a workspace's
operators which addresses to enter in the providers' consoles.

The webhooks never wait for the database: they check the address and the body, keep the body
on the disk and answer; the reports are applied right after the answer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi import Path as FastPath
from pydantic import BaseModel, Field

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal
from cxloop.channels.provider_hooks import accept_provider_hook, hook_urls, spool_kind
from cxloop.core.http import database_of
from cxloop.core.settings import Settings
from cxloop.core.spool import handle_now

router = APIRouter(tags=["outbox"])


async def _raw_body(request: Request) -> bytes:
    """The body as the provider sent it (read whole: a JSON array or object, any charset)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]
JSON_BODY: dict[str, object] = {
    "requestBody": {"content": {"application/json": {"schema": {}}}, "required": True}
}
Token = Annotated[str, FastPath(max_length=100, description="The workspace's webhook token")]


class HookUrls(BaseModel):
    solapi: str = Field(description="Solapi message report webhook (SMS/LMS)")
    nhn_alimtalk: str = Field(description="NHN Cloud KakaoTalk Bizmessage webhook (Alimtalk)")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class HookAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    id: str = Field(description="The name the call is kept under until its reports are applied")
    reports: int = Field(description="Delivery reports the call held")


@router.get("/api/v1/outbox/hooks", response_model=HookUrls)
def provider_hook_urls(principal: ApiPrincipal, request: Request) -> HookUrls:
    """The webhook addresses to enter in Solapi's and NHN Cloud's consoles for this
    workspace (secret: anyone with one can report on the workspace's messages)."""
    require(principal, "outbox:manage")
    urls = hook_urls(workspace_id=principal.workspace_id, settings=_settings(request))
    return HookUrls(solapi=urls["solapi"], nhn_alimtalk=urls["nhn-alimtalk"])


def _accept(
    provider: str, token: str, request: Request, background: BackgroundTasks, payload: bytes
) -> HookAccepted:
    settings = _settings(request)
    kept = accept_provider_hook(
        settings,
        provider=provider,
        token=token,
        payload=payload,
        content_type=request.headers.get("content-type", "application/json"),
        headers=request.headers,
    )
    background.add_task(handle_now, database_of(request), settings, spool_kind(provider), kept.name)
    return HookAccepted(id=kept.name, reports=kept.reports)


@router.post("/hooks/solapi/{token}", response_model=HookAccepted, openapi_extra=JSON_BODY)
def solapi_reports(
    token: Token, request: Request, background: BackgroundTasks, payload: RawBody
) -> HookAccepted:
    """Solapi's message reports: 4000 marks a text message delivered, a failure code
    bounced, once, right after the answer. 401 for an address cxloop did not give out, 422
    for a body that is not Solapi's reports; nothing is kept then."""
    return _accept("solapi", token, request, background, payload)


@router.post("/hooks/nhn-alimtalk/{token}", response_model=HookAccepted, openapi_extra=JSON_BODY)
def nhn_alimtalk_results(
    token: Token, request: Request, background: BackgroundTasks, payload: RawBody
) -> HookAccepted:
    """NHN Cloud's KakaoTalk Bizmessage webhook (MESSAGE_RESULT_UPDATE): an Alimtalk
    delivered by KakaoTalk or by its SMS/LMS fallback is delivered, one neither delivered is
    bounced, once, right after the answer. 401 for an address cxloop did not give out or a
    wrong signature, 422 for a body that is not NHN Cloud's results; nothing is kept then."""
    return _accept("nhn-alimtalk", token, request, background, payload)
