"""Under mutation testing a mutant's tests run in its selection's order; elsewhere pytest's order stands."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import pytest

from tests.support import moto_server
from tests.support.under_mutation import pytest_collection_modifyitems

SELECTION = ["tests/storage/test_s3_operations.py", "tests/crypto", "tests/storage/test_s3.py"]
COLLECTED = [
    "tests/storage/test_s3.py::test_b",
    "tests/test_other.py::test_x",
    "tests/crypto/test_edges.py::test_c",
    "tests/storage/test_s3_operations.py::test_a[1]",
    "tests/storage/test_s3.py::test_a",
    "tests/storage/test_s3_operations.py::test_b",
    "tests/crypto_extra.py::test_y",
]


def ordered(monkeypatch, mutant: str | None, selection: list[str] | None) -> list[str]:
    for name, value in (("MUTANT_UNDER_TEST", mutant), ("MUTATE_SELECTION", selection and json.dumps(selection))):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    items = [SimpleNamespace(nodeid=nodeid) for nodeid in COLLECTED]
    pytest_collection_modifyitems(None, items)
    return [item.nodeid for item in items]


def test_a_mutants_tests_run_file_by_file_in_the_selections_order(monkeypatch):
    assert ordered(monkeypatch, "portal.storage.s3.x_f__mutmut_3", SELECTION) == [
        "tests/storage/test_s3_operations.py::test_a[1]",
        "tests/storage/test_s3_operations.py::test_b",
        "tests/crypto/test_edges.py::test_c",
        "tests/storage/test_s3.py::test_b",
        "tests/storage/test_s3.py::test_a",
        "tests/test_other.py::test_x",
        "tests/crypto_extra.py::test_y",
    ]


@pytest.mark.parametrize(
    ("mutant", "selection"),
    [
        (None, SELECTION),  # an ordinary run
        ("stats", SELECTION),  # mutmut's own runs: recording which tests call what
        ("", SELECTION),
        ("portal.storage.s3.x_f__mutmut_3", None),  # mutmut run by hand, not through make mutate
    ],
)
def test_outside_a_mutants_run_the_order_is_left_alone(monkeypatch, mutant, selection):
    assert ordered(monkeypatch, mutant, selection) == COLLECTED


@pytest.mark.parametrize(("mutant", "still_answers"), [(None, False), ("portal.storage.s3.x_f__mutmut_3", True)])
def test_a_moto_server_is_stopped_except_in_a_mutants_child(monkeypatch, mutant, still_answers):
    if mutant is None:
        monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)
    else:
        monkeypatch.setenv("MUTANT_UNDER_TEST", mutant)
    started = []

    class Recorded(moto_server.ThreadedMotoServer):
        def start(self):
            started.append(self)
            super().start()

    monkeypatch.setattr(moto_server, "ThreadedMotoServer", Recorded)
    with moto_server.running_moto_server() as endpoint:
        host, port = endpoint.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        answered = True
    except ConnectionRefusedError:
        answered = False
    finally:
        if still_answers:
            started[0].stop()  # this process goes on: not a mutant's child
    assert answered is still_answers
