"""A byte-rate limit for reads: the scrub reads through it so that the stores keep serving downloads."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from portal.storage.base import StorageProvider


class ByteRate:
    """At most ``rate`` bytes per second on average since the first byte: each chunk read ahead of that
    pace is followed by a sleep until the pace is kept. ``clock`` and ``sleep`` are injectable for tests."""

    def __init__(
        self,
        rate: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate <= 0:
            raise ValueError("a byte rate must be above zero")
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.started: float | None = None
        self.spent = 0

    def spend(self, nbytes: int) -> None:
        """Account for ``nbytes`` just read; sleep as long as they came early."""
        if self.started is None:
            self.started = self.clock()
        self.spent += nbytes
        ahead = self.spent / self.rate - (self.clock() - self.started)
        if ahead > 0:
            self.sleep(ahead)

    def metered(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """``chunks``, paced; closes them however the reader stops."""
        try:
            for chunk in chunks:
                yield chunk
                self.spend(len(chunk))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


class Throttled:
    """``provider`` with every read paced by ``limit`` (open and read_back; decryption reads through open).

    Everything else (stat, exists, ...) is the provider's own.
    """

    def __init__(self, provider: StorageProvider, limit: ByteRate):
        self.provider, self.limit = provider, limit

    def __getattr__(self, name: str):
        return getattr(self.provider, name)

    def open(self, key: str, byte_range: tuple[int, int] | None = None) -> Iterator[bytes]:
        return self.limit.metered(self.provider.open(key, byte_range))

    def read_back(self, key: str) -> tuple[int, str]:
        """The provider's own read-back (S3's direct GET, its log line and metrics), paced."""
        return self.provider.read_back(key, through=self.limit.metered)
