"""The migration's errors: a run that cannot start or go on, and a run refused because another is active."""

from __future__ import annotations

from portal.migration.models import MigrationRun
from portal.migration.run_state import progress_percent, run_state


class MigrationError(Exception):
    """A run cannot start or go on; the message says why and what to do."""


class RunConflict(MigrationError):
    """Another run is active; ``run`` is that run (the message points at it)."""

    def __init__(self, run: MigrationRun | None, detail: str = ""):
        self.run = run
        if run is None:
            message = "another run started at the same moment; try again"
        else:
            message = (
                f"run #{run.id} ({run.label}, {progress_percent(run)}% done, {run_state(run)}) is already "
                f"active; follow it at /admin/storage/runs/{run.id}"
            )
        super().__init__(f"{message}{'; ' + detail if detail else ''}")


class WorkerNotStarted(MigrationError):
    """The detached process of a run could not be started; the run has ended as failed."""
