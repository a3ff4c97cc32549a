"""The `cxloop` command line against the (committed) test database: workspaces, users, keys,
imports, export and erasure, and how bad arguments are reported."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from cxloop.accounts import service as accounts
from cxloop.core.db import Database
from cxloop.models import (
    ApiKey,
    ConsentRecord,
    Customer,
    Event,
    Identity,
    Order,
    OrderItem,
    User,
    Workspace,
)
from tests.factories import unique
from tests.helpers.cli import Cli, Result, workspace_id

pytestmark = pytest.mark.usefixtures("database")


def run_cxloop(*args: str) -> Result:
    """Run the installed `cxloop` executable in a child process."""
    executable = Path(sys.executable).parent / "cxloop"
    done = subprocess.run(
        [str(executable), *args], capture_output=True, text=True, env=dict(os.environ), timeout=120
    )
    return Result(done.returncode, done.stdout, done.stderr)


def count(database: Database, model: type, ws: int) -> int:
    with database.session() as session:
        return session.scalar(
            select(func.count()).select_from(model).where(model.workspace_id == ws)  # type: ignore[attr-defined]
        )


# --- workspaces, users, keys ---


def test_workspace_create(cli: Cli, database: Database) -> None:
    name = unique("ws-cli-")
    result = cli("workspace", "create", "강남 본점", "--slug", name)
    ws = workspace_id(database, name)
    assert (result.code, result.out.strip()) == (0, f"Created workspace {name} (id {ws}).")
    with database.session() as session:
        workspace = session.get(Workspace, ws)
        assert workspace is not None
        assert (workspace.name, workspace.timezone, workspace.default_currency) == (
            "강남 본점",
            "Asia/Seoul",
            "KRW",
        )
    listed = cli("workspace", "list")
    assert name in listed.out


@pytest.mark.parametrize(
    ("make_slug", "message"),
    [
        pytest.param(lambda taken: taken, "A workspace named '{slug}' already exists.", id="taken"),
        pytest.param(
            lambda taken: "Bad Slug",
            "Workspace slug 'Bad Slug' may hold only lower-case letters, digits and dashes.",
            id="bad-slug",
        ),
    ],
)
def test_workspace_create_errors(
    cli: Cli, slug: str, make_slug: Callable[[str], str], message: str
) -> None:
    bad = make_slug(slug)
    result = cli("workspace", "create", "Another", "--slug", bad)
    assert result.code == 1
    assert result.error_lines == ["error: " + message.format(slug=bad)]


def test_user_create_with_a_role(cli: Cli, slug: str, database: Database) -> None:
    email = f"{unique('agent')}@Example.com"
    result = cli(
        "user",
        "create",
        "-w",
        slug,
        "--email",
        email,
        "--role",
        "agent",
        "--password",
        "twelve-chars-ok",
        "--name",
        "상담원",
    )
    assert (result.code, result.out.strip()) == (0, f"{email.lower()} is agent of {slug}.")
    ws = workspace_id(database, slug)
    with database.session() as session:
        user = session.scalars(select(User).where(User.email == email.lower())).one()
        assert user.display_name == "상담원"
        assert accounts.role_in(session, user_id=user.id, workspace_id=ws) == "agent"
        assert accounts.authenticate(session, email=email, password="twelve-chars-ok").id == user.id


def test_user_create_reads_the_password_from_the_environment(
    cli: Cli, slug: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXLOOP_PASSWORD", "from-the-environment")
    email = f"{unique('env')}@example.com"
    assert cli("user", "create", "-w", slug, "--email", email, "--role", "viewer").code == 0
    with database.session() as session:
        assert accounts.authenticate(session, email=email, password="from-the-environment")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--password", "short"], "Password must be at least 12 characters.", id="short-password"
        ),
        pytest.param(
            [],
            "Give --password (or CXLOOP_PASSWORD) when not running interactively.",
            id="no-password",
        ),
        pytest.param(
            ["--role", "god", "--password", "long-enough-pw"],
            "Unknown role 'god'; choose one of owner, admin, agent, marketer, analyst, viewer.",
            id="unknown-role",
        ),
    ],
)
def test_user_create_errors_create_no_user(
    cli: Cli,
    slug: str,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("CXLOOP_PASSWORD", raising=False)
    email = f"{unique('nope')}@example.com"
    role = [] if "--role" in args else ["--role", "viewer"]
    result = cli("user", "create", "-w", slug, "--email", email, *role, *args)
    assert (result.code, result.error_lines) == (1, ["error: " + message])
    with database.session() as session:
        assert session.scalar(select(User.id).where(User.email == email)) is None


def test_an_existing_user_joins_another_workspace_without_a_password(
    cli: Cli, slug: str, database: Database
) -> None:
    email = f"{unique('multi')}@example.com"
    cli(
        "user",
        "create",
        "-w",
        slug,
        "--email",
        email,
        "--role",
        "owner",
        "--password",
        "first-password-1",
    )
    other = unique("cli-other-")
    cli("workspace", "create", "Other", "--slug", other)
    result = cli("user", "create", "-w", other, "--email", email, "--role", "analyst")
    assert result.code == 0
    with database.session() as session:
        user = accounts.find_user(session, email=email)
        assert [
            (w.slug, role) for w, role in accounts.memberships_of(session, user_id=user.id)
        ] == sorted(
            [(slug, "owner"), (other, "analyst")],
            key=lambda r: "Other" if r[0] == other else f"Shop {slug}",
        )


def test_key_create_prints_the_secret_once(cli: Cli, slug: str, database: Database) -> None:
    result = cli(
        "key", "create", "-w", slug, "--kind", "api", "--role", "analyst", "--name", "BI export"
    )
    secret = result.out.strip()
    assert result.code == 0
    assert result.out == secret + "\n"
    assert secret.startswith("cxk_") and len(secret) > 40
    assert result.error_lines == [
        f"Created api key {secret[:12]}… (id {result.err.split('(id ')[1].split(')')[0]}); "
        "the secret is shown once:"
    ]
    ws = workspace_id(database, slug)
    with database.session() as session:
        key = accounts.key_for_secret(session, secret=secret, kind="api")
        assert key is not None
        assert (key.role, key.name, key.workspace_id) == ("analyst", "BI export", ws)
        key_id = key.id
    listed = cli("key", "list", "-w", slug)
    assert secret not in listed.out and secret[:12] in listed.out
    assert cli("key", "revoke", "-w", slug, str(key_id)).out.strip() == f"Key {key_id} revoked."
    with database.session() as session:
        assert accounts.key_for_secret(session, secret=secret, kind="api") is None
        assert session.get(ApiKey, key_id).revoked_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--kind", "read"], "--kind must be write or api, not 'read'.", id="kind"),
        pytest.param(
            ["--kind", "write", "--role", "admin"],
            "--role applies to api keys only.",
            id="role-on-write-key",
        ),
        pytest.param(
            ["--kind", "api", "--role", "boss"],
            "Unknown role 'boss'; choose one of owner, admin, agent, marketer, analyst, viewer.",
            id="unknown-role",
        ),
    ],
)
def test_key_create_errors(
    cli: Cli, slug: str, database: Database, args: list[str], message: str
) -> None:
    before = count(database, ApiKey, workspace_id(database, slug))
    result = cli("key", "create", "-w", slug, *args)
    assert (result.code, result.out, result.error_lines) == (1, "", ["error: " + message])
    assert count(database, ApiKey, workspace_id(database, slug)) == before


# --- imports ---

CUSTOMERS = (
    "user_id,email,phone,name,city,consent_marketing_sms\n"
    "c-1,kim@example.com,010-2345-6789,김하늘,서울,true\n"
    "c-2,lee@example.com,,이도윤,부산,false\n"
)


def test_import_customers_twice_stores_nothing_twice(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS, encoding="utf-8")
    first = cli("import", "customers", str(path), "-w", slug)
    second = cli("import", "customers", str(path), "-w", slug)
    assert first.code == second.code == 0
    assert first.out.strip() == "2 rows read, 2 stored, 0 already there, 0 skipped as invalid."
    assert second.out.strip() == "2 rows read, 0 stored, 2 already there, 0 skipped as invalid."
    ws = workspace_id(database, slug)
    with database.session() as session:
        rows = session.execute(
            select(Customer.display_name, Customer.email, Customer.phone)
            .where(Customer.workspace_id == ws)
            .order_by(Customer.id)
        ).all()
    assert rows == [
        ("김하늘", "kim@example.com", "+821023456789"),
        ("이도윤", "lee@example.com", None),
    ]
    assert count(database, ConsentRecord, ws) == 2
    assert count(database, Event, ws) == 2


def test_an_invalid_row_imports_nothing_unless_skip_invalid(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS + ",,,Nobody,대구,true\n", encoding="utf-8")
    ws = workspace_id(database, slug)
    refused = cli("import", "customers", str(path), "-w", slug)
    assert refused.code == 1
    assert refused.error_lines == [
        "customers.csv line 4: needs user_id, email or phone",
        "error: 1 invalid rows; nothing was imported. Fix them, or pass --skip-invalid to "
        "import the valid rows.",
    ]
    assert (count(database, Customer, ws), count(database, Event, ws)) == (0, 0)
    skipped = cli("import", "customers", str(path), "-w", slug, "--skip-invalid")
    assert skipped.code == 0
    assert skipped.out.strip() == "3 rows read, 2 stored, 0 already there, 1 skipped as invalid."
    assert count(database, Customer, ws) == 2


def test_import_orders_keeps_orders_and_items_once(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,user_id,email,placed_at,total,currency,product_id,product_name,category,price,quantity\n"
        "A-1,c-1,,2026-01-05T10:00:00+09:00,32000,KRW,P-1,녹차,tea,12000,2\n"
        "A-1,c-1,,2026-01-05T10:00:00+09:00,32000,KRW,P-2,찻잔,cup,8000,1\n"
        "A-2,,buyer@example.com,2026-02-01T00:00:00Z,5000,KRW,P-1,녹차,tea,5000,1\n",
        encoding="utf-8",
    )
    assert cli("import", "orders", str(path), "-w", slug).code == 0
    again = cli("import", "orders", str(path), "-w", slug)
    assert again.out.strip() == "3 rows read, 0 stored, 2 already there, 0 skipped as invalid."
    ws = workspace_id(database, slug)
    with database.session() as session:
        orders = session.execute(
            select(Order.external_id, Order.total, Order.channel)
            .where(Order.workspace_id == ws)
            .order_by(Order.external_id)
        ).all()
        items = session.execute(
            select(OrderItem.external_product_id, OrderItem.quantity)
            .where(OrderItem.workspace_id == ws)
            .order_by(OrderItem.id)
        ).all()
    assert [(o, int(t), c) for o, t, c in orders] == [
        ("A-1", 32000, "import"),
        ("A-2", 5000, "import"),
    ]
    assert items == [("P-1", 2), ("P-2", 1), ("P-1", 1)]


def test_import_orders_with_a_bad_date_is_refused(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,user_id,placed_at,total\nB-1,c-1,yesterday,100\n", encoding="utf-8")
    result = cli("import", "orders", str(path), "-w", slug)
    assert result.code == 1
    assert result.error_lines[0] == "orders.csv line 2: bad placed_at 'yesterday'"
    assert count(database, Order, workspace_id(database, slug)) == 0


def test_import_events_jsonl(cli: Cli, slug: str, database: Database, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        {"type": "identify", "userId": "u1", "traits": {"name": "Kim"}},
        {
            "type": "track",
            "userId": "u1",
            "event": "Signed Up",
            "timestamp": "2026-01-01T00:00:00Z",
        },
        {"type": "page", "anonymousId": "a1", "name": "Home", "messageId": "fixed-id"},
    ]
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n\n")
    first = cli("import", "events", str(path), "-w", slug)
    second = cli("import", "events", str(path), "-w", slug)
    assert first.out.strip() == "3 rows read, 3 stored, 0 already there, 0 skipped as invalid."
    assert second.out.strip() == "3 rows read, 0 stored, 3 already there, 0 skipped as invalid."
    assert count(database, Event, workspace_id(database, slug)) == 3


def test_import_events_with_bad_lines_is_refused(
    cli: Cli, slug: str, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"type": "track", "userId": "u1", "event": "ok"}\n'
        "{oops\n"
        '{"type": "track", "userId": "u1"}\n',
        encoding="utf-8",
    )
    result = cli("import", "events", str(path), "-w", slug)
    assert result.code == 1
    assert (
        result.error_lines[1]
        == "events.jsonl line 3: event (track): 'event' (the event name) is required"
    )
    assert result.error_lines[0].startswith("events.jsonl line 2: not valid JSON")
    assert result.error_lines[-1].startswith("error: 2 invalid rows; nothing was imported.")
    assert count(database, Event, workspace_id(database, slug)) == 0


# --- export and erase ---


@pytest.fixture
def imported(cli: Cli, slug: str, tmp_path: Path, database: Database) -> int:
    """The id of a customer imported with events and a consent."""
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS, encoding="utf-8")
    cli("import", "customers", str(path), "-w", slug)
    with database.session() as session:
        return session.scalars(
            select(Identity.customer_id).where(
                Identity.workspace_id == workspace_id(database, slug), Identity.value == "c-1"
            )
        ).one()


def test_export_customer_prints_json(cli: Cli, slug: str, imported: int, tmp_path: Path) -> None:
    result = cli("export", "customer", str(imported), "-w", slug)
    data = orjson.loads(result.out)
    assert result.code == 0
    assert (data["customer"]["id"], data["customer"]["display_name"]) == (imported, "김하늘")
    assert sorted(i["value"] for i in data["identities"]) == [
        "+821023456789",
        "c-1",
        "kim@example.com",
    ]
    assert [(c["purpose"], c["channel"], c["granted"]) for c in data["consent_history"]] == [
        ("marketing", "sms", True)
    ]
    assert [e["type"] for e in data["events"]] == ["identify"]
    target = tmp_path / "export.json"
    to_file = cli("export", "customer", str(imported), "-w", slug, "-o", str(target))
    assert (to_file.out, to_file.error_lines) == ("", [f"Wrote {target}"])
    assert orjson.loads(target.read_bytes())["customer"]["id"] == imported


def test_erase_customer_with_yes(cli: Cli, slug: str, imported: int, database: Database) -> None:
    refused = cli("erase", "customer", str(imported), "-w", slug)
    assert (refused.code, refused.error_lines) == (
        1,
        ["error: Pass --yes to erase without a prompt."],
    )
    result = cli("erase", "customer", str(imported), "-w", slug, "--yes")
    assert result.code == 0
    assert " ".join(result.out.split()) == (
        f"Customer {imported} erased: consent_records 1, conversation_messages_scrubbed 0, "
        "conversations_scrubbed 0, events_scrubbed 1, identities 3, "
        "orders_scrubbed 0, outbound_messages_cancelled 0, outbound_messages_scrubbed 0, "
        "survey_responses_scrubbed 0, text_analyses_scrubbed 0"
    )
    with database.session() as session:
        customer = session.get(Customer, imported)
        assert customer is not None
        assert (customer.display_name, customer.email, customer.phone, customer.traits) == (
            None,
            None,
            None,
            {},
        )
        event = session.scalars(select(Event).where(Event.customer_id == imported)).one()
        assert (event.user_id, event.properties) == (None, {})


# --- bad arguments ---


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["bogus"], 2, "error: No such command 'bogus'.", id="unknown-command"),
        pytest.param(
            ["user", "create"],
            2,
            "error: Missing option '--workspace' / '-w'. (see --help)",
            id="missing-option",
        ),
        pytest.param(
            ["export", "customer", "abc", "-w", "x"],
            2,
            "error: Invalid value for 'customer_id'",
            id="not-an-id",
        ),
        pytest.param(
            ["key", "list", "-w", "no-such-workspace"],
            1,
            "error: No workspace named 'no-such-workspace'.",
            id="unknown-workspace",
        ),
        pytest.param(
            ["import", "customers", "/nonexistent/x.csv", "-w", "x"],
            1,
            "error: No such file: /nonexistent/x.csv",
            id="missing-file",
        ),
        pytest.param(
            ["serve", "--port", "0"], 2, "error: Invalid value for '--port'", id="bad-port"
        ),
    ],
)
def test_bad_arguments_give_one_line_and_a_non_zero_exit(
    cli: Cli, args: list[str], code: int, message: str
) -> None:
    result = cli(*args)
    assert result.code == code
    assert result.out == ""
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith(message)


def test_no_arguments_shows_help(cli: Cli) -> None:
    result = cli()
    assert result.code == 0
    assert "Usage" in result.out + result.err


# --- the real executable ---


def test_the_installed_command_reports_errors_in_one_line() -> None:
    result = run_cxloop("key", "create", "-w", "no-such-workspace", "--kind", "api")
    assert (result.code, result.out, result.error_lines) == (
        1,
        "",
        ["error: No workspace named 'no-such-workspace'."],
    )


def test_the_installed_command_merges_moves_and_erases_events(
    database: Database, tmp_path: Path
) -> None:
    # given, in a fresh process, a workspace and events that reveal one person behind two ids
    name = unique("cli-proc-")
    assert run_cxloop("workspace", "create", "Proc", "--slug", name).code == 0
    earlier, later = tmp_path / "earlier.jsonl", tmp_path / "later.jsonl"
    earlier.write_bytes(
        orjson.dumps({"type": "page", "anonymousId": "dev-1", "properties": {"email": "p@x.com"}})
        + b"\n"
        + orjson.dumps({"type": "identify", "userId": "u1", "traits": {"email": "p@example.com"}})
    )
    later.write_bytes(orjson.dumps({"type": "identify", "userId": "u1", "anonymousId": "dev-1"}))
    # (two imports: the merge happens after the first events were stored)
    for path in (earlier, later):
        imported = run_cxloop("import", "events", str(path), "-w", name)
        assert imported.code == 0, imported.err
    ws = workspace_id(database, name)
    with database.session() as session:
        live = session.scalars(
            select(Customer.id).where(
                Customer.workspace_id == ws, Customer.merged_into_id.is_(None)
            )
        ).all()
        on = set(session.scalars(select(Event.customer_id).where(Event.workspace_id == ws)))
    # then the merge moved every event onto the one live profile
    assert len(live) == 1
    assert on == set(live)
    # and erasing it in another fresh process scrubs its events too
    erased = run_cxloop("erase", "customer", str(live[0]), "-w", name, "--yes")
    assert erased.code == 0, erased.err
    assert "events_scrubbed 3" in erased.out
    with database.session() as session:
        events = session.scalars(select(Event).where(Event.workspace_id == ws)).all()
        assert [(e.user_id, e.anonymous_id, e.properties) for e in events] == [
            (None, None, {}),
            (None, None, {}),
            (None, None, {}),
        ]


def test_long_lines_stay_whole_in_a_narrow_terminal(tmp_path: Path) -> None:
    # A password or a key printed by `cxloop demo` must not land on two lines: Rich would wrap
    # at the terminal's width (80 columns when it cannot tell).
    env = {
        **os.environ,
        "COLUMNS": "30",
        "CXLOOP_DATA_DIR": str(tmp_path),
        "CXLOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'narrow.db'}",
    }
    slug = "a-shop-with-a-rather-long-name-that-goes-past-thirty-columns"
    done = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", "workspace", "create", "Shop", "--slug", slug],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.splitlines()[-1].startswith(f"Created workspace {slug} (id ")
