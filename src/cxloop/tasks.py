"""Every background task of cxloop, imported by whatever runs the Huey consumer."""

from cxloop.events import tasks as event_tasks
from cxloop.profiles import tasks as profile_tasks

__all__ = ["event_tasks", "profile_tasks"]
