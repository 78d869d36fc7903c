"""JobResult: what one upkeep job reports to `flask storage maintain` and to the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class JobResult:
    """How a job went: ``ok``, lines for stdout and stderr, and what it counted (items, bytes, problems)."""

    ok: bool = True
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    items: int = 0
    size: int = 0
    problems: int = 0
    #: the errors belong in the summary the dashboard shows (the scrub's findings have their own table there)
    errors_in_summary: bool = True

    @property
    def summary(self) -> str:
        return " ".join(self.lines + (self.errors[:3] if self.errors_in_summary else []))
