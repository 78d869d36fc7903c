"""LocalStorageProvider: objects as files under one folder, written atomically, served through signed links."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from flask import Response, abort, send_file
from itsdangerous import BadSignature, URLSafeSerializer

from portal.storage.base import (
    CHUNK_SIZE,
    ObjectNotFound,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageProvider,
    StoredObject,
)
from portal.storage.checks import byte_span, check_key, check_metadata, check_sha256
from portal.storage.disposition import content_disposition, file_policy, safe_disposition
from portal.storage.oplog import logged
from portal.storage.streams import ExactSize

# Signed-link tokens use their own salt so no other signed value of the portal can pass for one.
TOKEN_SALT = "portal.storage.local-file"
# Sidecars and temp files start with a dot, which no valid key component may, so they never
# collide with a key and list() can skip them by name alone.
SIDECAR_PREFIX, SIDECAR_SUFFIX = ".", ".meta.json"
TEMP_PREFIX = ".tmp-"


def resolve_key(root: Path, key: str) -> Path:
    """The path of ``key`` under the resolved ``root``: the one guard every local path goes through.

    Raises StorageMisconfigured for a key check_key refuses (``..``, absolute, NUL, ...) or one that
    resolves, through symlinks, outside ``root``.
    """
    path = (root / check_key(key)).resolve()
    if path == root or not path.is_relative_to(root):
        raise StorageMisconfigured(f"unsafe storage key {key[:200]!r}: resolves outside the storage folder")
    return path


def _sidecar(path: Path) -> Path:
    return path.with_name(f"{SIDECAR_PREFIX}{path.name}{SIDECAR_SUFFIX}")


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the directory entry itself is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: what a tampered, cut-short or foreign /files link answers (it is about the link, not the account)
BAD_LINK = (
    "This download link is not valid: it was changed or cut short on the way. "
    "Go back to the document and click its download link again."
)


class _FileChunks:
    """Iterator over part of an open file that closes it when exhausted or closed."""

    def __init__(self, handle: BinaryIO, offset: int, length: int) -> None:
        self._handle, self._left = handle, length
        handle.seek(offset)

    def __iter__(self) -> _FileChunks:
        return self

    def __next__(self) -> bytes:
        if self._left <= 0:
            self.close()
            raise StopIteration
        chunk = self._handle.read(min(CHUNK_SIZE, self._left))
        if not chunk:  # the file shrank under us; stop rather than spin
            self.close()
            raise StopIteration
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        self._left = 0
        self._handle.close()

    __del__ = close


class LocalStorageProvider(StorageProvider):
    """Files under ``root``; each object may have a hidden JSON sidecar holding type, SHA-256 and metadata."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        secret_key: str | list[str] | None = None,
        url_expires: int = 300,
        link_for_token: Callable[[str], str] | None = None,
        name: str = "local",
    ) -> None:
        self.root = Path(root).resolve()
        self.name = name
        self.url_expires = self.link_seconds = url_expires
        # itsdangerous signs with the last key and accepts all of them (SECRET_KEY_FALLBACKS).
        self._secret_keys = [k for k in ([secret_key] if isinstance(secret_key, str) else secret_key or []) if k]
        self._link_for_token = link_for_token or (lambda token: f"/files/{token}")

    @property
    def location(self) -> tuple[str, ...]:
        return ("local", str(self.root))

    def path_for(self, key: str) -> Path:
        """Where ``key`` lives; raises StorageMisconfigured for an unsafe key or a missing storage folder."""
        return resolve_key(self._existing_root(), key)

    def local_path(self, key: str) -> Path:
        """Where ``key`` lives on this disk (path_for: the one guard); the file itself may not exist."""
        return self.path_for(key)

    def _existing_root(self) -> Path:
        # Never create the root on the fly: a missing mount must not silently fill the system disk.
        if not self.root.is_dir():
            raise StorageMisconfigured(f"local storage folder {self.root} does not exist; run `flask storage init`")
        return self.root

    def save(self, key, stream, *, content_type=None, metadata=None, expected_sha256=None, size=None):
        """Write to a temp file beside the target, fsync, then rename over ``key``; nothing partial is left.

        Raises StorageIntegrityError when ``expected_sha256`` or ``size`` does not match.
        """
        with logged(self.name, "save", key) as op:
            metadata, expected = check_metadata(metadata), check_sha256(expected_sha256)
            if size is not None:
                stream = ExactSize(stream, size)
            path = self.path_for(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            size, sha256 = self._write(path, iter(lambda: stream.read(CHUNK_SIZE), b""), expected)
            try:
                self._write_sidecar(
                    path, {"content_type": content_type, "sha256": sha256, "size": size, "metadata": metadata}
                )
            except BaseException:
                path.unlink(missing_ok=True)  # all or nothing: no object without its record
                raise
            op.size = size
            return StoredObject(key, size, sha256, content_type, metadata)

    def _write(self, path: Path, chunks: Iterator[bytes], expected: str | None) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    if chunk is None:
                        raise ValueError("the upload stream returned None; it must be a blocking binary stream")
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            if expected and sha256 != expected:
                raise StorageIntegrityError(f"SHA-256 of the {size} bytes received does not match the expected one")
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(path.parent)
        return size, sha256

    def _read_sidecar(self, path: Path) -> dict:
        try:
            return json.loads(_sidecar(path).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return {}

    def _write_sidecar(self, path: Path, record: dict) -> None:
        sidecar = _sidecar(path)
        data = json.dumps(record, sort_keys=True).encode("utf-8")
        self._write(sidecar, iter([data]), None)

    def open(self, key, byte_range=None):
        """Open ``key`` now (ObjectNotFound before any byte) and yield its bytes, or those of ``byte_range``."""
        with logged(self.name, "open", key) as op:
            path = self.path_for(key)
            try:
                handle = open(path, "rb")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise ObjectNotFound(f"no object at {key!r}") from None
            try:
                offset, length = byte_span(byte_range, os.fstat(handle.fileno()).st_size)
            except BaseException:
                handle.close()
                raise
            op.size = length
            return _FileChunks(handle, offset, length)

    def stat(self, key):
        """Size and modification time from the file; type, SHA-256 and metadata from the sidecar (a
        folder keeps no checksum of its own: store_sha256 is None). Raises ObjectNotFound."""
        with logged(self.name, "stat", key) as op:
            path = self.path_for(key)
            try:
                info = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                raise ObjectNotFound(f"no object at {key!r}") from None
            if not S_ISREG(info.st_mode):
                raise ObjectNotFound(f"no object at {key!r}")
            record = self._read_sidecar(path)
            # A sidecar recorded for other bytes (the file replaced by hand) must not vouch for these.
            sha256 = record.get("sha256") if record.get("size") == info.st_size else None
            op.size = info.st_size
            return StoredObject(
                key,
                info.st_size,
                sha256,
                record.get("content_type"),
                record.get("metadata") or {},
                modified=datetime.fromtimestamp(info.st_mtime, UTC),
            )

    def delete(self, key):
        """Remove the file and its sidecar; a missing key is fine."""
        with logged(self.name, "delete", key):
            path = self.path_for(key)
            for target in (path, _sidecar(path)):
                try:
                    target.unlink()
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    pass

    def copy(self, src_key, dst_key):
        """Copy through a temp file (atomic like save), hashing on the way; raises ObjectNotFound."""
        with logged(self.name, "copy", f"{src_key} -> {dst_key}") as op:
            src, dst = self.path_for(src_key), self.path_for(dst_key)
            try:
                handle = open(src, "rb")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise ObjectNotFound(f"no object at {src_key!r}") from None
            record = self._read_sidecar(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            with handle:
                size, sha256 = self._write(dst, iter(lambda: handle.read(CHUNK_SIZE), b""), None)
            record.update(sha256=sha256, size=size)
            self._write_sidecar(dst, record)
            op.size = size
            return StoredObject(dst_key, size, sha256, record.get("content_type"), record.get("metadata") or {})

    def set_metadata(self, key, metadata):
        """Replace the user metadata in the sidecar; raises ObjectNotFound."""
        with logged(self.name, "set_metadata", key):
            metadata = check_metadata(metadata)
            path = self.path_for(key)
            if not path.is_file():
                raise ObjectNotFound(f"no object at {key!r}")
            record = self._read_sidecar(path)
            # The recorded size stays as it was: it is what lets stat() trust the recorded SHA-256.
            record["metadata"] = metadata
            self._write_sidecar(path, record)

    def list(self, prefix=""):
        """Every file whose key starts with ``prefix``, in key order like S3; skips dot files and symlinks."""
        with logged(self.name, "list", prefix) as op:
            op.size = 0
            for key, entry in self._walk(self._existing_root(), "", prefix):
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # deleted while we walked
                    continue
                op.size += 1
                yield StoredObject(key, size)

    def _walk(self, folder: Path, base: str, prefix: str) -> Iterator[tuple[str, os.DirEntry]]:
        with os.scandir(folder) as listing:
            # A folder sorts as "name/", which puts the whole walk in plain key order.
            entries = sorted(
                ((entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name), entry)
                for entry in listing
                if not entry.name.startswith(".")
            )
        for name, entry in entries:
            key = base + name
            if not (key.startswith(prefix) or prefix.startswith(key)):
                continue
            if name.endswith("/"):
                yield from self._walk(Path(entry.path), key, prefix)
            elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                yield key, entry

    def url(self, key, *, expires_in=None, filename, content_type=None, disposition="attachment"):
        """A signed ``/files/<token>`` link valid for ``expires_in`` seconds (default LOCAL_URL_EXPIRES).

        Raises StorageMisconfigured when no SECRET_KEY is set.
        """
        with logged(self.name, "url", key):
            self.path_for(key)
            if not self._secret_keys:
                raise StorageMisconfigured("SECRET_KEY is not set, so local download links cannot be signed")
            payload = {
                "k": key,
                "f": filename,
                "t": content_type,
                "d": safe_disposition(disposition, content_type),
                "e": int(time.time()) + int(expires_in or self.url_expires),
            }
            return self._link_for_token(self._serializer().dumps(payload))

    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(self._secret_keys, salt=TOKEN_SALT)

    def send(self, token: str) -> Response:
        """The response for GET /files/<token>: 403 tampered, 410 expired, 404 missing, else the file.

        Range and conditional requests are answered by werkzeug (send_file with conditional=True).
        """
        if not self._secret_keys:
            abort(403, description=BAD_LINK)
        try:
            payload = self._serializer().loads(token)
        except BadSignature:
            abort(403, description=BAD_LINK)
        if not isinstance(payload, dict) or not isinstance(payload.get("e"), int):
            abort(403, description=BAD_LINK)
        if payload["e"] < time.time():
            abort(410, description="This download link has expired. Go back to the document and download it again.")
        key = payload.get("k")
        try:
            with logged(self.name, "serve", key) as op:
                path = self.path_for(key)
                if not path.is_file():
                    raise ObjectNotFound(f"no object at {key!r}")
                response = send_file(
                    path,
                    mimetype=payload.get("t") or "application/octet-stream",
                    conditional=True,
                    etag=True,
                    max_age=0,
                )
                op.size = response.content_length
        except (ObjectNotFound, StorageMisconfigured):
            abort(404)
        # The stored type exactly, as S3 answers it (send_file would add a charset to text types).
        response.headers["Content-Type"] = payload.get("t") or "application/octet-stream"
        disposition = safe_disposition(payload.get("d") or "attachment", payload.get("t"))
        response.headers["Content-Disposition"] = content_disposition(payload.get("f") or "download", disposition)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = file_policy(disposition)
        response.headers["Referrer-Policy"] = "no-referrer"
        response.cache_control.private = True
        return response

    def check(self, *, write: bool = True):
        """Raise StorageMisconfigured unless the folder exists and the portal may write to it (``write``) or read
        it."""
        with logged(self.name, "check", None):
            if not self.root.is_dir():
                raise StorageMisconfigured(f"local storage folder {self.root} does not exist; run `flask storage init`")
            if write and not os.access(self.root, os.W_OK | os.X_OK):
                raise StorageMisconfigured(f"local storage folder {self.root} is not writable by the portal")
            if not write and not os.access(self.root, os.R_OK | os.X_OK):
                raise StorageMisconfigured(f"local storage folder {self.root} is not readable by the portal")

    def ensure_ready(self):
        """Create the storage folder (mode 0700 for new folders) if missing, then check it."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.check()
