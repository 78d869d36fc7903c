"""A store's stream as a reader takes it, watched: what was read, and whether it was closed."""

from __future__ import annotations


class Watched:
    """The store's stream in pieces of ``piece`` bytes: what was read, whether it was closed. It does not
    close itself when exhausted (an S3 body does not); a close() closes the stream it wraps too. Kept by
    the test, it is closed only by an explicit close(), never by garbage collection."""

    def __init__(self, chunks, piece: int | None = None):
        self._chunks = iter(chunks)
        self._piece, self._pending = piece, b""
        self.read = 0
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        if not self._pending:
            self._pending = next(self._chunks)
        cut = self._piece or len(self._pending)
        chunk, self._pending = self._pending[:cut], self._pending[cut:]
        self.read += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
