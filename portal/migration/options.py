"""What a run does (MigrationOptions), stored with the run, and the values its options may take."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from portal.migration.errors import MigrationError

#: the stores a run may move files between ('local': the local store, and legacy paths as a source)
STORES = ("local", "s3", "minio")
#: the stores a run may move files to
TARGETS = STORES
#: the object stores
OBJECT_STORES = ("s3", "minio")
#: how a copy is proven: 'auto' (the store's SHA-256 where it keeps one, else read back) or 'readback'
VERIFY_MODES = ("auto", "readback")


@dataclass(frozen=True)
class MigrationOptions:
    """What a run does; stored with the run so that every process working on it does the same.

    Raises MigrationError for a value out of range.
    """

    target: str = "s3"
    #: where the files come from; None is the local disk (legacy paths and the local store), as 'local'
    source: str | None = None
    batch_size: int = 100
    workers: int = 4
    delete_source: bool = False
    include_staging: bool = True
    limit: int | None = None
    verify: str = "auto"
    deep: bool = False
    retry_of: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source == "local":  # one spelling of the local disk, whoever named it
            object.__setattr__(self, "source", None)
        if self.target not in TARGETS:
            raise MigrationError(f"target {self.target!r} is not a store; use one of {', '.join(TARGETS)}")
        if self.source is not None and self.source not in STORES:
            raise MigrationError(f"source {self.source!r} is not a store; use one of {', '.join(STORES)}")
        if self.target == self.source_store:
            raise MigrationError(f"source and target are both {self.target!r}; choose two different stores")
        if not 1 <= self.batch_size <= 10_000:
            raise MigrationError("batch size must be from 1 to 10000")
        if not 1 <= self.workers <= 64:
            raise MigrationError("workers must be from 1 to 64")
        if self.limit is not None and self.limit < 1:
            raise MigrationError("limit must be at least 1")
        if self.verify not in VERIFY_MODES:
            raise MigrationError(f"verify must be one of {', '.join(VERIFY_MODES)}")

    @property
    def source_store(self) -> str:
        """The store files are moved from, by name ('local' when none was given)."""
        return self.source or "local"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> MigrationOptions:
        values = json.loads(text or "{}")
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        return cls(**known)
