"""Who may read /metrics: METRICS_ALLOW addresses, or anyone with METRICS_TOKEN; never a login."""

from __future__ import annotations

import pytest

from portal.addresses import parse_address_list
from portal.config import ConfigError
from portal.metrics.scrape import may_scrape, presented_token

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def app_config():
    return {"METRICS_TOKEN": TOKEN}


def test_loopback_reads_without_signing_in(client, staff_user):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert "no-store" in response.headers["Cache-Control"]
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_loopback_reads_before_the_first_user_exists(client):
    # Every other page sends a fresh install to /setup.
    assert client.get("/metrics").status_code == 200


def test_another_address_is_refused(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403
    assert "portal_" not in response.get_data(as_text=True)


def test_the_right_token_opens_it_from_anywhere(client):
    response = client.get(
        "/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200
    assert "portal_http_requests_total" in response.get_data(as_text=True)


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer ", f"Bearer {TOKEN[:-1]}", "bearer wrong"])
def test_a_wrong_token_is_refused_even_from_loopback(client, header):
    assert (
        client.get(
            "/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}, headers={"Authorization": header}
        ).status_code
        == 403
    )
    assert client.get("/metrics", headers={"Authorization": header}).status_code == 403


def test_allowed_networks_come_from_the_setting(app, client):
    app.config["METRICS_ALLOW"] = parse_address_list("METRICS_ALLOW", "10.0.0.0/8")
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback is no longer in the list


def test_the_setting_is_read_from_the_environment(tmp_path):
    from portal import create_app

    base = {"SECRET_KEY": "k", "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path)},
        environ={**base, "METRICS_ALLOW": "192.0.2.0/24, 2001:db8::/32", "METRICS_TOKEN": "t"},
    )
    assert "192.0.2.7" in app.config["METRICS_ALLOW"] and "2001:db8::5" in app.config["METRICS_ALLOW"]
    assert "127.0.0.1" not in app.config["METRICS_ALLOW"]
    with pytest.raises(ConfigError, match="METRICS_ALLOW has 'localhost'; list IP addresses or networks"):
        create_app({"INSTANCE_PATH": str(tmp_path)}, environ={**base, "METRICS_ALLOW": "127.0.0.1,localhost"})


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("127.0.0.2", False),
        ("10.1.2.3", False),
        ("", False),
        (None, False),
        ("not-an-address", False),
        ("fe80::1%eth0", False),
    ],
)
def test_default_allow_list(address, allowed):
    assert (address in parse_address_list("METRICS_ALLOW", "127.0.0.1,::1")) is allowed


def test_allow_list_round_trips_as_text():
    assert (
        str(parse_address_list("X", " 127.0.0.1 , ::1,10.0.0.0/8,,192.0.2.1/32"))
        == "127.0.0.1,::1,10.0.0.0/8,192.0.2.1"
    )
    assert "127.0.0.1" not in parse_address_list("X", "")


@pytest.mark.parametrize(
    "header, token",
    [
        (None, None),
        ("", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
    ],
)
def test_presented_token(header, token):
    assert presented_token(header) == token


def test_no_configured_token_means_tokens_never_open_it():
    allow = parse_address_list("X", "127.0.0.1")
    assert may_scrape("127.0.0.1", None, allow, "") is True
    assert may_scrape("127.0.0.1", "Bearer ", allow, "") is False
    assert may_scrape("198.51.100.1", "Bearer anything", allow, "") is False
