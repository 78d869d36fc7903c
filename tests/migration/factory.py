"""Rows and files as the portal had them before object storage: legacy paths, the local store, staging."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from portal.extensions import db, storage
from portal.models import Attachment, AttachmentStaging, Document

MODELS = {"attachment": Attachment, "attachment_staging": AttachmentStaging}


def payload(size: int = 4096, seed: int | None = None) -> bytes:
    """Random-looking bytes (distinct per call unless ``seed`` repeats)."""
    if seed is None:
        return os.urandom(size)
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // 32 + 1))[:size]


class Files:
    """Creates documents and file rows the way each generation of the portal stored them."""

    def __init__(self, app):
        self.app = app
        self.legacy_root = Path(app.config["LEGACY_FILES_ROOT"])
        self.legacy_root.mkdir(parents=True, exist_ok=True)
        self._document: Document | None = None

    def document(self) -> Document:
        if self._document is None:
            self._document = Document(title="Contracts 2019", description="")
            db.session.add(self._document)
            db.session.commit()
        return self._document

    def _row(self, table: str, **columns):
        model = MODELS[table]
        if table == "attachment":
            columns["document_id"] = self.document().id
        row = model(content_type=columns.pop("content_type", "application/pdf"), **columns)
        db.session.add(row)
        db.session.commit()
        return row

    def legacy(
        self,
        data: bytes,
        *,
        table: str = "attachment",
        name: str = "scan.pdf",
        path: str | None = None,
        with_sha256: bool = False,
        size: int | None = None,
        encryption: str | None = None,
    ):
        """A row with only a legacy filepath (relative to LEGACY_FILES_ROOT), its file written there."""
        path = path or f"legacy/{uuid.uuid4().hex[:8]}/{name}"
        target = self.legacy_root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return self._row(
            table,
            filename=name,
            size=len(data) if size is None else size,
            filepath=path,
            sha256=hashlib.sha256(data).hexdigest() if with_sha256 else None,
            encryption=encryption,
        )

    def local(self, data: bytes, *, table: str = "attachment", name: str = "photo.png", metadata=None):
        """A row already in the local store (storage_type 'local', storage_path set)."""
        key = f"{'attachments' if table == 'attachment' else 'staging'}/2026/11/{uuid.uuid4().hex}"
        stored = storage.get("local").save(key, _Stream(data), content_type="image/png", metadata=metadata or {})
        return self._row(
            table,
            filename=name,
            content_type="image/png",
            size=stored.size,
            sha256=stored.sha256,
            storage_path=key,
            storage_type="local",
        )

    def in_store(self, data: bytes, provider, *, table: str = "attachment", size: int | None = None, encryption=None):
        """A row whose bytes ``provider`` (an object store) holds; an encrypted row's ``data`` is its ciphertext,
        ``size`` its plaintext's."""
        key = f"{'attachments' if table == 'attachment' else 'staging'}/2026/11/{uuid.uuid4().hex}"
        stored = provider.save(key, _Stream(data), content_type="application/pdf")
        return self._row(
            table,
            filename="report.pdf",
            size=len(data) if size is None else size,
            sha256=None if encryption else stored.sha256,
            storage_path=key,
            storage_type=provider.name,
            encryption=encryption,
        )

    def path_of(self, row) -> Path:
        return self.legacy_root / row.filepath


class _Stream:
    def __init__(self, data: bytes):
        self._data, self._offset = data, 0

    def read(self, amount: int = -1) -> bytes:
        end = len(self._data) if amount is None or amount < 0 else self._offset + amount
        chunk, self._offset = self._data[self._offset : end], min(end, len(self._data))
        return chunk


def many_legacy(files: Files, count: int, size: int = 1024, table: str = "attachment") -> dict[int, bytes]:
    """``count`` legacy rows and files in one transaction; returns {row id: bytes}."""
    model = MODELS[table]
    rows, contents = [], []
    for number in range(count):
        data = payload(size, seed=f"{table}-{number}-{uuid.uuid4().hex}")
        path = f"bulk/{uuid.uuid4().hex[:2]}/{uuid.uuid4().hex}.bin"
        target = files.legacy_root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        extra = {"document_id": files.document().id} if table == "attachment" else {}
        rows.append(
            model(
                filename=f"file-{number}.bin",
                content_type="application/octet-stream",
                size=size,
                filepath=path,
                **extra,
            )
        )
        contents.append(data)
    db.session.add_all(rows)
    db.session.commit()
    return {row.id: data for row, data in zip(rows, contents, strict=True)}
