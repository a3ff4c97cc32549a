"""Running the `cxloop` command line in the tests: what a run returns, and the workspace a run
created."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cxloop.accounts import service as accounts
from cxloop.core.db import Database


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    @property
    def output(self) -> str:
        """What the run printed, standard output then standard error."""
        return self.out + self.err


Cli = Callable[..., Result]


def workspace_id(database: Database, slug: str) -> int:
    with database.session() as session:
        return accounts.find_workspace(session, slug=slug).id
