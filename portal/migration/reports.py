"""What the migration service answers besides runs: progress, a dry run, a verification, the run a CLI works on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from portal.migration.models import MigrationRun
from portal.migration.verify import Problem


@dataclass(frozen=True)
class Progress:
    """One run's counts, rates, time left and state, as read at one moment."""

    id: int
    kind: str
    label: str
    status: str
    state: str
    finished: bool
    percent: int
    items_total: int
    items_done: int
    items_failed: int
    items_skipped: int
    bytes_total: int
    bytes_done: int
    elapsed_seconds: float
    items_per_second: float
    bytes_per_second: float
    eta_seconds: float | None
    message: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DryRunReport:
    """What a run with these options would move, and which rows would fail because their file is gone."""

    files: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    missing_count: int = 0
    missing: list[tuple[str, int, str, str]] = field(default_factory=list)  # table, id, source, reason

    @property
    def total_files(self) -> int:
        return sum(self.files.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


@dataclass
class VerifyReport:
    """Rows checked, how many were right, and the first problems found (all of them counted)."""

    checked: int = 0
    ok: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.problem_count == 0


@dataclass(frozen=True)
class RunChoice:
    """The run a `flask storage migrate` process works on, and how it came to it: 'given' (--run-id),
    'resumed' (active, no live process), 'joined' (active, --join), 'joined-new' (another process
    started it at the same moment, --join) or 'new'."""

    run: MigrationRun
    how: str
