"""A run's progress as numbers (percent, rate, time left), shared by the CLI bar and the dashboard's JSON."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from portal.migration.models import MigrationRun, aware, utcnow
from portal.migration.runs import progress_percent, run_state


@dataclass(frozen=True)
class Progress:
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


def progress_of(run: MigrationRun, engine=None) -> Progress:
    """The numbers for ``run``; the rate is averaged over the run so far, time left follows from it."""
    end = aware(run.finished_at) or utcnow()
    elapsed = max((end - aware(run.started_at or run.created_at)).total_seconds(), 0.0)
    handled = run.items_done + run.items_failed + run.items_skipped
    items_rate = handled / elapsed if elapsed > 0 else 0.0
    bytes_rate = run.bytes_done / elapsed if elapsed > 0 else 0.0
    left = max(run.items_total - handled, 0)
    eta = None
    if run.is_active and items_rate > 0:
        eta = left / items_rate
    elif not run.is_active:
        eta = 0.0
    return Progress(run.id, run.kind, run.label, run.status, run_state(run, engine), not run.is_active,
                    progress_percent(run), run.items_total, run.items_done, run.items_failed, run.items_skipped,
                    run.bytes_total, run.bytes_done, round(elapsed, 3), round(items_rate, 2), round(bytes_rate, 1),
                    None if eta is None else round(eta, 1), run.message)


def human_bytes(size: float) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(progress: Progress, width: int = 24) -> str:
    """`` 42% [##########..............] 840/2000 files, 13.1 MiB/31.3 MiB, 412 files/s, 6.4 MiB/s, 2 failed, ETA 0:03``"""
    filled = int(width * progress.percent / 100)
    handled = progress.items_done + progress.items_failed + progress.items_skipped
    unit = "objects" if progress.kind == "verify" else "files"
    parts = [f"{progress.percent:3d}% [{'#' * filled}{'.' * (width - filled)}] {handled}/{progress.items_total} {unit}",
             f"{human_bytes(progress.bytes_done)}/{human_bytes(progress.bytes_total)}",
             f"{progress.items_per_second:.0f} {unit}/s", f"{human_bytes(progress.bytes_per_second)}/s"]
    if progress.items_failed:
        parts.append(f"{progress.items_failed} {'mismatched' if progress.kind == 'verify' else 'failed'}")
    parts.append(f"ETA {human_seconds(progress.eta_seconds)}")
    return ", ".join(parts)
