"""Mutation testing (mutmut) of the modules where a silent bug loses or leaks data, one module at a time.

``python -m tests.support.mutate [NAME ...]`` (``make mutate``) runs each named module (all when none
is named) in a folder of its own under ``build/mutate/NAME``: links to the project's files, and a
pyproject.toml whose ``[tool.mutmut]`` mutates that one module and selects only the tests that
exercise it (mutmut then narrows further, to the tests that call the mutated function). It prints
killed/survived per module; ``cd build/mutate/NAME && ../../../.venv/bin/mutmut results`` lists the
survivors and ``mutmut show <mutant>`` shows one. docs/testing.md keeps the measured rates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "mutate"
MUTMUT = Path(sys.executable).with_name("mutmut")
#: what the tests read besides the package and themselves
LINKED = ("portal", "tests", "templates", "static", "migrations", "docs", "README.md", "pytest.ini", "wsgi.py")

#: name -> (the module mutated, the tests that exercise it)
MODULES: dict[str, tuple[str, list[str]]] = {
    # Fast, direct tests first: every mutant of a function that all storage calls pass through (check_key)
    # would otherwise run the whole conformance suite against moto's server.
    "storage_checks": ("portal/storage/checks.py", ["tests/storage/test_checks.py", "tests/storage/test_local.py"]),
    "storage_streams": (
        "portal/storage/streams.py",
        ["tests/storage/test_streams.py"],
    ),
    # Direct tests only: the conformance suite runs every mutant against moto's server as well.
    "storage_local": (
        "portal/storage/local.py",
        ["tests/storage/test_local_direct.py", "tests/storage/test_local.py"],
    ),
    "storage_crypto": ("portal/storage/crypto.py", ["tests/crypto"]),
    "storage_encryption": (
        "portal/storage/encryption.py",
        [
            "tests/storage/test_encryption.py",
            "tests/attachments/test_encryption.py",
            "tests/attachments/test_encrypted_verify.py",
        ],
    ),
    # Bare providers under moto's in-process mock_aws: no app, no HTTP server.
    "storage_s3_copy": ("portal/storage/s3_copy.py", ["tests/storage/test_s3_copy.py"]),
    # Bare providers first, then the conformance suite under mock_aws only (its MinIO-profile runs repeat it
    # over HTTP; test_s3 covers that profile). Its local runs call nothing of s3.py, so mutmut skips them.
    "storage_s3": (
        "portal/storage/s3.py",
        [
            "tests/storage/test_s3_operations.py",
            "tests/storage/test_s3_copy.py",
            "tests/storage/test_s3.py",
            "tests/storage/test_conformance.py",
            "-k",
            "not (conformance and minio-http)",
        ],
    ),
    # Direct tests first: a boto3 client under mock_aws with small thresholds, the functions called as the
    # provider calls them; then the provider's own tests and the conformance suite (its S3 kinds).
    "storage_s3_transfer": (
        "portal/storage/s3_transfer.py",
        ["tests/storage/test_s3_transfer.py", "tests/storage/test_s3.py", "tests/storage/test_conformance.py"],
    ),
    "storage_s3_uploads": (
        "portal/storage/s3_uploads.py",
        ["tests/storage/test_s3_uploads.py", "tests/storage/test_conformance.py"],
    ),
    # Direct tests need no store; test_s3.py translates through a provider.
    "storage_s3_errors": (
        "portal/storage/s3_errors.py",
        ["tests/storage/test_s3_errors.py", "tests/storage/test_s3.py"],
    ),
    # On the wire to a scripted endpoint first (fast, and every status and broken answer on cue), then real
    # HTTP to moto's server: the direct requests go out over urllib3 unless a handler answers them.
    "storage_s3_direct": (
        "portal/storage/s3_direct.py",
        ["tests/storage/test_s3_direct_wire.py", "tests/storage/test_s3_direct.py"],
    ),
    # Direct tests on the local disk (object stores as folders) first; test_items.py keeps what only S3 shows.
    "migration_items": (
        "portal/migration/items.py",
        ["tests/migration/test_items_direct.py", "tests/migration/test_items.py"],
    ),
    "migration_verify": (
        "portal/migration/verify.py",
        ["tests/migration/test_verify.py", "tests/attachments/test_encrypted_verify.py"],
    ),
    # Direct tests only: the download pages' tests (test_download_*.py) cost a request, often an upload, each.
    "documents_downloads": ("portal/documents/downloads.py", ["tests/attachments/test_downloads_direct.py"]),
    # Direct tests only: the pages' bad-input tests (tests/attachments/test_bad_input.py) cost a request each.
    "documents_file_rules": ("portal/documents/file_rules.py", ["tests/attachments/test_file_rules.py"]),
    # Direct tests on a set clock: the sign-in page tests (tests/test_lockout.py) cost several requests each.
    "auth_throttle": ("portal/auth/throttle.py", ["tests/test_throttle.py"]),
}


def prepare(name: str) -> Path:
    """The module's folder: fresh links to the project and its own mutmut settings."""
    module, tests = MODULES[name]
    folder = BUILD / name
    folder.mkdir(parents=True, exist_ok=True)
    for entry in LINKED:
        link = folder / entry
        if not link.is_symlink():
            link.symlink_to(ROOT / entry)
    selection = json.dumps(tests)
    (folder / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["portal"]\n'
        f'only_mutate = ["{module}"]\n'
        f"pytest_add_cli_args_test_selection = {selection}\n"
        # the RGW runs need their own daemons and the browser runs Chromium: neither fits a mutant's minute
        'pytest_add_cli_args = ["-m", "not rgw and not browser", "-q"]\n'
        f"also_copy = {json.dumps(list(LINKED[2:]))}\n",
        encoding="utf-8",
    )
    return folder


def run(name: str, children: int) -> dict:
    """Run mutmut over one module; returns its counts (killed, survived, ...)."""
    folder = prepare(name)
    files = [entry for entry in MODULES[name][1] if entry.startswith("tests")]
    env = {**os.environ, "MUTATE_SELECTION": json.dumps(files)}  # read by tests/support/under_mutation.py
    subprocess.run([str(MUTMUT), "run", "--max-children", str(children)], cwd=folder, check=True, env=env)
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    return json.loads((folder / "mutants" / "mutmut-cicd-stats.json").read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    names = argv or list(MODULES)
    unknown = [name for name in names if name not in MODULES]
    if unknown:
        print(f"unknown module {', '.join(unknown)}; choose from: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    children = int(os.environ.get("MUTATE_CHILDREN", "2"))
    rows = []
    started = time.monotonic()
    for name in names:
        module_started = time.monotonic()
        stats = run(name, children)
        minutes = (time.monotonic() - module_started) / 60
        # caught as docs/testing.md counts it: a mutant the tests never finish under is not passed either
        caught = stats["killed"] + stats.get("timeout", 0)
        decided = caught + stats["survived"]
        rate = 100 * caught / decided if decided else 0.0
        rows.append(
            f"{name:22} {MODULES[name][0]:34} killed {stats['killed']:4}  survived {stats['survived']:4}  "
            f"timeout {stats.get('timeout', 0):3}  no tests {stats.get('no_tests', 0):3}  {rate:5.1f}%  "
            f"{minutes:5.1f} min"
        )
    rows.append(f"{len(names)} modules on {children} children in {(time.monotonic() - started) / 60:.1f} min")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
