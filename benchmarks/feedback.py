"""The CX dashboard with 1,000,000 survey responses stored: each query, and the whole /cx page,
as a ratio to a bare ``SELECT count(*) FROM survey_responses`` in the same run.

    python benchmarks/feedback.py                       # both databases, 1,000,000 responses
    python benchmarks/feedback.py --db sqlite --responses 200000 --repeat 3

It builds a fresh SQLite file and a fresh PostgreSQL database ``cxloop_bench_feedback`` at the
newest migration, bulk-inserts (through Core; COPY on PostgreSQL) a workspace with 50,000
customers (traits region, tier, age band; lifecycle stages), 100,000 orders with their items,
300,000 invitations, and responses spread over two years (95 % in the measured workspace, 5 %
in another) with NPS, CSAT and CES that differ by touchpoint, two rating questions, hidden order
or product ids; then it times each dashboard query (the median of ``--repeat`` runs, after one
warm-up) and the /cx page rendered through the app by a signed-in user. Goals: each query
under 1 s, the page under 2 s. Results go to ``benchmarks/results/feedback-<db>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from _common import drop_pg_database, load_summary, recreate_pg_database
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session

RESULTS = Path(__file__).resolve().parent / "results"
PG_NAME = "cxloop_bench_feedback"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1/{PG_NAME}"
GOAL_QUERY_S = 1.0
GOAL_PAGE_S = 2.0
PASSWORD = "bench-password-0123"
CUSTOMERS = 50_000
ORDERS = 100_000
INVITATIONS = 300_000
CHUNK = 20_000
TOUCHPOINTS = {  # touchpoint → mean NPS, so the breakdown and the drivers have something to find
    "배송": 5.5,
    "상담센터": 8.4,
    "결제": 7.9,
    "앱": 7.2,
    "매장": 8.8,
    "반품": 4.9,
    "웹사이트": 7.6,
    "회원가입": 8.1,
}
CHANNELS = ("email", "widget", "link")
REGIONS = ("서울", "경기", "부산", "대구", "인천", "광주", "대전", "제주")
TIERS = ("bronze", "silver", "gold", "vip")
STAGES = ("lead", "customer", "repeat", "churned")


def _clip(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


# --- building the data -------------------------------------------------------------------------


class Loader:
    """Bulk rows into one table: COPY on PostgreSQL, executemany on SQLite, in chunks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def load(self, table: Any, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> int:
        count = 0
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                count += self._write(table, columns, chunk)
                chunk = []
        if chunk:
            count += self._write(table, columns, chunk)
        return count

    def _write(self, table: Any, columns: Sequence[str], chunk: list[tuple[Any, ...]]) -> int:
        json_columns = {c.name for c in table.columns if "JSON" in type(c.type).__name__.upper()}
        if self.postgres:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()  # type: ignore[attr-defined]
                statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
                with cursor.copy(statement) as copy:
                    for row in chunk:
                        copy.write_row(
                            [
                                json.dumps(v, ensure_ascii=False) if c in json_columns else v
                                for c, v in zip(columns, row, strict=True)
                            ]
                        )
                raw.commit()
            finally:
                raw.close()
        else:
            with self.engine.begin() as conn:
                conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in chunk])
        return len(chunk)


def build(engine: Engine, responses: int, seed: int) -> dict[str, Any]:
    """The dataset; returns the ids and the facts the timing step needs."""
    from cxloop.feedback.surveys.definition import dump_definition, parse_definition
    from cxloop.models import (
        Customer,
        Invitation,
        Order,
        OrderItem,
        Product,
        Response,
        Survey,
        SurveyVersion,
        TextAnalysis,
        Workspace,
    )
    from cxloop.models.base import table_of

    rng = random.Random(seed)
    loader = Loader(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    postgres = loader.postgres
    ws_ids = [1, 2]
    loader.load(
        table_of(Workspace),
        [
            "id",
            "slug",
            "name",
            "timezone",
            "default_currency",
            "identity_keys",
            "churn_after_days",
            "survey_fatigue_days",
            "created_at",
        ],
        iter(
            (
                i,
                f"bench-{i}",
                f"벤치마크 {i}",
                "Asia/Seoul",
                "KRW",
                ["user_id", "email"],
                180,
                30,
                now,
            )
            for i in ws_ids
        ),
    )
    definition = dump_definition(
        parse_definition(
            {
                "questions": [
                    {
                        "id": "nps",
                        "type": "nps",
                        "required": True,
                        "text": {"ko": "추천하시겠어요?", "en": "Would you recommend us?"},
                    },
                    {
                        "id": "csat",
                        "type": "csat",
                        "text": {"ko": "만족하셨나요?", "en": "Satisfied?"},
                    },
                    {"id": "ces", "type": "ces", "text": {"ko": "쉬웠나요?", "en": "Was it easy?"}},
                    {
                        "id": "delivery",
                        "type": "rating",
                        "min": 1,
                        "max": 5,
                        "text": {"ko": "배송 속도", "en": "Delivery speed"},
                    },
                    {
                        "id": "price",
                        "type": "rating",
                        "min": 1,
                        "max": 5,
                        "text": {"ko": "가격", "en": "Price"},
                    },
                ],
                "hidden_fields": ["order_id", "product_id", "touchpoint"],
            },
            kind="nps",
        )
    )
    loader.load(
        table_of(Survey),
        [
            "id",
            "workspace_id",
            "key",
            "name",
            "kind",
            "status",
            "current_version",
            "distribution",
            "owner_team",
            "created_at",
            "updated_at",
        ],
        iter(
            (i, i, "post-purchase", "구매 후 설문", "nps", "live", 1, {}, "cx", now, now)
            for i in ws_ids
        ),
    )
    loader.load(
        table_of(SurveyVersion),
        ["id", "workspace_id", "survey_id", "number", "definition", "created_at"],
        iter((i, i, i, 1, definition, now) for i in ws_ids),
    )
    customers = CUSTOMERS
    loader.load(
        table_of(Customer),
        [
            "id",
            "workspace_id",
            "display_name",
            "traits",
            "lifecycle_stage",
            "touchpoints",
            "event_count",
            "order_count",
            "total_revenue",
            "first_seen_at",
            "last_seen_at",
            "created_at",
            "updated_at",
        ],
        (
            (
                c,
                1 if c <= customers * 0.95 else 2,
                f"고객 {c}",
                {
                    "region": rng.choice(REGIONS),
                    "tier": rng.choice(TIERS),
                    "age_band": f"{rng.choice((20, 30, 40, 50, 60))}대",
                },
                rng.choice(STAGES),
                {},
                0,
                0,
                Decimal(0),
                now - timedelta(days=rng.randrange(730)),
                now - timedelta(days=rng.randrange(365)),
                now,
                now,
            )
            for c in range(1, customers + 1)
        ),
    )
    products = 500
    loader.load(
        table_of(Product),
        ["id", "workspace_id", "external_id", "name", "currency", "properties", "created_at"],
        iter((p, 1, f"P-{p}", f"상품 {p}", "KRW", {}, now) for p in range(1, products + 1)),
    )
    ws1_customers = int(customers * 0.95)

    def orders() -> Iterator[tuple[Any, ...]]:
        for o in range(1, ORDERS + 1):
            yield (
                o,
                1,
                rng.randint(1, ws1_customers),
                f"O-{o}",
                "completed",
                Decimal(rng.randrange(10, 300) * 1000),
                "KRW",
                now - timedelta(days=rng.random() * 730),
                {},
                now,
            )

    loader.load(
        table_of(Order),
        [
            "id",
            "workspace_id",
            "customer_id",
            "external_id",
            "status",
            "total",
            "currency",
            "placed_at",
            "properties",
            "created_at",
        ],
        orders(),
    )
    loader.load(
        table_of(OrderItem),
        ["id", "order_id", "workspace_id", "external_product_id", "name", "price", "quantity"],
        (
            (i, 1 + (i - 1) // 2, 1, f"P-{rng.randint(1, products)}", "", Decimal(10000), 1)
            for i in range(1, 2 * ORDERS + 1)
        ),
    )
    loader.load(
        table_of(Invitation),
        [
            "id",
            "workspace_id",
            "survey_id",
            "customer_id",
            "token_hash",
            "channel",
            "status",
            "hidden",
            "send_at",
            "sent_at",
            "expires_at",
            "created_at",
        ],
        (
            (
                i,
                1,
                1,
                rng.randint(1, ws1_customers),
                f"{i:064x}",
                "email",
                "sent",
                {},
                when,
                when,
                when + timedelta(days=14),
                when,
            )
            for i in range(1, INVITATIONS + 1)
            for when in (now - timedelta(days=rng.random() * 730),)
        ),
    )
    touchpoints = list(TOUCHPOINTS)
    answered = int(INVITATIONS * 0.6)
    commented: list[tuple[int, int, int, int, datetime]] = []

    def rows() -> Iterator[tuple[Any, ...]]:
        for r in range(1, responses + 1):
            ws = 1 if r % 20 else 2
            touchpoint = rng.choice(touchpoints)
            delivery = _clip(rng.gauss(3.2, 1.1), 1, 5)
            price = _clip(rng.gauss(3.5, 1.0), 1, 5)
            nps = _clip(rng.gauss(TOUCHPOINTS[touchpoint] + 0.6 * (delivery - 3), 2.0), 0, 10)
            csat = _clip(rng.gauss(nps / 2.4 + 0.3, 0.8), 1, 5) if r % 3 else None
            ces = _clip(rng.gauss(nps / 2 + 1.5, 1.0), 1, 7) if r % 4 == 0 else None
            when = now - timedelta(days=rng.random() ** 1.3 * 730)
            kind = r % 10
            hidden: dict[str, Any] = {"touchpoint": touchpoint}
            if kind < 3:
                hidden["order_id"] = f"O-{rng.randint(1, ORDERS)}"
            elif kind < 5:
                hidden["product_id"] = f"P-{rng.randint(1, products)}"
            invitation = r if ws == 1 and r <= answered and r % 20 else None
            who = (
                rng.randint(1, ws1_customers)
                if ws == 1
                else rng.randint(ws1_customers + 1, customers)
            )
            if r % 4 == 1 and r % 50:  # a quarter of the completed answers leave a comment
                commented.append((r, ws, who, nps, when))
            yield (
                r,
                ws,
                ws,
                1,
                invitation,
                who,
                rng.choice(CHANNELS),
                touchpoint,
                "ko",
                {"nps": nps, "delivery": delivery, "price": price},
                hidden,
                nps,
                csat,
                ces,
                r % 50 != 0,
                "cxloop",
                when,
                when,
            )

    count = loader.load(
        table_of(Response),
        [
            "id",
            "workspace_id",
            "survey_id",
            "version",
            "invitation_id",
            "customer_id",
            "channel",
            "touchpoint",
            "locale",
            "answers",
            "hidden",
            "nps",
            "csat",
            "ces",
            "completed",
            "source",
            "started_at",
            "submitted_at",
        ],
        rows(),
    )

    def analyses() -> Iterator[tuple[Any, ...]]:
        # What the text pipeline stored for each comment: sentiment follows the score.
        for i, (r, ws, who, nps, when) in enumerate(commented, start=1):
            score = max(-1.0, min(1.0, (nps - 6.5) / 3.5 + rng.gauss(0, 0.25)))
            sentiment = "negative" if score < -0.2 else "positive" if score > 0.2 else "neutral"
            yield (
                *(i, ws, "survey_response", r, who, "ko", sentiment, score, False),
                *([], [], [], [], f"{r:064x}", when, when),
            )

    texts = loader.load(
        table_of(TextAnalysis),
        [
            "id",
            "workspace_id",
            "source_type",
            "source_id",
            "customer_id",
            "lang",
            "sentiment",
            "score",
            "sarcasm",
            "categories",
            "aspects",
            "keywords",
            "corrected",
            "text_hash",
            "occurred_at",
            "analysed_at",
        ],
        analyses(),
    )
    with engine.begin() as conn:
        if postgres:
            for table in (
                "workspaces",
                "surveys",
                "survey_versions",
                "customers",
                "products",
                "orders",
                "order_items",
                "survey_invitations",
                "survey_responses",
                "text_analyses",
            ):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return {"responses": count, "texts": texts, "build_s": time.perf_counter() - t0, "now": now}


# --- timing ------------------------------------------------------------------------------------


def timed(work: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``repeat`` runs after one warm-up run."""
    work()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        work()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def measure(url: str, data_dir: Path, repeat: int) -> list[dict[str, Any]]:
    os.environ["CXLOOP_DATABASE_URL"] = url
    os.environ["CXLOOP_DATA_DIR"] = str(data_dir)
    from fastapi.testclient import TestClient

    from cxloop.accounts import service as accounts
    from cxloop.app import create_app
    from cxloop.core.db import Database
    from cxloop.core.settings import get_settings, reset_settings
    from cxloop.feedback import texts as _survey_texts  # noqa: F401  (touchpoints of comments)
    from cxloop.metrics import dashboard
    from cxloop.models import Workspace
    from cxloop.text.analytics import service as text_analytics

    reset_settings()
    database = Database(url)
    results: list[dict[str, Any]] = []

    with database.session() as session:
        workspace = session.get(Workspace, 1)
        assert workspace is not None
        user = accounts.create_user(
            session, email=f"bench-{time.time_ns()}@example.com", password=PASSWORD, locale="ko"
        )
        accounts.add_member(session, workspace=workspace, user=user, role="viewer")
        email = user.email

    def session_work(work: Callable[[Session, Workspace], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with database.session() as session:
                ws = session.get(Workspace, 1)
                assert ws is not None
                return work(session, ws)

        return run

    def scope(session: Session, ws: Workspace, days: int = 90, survey: int | None = None) -> Any:
        today = datetime.now(UTC).date()
        return dashboard.resolve_scope(
            session,
            workspace=ws,
            first=today - timedelta(days=days - 1),
            last=today,
            survey_id=survey,
        )

    baseline = timed(
        session_work(
            lambda s, _ws: s.execute(text("SELECT count(*) FROM survey_responses")).scalar()
        ),
        repeat,
    )
    results.append({"name": "SELECT count(*) FROM survey_responses", "seconds": baseline})

    queries: list[tuple[str, Callable[[Session, Workspace], Any]]] = [
        (
            "scores with intervals + change, 90 days",
            lambda s, ws: dashboard.period_scores(s, scope=scope(s, ws)),
        ),
        (
            "scores with intervals + change, 365 days",
            lambda s, ws: dashboard.period_scores(s, scope=scope(s, ws, 365)),
        ),
        ("response rate, 90 days", lambda s, ws: dashboard.response_rate(s, scope=scope(s, ws))),
        (
            "52-week trend",
            lambda s, ws: dashboard.score_trend(
                s, workspace_id=ws.id, end=scope(s, ws).end, period="week", count=52
            ),
        ),
        (
            "12-month trend, one survey",
            lambda s, ws: dashboard.score_trend(
                s, workspace_id=ws.id, end=scope(s, ws).end, survey_id=1, period="month", count=12
            ),
        ),
    ]
    for dimension, trait in (
        ("touchpoint", None),
        ("channel", None),
        ("survey", None),
        ("lifecycle_stage", None),
        ("trait", "region"),
        ("product", None),
    ):
        queries.append(
            (
                f"breakdown by {dimension}{' ' + trait if trait else ''}, 90 days",
                lambda s, ws, d=dimension, t=trait: dashboard.breakdown(
                    s, scope=scope(s, ws), dimension=d, trait=t, limit=20
                ),
            )
        )
    queries += [
        (
            "key drivers by touchpoint, 90 days",
            lambda s, ws: dashboard.key_drivers(s, scope=scope(s, ws), source="touchpoint"),
        ),
        (
            "key drivers by question, 90 days",
            lambda s, ws: dashboard.key_drivers(s, scope=scope(s, ws, survey=1), source="question"),
        ),
        (
            "key drivers by touchpoint, 365 days",
            lambda s, ws: dashboard.key_drivers(s, scope=scope(s, ws, 365), source="touchpoint"),
        ),
        (
            "emotion curve, 365 days",
            lambda s, ws: text_analytics.emotion_curve(
                s, workspace_id=ws.id, start=scope(s, ws, 365).start, end=scope(s, ws, 365).end
            ),
        ),
        (
            "business KPIs, 90 days",
            lambda s, ws: dashboard.business_kpis(
                s, workspace=ws, start=scope(s, ws).start, end=scope(s, ws).end
            ),
        ),
    ]
    for name, work in queries:
        results.append({"name": name, "seconds": timed(session_work(work), repeat)})
        print(f"  {name}: {results[-1]['seconds']:.3f} s", flush=True)

    app = create_app(get_settings(), database=database)
    with TestClient(app, base_url="http://testserver") as client:
        login = client.get("/login", headers={"Accept": "text/html"})
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token, "no CSRF token on the login page"
        signed = client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
            headers={"Accept": "text/html"},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text[:300]

        def page() -> None:
            reply = client.get("/cx", headers={"Accept": "text/html"})
            assert reply.status_code == 200 and "svg" in reply.text, reply.text[:300]

        def page_year() -> None:
            today = datetime.now(UTC).date()
            first = (today - timedelta(days=364)).isoformat()
            reply = client.get(
                f"/cx?from={first}&to={today.isoformat()}&dimension=trait&trait=region",
                headers={"Accept": "text/html"},
            )
            assert reply.status_code == 200, reply.text[:300]

        results.append({"name": "/cx page (default: 90 days)", "seconds": timed(page, repeat)})
        results.append(
            {"name": "/cx page, 365 days, by region", "seconds": timed(page_year, repeat)}
        )
    database.dispose()
    for row in results:
        row["ratio"] = row["seconds"] / baseline
    return results


def report(db: str, facts: dict[str, Any], results: list[dict[str, Any]]) -> None:
    print(
        f"\n{db}: {facts['responses']:,} responses and {facts['texts']:,} analysed comments "
        f"built in {facts['build_s']:.0f} s"
    )
    print(f"{'':52} {'seconds':>9} {'× count(*)':>11}  goal")
    for row in results:
        goal = ""
        if row["name"].startswith("/cx"):
            goal = "met" if row["seconds"] < GOAL_PAGE_S else "MISSED"
        elif not row["name"].startswith("SELECT"):
            goal = "met" if row["seconds"] < GOAL_QUERY_S else "MISSED"
        print(f"{row['name']:52} {row['seconds']:9.3f} {row['ratio']:11.2f}  {goal}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    os.environ["CXLOOP_ENV"] = "development"
    os.environ.setdefault("CXLOOP_SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghij")
    for key in ("CXLOOP_REDIS_URL",):
        os.environ.pop(key, None)

    from cxloop.core.db import make_engine
    from cxloop.core.migrate import upgrade

    RESULTS.mkdir(exist_ok=True)
    machine = load_summary()
    print(f"machine: {machine}")
    targets = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    for db in targets:
        data_dir = Path(tempfile.mkdtemp(prefix=f"cxloop-bench-feedback-{db}-"))
        if db == "sqlite":
            url = f"sqlite:///{data_dir / 'cxloop.db'}"
        else:
            recreate_pg_database(PG_NAME)
            url = PG_URL
        try:
            upgrade(url)
            engine = make_engine(url)
            print(f"{db}: building {args.responses:,} responses …", flush=True)
            facts = build(engine, args.responses, args.seed)
            engine.dispose()
            print(f"{db}: built in {facts['build_s']:.0f} s; timing …", flush=True)
            results = measure(url, data_dir, args.repeat)
            report(db, facts, results)
            out = RESULTS / f"feedback-{db}.json"
            out.write_text(
                json.dumps(
                    {
                        "db": db,
                        "responses": facts["responses"],
                        "texts": facts["texts"],
                        "build_s": facts["build_s"],
                        "machine": machine,
                        "when": date.today().isoformat(),
                        "results": results,
                    },
                    ensure_ascii=False,
                    indent=2,
                ),
                encoding="utf-8",
            )
        finally:
            if not args.keep:
                if db == "postgresql":
                    drop_pg_database(PG_NAME)
                shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
