"""`cxloop import events` with a clickstream CSV: columns, typed properties, times (offsets, the
workspace's time zone, Unix epochs), idempotent reruns, row errors and file errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cxloop.accounts.service import find_workspace
from cxloop.core.db import Database
from cxloop.models import Event, Identity
from tests.helpers.cli import Cli, workspace_id

pytestmark = pytest.mark.usefixtures("database")

REFUSED = (
    "error: {n} invalid rows; nothing was imported. Fix them, or pass --skip-invalid to import "
    "the valid rows."
)


def write(tmp_path: Path, text: str, name: str = "events.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def stored_events(database: Database, slug: str) -> list[tuple[Any, ...]]:
    """(type, name, the customer's user id or anonymous id, timestamp, properties) of every
    stored event, in time order."""
    ws = workspace_id(database, slug)
    with database.session() as session:
        known_as = {
            customer_id: value
            for customer_id, value in session.execute(
                select(Identity.customer_id, Identity.value).where(
                    Identity.workspace_id == ws, Identity.kind.in_(("user_id", "anonymous_id"))
                )
            )
        }
        events = session.execute(
            select(Event.type, Event.name, Event.customer_id, Event.timestamp, Event.properties)
            .where(Event.workspace_id == ws)
            .order_by(Event.timestamp, Event.id)
        ).all()
    return [(t, n, known_as[c], ts, p) for t, n, c, ts, p in events]


def event_count(database: Database, slug: str) -> int:
    ws = workspace_id(database, slug)
    with database.session() as session:
        return session.scalar(
            select(func.count()).select_from(Event).where(Event.workspace_id == ws)
        )


def set_time_zone(database: Database, slug: str, name: str) -> None:
    with database.session() as session:
        find_workspace(session, slug=slug).timezone = name


CLICKSTREAM = (
    "user_id,anonymous_id,event,timestamp,type,product,price,quantity,gift,zip,phone,memo\n"
    "u-1,,상품 조회,2026-03-01T09:00:00+09:00,,한우 선물세트,129000,1,true,06236,,\n"
    "u-1,,장바구니 담기,2026-03-01T00:10:00Z,track,한우 선물세트,129000.5,-2,FALSE,,"
    '01012345678,"1,000원 할인, 쿠폰"\n'
    ",anon-7,상품 목록,2026-03-01 10:00:00,page,,,,,,,  \n"
    ",anon-7,홈,1772326800,SCREEN,,0.25,1e5,yes,,,\n"
)


def test_a_clickstream_csv_with_a_bom_and_korean_values_loads_typed_events(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    # given a UTF-8 CSV with a byte order mark, Korean names and values, and every type
    path = write(tmp_path, CLICKSTREAM, bom=True)
    # when it is imported into a workspace in Asia/Seoul
    result = cli("import", "events", str(path), "-w", slug)
    # then each row is one event of the right customer, at the right UTC time, with typed
    # properties and no empty cells
    assert (result.code, result.out.strip()) == (
        0,
        "4 rows read, 4 stored, 0 already there, 0 skipped as invalid.",
    )
    assert stored_events(database, slug) == [
        (
            "track",
            "상품 조회",
            "u-1",
            datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
            {
                "product": "한우 선물세트",
                "price": 129000,
                "quantity": 1,
                "gift": True,
                "zip": "06236",
            },
        ),
        (
            "track",
            "장바구니 담기",
            "u-1",
            datetime(2026, 3, 1, 0, 10, tzinfo=UTC),
            {
                "product": "한우 선물세트",
                "price": 129000.5,
                "quantity": -2,
                "gift": False,
                "phone": "01012345678",
                "memo": "1,000원 할인, 쿠폰",
            },
        ),
        ("page", "상품 목록", "anon-7", datetime(2026, 3, 1, 1, 0, tzinfo=UTC), {}),
        (
            "screen",
            "홈",
            "anon-7",
            datetime(2026, 3, 1, 1, 0, tzinfo=UTC),
            {"price": 0.25, "quantity": "1e5", "gift": "yes"},
        ),
    ]


def test_importing_the_same_csv_again_stores_nothing_new(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    path = write(tmp_path, CLICKSTREAM, bom=True)
    first = cli("import", "events", str(path), "-w", slug)
    second = cli("import", "events", str(path), "-w", slug)
    assert first.out.strip() == "4 rows read, 4 stored, 0 already there, 0 skipped as invalid."
    assert second.out.strip() == "4 rows read, 0 stored, 4 already there, 0 skipped as invalid."
    assert event_count(database, slug) == 4


def test_a_message_id_column_names_the_event(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    # given two rows that differ only in a property but share a message id
    path = write(
        tmp_path,
        "message_id,user_id,event,timestamp,step\n"
        "m-1,u-1,Signed Up,2026-03-01T00:00:00Z,1\n"
        "m-1,u-1,Signed Up,2026-03-01T00:00:00Z,2\n",
    )
    result = cli("import", "events", str(path), "-w", slug)
    # then the message id decides: the first row is stored, the second is already there
    assert result.out.strip() == "2 rows read, 1 stored, 1 already there, 0 skipped as invalid."
    ws = workspace_id(database, slug)
    with database.session() as session:
        assert session.execute(
            select(Event.message_id, Event.properties).where(Event.workspace_id == ws)
        ).all() == [("m-1", {"step": 1})]


@pytest.mark.parametrize(
    ("zone", "cell", "expected"),
    [
        pytest.param(
            "Asia/Seoul", "2026-03-01 09:00:00", datetime(2026, 3, 1, 0, 0), id="seoul-space"
        ),
        pytest.param(
            "Asia/Seoul", "2026-03-01T09:00:00", datetime(2026, 3, 1, 0, 0), id="seoul-iso-naive"
        ),
        pytest.param(
            "America/New_York",
            "2026-03-01 09:00:00",
            datetime(2026, 3, 1, 14, 0),
            id="new-york-space",
        ),
        pytest.param(
            "America/New_York",
            "2026-07-01T09:00:00.250",
            datetime(2026, 7, 1, 13, 0, 0, 250000),
            id="new-york-summer-time",
        ),
        pytest.param(
            "America/New_York",
            "2026-03-01T09:00:00+09:00",
            datetime(2026, 3, 1, 0, 0),
            id="an-offset-wins",
        ),
        pytest.param(
            "America/New_York", "2026-03-01T09:00:00Z", datetime(2026, 3, 1, 9, 0), id="utc-z"
        ),
        pytest.param("Asia/Seoul", "1772323200", datetime(2026, 3, 1, 0, 0), id="epoch-seconds"),
        pytest.param(
            "Asia/Seoul",
            "1772323200.5",
            datetime(2026, 3, 1, 0, 0, 0, 500000),
            id="epoch-seconds-fraction",
        ),
        pytest.param(
            "Asia/Seoul",
            "1772323200123",
            datetime(2026, 3, 1, 0, 0, 0, 123000),
            id="epoch-milliseconds",
        ),
    ],
)
def test_times_are_read_in_utc_with_naive_ones_in_the_workspace_time_zone(
    cli: Cli,
    slug: str,
    database: Database,
    tmp_path: Path,
    zone: str,
    cell: str,
    expected: datetime,
) -> None:
    set_time_zone(database, slug, zone)
    path = write(tmp_path, f"user_id,event,timestamp\nu-1,Visited,{cell}\n")
    result = cli("import", "events", str(path), "-w", slug)
    assert result.code == 0, result.err
    [(_, _, _, timestamp, _)] = stored_events(database, slug)
    assert timestamp == expected.replace(tzinfo=UTC)


def test_the_check_before_the_import_reads_naive_times_in_the_workspace_time_zone(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    # given a time without an offset that is in range in London (05:00 UTC on 2000-01-01) and
    # out of range in Seoul (20:00 UTC the day before)
    path = write(tmp_path, "user_id,event,timestamp\nu-1,Visited,2000-01-01 05:00:00\n")
    # when the workspace is in Seoul, the check refuses the row
    refused = cli("import", "events", str(path), "-w", slug)
    assert (refused.code, refused.error_lines) == (
        1,
        [
            "events.csv line 2: timestamp '2000-01-01 05:00:00' is out of range (from 2000 to now)",
            REFUSED.format(n=1),
        ],
    )
    # and when it is in London, the check and the import both take it
    set_time_zone(database, slug, "Europe/London")
    taken = cli("import", "events", str(path), "-w", slug)
    assert (taken.code, taken.out.strip()) == (
        0,
        "1 rows read, 1 stored, 0 already there, 0 skipped as invalid.",
    )
    [(_, _, _, timestamp, _)] = stored_events(database, slug)
    assert timestamp == datetime(2000, 1, 1, 5, 0, tzinfo=UTC)


BAD_ROWS = (
    "user_id,anonymous_id,event,timestamp,type,memo\n"
    "u-1,,Visited,2026-03-01 09:00:00,,ok\n"
    "u-2,,Visited,yesterday,,\n"
    "\n"
    "u-3,,Visited,1999-12-31T23:00:00Z,,\n"
    ",,Visited,2026-03-01 09:00:00,,\n"
    "u-4,,Visited,2026-03-01 09:00:00,identify,\n"
    "u-5,,,2026-03-01 09:00:00,,\n"
    "u-6,,Visited,,,\n"
    f"u-7,,Visited,2026-03-01 09:00:00,,{'가' * 1001}\n"
    "u-8,,Visited,99999999999999999,,\n"
    ",a-9,,1772323200000,page,\n"
)
BAD_ROW_ERRORS = [
    "events.csv line 3: timestamp 'yesterday' is not a time (ISO 8601, YYYY-MM-DD HH:MM:SS or "
    "Unix seconds or milliseconds)",
    "events.csv line 5: timestamp '1999-12-31T23:00:00Z' is out of range (from 2000 to now)",
    "events.csv line 6: needs user_id or anonymous_id",
    "events.csv line 7: type must be track, page or screen, not 'identify'",
    "events.csv line 8: event is empty",
    "events.csv line 9: timestamp is empty",
    "events.csv line 10: memo is longer than 1,000 characters",
    "events.csv line 11: timestamp '99999999999999999' is out of range (from 2000 to now)",
]


def test_a_bad_row_imports_nothing_and_is_named_by_its_line(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    path = write(tmp_path, BAD_ROWS)
    result = cli("import", "events", str(path), "-w", slug)
    assert result.code == 1
    assert result.out == ""
    assert result.error_lines == [*BAD_ROW_ERRORS, REFUSED.format(n=8)]
    assert event_count(database, slug) == 0


def test_skip_invalid_imports_the_good_rows(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    path = write(tmp_path, BAD_ROWS)
    result = cli("import", "events", str(path), "-w", slug, "--skip-invalid")
    assert (result.code, result.out.strip()) == (
        0,
        "10 rows read, 2 stored, 0 already there, 8 skipped as invalid.",
    )
    assert stored_events(database, slug) == [
        ("track", "Visited", "u-1", datetime(2026, 3, 1, 0, 0, tzinfo=UTC), {"memo": "ok"}),
        ("page", None, "a-9", datetime(2026, 3, 1, 0, 0, tzinfo=UTC), {}),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param(
            "events.csv",
            b"user_id,name,timestamp\nu-1,Visited,2026-03-01 09:00:00\n",
            "error: events.csv: missing column 'event' (the header needs user_id, event, "
            "timestamp).",
            id="no-event-column",
        ),
        pytest.param(
            "events.csv",
            b"user_id\n",
            "error: events.csv: missing columns 'event', 'timestamp' (the header needs user_id, "
            "event, timestamp).",
            id="no-event-and-timestamp-columns",
        ),
        pytest.param("events.csv", b"", "error: events.csv: the file is empty.", id="empty"),
        pytest.param(
            "events.csv", b"\xef\xbb\xbf\n  \n", "error: events.csv: the file is empty.", id="blank"
        ),
        pytest.param(
            "events.jsonl", b"\n", "error: events.jsonl: the file is empty.", id="empty-jsonl"
        ),
        pytest.param(
            "events.csv",
            "user_id,event,timestamp,product\nu-1,조회,2026-03-01 09:00:00,한우\n".encode("cp949"),
            "error: events.csv is not UTF-8 text; save it as UTF-8 (in Excel: CSV UTF-8) and "
            "import it again.",
            id="not-utf-8",
        ),
        pytest.param(
            "events.csv",
            (
                "user_id,event,timestamp,"
                + ",".join(f"p{i}" for i in range(198))
                + "\nu-1,Visited,2026-03-01 09:00:00\n"
            ).encode(),
            "error: events.csv has 201 columns; at most 200 are allowed.",
            id="too-many-columns",
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_one_line_and_imports_nothing(
    cli: Cli, slug: str, database: Database, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = cli("import", "events", str(path), "-w", slug)
    # exit code 1, as every other import error (a missing file, invalid rows) has
    assert (result.code, result.out, result.error_lines) == (1, "", [message])
    assert event_count(database, slug) == 0


def test_two_hundred_columns_are_allowed(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    columns = ",".join(f"p{i}" for i in range(197))
    values = ",".join(str(i) for i in range(197))
    path = write(tmp_path, f"user_id,event,timestamp,{columns}\nu-1,Visited,1772323200,{values}\n")
    assert cli("import", "events", str(path), "-w", slug).code == 0
    [(_, _, _, _, properties)] = stored_events(database, slug)
    assert properties == {f"p{i}": i for i in range(197)}


@pytest.mark.parametrize(
    ("name", "content", "event"),
    [
        pytest.param(
            "history.txt",
            "\n\nuser_id,event,timestamp\nu-1,From CSV,2026-03-01T00:00:00Z\n",
            "From CSV",
            id="csv-sniffed",
        ),
        pytest.param(
            "history.txt",
            '\n  {"type": "track", "userId": "u-1", "event": "From JSON",'
            ' "timestamp": "2026-03-01T00:00:00Z"}\n',
            "From JSON",
            id="json-lines-sniffed",
        ),
        pytest.param(
            "history.ndjson",
            '\ufeff{"type": "track", "userId": "u-1", "event": "With BOM",'
            ' "timestamp": "2026-03-01T00:00:00Z"}\n',
            "With BOM",
            id="ndjson-with-bom",
        ),
    ],
)
def test_the_format_comes_from_the_extension_or_the_first_character(
    cli: Cli, slug: str, database: Database, tmp_path: Path, name: str, content: str, event: str
) -> None:
    path = write(tmp_path, content, name=name)
    result = cli("import", "events", str(path), "-w", slug)
    assert (result.code, result.out.strip()) == (
        0,
        "1 rows read, 1 stored, 0 already there, 0 skipped as invalid.",
    )
    assert stored_events(database, slug) == [
        ("track", event, "u-1", datetime(2026, 3, 1, tzinfo=UTC), {})
    ]
