"""The one log line every storage operation writes: what, where, how big, how long, how it ended."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.exceptions import ClientDisconnected

from portal import metrics
from portal.storage.base import ObjectNotFound, StorageError

logger = logging.getLogger("portal.storage")

#: what reading an upload raises when its client went away (the tab closed, the network dropped)
CLIENT_GONE = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ClientDisconnected)


class OpRecord:
    """Filled in by the operation while it runs (the size once it is known)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size: int | None = None


def _quote(key: str | None) -> str:
    # JSON quoting keeps a hostile key (newlines, spaces) on one parseable line.
    return "-" if key is None else json.dumps(key, ensure_ascii=False)


@contextmanager
def logged(provider: str, op: str, key: str | None) -> Iterator[OpRecord]:
    """Time the block and log one line when it ends, with the exception class name as the outcome.

    Never logs an exception's message, a URL or a credential; re-raises whatever the block raised.
    """
    record = OpRecord()
    start = time.perf_counter()
    outcome, level = "ok", logging.INFO
    try:
        yield record
    except GeneratorExit:
        outcome = "closed"  # a listing the caller stopped reading early
        raise
    except BaseException as exc:
        outcome = type(exc).__name__
        # A missing key is an everyday answer (exists(), delete of a gone file), not a warning; nor is
        # a client that closed its tab mid-upload (its stream breaks under save()).
        if not isinstance(exc, (ObjectNotFound, *CLIENT_GONE)):
            level = logging.WARNING if isinstance(exc, StorageError) else logging.ERROR
        raise
    finally:
        ms = (time.perf_counter() - start) * 1000
        metrics.storage_op(provider, op, outcome, ms / 1000)
        size = "-" if record.size is None else str(record.size)
        logger.log(
            level,
            "storage op=%s provider=%s key=%s size=%s ms=%.1f outcome=%s",
            op,
            provider,
            _quote(key),
            size,
            ms,
            outcome,
            extra={
                "storage": {
                    "op": op,
                    "provider": provider,
                    "key": key,
                    "size": record.size,
                    "ms": round(ms, 1),
                    "outcome": outcome,
                }
            },
        )
