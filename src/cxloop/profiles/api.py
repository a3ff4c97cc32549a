"""REST API of customer profiles: list, get, create, update, merge, consent, export, erase."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi import Path as FastPath

from cxloop.accounts.access import Principal, require
from cxloop.accounts.dependencies import ApiPrincipal, DbSession
from cxloop.accounts.service import get_workspace
from cxloop.core.http import JSONBytesResponse
from cxloop.models import Customer
from cxloop.profiles import service
from cxloop.profiles.schemas import (
    ConsentIn,
    ConsentOut,
    CustomerCreate,
    CustomerDetail,
    CustomerOut,
    CustomerPage,
    CustomerUpdate,
    EraseOut,
    IdentityOut,
    MergeIn,
)
from cxloop.profiles.service import CustomerFilter

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

CustomerId = Annotated[int, FastPath(ge=1, le=2**53, description="Customer id")]
Stage = Annotated[str | None, Query(pattern="^(anonymous|lead|customer|repeat|churned)$")]


def _detail(session: DbSession, customer: Customer) -> CustomerDetail:
    consent = service.current_consent(session, customer=customer)
    return CustomerDetail(
        **CustomerOut.model_validate(customer).model_dump(),
        identities=[
            IdentityOut.model_validate(i) for i in service.identities_of(session, customer=customer)
        ],
        consent=[ConsentOut.model_validate(r) for r in consent.values()],
    )


def _load(session: DbSession, principal: Principal, customer_id: int) -> Customer:
    return service.get_customer(
        session, workspace_id=principal.workspace_id, customer_id=customer_id
    )


@router.get("", response_model=CustomerPage)
def list_customers(
    principal: ApiPrincipal,
    session: DbSession,
    q: Annotated[
        str | None, Query(max_length=200, description="Name, email, phone or any identity value")
    ] = None,
    stage: Stage = None,
    seen_after: datetime | None = None,
    seen_before: datetime | None = None,
    has_orders: bool | None = None,
    sort: Annotated[str, Query(pattern="^(recent|created|name)$")] = "recent",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CustomerPage:
    """Customers, searchable and filterable, with cursor pagination."""
    require(principal, "customers:read")
    filters = CustomerFilter(
        q=q, stage=stage, seen_after=seen_after, seen_before=seen_before, has_orders=has_orders
    )
    rows, next_cursor = service.search_customers(
        session,
        workspace_id=principal.workspace_id,
        filters=filters,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return CustomerPage(
        items=[CustomerOut.model_validate(c) for c in rows], next_cursor=next_cursor
    )


@router.post("", response_model=CustomerDetail, status_code=status.HTTP_201_CREATED)
def create_customer(
    body: CustomerCreate, principal: ApiPrincipal, session: DbSession
) -> CustomerDetail:
    """Create a customer, or update the one that already holds these unique identities."""
    require(principal, "customers:write")
    workspace = get_workspace(session, workspace_id=principal.workspace_id)
    identities = [(i.kind, i.value) for i in body.identities]
    if body.email:
        identities.append(("email", body.email))
    if body.phone:
        identities.append(("phone", body.phone))
    customer = service.create_customer(
        session, workspace=workspace, principal=principal, traits=body.traits, identities=identities
    )
    service.update_customer(
        session,
        customer=customer,
        display_name=body.display_name,
        locale=body.locale,
        timezone=body.timezone,
    )
    return _detail(session, customer)


@router.get("/{customer_id}", response_model=CustomerDetail)
def get_customer(
    customer_id: CustomerId, principal: ApiPrincipal, session: DbSession
) -> CustomerDetail:
    """One customer with identities and current consent (merged ids lead to the survivor)."""
    require(principal, "customers:read")
    return _detail(session, _load(session, principal, customer_id))


@router.patch("/{customer_id}", response_model=CustomerDetail)
def update_customer(
    customer_id: CustomerId, body: CustomerUpdate, principal: ApiPrincipal, session: DbSession
) -> CustomerDetail:
    """Change profile fields; traits are merged into the existing ones."""
    require(principal, "customers:write")
    customer = _load(session, principal, customer_id)
    service.update_customer(session, customer=customer, **body.model_dump(exclude_unset=True))
    return _detail(session, customer)


@router.post("/{customer_id}/merge", response_model=CustomerDetail)
def merge_customers(
    customer_id: CustomerId, body: MergeIn, principal: ApiPrincipal, session: DbSession
) -> CustomerDetail:
    """Merge two profiles of the same person; the older survives and gets everything."""
    require(principal, "customers:merge")
    survivor = service.merge(
        session, principal=principal, customer_ids=(customer_id, body.other_id)
    )
    return _detail(session, survivor)


@router.post(
    "/{customer_id}/consent", response_model=ConsentOut, status_code=status.HTTP_201_CREATED
)
def record_consent(
    customer_id: CustomerId, body: ConsentIn, principal: ApiPrincipal, session: DbSession
) -> ConsentOut:
    """Append a consent change to the customer's ledger."""
    require(principal, "consent:write")
    customer = _load(session, principal, customer_id)
    record = service.record_consent(
        session, customer=customer, principal=principal, **body.model_dump()
    )
    return ConsentOut.model_validate(record)


@router.get("/{customer_id}/consent/history", response_model=list[ConsentOut])
def consent_history(
    customer_id: CustomerId, principal: ApiPrincipal, session: DbSession
) -> list[ConsentOut]:
    """Every consent change of the customer, oldest first."""
    require(principal, "customers:read")
    customer = _load(session, principal, customer_id)
    return [
        ConsentOut.model_validate(r) for r in service.consent_history(session, customer=customer)
    ]


@router.get(
    "/{customer_id}/export",
    response_class=JSONBytesResponse,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "Everything held about the customer",
        }
    },
)
def export_customer(customer_id: CustomerId, principal: ApiPrincipal, session: DbSession) -> Any:
    """Data-subject access: everything cxloop holds about the customer, as JSON. Audited."""
    require(principal, "customers:export")
    customer = _load(session, principal, customer_id)
    return JSONBytesResponse(
        service.export_customer(session, principal=principal, customer=customer)
    )


@router.post("/{customer_id}/erase", response_model=EraseOut)
def erase_customer(
    customer_id: CustomerId, principal: ApiPrincipal, session: DbSession
) -> EraseOut:
    """Data-subject erasure: personal data removed, counts and amounts kept. Audited."""
    require(principal, "customers:erase")
    customer = _load(session, principal, customer_id)
    removed = service.erase_customer(session, principal=principal, customer=customer)
    return EraseOut(customer_id=customer.id, removed=removed)
