"""Local -> object storage migration: one engine (DocumentMigrationService) behind the CLI and the dashboard.

Imports are lazy so that ``portal.models`` can register this package's models without pulling in
the engine (which itself imports ``portal.models``).
"""
from __future__ import annotations

from typing import Any

__all__ = ["DocumentMigrationService", "MigrationOptions", "RunConflict", "MigrationError"]


def __getattr__(name: str) -> Any:
    if name == "DocumentMigrationService":
        from portal.migration.engine import DocumentMigrationService

        return DocumentMigrationService
    if name in ("MigrationOptions", "RunConflict", "MigrationError"):
        from portal.migration import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'portal.migration' has no attribute {name!r}")
