"""Customer pages: the searchable list and the customer 360 view with its actions (consent
change, export, erase, merge)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from cxloop.accounts.access import require
from cxloop.core.errors import Conflict, NotFound, ValidationFailed
from cxloop.core.jsonutil import dump_json
from cxloop.core.timeutil import utcnow
from cxloop.events import commerce
from cxloop.events import service as events
from cxloop.feedback.responses import service as response_service
from cxloop.feedback.texts import SOURCE as SURVEY_TEXTS
from cxloop.models import Customer, Event
from cxloop.models.customer import CONSENT_CHANNELS, CONSENT_PURPOSES, LIFECYCLE_STAGES
from cxloop.models.event import EVENT_TYPES
from cxloop.profiles import service as profiles
from cxloop.profiles.service import SORTS, CustomerFilter
from cxloop.web import errors
from cxloop.web.care.calls import customer_care
from cxloop.web.charts import activity_chart, weekly_totals
from cxloop.web.insights.predictions import customer_predictions
from cxloop.web.loyalty.members import customer_loyalty
from cxloop.web.rendering import Formatter, redirect, render, zone
from cxloop.web.session import Page, WebContext, flash_text, verify_csrf
from cxloop.web.text.admin import text_tags

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])

LIST_PAGE = 50
EVENTS_PAGE = 25
ORDERS_PAGE = 10
RESPONSES_PAGE = 5
CONSENT_HISTORY_PAGE = 10
MAX_ID = 2**53
CONSENT_SOURCES = ("agent", "phone", "email", "paper_form", "web_form", "app")
ORDER_FILTERS = {"yes": True, "no": False}


def _load(page: WebContext, customer_id: int) -> Customer:
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"No customer with id {customer_id}.")
    return profiles.get_customer(page.db, workspace_id=page.workspace.id, customer_id=customer_id)


def _to_customer(customer_id: int, anchor: str = "") -> Response:
    return redirect(f"/customers/{customer_id}{'#' + anchor if anchor else ''}")


def _error(page: WebContext, exc: ValidationFailed | Conflict | NotFound) -> None:
    flash_text(page.request, "error", errors.describe(page.locale, exc))


# --- the list ----------------------------------------------------------------------------------


@router.get("/customers")
def customer_list(
    page: Page,
    q: str = "",
    stage: str = "",
    orders: str = "",
    sort: str = "recent",
    cursor: str = "",
) -> Response:
    """Customers of the workspace: search, stage and order filters, sort, cursor pages."""
    require(page.principal, "customers:read")
    q = q.strip()[:200]
    stage = stage if stage in LIFECYCLE_STAGES else ""
    sort = sort if sort in SORTS else "recent"
    orders = orders if orders in ORDER_FILTERS else ""
    filters = CustomerFilter(q=q or None, stage=stage or None, has_orders=ORDER_FILTERS.get(orders))
    rows, next_cursor = profiles.search_customers(
        page.db,
        workspace_id=page.workspace.id,
        filters=filters,
        sort=sort,
        cursor=cursor[:500] or None,
        limit=LIST_PAGE,
    )
    total = profiles.count_customers(page.db, workspace_id=page.workspace.id)
    filtered = bool(q or stage or orders)
    matching = (
        profiles.count_customers(page.db, workspace_id=page.workspace.id, filters=filters)
        if filtered
        else total
    )
    return render(
        page.request,
        "profiles/customers.html",
        page=page,
        section="customers",
        rows=rows,
        next_cursor=next_cursor,
        cursor=cursor,
        total=total,
        matching=matching,
        filtered=filtered,
        q=q,
        stage=stage,
        orders=orders,
        sort=sort,
        stages=LIFECYCLE_STAGES,
        sorts=SORTS,
    )


# --- the 360 view ------------------------------------------------------------------------------


def event_summary(event: Event, fmt: Formatter, t: Callable[..., str], currency: str) -> str:
    """One line, in the reader's words, that says what an event was about: the page, the
    product and its price, the order's amount and lines, the survey's scores …"""
    props = event.properties or {}
    if event.type in ("page", "screen"):
        for key in ("path", "url", "title"):
            if isinstance(props.get(key), str) and props[key]:
                return str(props[key])[:120]
        return ""
    if event.type == "identify":
        return ", ".join(sorted(k for k in props if isinstance(k, str)))[:120]
    if event.name == response_service.SURVEY_ANSWERED:
        scores = [f"{k.upper()} {props[k]}" for k in ("nps", "csat", "ces") if k in props]
        return " · ".join([str(props.get("survey_name", ""))[:100], *scores])
    currency = commerce.currency_of(props, currency)
    if (
        event.name == commerce.ORDER_COMPLETED
        or event.name in commerce.ORDER_STATUS_EVENTS
        or ("order_id" in props and ("total" in props or "revenue" in props))
    ):
        return _order_summary(props, fmt, t, currency)
    if event.name in commerce.PRODUCT_EVENTS:
        fields = commerce.product_fields(props, currency) or {}
        name = fields.get("name") or fields.get("external_id") or ""
        price = fields.get("price")
        return " · ".join(p for p in (name, fmt.money(price, currency)) if p)[:160]
    if isinstance(props.get("query"), str):
        return t("timeline.searched", query=props["query"][:100])
    scalars = [
        f"{k}: {v}"
        for k, v in props.items()
        if isinstance(v, str | int | float) and not isinstance(v, bool)
    ]
    return ", ".join(scalars[:4])[:160]


def _order_summary(
    props: dict[str, Any], fmt: Formatter, t: Callable[..., str], currency: str
) -> str:
    amount = commerce.money(props.get("total", props.get("revenue")), currency)
    lines = commerce.line_items(props, currency)
    parts = [fmt.money(amount, currency)] if amount is not None else []
    if lines:
        first = (lines[0].fields or {}).get("name") or ""
        if first and len(lines) > 1:
            parts.append(t("timeline.items_more", first=first, more=len(lines) - 1))
        elif first:
            parts.append(first)
        else:
            parts.append(t("timeline.items", count=len(lines)))
    order_id = props.get("order_id") or props.get("orderId")
    if isinstance(order_id, str | int) and not isinstance(order_id, bool):
        parts.append(t("timeline.order_id", id=str(order_id)[:40]))
    return " · ".join(parts)[:200]


@router.get("/customers/{customer_id:int}")
def customer_page(
    page: Page,
    customer_id: int,
    events_cursor: str = "",
    orders_cursor: str = "",
    responses_cursor: str = "",
    channel: str = "",
    type: str = "",
    consent_page: str = "",
) -> Response:
    """Everything about one customer: profile, identities, consent, orders, timeline."""
    require(page.principal, "customers:read")
    customer = _load(page, customer_id)
    if customer.id != customer_id:
        page.flash("info", "customer.merged_redirect", old=customer_id, new=customer.id)
        return _to_customer(customer.id)
    db, workspace_id = page.db, page.workspace.id
    channel = channel.strip()[:32]
    type = type if type in EVENT_TYPES else ""
    timeline: list[Event] = []
    next_events = None
    if page.can("events:read"):
        timeline, next_events = events.customer_events(
            db,
            workspace_id=workspace_id,
            customer_id=customer.id,
            cursor=events_cursor[:500] or None,
            limit=EVENTS_PAGE,
            types=[type] if type else None,
            channel=channel or None,
        )
    orders, next_orders = events.customer_orders(
        db,
        workspace_id=workspace_id,
        customer_id=customer.id,
        cursor=orders_cursor[:500] or None,
        limit=ORDERS_PAGE,
    )
    answers, next_answers = response_service.customer_responses(
        db,
        workspace_id=workspace_id,
        customer_id=customer.id,
        cursor=responses_cursor[:500] or None,
        limit=RESPONSES_PAGE,
    )
    history = list(reversed(profiles.consent_history(db, customer=customer)))
    history_page = int(consent_page) if consent_page.isdigit() and len(consent_page) < 6 else 1
    history_page = max(1, min(history_page, max(1, -(-len(history) // CONSENT_HISTORY_PAGE))))
    start = (history_page - 1) * CONSENT_HISTORY_PAGE

    tz = zone(page.workspace.timezone)
    today = utcnow().astimezone(tz).date()
    weeks = 53
    first_day = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    daily = events.daily_event_counts(
        db,
        workspace_id=workspace_id,
        customer_id=customer.id,
        since=datetime.combine(first_day, time(0), tzinfo=tz),
        timezone=tz.key,
    )
    chart = activity_chart(weekly_totals(daily, today=today, weeks=weeks), locale=page.locale)

    channels = sorted({*(customer.touchpoints or {}), *([channel] if channel else [])})
    return render(
        page.request,
        "profiles/customer.html",
        page=page,
        section="customers",
        customer=customer,
        identities=profiles.identities_of(db, customer=customer),
        consent=profiles.current_consent(db, customer=customer),
        history=history[start : start + CONSENT_HISTORY_PAGE],
        history_page=history_page,
        history_more=len(history) > start + CONSENT_HISTORY_PAGE,
        history_total=len(history),
        purposes=CONSENT_PURPOSES,
        consent_channels=CONSENT_CHANNELS,
        consent_sources=CONSENT_SOURCES,
        orders=orders,
        next_orders=next_orders,
        orders_cursor=orders_cursor,
        answers=answers,
        next_answers=next_answers,
        tags=text_tags(page, source_type=SURVEY_TEXTS, source_ids=[r.id for r, _ in answers]),
        responses_cursor=responses_cursor,
        timeline=timeline,
        next_events=next_events,
        events_cursor=events_cursor,
        channel=channel,
        type=type,
        channels=channels,
        event_types=EVENT_TYPES,
        summary=lambda event: event_summary(
            event,
            Formatter(page.locale, zone(page.workspace.timezone)),
            page.t,
            page.workspace.default_currency,
        ),
        chart=chart,
        chart_total=sum(daily.values()),
        merges=profiles.merges_of(db, customer=customer),
        touchpoints=sorted(
            (customer.touchpoints or {}).items(), key=lambda item: (-int(item[1]), item[0])
        ),
        **customer_care(page, customer),
        **customer_predictions(page, customer),
        **customer_loyalty(page, customer),
    )


# --- consent -----------------------------------------------------------------------------------


@router.post("/customers/{customer_id:int}/consent")
def record_consent(
    page: Page,
    customer_id: int,
    purpose: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "",
    decision: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "agent",
    evidence: Annotated[str, Form()] = "",
) -> Response:
    """Append a consent change (given by the customer to an agent, on paper, …). Audited."""
    require(page.principal, "consent:write")
    customer = _load(page, customer_id)
    try:
        if decision not in ("grant", "withdraw"):
            raise ValidationFailed("Choose whether consent is given or withdrawn.")
        with page.db.begin_nested():
            profiles.record_consent(
                page.db,
                customer=customer,
                purpose=purpose,
                channel=channel,
                granted=decision == "grant",
                source=source[:64],
                evidence=evidence[:2000],
                principal=page.principal,
            )
    except ValidationFailed as exc:
        _error(page, exc)
    else:
        page.flash(
            "success",
            "consent.recorded",
            purpose=page.t(f"purpose.{purpose}"),
            channel=page.t(f"channel.{channel}"),
        )
    return _to_customer(customer.id, "consent")


# --- export, erase, merge ----------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    return str(value)


@router.post("/customers/{customer_id:int}/export")
def export_customer(page: Page, customer_id: int) -> Response:
    """Download everything held about the customer as JSON (data-subject access). Audited."""
    require(page.principal, "customers:export")
    customer = _load(page, customer_id)
    data = profiles.export_customer(page.db, principal=page.principal, customer=customer)
    body = dump_json(data, default=_json_default, indent=True)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="customer-{customer.id}.json"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/customers/{customer_id:int}/erase")
def erase_form(page: Page, customer_id: int) -> Response:
    """The confirmation step before an erasure: the user types the customer's id."""
    require(page.principal, "customers:erase")
    customer = _load(page, customer_id)
    if customer.id != customer_id:
        return redirect(f"/customers/{customer.id}/erase")
    if customer.erased_at is not None:
        page.flash("info", "erase.already")
        return _to_customer(customer.id)
    return render(
        page.request, "profiles/erase.html", page=page, section="customers", customer=customer
    )


@router.post("/customers/{customer_id:int}/erase")
def erase_customer(page: Page, customer_id: int, confirm: Annotated[str, Form()] = "") -> Response:
    """Erase the customer's personal data once the id was typed to confirm. Audited."""
    require(page.principal, "customers:erase")
    customer = _load(page, customer_id)
    if customer.id != customer_id:
        page.flash("info", "customer.merged_redirect", old=customer_id, new=customer.id)
        return _to_customer(customer.id)
    if confirm.strip() != str(customer.id):
        return render(
            page.request,
            "profiles/erase.html",
            page=page,
            section="customers",
            customer=customer,
            status=422,
            error=page.t("erase.mismatch", id=customer.id),
        )
    removed = profiles.erase_customer(page.db, principal=page.principal, customer=customer)
    page.flash(
        "success",
        "erase.done",
        id=customer.id,
        identities=removed.get("identities", 0),
        events=removed.get("events_scrubbed", 0),
    )
    return _to_customer(customer.id)


def _merge_other(page: WebContext, customer: Customer, other: str) -> Customer | None:
    text = other.strip().lstrip("#")
    if not text.isdigit() or len(text) > 16:
        page.flash("error", "merge.bad_id")
        return None
    try:
        found = _load(page, int(text))
    except NotFound as exc:
        _error(page, exc)
        return None
    if found.id == customer.id:
        page.flash("error", "err.merge_self")
        return None
    return found


@router.get("/customers/{customer_id:int}/merge")
def merge_form(page: Page, customer_id: int, other: str = "") -> Response:
    """The confirmation step of a manual merge: both profiles side by side."""
    require(page.principal, "customers:merge")
    customer = _load(page, customer_id)
    if customer.id != customer_id:
        return redirect(f"/customers/{customer.id}/merge?other={other[:20]}")
    found = _merge_other(page, customer, other)
    if found is None:
        return _to_customer(customer.id)
    # The service keeps the older profile; shown here so the user knows which id stays.
    older, newer = sorted((customer, found), key=lambda c: (c.created_at, c.id))
    return render(
        page.request,
        "profiles/merge.html",
        page=page,
        section="customers",
        customer=customer,
        other=found,
        survivor=older,
        merged=newer,
        identities={c.id: profiles.identities_of(page.db, customer=c) for c in (customer, found)},
    )


@router.post("/customers/{customer_id:int}/merge")
def merge_customers(page: Page, customer_id: int, other: Annotated[str, Form()] = "") -> Response:
    """Merge two profiles of the same person (the older survives). Audited."""
    require(page.principal, "customers:merge")
    customer = _load(page, customer_id)
    if customer.id != customer_id:
        page.flash("info", "customer.merged_redirect", old=customer_id, new=customer.id)
        return _to_customer(customer.id)
    found = _merge_other(page, customer, other)
    if found is None:
        return _to_customer(customer.id)
    try:
        with page.db.begin_nested():
            survivor = profiles.merge(
                page.db, principal=page.principal, customer_ids=(customer.id, found.id)
            )
    except (Conflict, NotFound, ValidationFailed) as exc:
        _error(page, exc)
        return _to_customer(customer.id)
    merged_id = found.id if survivor.id == customer.id else customer.id
    page.flash("success", "merge.done", merged=merged_id, survivor=survivor.id)
    return _to_customer(survivor.id)
