"""Settings: read from CXLOOP_* variables, SQLite in the data dir by default, a secret key that
is generated once and kept, and placeholders refused outside development."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from cxloop.core.settings import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("CXLOOP_DATABASE_URL", "CXLOOP_SECRET_KEY", "CXLOOP_REDIS_URL", "CXLOOP_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CXLOOP_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_the_default_database_is_sqlite_in_the_data_dir(clean_env: Path) -> None:
    settings = Settings()
    assert settings.data_dir == clean_env.resolve()
    assert settings.db_url == f"sqlite:///{clean_env.resolve() / 'cxloop.db'}"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.env == "development"


def test_values_come_from_prefixed_variables(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXLOOP_DATABASE_URL", "postgresql+psycopg://u@db.internal/cx")
    monkeypatch.setenv("CXLOOP_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("CXLOOP_SESSION_IDLE_MINUTES", "15")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///ignored.db")  # no prefix: not ours
    settings = Settings()
    assert settings.db_url == "postgresql+psycopg://u@db.internal/cx"
    assert not settings.is_sqlite
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.session_idle_minutes == 15


def test_a_missing_secret_key_is_generated_once_and_kept_private(clean_env: Path) -> None:
    first = Settings().resolved_secret_key()
    second = Settings().resolved_secret_key()
    assert first == second
    assert len(first) >= 40
    path = clean_env / "secret_key"
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_given_secret_key_is_used_as_is(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXLOOP_SECRET_KEY", "a-real-secret-that-is-long-and-random-9f8e7d")
    assert Settings().resolved_secret_key() == "a-real-secret-that-is-long-and-random-9f8e7d"
    assert not (clean_env / "secret_key").exists()


@pytest.mark.parametrize("env", ["production", "test"])
@pytest.mark.parametrize("placeholder", ["changeme", "CHANGE-ME", "secret", " dev "])
def test_a_placeholder_secret_is_refused_outside_development(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: str, placeholder: str
) -> None:
    monkeypatch.setenv("CXLOOP_ENV", env)
    monkeypatch.setenv("CXLOOP_SECRET_KEY", placeholder)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_a_placeholder_secret_is_tolerated_in_development(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXLOOP_SECRET_KEY", "changeme")
    assert Settings().resolved_secret_key() == "changeme"


def test_an_unknown_environment_name_is_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXLOOP_ENV", "staging-ish")
    with pytest.raises(ValidationError):
        Settings()
