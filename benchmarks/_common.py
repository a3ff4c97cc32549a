"""Shared plumbing of the benchmarks: a real ``cxloop serve`` subprocess with its resource use
sampled, the CLI, a private PostgreSQL database and bulk loads into it, HTTP load from a few
client threads."""

from __future__ import annotations

import io
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import psutil

if TYPE_CHECKING:
    from sqlalchemy import Engine

HOST = "127.0.0.1"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1/postgres"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, database_url: str) -> dict[str, str]:
    """The environment of a benchmark server: only our own data dir and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXLOOP_")}
    env["CXLOOP_DATA_DIR"] = str(data_dir)
    env["CXLOOP_DATABASE_URL"] = database_url
    env["CXLOOP_ENV"] = "development"
    # The benchmarks measure what one server takes in through one write key, not the limit put
    # on a key (its default would refuse their load within seconds); the limit is still counted.
    env["CXLOOP_INGEST_WRITE_KEY_LIMIT"] = "1000000000 per minute"
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run ``cxloop <args>`` and return its stdout; a failure stops the benchmark."""
    done = subprocess.run(
        [sys.executable, "-m", "cxloop.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cxloop {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def recreate_pg_database(name: str) -> None:
    """Drop and create a database of our own on the shared server (never ``test``)."""
    import psycopg

    assert name not in ("postgres", "test", "template0", "template1")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def pg_database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def drop_pg_database(name: str) -> None:
    import psycopg

    assert name not in ("postgres", "test", "template0", "template1")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- bulk loads --------------------------------------------------------------------------------


def stamp(seconds: np.ndarray, postgres: bool) -> list[str]:
    """Epoch seconds as the text each database stores a UTC time as."""
    moments = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    moments = np.char.replace(moments, "T", " ")
    return np.char.add(moments, "+00" if postgres else ".000000").tolist()


def bulk_load(
    engine: Engine,
    table: str,
    columns: list[str],
    rows: list[list[Any]],
    *,
    chunk: int = 200_000,
) -> None:
    """Rows as columns of equal length, ``chunk`` rows per transaction: COPY on PostgreSQL
    (text format: a NULL is ``\\N``), executemany on SQLite (a NULL is None)."""
    n = len(rows[0])
    for lo in range(0, n, chunk):
        part = [column[lo : lo + chunk] for column in rows]
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            if engine.dialect.name == "postgresql":
                buffer = io.StringIO()
                for values in zip(*part, strict=True):
                    buffer.write("\t".join(str(v) for v in values) + "\n")
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
            else:
                marks = ", ".join("?" * len(columns))
                cursor.execute("BEGIN")  # the engine's SQLite connections run in autocommit
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    zip(*part, strict=True),
                )
            raw.commit()
        finally:
            raw.close()


def without_event_indexes(engine: Engine) -> Callable[[], None]:
    """Drop the events table's secondary indexes and unique constraint (PostgreSQL) and return
    what builds them again."""
    from sqlalchemy import text

    if engine.dialect.name != "postgresql":
        return lambda: None
    with engine.begin() as conn:
        constraints = conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'events'::regclass AND contype = 'u'"
            )
        ).all()
        indexes = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events' "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint "
                "WHERE conrelid = 'events'::regclass)"
            )
        ).all()
        for name, _ in constraints:
            conn.execute(text(f'ALTER TABLE events DROP CONSTRAINT "{name}"'))
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))

    def rebuild() -> None:
        with engine.begin() as conn:
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
            for name, definition in constraints:
                conn.execute(text(f'ALTER TABLE events ADD CONSTRAINT "{name}" {definition}'))
            for _, definition in indexes:
                conn.execute(text(definition))

    return rebuild


# --- the server under test ---------------------------------------------------------------------


class Sampler(threading.Thread):
    """Samples RSS and CPU time of a process and its children every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (t, rss bytes, cpu seconds)
        self._stop_event = threading.Event()

    def _measure(self) -> tuple[float, float] | None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        rss = cpu = 0.0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
                    cpu += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return rss, cpu

    def cpu_now(self) -> float:
        """CPU seconds the process tree has used so far."""
        measured = self._measure()
        return measured[1] if measured else 0.0

    def sample(self) -> None:
        measured = self._measure()
        if measured is not None:
            self.samples.append((time.perf_counter(), *measured))

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def peak_between(self, start: float, end: float) -> float:
        """Peak RSS (MB) between two ``perf_counter`` instants."""
        return max((s[1] for s in self.samples if start <= s[0] <= end), default=0.0) / 2**20

    @property
    def peak_rss_mb(self) -> float:
        return max((s[1] for s in self.samples), default=0.0) / 2**20


class Server:
    """``cxloop serve`` in a subprocess on a free local port, with a resource sampler."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.sampler: Sampler | None = None

    def __enter__(self) -> Server:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cxloop.cli", "serve", "--host", HOST, "--port", str(self.port)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.sampler = Sampler(self.process.pid)
        self.sampler.start()
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start in 60 s; see {self.log_path}")
            time.sleep(0.2)
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.process is not None and self.sampler is not None
        self.sampler.stop()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


# --- client load -------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int = 0
    ok: int = 0
    # Requests without an answer (timeout, reset connection): the server may have stored them.
    unanswered: int = 0
    elapsed: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def post_all(
    url: str,
    bodies: Sequence[bytes],
    *,
    workers: int,
    headers: dict[str, str],
    time_limit: float,
) -> LoadResult:
    """POST each pre-serialised body once from ``workers`` threads (keep-alive connections),
    stopping early after ``time_limit`` seconds; each latency is one request's round trip."""
    counter = itertools.count()
    result = LoadResult()
    lock = threading.Lock()
    deadline = time.perf_counter() + time_limit

    def work() -> None:
        latencies: list[float] = []
        ok = sent = unanswered = 0
        errors: list[str] = []
        with httpx.Client(headers=headers, timeout=120) as client:
            while True:
                i = next(counter)
                if i >= len(bodies) or time.perf_counter() > deadline:
                    break
                t0 = time.perf_counter()
                try:
                    response = client.post(url, content=bodies[i])
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    sent += 1
                    unanswered += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                sent += 1
                if response.status_code == 200:
                    ok += 1
                else:
                    errors.append(f"HTTP {response.status_code}: {response.text[:300]}")
        with lock:
            result.latencies_ms.extend(latencies)
            result.ok += ok
            result.unanswered += unanswered
            result.requests += sent
            result.errors.extend(errors)

    threads = [threading.Thread(target=work, name=f"client-{n}") for n in range(workers)]
    result.started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.ended = time.perf_counter()
    result.elapsed = result.ended - result.started
    return result


def process_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def load_summary() -> dict[str, Any]:
    """What else the machine was doing: CPU count and load averages when the run started."""
    one, five, fifteen = os.getloadavg()
    return {
        "cpus": psutil.cpu_count(),
        "loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }
