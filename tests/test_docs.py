"""The README documents every setting and `.env.example` lists them (both generated from portal/config.py)."""
from pathlib import Path

from portal.settings_doc import env_example, settings_markdown

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_settings_table_is_current():
    block = README.split("<!-- settings:start -->\n")[1].split("\n<!-- settings:end -->")[0]
    assert block == settings_markdown(), "run `make readme` to regenerate the configuration table"


def test_env_example_is_current():
    assert (ROOT / ".env.example").read_text() == env_example(), "run `make readme` to regenerate .env.example"


def test_readme_shows_the_two_commands():
    assert "make run" in README and "make test" in README
