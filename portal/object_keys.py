"""Object keys the portal writes: their prefixes, a fresh upload's key and a migrated row's key."""

from __future__ import annotations

import uuid
from datetime import datetime

#: the key prefix of each file table's objects
TABLE_PREFIXES = {"attachment": "attachments", "attachment_staging": "staging"}
#: every prefix the portal writes under (`flask storage orphans` lists these)
PREFIXES = tuple(f"{prefix}/" for prefix in TABLE_PREFIXES.values())
#: where `--delete-source` keeps a migrated object inside its own bucket until `flask storage purge-quarantine`
QUARANTINE_PREFIX = "quarantine/"


def upload_key(prefix: str, now: datetime) -> str:
    """A fresh key such as ``attachments/2026/11/3f2a...``; never derived from user input.

    Raises ValueError for a prefix that is not one of TABLE_PREFIXES (orphans would never see its objects).
    """
    if prefix not in TABLE_PREFIXES.values():
        raise ValueError(f"{prefix!r} is not an object key prefix; use one of {', '.join(TABLE_PREFIXES.values())}")
    return f"{prefix}/{now:%Y/%m}/{uuid.uuid4().hex}"


def migrated_key(table: str, row_id: int, sha256: str) -> str:
    """The object key of a migrated row: the same for the same row and bytes, so a retry overwrites its own
    object instead of leaving a second one (``attachments/migrated/<id>/<sha256>``)."""
    return f"{TABLE_PREFIXES[table]}/migrated/{row_id}/{sha256}"


def quarantine_key(key: str, now: datetime) -> str:
    """Where an object store keeps ``key`` once its row moved elsewhere: ``quarantine/<UTC time>/<key>``,
    so the same key quarantined twice keeps both, and restoring is a copy back to ``key``."""
    return f"{QUARANTINE_PREFIX}{now:%Y%m%dT%H%M%S%fZ}/{key}"
