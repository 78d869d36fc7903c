"""docs/quick-start.md, run as written: its `sh` blocks in order on a fresh clone, against moto's S3 server."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from portal.settings_doc import PROJECT_ROOT
from tests.support.accounts import csrf_token_from
from tests.support.gunicorn import free_port

GUIDE = PROJECT_ROOT / "docs" / "quick-start.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
ADMIN, PASSWORD = "admin@example.com", "correct horse battery staple"
STEP_TIMEOUT = 120


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(match.group(1), match.group(2)) for match in BLOCK.finditer(text)]


def fresh_clone(target: Path) -> Path:
    """The repository cloned at HEAD, with this working tree's uncommitted changes laid over it."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, check=True, capture_output=True, text=True)
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(PROJECT_ROOT), str(target)], check=True)
    subprocess.run(["git", "checkout", "--quiet", head.stdout.strip()], cwd=target, check=True)
    changed = subprocess.run(
        ["git", "ls-files", "--modified", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, changed):
        source = PROJECT_ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # Step 1's `make install`, without installing anything again: the suite's own virtualenv.
    (target / ".venv").symlink_to(Path(os.path.realpath(PROJECT_ROOT / ".venv")))
    assert not (target / "instance").exists() and not (target / ".env").exists()
    return target


def environment(home: Path, endpoint: str, port: int) -> dict[str, str]:
    """A shell's environment with nothing of the test run's settings in it."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PORT": str(port),
        "MINIO_URL": endpoint,
        "NO_PROXY": "127.0.0.1,localhost",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def run_shell(script: str, cwd: Path, env: dict) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script}\n{output}"
    return output


def serve_and_upload(script: str, cwd: Path, env: dict, names: list[str]) -> str:
    """Start the server the block starts, wait for its ready line, do the page's browser step, stop it."""
    log = cwd / f"server-{env['PORT']}.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {script.strip()}"], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{env['PORT']}/"
        deadline = time.monotonic() + STEP_TIMEOUT
        while f"Document Portal is ready: {base}" not in log.read_text(errors="replace"):
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        browser_upload(base, names)
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        server.wait(timeout=60)
    return log.read_text(errors="replace")


def browser_upload(base: str, names: list[str]) -> None:
    """Sign in as the administrator and create a document with ``names`` attached, as the forms do."""
    with requests.Session() as browser:
        token = csrf_token_from(browser.get(base + "auth/login").text)
        signed_in = browser.post(base + "auth/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": token})
        assert signed_in.ok and "Sign out" in signed_in.text, signed_in.text[:2000]
        token = csrf_token_from(browser.get(base + "documents/new").text)
        files = [("files", (name, os.urandom(3000) + name.encode(), "application/octet-stream")) for name in names]
        saved = browser.post(
            base + "documents/new", data={"title": f"Quick start {names[0]}", "csrf_token": token}, files=files
        )
        assert saved.ok and f"with {len(names)} attachment" in saved.text, saved.text[:2000]


def test_the_quick_start_runs_on_a_fresh_clone(tmp_path, moto_endpoint):
    runnable = [body for language, body in blocks(GUIDE.read_text()) if language == "sh"]
    assert len(runnable) == 6, "the test below walks the page's six `sh` blocks; update both together"
    clone = fresh_clone(tmp_path / "portal")
    env = environment(tmp_path, moto_endpoint, free_port())
    setup, local_server, configure, migrate, store_server, scrub = runnable

    created = run_shell(setup, clone, env)
    assert "Created admin admin@example.com." in created
    serve_and_upload(local_server, clone, env, ["contract.pdf", "scan.png"])
    configured = run_shell(configure, clone, env)
    assert "local: ready" in configured and "minio: ready" in configured
    moved = run_shell(migrate, clone, env)
    assert "2 file(s)" in moved and "Run #1 completed: 2 moved" in moved
    assert "Verified (deep) 2 object(s)" in moved and "2 ok, 0 mismatched." in moved
    env["PORT"] = str(free_port())
    serve_and_upload(store_server, clone, env, ["invoice.pdf"])
    scrubbed = run_shell(scrub, clone, env)
    assert "Scrub: 3 object(s)" in scrubbed and "3 ok, 0 mismatched, 0 missing, 0 unreadable" in scrubbed
    assert "Every object was re-hashed and matched within the last 30 days (3 objects)." in scrubbed
    where = run_shell(".venv/bin/flask --app wsgi storage verify", clone, env)
    assert "3 ok, 0 mismatched." in where  # all three are in the store: verify checks object-storage rows
