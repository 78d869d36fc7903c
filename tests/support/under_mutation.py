"""What changes when the tests run for a mutant (mutmut, started through tests/support/mutate.py).

mutmut runs each mutant's tests with ``-x`` in a child forked from a process that ran them already,
each child a new pytest session: whatever a session costs is paid once per mutant, thousands of times
in a run. So, in a mutant's child only:

- the tests run in the order the module's selection lists their files (mutate.py passes the files in
  MUTATE_SELECTION): the fast, direct tests come first, and a killed mutant costs only the tests that
  ran before the one that killed it. Within a file the order mutmut gives stands (fastest first).
- a moto server started for the session is not stopped (tests/support/moto_server.py): stopping waits
  out the server's half-second poll, and the child's exit ends its thread anyway.
"""

from __future__ import annotations

import json
import os


def mutant_under_test() -> bool:
    """Whether this process runs the tests of a mutant (not mutmut's own runs of the unchanged code)."""
    return "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", "")


def selection_rank(nodeid: str, files: list[str]) -> int:
    """The position in ``files`` of the first file or folder ``nodeid`` belongs to; after all of them if none."""
    path = nodeid.split("::", 1)[0]
    for rank, entry in enumerate(files):
        if path == entry or path.startswith(entry.rstrip("/") + "/"):
            return rank
    return len(files)


def pytest_collection_modifyitems(config, items):
    files = os.environ.get("MUTATE_SELECTION")
    if files and mutant_under_test():
        order = json.loads(files)
        items.sort(key=lambda item: selection_rank(item.nodeid, order))
