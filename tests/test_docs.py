"""The README documents every setting and the two commands."""
from pathlib import Path

from portal.config import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table():
    missing = [s.name for s in SETTINGS if f"| `{s.name}` |" not in README]
    assert missing == []


def test_readme_shows_the_two_commands():
    assert "make run" in README and "make test" in README
