"""Settings grouped for the README and `.env.example`: every setting placed, new ones land somewhere sensible."""

from __future__ import annotations

import io
import re

import pytest
from dotenv import dotenv_values

from portal import create_app
from portal.config import SETTINGS, Setting, _text
from portal.settings_doc import (
    DEFAULT_GROUP,
    GROUPS,
    PLACED,
    env_example,
    group_of,
    grouped,
    settings_markdown,
    write_docs,
)


def test_every_setting_is_placed_in_a_group():
    unplaced = [setting.name for setting in SETTINGS if setting.name not in PLACED]
    assert not unplaced, f"add {unplaced} to PLACED in portal/settings_doc.py (must/stores/uploads/security/tuning)"
    assert set(PLACED.values()) <= {key for key, _, _ in GROUPS}
    assert not set(PLACED) - {setting.name for setting in SETTINGS}, "PLACED names a setting that no longer exists"


@pytest.mark.parametrize(
    "name, group",
    [
        ("MINIO_BUCKET", "stores"),
        ("S3_NEW_KNOB", "stores"),
        ("PASSWORD_MIN_LENGTH", "security"),
        ("SESSION_LIFETIME_DAYS", "security"),
        ("TRASH_RETENTION_DAYS", "uploads"),
        ("SOMETHING_ELSE", DEFAULT_GROUP),
    ],
)
def test_a_new_setting_lands_in_a_sensible_group(name, group):
    assert group_of(name) == group
    extra = Setting(name, "", _text, "A setting added later.")
    assert any(extra in members and key == group for (key, _, _), members in grouped((*SETTINGS, extra)))
    assert f"`{name}`" in settings_markdown((*SETTINGS, extra))
    assert f"# {name}=" in env_example((*SETTINGS, extra))


def test_the_must_set_group_comes_first_and_holds_the_essentials():
    (first, members), *_ = grouped()
    assert first[0] == "must"
    assert {s.name for s in members} == {"PORTAL_ENV", "SECRET_KEY", "DATABASE_URL", "STORAGE_TYPE"}


def test_every_setting_appears_once_in_each_output():
    table, example = settings_markdown(), env_example()
    for setting in SETTINGS:
        assert table.count(f"| `{setting.name}` |") == 1
        assert len(re.findall(rf"^(# )?{setting.name}=", example, flags=re.M)) == 1


def test_env_example_never_carries_a_secret_default():
    secret = Setting("API_TOKEN", "do-not-print", _text, "A secret with a default.", secret=True)
    assert "do-not-print" not in env_example((*SETTINGS, secret))


def test_env_example_as_is_starts_a_development_portal(tmp_path):
    values = dotenv_values(stream=io.StringIO(env_example()))
    assert values == {"PORTAL_ENV": "development", "SECRET_KEY": "", "DATABASE_URL": "", "STORAGE_TYPE": "local"}
    app = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=values)
    assert app.config["STORAGE_TYPE"] == "local" and app.config["SECRET_KEY"]


def test_uncommenting_a_line_gives_its_default(tmp_path):
    """Each commented line, uncommented as it stands, is accepted and gives the documented default."""
    environ = dict(re.findall(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", env_example(), flags=re.M))
    assert "METRICS_ALLOW" in environ and "S3_REGION" in environ
    app = create_app({"INSTANCE_PATH": str(tmp_path)}, environ=environ)
    defaults = {setting.name: setting.default for setting in SETTINGS}
    for name in ("METRICS_ALLOW", "S3_REGION", "MAX_UPLOAD_MB", "DOWNLOAD_MODE", "LOG_LEVEL"):
        assert app.config[name] == defaults[name]


def test_write_docs_rewrites_both_files(tmp_path):
    (tmp_path / "README.md").write_text(
        "# Title\n\n<!-- settings:start -->\nstale table\n<!-- settings:end -->\n\nEnd\n"
    )
    write_docs(tmp_path)
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# Title\n\n<!-- settings:start -->\n### Must set") and readme.endswith(
        "<!-- settings:end -->\n\nEnd\n"
    )
    assert "stale table" not in readme
    assert (tmp_path / ".env.example").read_text() == env_example()


def test_write_docs_refuses_a_readme_without_the_block(tmp_path):
    (tmp_path / "README.md").write_text("# Title\n")
    with pytest.raises(SystemExit, match="no <!-- settings:start -->"):
        write_docs(tmp_path)
    assert not (tmp_path / ".env.example").exists()
