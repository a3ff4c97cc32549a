"""What the phases of one demo build share, and their progress bars."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from random import Random

from rich.progress import Progress, TaskID

from cxloop.core.db import Database
from cxloop.demo.calendar import Calendar
from cxloop.demo.catalogue import Catalogue
from cxloop.demo.people import Person


class Task:
    """One phase's progress bar (nothing at all without a ``Progress``)."""

    def __init__(self, progress: Progress | None, description: str, total: float | None) -> None:
        self.progress = progress
        self.task_id: TaskID | None = (
            progress.add_task(description, total=total) if progress is not None else None
        )

    def advance(self, amount: float = 1) -> None:
        if self.progress is not None and self.task_id is not None:
            self.progress.advance(self.task_id, amount)

    def finish(self) -> None:
        if self.progress is not None and self.task_id is not None:
            task = self.progress.tasks[self.task_id]
            self.progress.update(self.task_id, total=task.completed, completed=task.completed)


@dataclass
class DemoContext:
    """The state one build passes from phase to phase."""

    database: Database
    seed: int
    members: int
    now: datetime
    calendar: Calendar
    progress: Progress | None = None
    workspace_id: int = 0
    owner_id: int = 0
    catalogue: Catalogue | None = None
    people: list[Person] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    def rng(self, phase: str) -> Random:
        """A random stream of its own per phase, so a phase added later changes no other."""
        return Random(f"cxloop-demo:{self.seed}:{phase}")

    def task(self, description: str, total: float | None) -> Task:
        return Task(self.progress, description, total)

    @property
    def members_only(self) -> list[Person]:
        return [p for p in self.people if p.is_member]
