"""The portal's log reaches stderr from the start, as under gunicorn, where nothing configures logging."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A fresh interpreter: no handler anywhere, as in a gunicorn worker (pytest's own would hide the bug).
SCRIPT = """
import io, sys
from portal import create_app
from portal.extensions import storage
app = create_app({"INSTANCE_PATH": sys.argv[1] + "/instance", "LOCAL_STORAGE_PATH": sys.argv[1] + "/files",
                  "DATABASE_URL": "sqlite:///" + sys.argv[1] + "/portal.db", "SECRET_KEY": "log-test"},
                 environ={"LOG_LEVEL": sys.argv[2]})
with app.app_context():
    if "--upgrade" in sys.argv:
        from flask_migrate import upgrade
        upgrade()
    storage.get("local").ensure_ready()
    storage.get("local").save("attachments/logged.txt", io.BytesIO(b"hello"))
"""


def run(tmp_path: Path, level: str, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), level, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_storage_info_lines_show_before_any_warning(tmp_path):
    line = next(line for line in run(tmp_path, "info").splitlines() if "storage op=save" in line)
    assert "INFO" in line and 'provider=local key="attachments/logged.txt" size=5' in line


def test_log_level_still_decides(tmp_path):
    assert "storage op=save" not in run(tmp_path, "warning")


def test_a_migration_run_in_the_process_leaves_each_line_once(tmp_path):
    """Alembic's logging set-up runs inside the process (tests, `flask db upgrade`): it must not give the root
    logger a handler that repeats every portal line."""
    lines = run(tmp_path, "info", "--upgrade").splitlines()
    assert any("Running upgrade" in line and "[alembic" in line for line in lines)  # alembic still says what it does
    assert len([line for line in lines if "storage op=save" in line]) == 1
