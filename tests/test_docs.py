"""The README documents every setting and `.env.example` lists them (both generated from portal/config.py)."""

import re
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


def test_readme_tells_a_newcomer_how_to_run_it():
    assert "make run PORT=" in README and "HOST=0.0.0.0" in README
    assert ".venv/bin/flask --app wsgi" in README and ". .venv/bin/activate" in README
    assert "Document Portal is ready: http://127.0.0.1:5000/" in README
    assert "cp .env.example .env" in README


def test_readme_production_steps_serve_without_the_shared_socket_and_schedule_upkeep():
    production = README.split("## Running in production")[1].split("\n## ")[0]
    assert "gunicorn --config gunicorn.conf.py --no-control-socket" in production
    assert "storage maintain" in production and "hourly" in production
    makefile = (ROOT / "Makefile").read_text()
    assert "gunicorn --config gunicorn.conf.py --no-control-socket" in makefile


def test_database_doc_lists_every_revision():
    """docs/database.md's revision table names each revision under migrations/versions/, in order."""
    import re

    doc = (ROOT / "docs" / "database.md").read_text()
    listed = re.findall(r"^\| `(\d{4}_\w+)` \|", doc, flags=re.M)
    revisions = sorted(
        re.search(r'^revision = "([^"]+)"', path.read_text(), flags=re.M).group(1)
        for path in (ROOT / "migrations" / "versions").glob("*.py")
    )
    assert listed == revisions


def test_storage_doc_names_every_storage_module():
    """docs/storage.md's module table names each module under portal/storage/, and no other."""
    import re

    doc = (ROOT / "docs" / "storage.md").read_text()
    table = doc.split("| module | what lives there |")[1].split("\n\n")[0]
    listed = []
    for first_cell in re.findall(r"^\| ([^|]+) \|", table, flags=re.M):
        listed += [Path(name).name for name in re.findall(r"`([\w/]+\.py)`", first_cell)]
    modules = sorted(path.name for path in (ROOT / "portal" / "storage").glob("*.py"))
    assert sorted(listed) == modules


def test_testing_doc_measures_every_module_make_mutate_runs():
    """docs/testing.md names each module of `make mutate` with its file, and gives each a measured row."""
    from tests.support.mutate import MODULES

    doc = (ROOT / "docs" / "testing.md").read_text()
    named = dict(re.findall(r"^\| `(\w+)` \| (portal/[\w/]+\.py) \|", doc, flags=re.M))
    measured = doc.split("## Measured")[1].split("\n### ")[0]
    rows = re.findall(r"^\| (\w+) \| .*\| (?:\d+) / (?:\d+) \(", measured, flags=re.M)
    assert named == {name: module for name, (module, _) in MODULES.items()}
    assert sorted(rows) == sorted(MODULES)


def _guide(name: str) -> str:
    return (ROOT / "docs" / name).read_text()


def test_implementation_summary_lists_every_module_and_only_real_ones():
    summary = _guide("implementation-summary.md")
    manifest = summary.split("## File manifest")[1].split("\n## ")[0]
    listed = set(re.findall(r"^\| `(portal/[\w/]+\.py)` \| \S", manifest, re.M))
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "portal").rglob("*.py")}
    assert not modules - listed, f"add to docs/implementation-summary.md: {sorted(modules - listed)}"
    assert not listed - modules, f"no such module: {sorted(listed - modules)}"


def _source_text() -> str:
    """Every string the portal can print, with adjacent literals ("a " "b", f"a " f"b") joined as Python joins them."""
    text = "\n".join(path.read_text() for path in sorted((ROOT / "portal").rglob("*.py")))
    text += "\n".join(path.read_text() for path in sorted((ROOT / "templates").rglob("*.html")))
    return re.sub(r"\"\s*\n\s*[rbfRBF]*\"", "", text)


def test_troubleshooting_quotes_messages_the_portal_prints():
    section = _guide("integration-guide.md").split("## 8. Troubleshooting")[1]
    messages = [match.group(2) for match in re.finditer(r"^### (`+) ?(.+?) ?\1$", section, re.M)]
    assert len(messages) >= 15
    source = _source_text()
    for message in messages:
        for fragment in filter(None, message.split("…")):
            assert fragment in source, f"{message!r}: {fragment!r} is not in portal/ any more"


def test_integration_guide_covers_the_storage_layer_end_to_end():
    guide = _guide("integration-guide.md")
    for topic in ("### Local disk", "### AWS S3", "### MinIO", "S3_PUBLIC_ENDPOINT_URL", "## 3. Encryption at rest"):
        assert topic in guide
    for command in ("storage migrate", "storage verify --deep", "storage scrub", "storage maintain", "/metrics"):
        assert command in guide
