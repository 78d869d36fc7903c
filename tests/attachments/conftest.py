"""Fixtures the attachment tests share: a store that breaks mid-upload, a store that refuses deletes."""

from __future__ import annotations

import pytest

from portal.extensions import storage
from portal.storage.base import StorageUnavailable


@pytest.fixture
def deletes_refused(monkeypatch):
    """The store refuses every delete (it went down) until ``state['down']`` is set to False."""
    provider = storage.default
    real_delete, state = provider.delete, {"down": True, "refused": 0}

    def delete(key):
        if state["down"]:
            state["refused"] += 1
            raise StorageUnavailable("the store is unavailable (503); try again later")
        return real_delete(key)

    monkeypatch.setattr(provider, "delete", delete)
    return state


@pytest.fixture
def store_fails_mid_stream(monkeypatch):
    """The store accepts the first file and breaks halfway through the next one."""
    provider = storage.default
    real_save = provider.save
    calls = {"count": 0}

    class Breaking:
        def __init__(self, stream):
            self.stream, self.sent = stream, 0

        def read(self, size=-1):
            if self.sent > 100:
                raise StorageUnavailable("connection to the store was lost")
            chunk = self.stream.read(min(size, 64) if size and size > 0 else 64)
            self.sent += len(chunk)
            return chunk

    def save(key, stream, **kwargs):
        calls["count"] += 1
        if calls["count"] >= 2:
            stream = Breaking(stream)
        return real_save(key, stream, **kwargs)

    monkeypatch.setattr(provider, "save", save)
    return calls
