"""What the storage dashboard calls tables, stores and run states: staff-facing words, not identifiers."""

from __future__ import annotations

#: the file tables, as the dashboard names them
TABLES = {"attachment": "Attachments", "attachment_staging": "Staged uploads (not saved yet)"}
#: where a row's bytes are, by its location ('legacy' is a row from before object storage)
STORES = {
    "legacy": "Local disk (older files)",
    "local": "Local disk",
    "s3": "S3 object store",
    "minio": "MinIO object store",
}
#: the same stores where a store is picked (the run form's source and target lists)
PICKED_STORES = {"local": "Local disk", "s3": "S3", "minio": "MinIO"}
#: a run's state, as shown in its badge
STATES = {
    "running": "Running",
    "cancelling": "Stopping (cancelled)",
    "failing": "Stopping (failed)",
    "stalled": "Stalled",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
#: the colour family of a state: ok (green), warn (amber), bad (red), busy (blue), neutral (grey)
TONES = {
    "running": "busy",
    "cancelling": "neutral",
    "failing": "bad",
    "stalled": "warn",
    "completed": "ok",
    "failed": "bad",
    "cancelled": "neutral",
}


def table_name(table: str) -> str:
    return TABLES.get(table, table)


def store_name(location: str) -> str:
    return STORES.get(location, location)


def run_state_label(state: str, kind: str, failed: int) -> str:
    """'Completed', 'Completed with 3 failures', 'Failed', ...: a run's state in words that do not hide failures."""
    if state == "completed" and failed:
        what = "mismatch" if kind == "verify" else "failure"
        return f"Completed with {failed} {what}{'' if failed == 1 else ('es' if kind == 'verify' else 's')}"
    return STATES.get(state, state)


def run_tone(state: str, failed: int) -> str:
    """The colour family of a run's state; a completed run with failures is amber, never green."""
    if state == "completed" and failed:
        return "warn"
    return TONES.get(state, "neutral")


def register(bp) -> None:
    """Make the names available to every template (as filters and globals)."""
    bp.add_app_template_filter(table_name, "table_name")
    bp.add_app_template_filter(store_name, "store_name")
    bp.add_app_template_global(run_state_label, "run_state_label")
    bp.add_app_template_global(run_tone, "run_tone")
