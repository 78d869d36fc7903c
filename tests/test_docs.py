"""The README documents every setting (generated from portal/config.py) and the two commands."""
from pathlib import Path

from portal.config import settings_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_settings_table_is_current():
    block = README.split("<!-- settings:start -->\n")[1].split("\n<!-- settings:end -->")[0]
    assert block == settings_table(), "run `make readme` to regenerate the configuration table"


def test_readme_shows_the_two_commands():
    assert "make run" in README and "make test" in README
