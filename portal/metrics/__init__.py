"""Prometheus metrics: request counters and latency for every route, /metrics, and the calls features make.

``portal.metrics.hooks.init_metrics(app)`` installs the request hooks and /metrics. The functions below are what
other code calls to count its own events; none of them raises, so counting can never break the work being counted. This module
imports nothing of the portal but its instruments, so the storage layer and the models can call it freely;
database-backed gauges register with ``portal.metrics.database.database_gauge``.
"""

from __future__ import annotations

from portal.metrics import instruments

__all__ = ["count_upload", "count_download", "storage_op", "login_failed", "lockout", "run_finished"]


def _positive(value: float) -> float:
    return value if value > 0 else 0


def count_upload(store: str, nbytes: int) -> None:
    """One uploaded file of ``nbytes`` (plaintext) written to ``store`` ('local', 's3', 'minio')."""
    instruments.UPLOADS.labels(store).inc()
    instruments.UPLOAD_BYTES.labels(store).inc(_positive(nbytes))


def count_download(store: str, nbytes: int) -> None:
    """One download of a ``nbytes`` file from ``store`` (or 'legacy'), redirected or streamed."""
    instruments.DOWNLOADS.labels(store).inc()
    instruments.DOWNLOAD_BYTES.labels(store).inc(_positive(nbytes))


def storage_op(store: str, op: str, outcome: str, seconds: float) -> None:
    """One storage operation ('save', 'open', ...) on ``store`` that ended with ``outcome`` ('ok' or an error
    class name) after ``seconds``."""
    instruments.STORAGE_OPERATIONS.labels(store, op, outcome).inc()
    instruments.STORAGE_DURATION.labels(store, op).observe(_positive(seconds))


def login_failed() -> None:
    """A sign-in refused for its credentials (wrong password, unknown or inactive account)."""
    instruments.LOGIN_FAILURES.inc()


def lockout() -> None:
    """A sign-in refused unchecked because its account or address is in a pause after repeated failures."""
    instruments.LOGIN_LOCKOUTS.inc()


def run_finished(kind: str, status: str) -> None:
    """A migration ('migrate') or verification ('verify') run ended with ``status``."""
    instruments.MIGRATION_RUNS_FINISHED.labels(kind, status).inc()
