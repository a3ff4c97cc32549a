"""Background jobs on Huey: SQLite-backed in the data dir by default, Redis when configured."""

from __future__ import annotations

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey

from cxloop.core.settings import get_settings


def make_huey() -> Huey:
    settings = get_settings()
    if settings.env == "test" and not settings.redis_url:
        return MemoryHuey("cxloop", immediate=True)
    if settings.redis_url:
        return RedisHuey("cxloop", url=settings.redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("cxloop", filename=str(settings.data_dir / "jobs.db"))


huey = make_huey()
