"""Friendly error pages, JSON errors for scripts, and /healthz."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config():
    return {"MAX_UPLOAD_MB": 1}


@pytest.fixture
def broken_route(app):
    def explode():
        raise RuntimeError("database password is hunter2")

    app.add_url_rule("/explode", "explode", explode)


def test_500_page_hides_the_error(broken_route, staff_client, caplog):
    response = staff_client.get("/explode")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page and "hunter2" not in page and "Traceback" not in page
    assert "unhandled error on GET /explode" in caplog.text


def test_413_page(staff_client):
    response = staff_client.post("/documents/new", data={"title": "x", "description": "a" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "larger than the limit of 1 MB" in response.get_data(as_text=True)


def test_405_and_404_pages(staff_client):
    assert staff_client.get("/auth/logout").status_code == 405
    response = staff_client.get("/no/such/page")
    assert response.status_code == 404 and "Back to documents" in response.get_data(as_text=True)


def test_json_clients_get_json_errors(staff_client):
    response = staff_client.get("/documents/999", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "Not found"


def test_healthz_reports_database_and_storage_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["storage"]["local"] == "ok"
