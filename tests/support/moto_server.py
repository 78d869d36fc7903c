"""moto's S3 server on 127.0.0.1 on a free port, for tests that need real HTTP (presigned URLs, timeouts)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto.server import ThreadedMotoServer

from tests.support.under_mutation import mutant_under_test


@contextmanager
def running_moto_server() -> Iterator[str]:
    """Start a ThreadedMotoServer on 127.0.0.1 (port chosen by the OS) and yield its endpoint URL.

    Its buckets live in moto's in-process backends, which ``mock_aws`` also resets when it stops:
    give each test its own bucket.
    """
    # Port 0 lets the kernel pick a free port at bind time, so parallel runs never collide.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        if not mutant_under_test():  # a mutant's child ends with the server's thread (tests/support/under_mutation.py)
            server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The endpoint of one moto server shared by the whole run (a plugin fixture: tests/conftest.py loads this module)."""
    with running_moto_server() as endpoint:
        yield endpoint
