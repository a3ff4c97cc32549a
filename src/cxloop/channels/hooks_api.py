"""Webhooks the messaging providers call with delivery reports (Solapi for SMS/LMS, NHN Cloud
for Alimtalk), each at a secret per-workspace address; and the API that tells a workspace's
operators which addresses to enter in the providers' consoles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi import Path as FastPath
from pydantic import BaseModel, Field

from cxloop.accounts.access import require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.channels.provider_hooks import hook_urls, take_provider_hook
from cxloop.core.settings import Settings

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


class HookTaken(BaseModel):
    reports: int = Field(description="Delivery reports the call held")
    messages: int = Field(description="This workspace's messages they were about")


@router.get("/api/v1/outbox/hooks", response_model=HookUrls)
def provider_hook_urls(principal: ApiPrincipal, request: Request) -> HookUrls:
    """The webhook addresses to enter in Solapi's and NHN Cloud's consoles for this
    workspace (secret: anyone with one can report on the workspace's messages)."""
    require(principal, "outbox:manage")
    urls = hook_urls(workspace_id=principal.workspace_id, settings=_settings(request))
    return HookUrls(solapi=urls["solapi"], nhn_alimtalk=urls["nhn-alimtalk"])


def _take(
    provider: str, token: str, request: Request, session: DbSession, payload: bytes
) -> HookTaken:
    taken = take_provider_hook(
        session,
        provider=provider,
        token=token,
        payload=payload,
        content_type=request.headers.get("content-type", "application/json"),
        headers=request.headers,
        settings=_settings(request),
    )
    return HookTaken(reports=taken.reports, messages=len(taken.messages))


@router.post("/hooks/solapi/{token}", response_model=HookTaken, openapi_extra=JSON_BODY)
def solapi_reports(
    token: Token, request: Request, session: DbSession, payload: RawBody
) -> HookTaken:
    """Solapi's message reports: 4000 marks a text message delivered, a failure code
    bounced. 401 for an address cxloop did not give out."""
    return _take("solapi", token, request, session, payload)


@router.post("/hooks/nhn-alimtalk/{token}", response_model=HookTaken, openapi_extra=JSON_BODY)
def nhn_alimtalk_results(
    token: Token, request: Request, session: DbSession, payload: RawBody
) -> HookTaken:
    """NHN Cloud's KakaoTalk Bizmessage webhook (MESSAGE_RESULT_UPDATE): an Alimtalk
    delivered by KakaoTalk or by its SMS/LMS fallback is delivered, one neither delivered is
    bounced. 401 for an address cxloop did not give out or a wrong signature."""
    return _take("nhn-alimtalk", token, request, session, payload)
