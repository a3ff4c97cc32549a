"""Hostile input that must never become a 500 or an absurd stored value: client times at the
ends of the calendar (ingestion, imports, API dates), values already stored at those ends
(pages, API, export), JSON nested hundreds of levels deep, and LIKE wildcards typed into a
search box."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxloop.core import i18n
from cxloop.core.db import Database
from cxloop.core.timeutil import KST
from cxloop.events import imports
from cxloop.events.segment import OUT_OF_RANGE_KEY
from cxloop.models import Customer, Event, Order, User
from tests.factories import PASSWORD, Tenant, make_customer, make_user
from tests.helpers.web import HTML, get, login, post

PROBLEM = "application/problem+json"


def nest(levels: int, leaf: Any = 1) -> Any:
    """``levels`` objects nested in each other: {"a": {"a": … leaf}}."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def raw_nest(levels: int) -> bytes:
    """The same as JSON text, built without an encoder (which stops at 254 levels)."""
    return b'{"a":' * levels + b"1" + b"}" * levels


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def events_of(session: Session, workspace_id: int) -> list[Event]:
    session.expire_all()
    return list(
        session.scalars(select(Event).where(Event.workspace_id == workspace_id).order_by(Event.id))
    )


def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def post_timed(client: TestClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    """POST and return (response, the moments just before and after it)."""
    before = datetime.now(UTC)
    response = client.post(path, json=body, headers=headers)
    after = datetime.now(UTC)
    return response, before, after


# --- ingestion: absurd times give way to receivedAt ----------------------------------------------

NOW = datetime.now(UTC)

# The nine overflowing clock-skew cases: each used to end in an OverflowError (a 500).
SKEW_OVERFLOWS = [
    pytest.param(
        "/v1/track",
        {"originalTimestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"},
        id="original-9999-sent-0001",
    ),
    pytest.param(
        "/v1/track",
        {"originalTimestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T23:59:59Z"},
        id="original-0001-sent-9999",
    ),
    pytest.param(
        "/v1/track",
        {"originalTimestamp": "9999-12-31T23:59:59Z", "sentAt": iso(NOW)},
        id="original-9999-sent-now",
    ),
    pytest.param(
        "/v1/track",
        {"originalTimestamp": iso(NOW), "sentAt": "9999-12-31T23:59:59Z"},
        id="original-now-sent-9999",
    ),
    pytest.param(
        "/v1/track",
        {"originalTimestamp": iso(NOW), "sentAt": "0001-01-01T00:00:00Z"},
        id="original-now-sent-0001",
    ),
    pytest.param(
        "/v1/track", {"timestamp": "9999-12-31T23:00:00-14:00"}, id="timestamp-9999-minus-14h"
    ),
    pytest.param(
        "/v1/track", {"timestamp": "0001-01-01T00:00:00+14:00"}, id="timestamp-0001-plus-14h"
    ),
    pytest.param(
        "/v1/batch",
        {"batch_sent_at": "9999-12-31T23:00:00-14:00", "originalTimestamp": iso(NOW)},
        id="batch-sent-at-9999",
    ),
    pytest.param(
        "/v1/batch",
        {"batch_sent_at": "0001-01-01T00:00:00Z", "originalTimestamp": "9999-12-31T23:59:59Z"},
        id="batch-sent-0001-original-9999",
    ),
]


def _body(path: str, times: dict[str, str]) -> dict[str, Any]:
    times = dict(times)
    batch_sent_at = times.pop("batch_sent_at", None)
    event = {"userId": "clock", "event": "Clock Tested", **times}
    if path == "/v1/batch":
        body: dict[str, Any] = {"batch": [{"type": "track", **event}]}
        if batch_sent_at:
            body["sentAt"] = batch_sent_at
        return body
    return event


@pytest.mark.parametrize(("path", "times"), SKEW_OVERFLOWS)
def test_clock_skew_arithmetic_never_overflows(
    client: TestClient, tenant: Tenant, session: Session, path: str, times: dict[str, str]
) -> None:
    # when an SDK sends times at the ends of the calendar
    response, before, after = post_timed(client, path, _body(path, times), tenant.write)
    # then the event is accepted and dated when it was received, as Segment does
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    [event] = events_of(session, tenant.id)
    assert before <= event.timestamp <= after
    assert event.timestamp == event.received_at
    # and what the client sent stays visible on the event
    kept = event.context[OUT_OF_RANGE_KEY]
    sent = {k: v for k, v in times.items() if k != "batch_sent_at"}
    assert {k: kept[k] for k in sent} == sent


ABSURD = [
    pytest.param("9999-12-31T23:59:59Z", id="year-9999"),
    pytest.param("0001-01-01T00:00:00Z", id="year-1"),
    pytest.param("1999-12-31T23:59:59Z", id="before-2000"),
    pytest.param(iso(NOW + timedelta(days=3)), id="three-days-ahead"),
    pytest.param("2999-01-01", id="date-only-2999"),
]


@pytest.mark.parametrize("timestamp", ABSURD)
def test_an_absurd_time_is_replaced_by_received_at(
    client: TestClient, tenant: Tenant, session: Session, timestamp: str
) -> None:
    response, before, after = post_timed(
        client,
        "/v1/track",
        {
            "userId": "u",
            "event": "Order Completed",
            "timestamp": timestamp,
            "properties": {"order_id": "A-1", "total": 1000},
        },
        tenant.write,
    )
    assert response.status_code == 200, response.text
    [event] = events_of(session, tenant.id)
    assert before <= event.timestamp <= after
    assert event.context[OUT_OF_RANGE_KEY] == {"timestamp": timestamp}
    # the order kept from the event is dated alike
    order = session.scalars(select(Order).where(Order.workspace_id == tenant.id)).one()
    assert order.placed_at == event.timestamp


PLAUSIBLE = [
    pytest.param(datetime(2015, 3, 1, 9, 30, tzinfo=UTC), None, id="an-old-order-from-2015"),
    pytest.param(datetime(2000, 1, 1, tzinfo=UTC), None, id="the-first-moment-of-2000"),
    pytest.param(NOW + timedelta(hours=20), None, id="a-clock-20-hours-ahead"),
    pytest.param(
        NOW - timedelta(minutes=5), NOW - timedelta(minutes=4), id="skew-corrected-minute"
    ),
]


@pytest.mark.parametrize(("when", "sent_at"), PLAUSIBLE)
def test_a_plausible_time_is_kept(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    when: datetime,
    sent_at: datetime | None,
) -> None:
    body: dict[str, Any] = {"userId": "u", "event": "Seen", "timestamp": iso(when)}
    if sent_at is not None:
        body["sentAt"] = iso(sent_at)
    response, before, after = post_timed(client, "/v1/track", body, tenant.write)
    assert response.status_code == 200, response.text
    [event] = events_of(session, tenant.id)
    assert OUT_OF_RANGE_KEY not in event.context
    if sent_at is None:
        assert event.timestamp == when
    else:
        # receivedAt − (sentAt − originalTimestamp): one minute before it was received
        assert before - timedelta(minutes=1) <= event.timestamp <= after - timedelta(minutes=1)


UNPARSEABLE = [
    pytest.param(
        "/v1/track", {"timestamp": "2024-13-45T00:00:00Z"}, None, "timestamp", id="month-13"
    ),
    pytest.param(
        "/v1/track", {"timestamp": "+10000-01-01T00:00:00Z"}, None, "timestamp", id="year-10000"
    ),
    pytest.param(
        "/v1/track", {"originalTimestamp": 1700000000}, None, "originalTimestamp", id="a-number"
    ),
    pytest.param("/v1/track", {"sentAt": "yesterday"}, None, "sentAt", id="sent-at-words"),
    pytest.param(
        "/v1/batch", {"timestamp": "9999-99-99"}, 1, "timestamp", id="second-event-of-a-batch"
    ),
]


@pytest.mark.parametrize(("path", "times", "index", "field"), UNPARSEABLE)
def test_a_time_that_is_not_iso_8601_is_a_400_naming_the_event_and_field(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    path: str,
    times: dict[str, Any],
    index: int | None,
    field: str,
) -> None:
    event = {"userId": "u", "event": "Seen", **times}
    body: Any = event
    if path == "/v1/batch":
        body = {
            "batch": [{"type": "track", "userId": "u", "event": "Fine"}, {"type": "track", **event}]
        }
    response = client.post(path, json=body, headers=tenant.write)
    problem = problem_of(response, 400)
    [error] = problem["errors"]
    assert (error["index"], error["field"]) == (index, field)
    where = f"event {index} (track)" if index is not None else "event (track)"
    assert problem["detail"].startswith(f"{where}: '{field}'")
    assert events_of(session, tenant.id) == []


# --- imports: an out-of-range date is a line error, not a stored absurdity ---------------------


def test_order_and_event_imports_report_dates_out_of_range(
    tx_database: Database, session: Session, tenant: Tenant, tmp_path: Path
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,user_id,placed_at,total\n"
        "O-1,ann,2021-05-01T10:00:00+09:00,1000\n"
        "O-2,bob,9999-12-31T23:00:00-14:00,2000\n"
        "O-3,cho,1970-01-01T00:00:00Z,3000\n"
        "O-4,dan,not-a-date,4000\n",
        encoding="utf-8",
    )
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(
        b'{"type":"track","userId":"ann","event":"Seen","timestamp":"2022-01-01T00:00:00Z"}\n'
        b'{"type":"track","userId":"bob","event":"Seen","timestamp":"0001-01-01T00:00:00Z"}\n'
        + b'{"type":"track","userId":"cho","event":"Deep","properties":'
        + raw_nest(300)
        + b"}\n"
    )
    report = imports.import_orders(tx_database, workspace_id=tenant.id, path=orders)
    assert report.errors == [
        "line 3: placed_at '9999-12-31T23:00:00-14:00' is out of range (from 2000 to now)",
        "line 4: placed_at '1970-01-01T00:00:00Z' is out of range (from 2000 to now)",
        "line 5: bad placed_at 'not-a-date'",
    ]
    assert report.stored == 1
    report = imports.import_events(tx_database, workspace_id=tenant.id, path=lines)
    assert report.stored == 1
    assert report.errors[0].startswith("line 2: event (track): 'timestamp' is out of range")
    assert report.errors[1] == "line 3: nested deeper than 32 levels at properties" + ".a" * 31
    session.expire_all()
    placed = session.scalars(select(Order.placed_at).where(Order.workspace_id == tenant.id)).all()
    assert placed == [datetime(2021, 5, 1, 1, 0, tzinfo=UTC)]


def test_a_response_file_reports_answer_times_out_of_range(
    client: TestClient, tx_database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    from cxloop.feedback.responses.imports import import_response_file

    survey_id = _survey(client, tenant)
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "external_id,submitted_at,nps\n"
        "r-1,2025-11-03T10:00:00+09:00,9\n"
        "r-2,9999-12-31T23:00:00-14:00,10\n"
        "r-3,0001-01-01T00:00:00Z,8\n",
        encoding="utf-8",
    )
    lines = tmp_path / "answers.jsonl"
    lines.write_bytes(b'{"external_id":"r-4","answers":' + raw_nest(40) + b"}\n")
    report = import_response_file(
        tx_database, workspace_id=tenant.id, survey_key="post-purchase", path=answers
    )
    assert (report.created, report.errors) == (
        1,
        [
            "line 3: submitted_at: Value error, must be a time from 2000 to now",
            "line 4: submitted_at: Value error, must be a time from 2000 to now",
        ],
    )
    report = import_response_file(
        tx_database, workspace_id=tenant.id, survey_key="post-purchase", path=lines
    )
    assert report.errors == ["line 1: nested deeper than 32 levels at answers" + ".a" * 31]
    listed = client.get(f"/api/v1/surveys/{survey_id}/responses", headers=tenant.api).json()
    assert [r["submitted_at"] for r in listed["items"]] == ["2025-11-03T01:00:00Z"]


# --- API dates: never a 500, never an absurd stored value ---------------------------------------

EXTREME_QUERY_TIMES = [
    pytest.param("0001-01-01T00:00:00+14:00", id="year-1-plus-14h"),
    pytest.param("9999-12-31T23:00:00-14:00", id="year-9999-minus-14h"),
    pytest.param("9999-12-31T23:59:59.999999Z", id="last-microsecond"),
]


@pytest.mark.parametrize("moment", EXTREME_QUERY_TIMES)
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/v1/customers?seen_after={m}&seen_before={m}", id="customers"),
        pytest.param("/api/v1/text/analyses?since={m}", id="text-analyses-since"),
        pytest.param("/api/v1/text/analyses?until={m}", id="text-analyses-until"),
    ],
)
def test_query_times_at_the_ends_of_the_calendar_filter_without_failing(
    client: TestClient, tenant: Tenant, path: str, moment: str
) -> None:
    url = path.format(m=moment.replace("+", "%2B"))
    response = client.get(url, headers=tenant.api)
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


def _survey(client: TestClient, tenant: Tenant) -> int:
    from tests.helpers.surveys import create, go_live

    survey = create(client, tenant)
    go_live(client, tenant, survey["id"])
    return int(survey["id"])


@pytest.mark.parametrize(
    "submitted_at",
    [
        pytest.param("9999-12-31T23:00:00-14:00", id="year-9999"),
        pytest.param("0001-01-01T00:00:00Z", id="year-1"),
        pytest.param("1999-12-31T00:00:00Z", id="before-2000"),
    ],
)
def test_an_imported_answer_time_out_of_range_is_a_422(
    client: TestClient, tenant: Tenant, submitted_at: str
) -> None:
    survey_id = _survey(client, tenant)
    rows = [{"external_id": "x-1", "answers": {"nps": 9}, "submitted_at": submitted_at}]
    response = client.post(
        f"/api/v1/surveys/{survey_id}/responses/import", json={"rows": rows}, headers=tenant.api
    )
    problem = problem_of(response, 422)
    assert problem["errors"][0]["field"] == "rows.0.submitted_at"
    listed = client.get(f"/api/v1/surveys/{survey_id}/responses", headers=tenant.api).json()
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("due_at", "status"),
    [
        pytest.param("9999-12-31T23:00:00-14:00", 422, id="year-9999"),
        pytest.param("0001-01-01T00:00:00+14:00", 422, id="year-1"),
        pytest.param("2100-01-01T00:00:00Z", 422, id="from-2100"),
        pytest.param("2027-03-02T09:00:00+09:00", 200, id="next-spring"),
    ],
)
def test_a_follow_up_due_date_must_be_one_a_person_can_plan(
    client: TestClient, tenant: Tenant, due_at: str, status: int
) -> None:
    from tests.helpers.surveys import URL, _one_follow_up

    follow_up_id = _one_follow_up(client, tenant)
    before = client.get(f"{URL}/{follow_up_id}", headers=tenant.api).json()
    response = client.patch(f"{URL}/{follow_up_id}", json={"due_at": due_at}, headers=tenant.api)
    assert response.status_code == status, response.text
    after = client.get(f"{URL}/{follow_up_id}", headers=tenant.api).json()
    if status == 422:
        assert problem_of(response, 422)["errors"][0]["field"] == "due_at"
        assert after["due_at"] == before["due_at"]
    else:
        assert after["due_at"] == "2027-03-02T00:00:00Z"


@pytest.mark.parametrize(
    ("since", "until"),
    [
        pytest.param("9999-12-31", "9999-12-31", id="year-9999"),
        pytest.param("0001-01-01", "0001-01-01", id="year-1"),
    ],
)
def test_the_survey_answers_page_takes_any_filter_day(
    client: TestClient, session: Session, tenant: Tenant, since: str, until: str
) -> None:
    survey_id = _survey(client, tenant)
    owner = make_user(session, workspace=tenant.workspace, role="owner")
    session.flush()
    assert login(client, owner.email).status_code == 303
    page = get(client, f"/surveys/{survey_id}/responses?since={since}&until={until}")
    assert page.status_code == 200


# --- display: any stored time renders ------------------------------------------------------------

EDGE_TIMES = [
    pytest.param(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id="last-moment"),
    pytest.param(datetime(1, 1, 1, tzinfo=UTC), id="first-moment"),
    pytest.param(datetime(9999, 12, 31, 23, 59), id="naive-9999"),
    pytest.param(datetime(1, 1, 1), id="naive-year-1"),
    pytest.param(datetime(2026, 12, 6, 12, 0, tzinfo=UTC), id="ordinary"),
]
ZONES = [
    pytest.param(KST, id="seoul"),
    pytest.param(ZoneInfo("Pacific/Kiritimati"), id="plus-14"),
    pytest.param(ZoneInfo("Pacific/Pago_Pago"), id="minus-11"),
]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("value", EDGE_TIMES)
@pytest.mark.parametrize("locale", ["ko", "en"])
def test_every_stored_time_formats(locale: str, value: datetime, zone: ZoneInfo) -> None:
    # the year shown is the value's (where the zone would take it past the calendar's end,
    # the time is shown in UTC)
    assert str(value.year).zfill(4) in i18n.format_datetime(value, locale, zone)
    assert re.search(rf"\b{value.year}\b", i18n.format_date(value, locale, zone))


@pytest.mark.parametrize(
    "amount",
    [Decimal("NaN"), Decimal("Infinity"), Decimal("1E+400"), 10**30, Decimal("-0")],
    ids=["nan", "infinity", "huge-exponent", "huge-int", "negative-zero"],
)
@pytest.mark.parametrize("locale", ["ko", "en"])
def test_every_stored_amount_formats(locale: str, amount: Any) -> None:
    assert i18n.format_number(amount, locale)
    assert i18n.format_money(amount, "KRW", locale)
    assert i18n.format_money(amount, "", locale)


@pytest.fixture
def signed_in_owner(client: TestClient, session: Session, tenant: Tenant) -> User:
    owner = make_user(session, workspace=tenant.workspace, role="owner", locale="en")
    session.flush()
    assert login(client, owner.email, PASSWORD).status_code == 303
    return owner


def test_a_year_9999_event_from_the_write_key_leaves_the_pages_working(
    client: TestClient, tenant: Tenant, session: Session, signed_in_owner: User
) -> None:
    # the reproduction: the public write key sends a year-9999 timestamp
    response = client.post(
        "/v1/track",
        json={"userId": "y", "event": "x", "timestamp": "9999-12-31T23:59:59Z"},
        headers=tenant.write,
    )
    assert response.status_code == 200
    from cxloop.events import bus

    bus.drain(client.app.state.database)  # type: ignore[attr-defined]
    customer = session.scalars(select(Customer).where(Customer.workspace_id == tenant.id)).one()
    session.refresh(customer)
    assert customer.last_seen_at is not None and customer.last_seen_at.year < 9999
    assert get(client, "/customers").status_code == 200
    assert get(client, f"/customers/{customer.id}").status_code == 200


@pytest.mark.parametrize("locale", ["ko", "en"])
@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), id="year-9999"),
        pytest.param(datetime(1, 1, 1, 0, 0, tzinfo=UTC), id="year-1"),
    ],
)
def test_pages_and_api_render_times_already_stored_at_the_calendar_ends(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    signed_in_owner: User,
    locale: str,
    moment: datetime,
) -> None:
    # given a customer, an event and an order whose times were stored before they were
    # checked (written straight to the database, as old data would be)
    customer = make_customer(session, workspace=tenant.workspace, user_id="old-data")
    session.flush()
    client.post(
        "/v1/track",
        json={
            "userId": "old-data",
            "event": "Order Completed",
            "properties": {"order_id": "OLD-1", "total": 5},
        },
        headers=tenant.write,
    )
    session.execute(
        update(Customer)
        .where(Customer.id == customer.id)
        .values(last_seen_at=moment, first_seen_at=moment)
    )
    session.execute(update(Event).where(Event.workspace_id == tenant.id).values(timestamp=moment))
    session.execute(update(Order).where(Order.workspace_id == tenant.id).values(placed_at=moment))
    session.execute(update(User).where(User.id == signed_in_owner.id).values(locale=locale))
    session.flush()
    # then the list, the customer page and the API all answer
    listing = get(client, "/customers")
    assert listing.status_code == 200
    assert str(moment.year).zfill(4) in listing.text
    page = get(client, f"/customers/{customer.id}")
    assert page.status_code == 200
    assert str(moment.year).zfill(4) in page.text
    assert client.get("/api/v1/customers", headers=tenant.api).status_code == 200
    events = client.get(f"/api/v1/customers/{customer.id}/events", headers=tenant.api)
    assert events.status_code == 200
    assert events.json()["items"][0]["timestamp"].startswith(str(moment.year).zfill(4))
    orders = client.get(f"/api/v1/customers/{customer.id}/orders", headers=tenant.api)
    assert orders.status_code == 200
    exported = client.get(f"/api/v1/customers/{customer.id}/export", headers=tenant.api)
    assert exported.status_code == 200


# --- JSON depth ----------------------------------------------------------------------------------

# How many objects nest in ``properties``; the body's own object makes one level more.
TOO_DEEP = [
    pytest.param(32, id="33-levels"),
    pytest.param(253, id="254-levels"),
    pytest.param(254, id="255-levels"),
    pytest.param(1023, id="1024-levels"),
    pytest.param(1024, id="1025-levels"),
    pytest.param(5000, id="5001-levels"),
]


@pytest.mark.parametrize("levels", TOO_DEEP)
def test_ingestion_refuses_json_nested_too_deep_with_the_path(
    client: TestClient, tenant: Tenant, session: Session, levels: int
) -> None:
    body = b'{"userId":"u","event":"Deep","properties":' + raw_nest(levels) + b"}"
    response = client.post(
        "/v1/track", content=body, headers={**tenant.write, "content-type": "application/json"}
    )
    problem = problem_of(response, 400)
    path = "properties" + ".a" * 31
    assert problem["detail"] == f"event: nested deeper than 32 levels at {path}"
    assert problem["errors"] == [
        {"index": None, "field": path, "message": f"nested deeper than 32 levels at {path}"}
    ]
    assert events_of(session, tenant.id) == []


# The body, the batch array and the event make three levels before the context's own.
@pytest.mark.parametrize(
    "levels", [pytest.param(30, id="33-levels"), pytest.param(1000, id="1003-levels")]
)
def test_a_batch_with_one_event_too_deep_is_refused_naming_that_event(
    client: TestClient, tenant: Tenant, session: Session, levels: int
) -> None:
    body = (
        b'{"batch":[{"type":"track","userId":"u","event":"Fine"},'
        b'{"type":"track","userId":"u","event":"Deep","context":' + raw_nest(levels) + b"}]}"
    )
    response = client.post(
        "/v1/batch", content=body, headers={**tenant.write, "content-type": "application/json"}
    )
    problem = problem_of(response, 400)
    path = "context" + ".a" * 29
    assert problem["detail"] == f"event 1: nested deeper than 32 levels at {path}"
    assert problem["errors"][0]["index"] == 1
    assert problem["errors"][0]["field"] == path
    assert events_of(session, tenant.id) == []


def test_json_nested_up_to_the_limit_is_stored_whole(
    client: TestClient, tenant: Tenant, session: Session
) -> None:
    # the body's own object, properties, and 30 more: 32 levels
    properties = nest(31)
    response = client.post(
        "/v1/track",
        json={"userId": "u", "event": "Deep", "properties": properties},
        headers=tenant.write,
    )
    assert response.status_code == 200, response.text
    [event] = events_of(session, tenant.id)
    assert event.properties == properties


REST_BODIES = [
    pytest.param("PATCH", "/api/v1/customers/{id}", b'{"traits":', "traits", id="update-customer"),
    pytest.param(
        "POST",
        "/api/v1/customers",
        b'{"identities":[{"kind":"user_id","value":"n"}],"traits":',
        "traits",
        id="create-customer",
    ),
    pytest.param(
        "POST",
        "/api/v1/surveys",
        b'{"key":"k","name":"n","kind":"nps","definition":',
        "definition",
        id="create-survey",
    ),
]


@pytest.mark.parametrize(
    "levels",
    [
        pytest.param(32, id="33-levels"),
        pytest.param(254, id="255-levels"),
        pytest.param(1024, id="1025-levels"),
        pytest.param(5000, id="5001-levels"),
    ],
)
@pytest.mark.parametrize(("method", "path", "prefix", "field"), REST_BODIES)
def test_the_rest_api_refuses_json_nested_too_deep_with_a_422(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    method: str,
    path: str,
    prefix: bytes,
    field: str,
    levels: int,
) -> None:
    customer = make_customer(session, workspace=tenant.workspace, traits={"tier": "gold"})
    session.flush()
    body = prefix + raw_nest(levels) + b"}"
    response = client.request(
        method,
        path.format(id=customer.id),
        content=body,
        headers={**tenant.api, "content-type": "application/json"},
    )
    problem = problem_of(response, 422)
    where = field + ".a" * 31
    assert problem["detail"] == f"The body is nested deeper than 32 levels at {where}."
    assert problem["errors"] == [{"field": where, "message": "nested deeper than 32 levels"}]
    session.refresh(customer)
    assert customer.traits == {"tier": "gold"}


def test_export_holds_a_value_stored_254_levels_deep(
    client: TestClient, tenant: Tenant, session: Session, signed_in_owner: User
) -> None:
    # given a value nested as deep as any encoder can write, stored before depth was limited
    deep = nest(253)  # 254 levels with the outer object
    customer = make_customer(session, workspace=tenant.workspace, user_id="deep")
    session.flush()
    assert (
        client.post(
            "/v1/track", json={"userId": "deep", "event": "Deep"}, headers=tenant.write
        ).status_code
        == 200
    )
    session.execute(update(Customer).where(Customer.id == customer.id).values(traits=deep))
    session.execute(update(Event).where(Event.workspace_id == tenant.id).values(properties=deep))
    session.flush()
    # then the API export answers with the data
    response = client.get(f"/api/v1/customers/{customer.id}/export", headers=tenant.api)
    assert response.status_code == 200, response.text
    data = orjson.loads(response.content)
    assert data["customer"]["traits"] == deep
    assert data["events"][0]["properties"] == deep
    # and so does the UI's download, and the customer page
    download = post(client, f"/customers/{customer.id}/export")
    assert download.status_code == 200
    assert orjson.loads(download.content)["customer"]["traits"] == deep
    assert get(client, f"/customers/{customer.id}").status_code == 200


# --- search: % and _ are letters, not wildcards -------------------------------------------------

NAMES = ["100% 만족", "snake_case", "back\\slash", "a/b 고객", "김민지", "보통 고객"]


@pytest.mark.parametrize(
    ("q", "found"),
    [
        pytest.param("%", ["100% 만족"], id="percent"),
        pytest.param("_", ["snake_case"], id="underscore"),
        pytest.param("\\", ["back\\slash"], id="backslash"),
        pytest.param("/", ["a/b 고객"], id="slash-the-escape-character"),
        pytest.param("0%", ["100% 만족"], id="percent-inside"),
        pytest.param("e_c", ["snake_case"], id="underscore-inside"),
        pytest.param("%%", [], id="two-percents"),
        pytest.param("민", ["김민지"], id="an-ordinary-letter"),
    ],
)
def test_search_takes_wildcard_characters_literally(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    signed_in_owner: User,
    q: str,
    found: list[str],
) -> None:
    for name in NAMES:
        make_customer(session, workspace=tenant.workspace, traits={"name": name})
    session.flush()
    response = client.get("/api/v1/customers", params={"q": q}, headers=tenant.api)
    assert response.status_code == 200
    assert sorted(c["display_name"] for c in response.json()["items"]) == sorted(found)
    page = client.get("/customers", params={"q": q}, headers=HTML)
    assert page.status_code == 200
    shown = {name for name in NAMES if html.escape(name) in page.text}
    assert shown == set(found)


@pytest.mark.parametrize(
    ("q", "found"),
    [
        pytest.param("%", ["100% 좋아요"], id="percent"),
        pytest.param("_", ["밑줄_있음"], id="underscore"),
        pytest.param("\\", ["역슬래시\\있음"], id="backslash"),
    ],
)
def test_the_answer_search_takes_wildcard_characters_literally(
    client: TestClient,
    tenant: Tenant,
    session: Session,
    signed_in_owner: User,
    q: str,
    found: list[str],
) -> None:
    survey_id = _survey(client, tenant)
    comments = ["100% 좋아요", "밑줄_있음", "역슬래시\\있음", "그냥 좋아요"]
    rows = [
        {"external_id": f"c{i}", "answers": {"nps": 9, "comment": c}}
        for i, c in enumerate(comments)
    ]
    response = client.post(
        f"/api/v1/surveys/{survey_id}/responses/import", json={"rows": rows}, headers=tenant.api
    )
    assert response.status_code == 200, response.text
    page = client.get(f"/surveys/{survey_id}/responses", params={"q": q}, headers=HTML)
    assert page.status_code == 200
    shown = {c for c in comments if html.escape(c) in page.text}
    assert shown == set(found)
