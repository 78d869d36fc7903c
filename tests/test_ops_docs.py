"""docs/ops/: the dashboard and alert rules name metrics the portal exports; the upkeep jobs name real commands."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from portal.cli import storage_cli

OPS = Path(__file__).resolve().parent.parent / "docs" / "ops"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_names(client) -> set[str]:
    """Every sample name /metrics can carry, from its families (also those without samples yet)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    names = set()
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def named_metrics(text: str) -> set[str]:
    return set(re.findall(r"\bportal_[a-z0-9_]+", text))


def test_dashboard_and_alerts_only_name_exported_metrics(client):
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    rules = yaml.safe_load((OPS / "alerts.yml").read_text())["groups"][0]["rules"]
    assert rules and all({"alert", "expr"} <= set(rule) for rule in rules)
    used = named_metrics(" ".join(expressions)) | named_metrics(" ".join(rule["expr"] for rule in rules))
    assert used, "no portal_* metric found in docs/ops"
    missing = used - exported_names(client)
    assert not missing, f"docs/ops names metrics /metrics does not export: {sorted(missing)}"


def test_ops_readme_documents_every_exported_family(client):
    readme = (OPS / "README.md").read_text()
    families = {
        name.removesuffix("_total")
        for name in exported_names(client)
        if name.startswith("portal_") and not name.endswith(("_bucket", "_count", "_sum"))
    }
    undocumented = {name for name in families if name not in readme}
    assert not undocumented, f"docs/ops/README.md does not describe {sorted(undocumented)}"


def _scheduled_commands() -> list[list[str]]:
    commands = []
    for path in [*OPS.glob("*.service"), OPS / "portal.cron"]:
        for line in path.read_text().splitlines():
            if "--app wsgi storage" in line:
                words = shlex.split(line.split("--app wsgi", 1)[1].split(">", 1)[0])
                commands.append(words)
    return commands


def test_upkeep_is_maintain_on_a_timer_and_in_cron():
    commands = [tuple(words) for words in _scheduled_commands()]
    assert commands == [("storage", "maintain"), ("storage", "maintain")]  # the service unit and the cron line
    assert "OnCalendar=hourly" in (OPS / "portal-maintain.timer").read_text()


@pytest.mark.parametrize("words", _scheduled_commands(), ids=" ".join)
def test_scheduled_commands_parse(app, words):
    group, name, *args = words
    assert group == "storage"
    command = storage_cli.get_command(None, name)
    assert command is not None, f"no `flask storage {name}`"
    with app.app_context():
        command.make_context(name, list(args))  # raises on an unknown option or a missing one


def test_service_runs_gunicorn_with_the_config_and_a_metrics_folder():
    unit = (OPS / "portal.service").read_text()
    assert "--config gunicorn.conf.py --no-control-socket" in unit
    assert "PROMETHEUS_MULTIPROC_DIR=/run/portal/metrics" in unit and "RuntimeDirectory=portal" in unit


def test_the_nginx_site_buffers_bodies_and_its_body_limit_follows_max_upload_mb():
    """client_max_body_size is MAX_UPLOAD_MB's default plus 1 MiB for the form around the files (tests/test_nginx.py
    runs the file itself)."""
    from portal.config import SETTINGS

    default = next(setting.default for setting in SETTINGS if setting.name == "MAX_UPLOAD_MB")
    directives = dict(
        line.strip().rstrip(";").split(None, 1)
        for line in (OPS / "nginx.conf").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#") and line.strip().endswith(";")
    )
    assert directives["client_max_body_size"] == f"{default + 1}m"
    assert directives["proxy_request_buffering"] == "on"
    assert directives["client_body_timeout"] == "30s"
