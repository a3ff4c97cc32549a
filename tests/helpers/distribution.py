"""Survey distribution for the distribution and widget tests: a live survey through the API, a
customer, an invitation request, and a shop's page on another origin."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cxloop.models import (
    Customer,
)
from tests.factories import Tenant, make_customer, unique
from tests.helpers.static import serve_folder
from tests.helpers.surveys import create, go_live, nps_definition


def live_survey(client: TestClient, tenant: Tenant, **distribution_settings: Any) -> int:
    survey = create(
        client,
        tenant,
        key=unique("s"),
        definition=nps_definition(hidden_fields=["order_id", "touchpoint"]),
        distribution=distribution_settings or {"channels": ["email"]},
    )
    go_live(client, tenant, survey["id"])
    return int(survey["id"])


def customer(
    session: Session,
    tenant: Tenant,
    *,
    email: str | None = None,
    locale: str | None = None,
    name: str | None = None,
) -> Customer:
    traits: dict[str, Any] = {}
    if locale:
        traits["locale"] = locale
    if name:
        traits["name"] = name
    made = make_customer(session, workspace=tenant.workspace, email=email, traits=traits)
    if locale:
        made.locale = locale
    session.flush()
    return made


def invite(client: TestClient, tenant: Tenant, survey_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/surveys/{survey_id}/invitations", json=body, headers=tenant.api)


@contextmanager
def shop_page(script_src: str, write_key: str, extra: str = "") -> Iterator[str]:
    """A shop's page on another origin embedding the widget as the README says (``extra``:
    more attributes of the script tag, such as the signed-in user's id and hash)."""
    folder = Path(tempfile.mkdtemp(prefix="cxloop-shop-"))
    (folder / "index.html").write_text(
        '<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>나눔 스토어</title>'
        '<link rel="icon" href="data:,">'
        f'<script src="{script_src}" data-write-key="{write_key}" {extra} async></script>'
        "</head><body><h1>나눔 스토어</h1></body></html>",
        encoding="utf-8",
    )
    with serve_folder(folder) as base:
        yield f"{base}/index.html"
