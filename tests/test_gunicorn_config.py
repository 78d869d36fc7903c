"""gunicorn.conf.py is read by any gunicorn started in the project folder: an app that is not the portal (the
download benchmark's bare redirect app, say) must start and serve under it too."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.gunicorn import free_port

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = """
from flask import Flask
app = Flask(__name__)
@app.get("/")
def hello():
    return "hello"
"""


def test_an_app_that_is_not_the_portal_starts_under_the_config(tmp_path):
    (tmp_path / "bare_app.py").write_text(BARE_APP)
    port, log = free_port(), tmp_path / "gunicorn.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "--chdir", str(tmp_path)]
            + ["--workers", "1", "--bind", f"127.0.0.1:{port}", "bare_app:app"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except requests.RequestException:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert answer.status_code == 200 and answer.text == "hello"
        time.sleep(1)  # the first worker's post_worker_init has run by now: it must not have killed the worker
        assert process.poll() is None, log.read_text()
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "hello"
    finally:
        process.terminate()
        process.wait(timeout=30)
