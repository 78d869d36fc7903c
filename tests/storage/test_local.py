"""Local provider specifics: the path guard, atomic writes, and the signed /files/<token> route."""

from __future__ import annotations

import io
import os

import pytest
from itsdangerous import URLSafeSerializer

from portal.storage.base import StorageMisconfigured
from portal.storage.local import TOKEN_SALT, LocalStorageProvider
from tests.support.storage_apps import make_storage_app

UNSAFE_KEYS = {
    "parent": "../outside.txt",
    "parent inside": "attachments/../../outside.txt",
    "dot": "attachments/./x",
    "absolute": "/etc/passwd",
    "windows drive": "C:/Windows/win.ini",
    "backslash": "attachments\\..\\..\\x",
    "nul": "attachments/a\x00.txt",
    "newline": "attachments/a\n.txt",
    "empty": "",
    "empty component": "attachments//x",
    "hidden": ".secret",
    "sidecar name": "attachments/.x.pdf.meta.json",
    "symlinked folder escaping root": "escape/secret.txt",
    "symlinked file escaping root": "attachments/link.txt",
}


@pytest.fixture
def app(tmp_path):
    app = make_storage_app(tmp_path)
    with app.app_context():
        yield app


@pytest.fixture
def local(app, tmp_path) -> LocalStorageProvider:
    provider = app.extensions["storage"].local
    provider.ensure_ready()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours")
    (provider.root / "attachments").mkdir()
    (provider.root / "escape").symlink_to(outside)
    (provider.root / "attachments" / "link.txt").symlink_to(outside / "secret.txt")
    provider.save("attachments/ok.txt", io.BytesIO(b"fine"))
    return provider


@pytest.mark.parametrize("key", UNSAFE_KEYS.values(), ids=UNSAFE_KEYS.keys())
@pytest.mark.parametrize("operation", ["save", "open", "stat", "delete", "url", "set_metadata", "copy"])
def test_guard_refuses_unsafe_keys(local, tmp_path, key, operation):
    calls = {
        "save": lambda: local.save(key, io.BytesIO(b"overwritten")),
        "open": lambda: local.open(key),
        "stat": lambda: local.stat(key),
        "delete": lambda: local.delete(key),
        "url": lambda: local.url(key, filename="x.txt"),
        "set_metadata": lambda: local.set_metadata(key, {"a": "b"}),
        "copy": lambda: local.copy("attachments/ok.txt", key),
    }
    with pytest.raises(StorageMisconfigured, match="unsafe storage key"):
        calls[operation]()
    assert (tmp_path / "outside" / "secret.txt").read_text() == "not yours"


def test_symlink_that_stays_inside_root_is_followed(local):
    (local.root / "alias").symlink_to(local.root / "attachments")
    local.save("alias/inside.txt", io.BytesIO(b"inside"))
    assert (local.root / "attachments" / "inside.txt").read_bytes() == b"inside"


def test_save_leaves_only_the_object_and_its_hidden_sidecar(local):
    local.save("attachments/a.pdf", io.BytesIO(b"%PDF"), content_type="application/pdf")
    names = sorted(os.listdir(local.root / "attachments"))
    assert names == [".a.pdf.meta.json", ".ok.txt.meta.json", "a.pdf", "link.txt", "ok.txt"]
    # Neither sidecars nor the symlink are objects.
    assert [item.key for item in local.list("attachments/")] == ["attachments/a.pdf", "attachments/ok.txt"]


def test_a_file_replaced_by_hand_is_not_vouched_for(local):
    local.save("attachments/a.txt", io.BytesIO(b"original"))
    (local.root / "attachments" / "a.txt").write_bytes(b"edited by hand!")
    assert local.stat("attachments/a.txt").sha256 is None


def test_missing_root_is_reported_not_created(tmp_path):
    provider = LocalStorageProvider(tmp_path / "not-mounted")
    with pytest.raises(StorageMisconfigured, match="does not exist"):
        provider.check()
    with pytest.raises(StorageMisconfigured, match="does not exist"):
        provider.save("attachments/x", io.BytesIO(b"x"))
    assert not (tmp_path / "not-mounted").exists()
    provider.ensure_ready()
    provider.check()


def test_url_needs_a_secret_key(tmp_path):
    provider = LocalStorageProvider(tmp_path)
    provider.save("attachments/x", io.BytesIO(b"x"))
    with pytest.raises(StorageMisconfigured, match="SECRET_KEY"):
        provider.url("attachments/x", filename="x")


# -- the /files/<token> route -----------------------------------------------------------------


@pytest.fixture
def link(app, local):
    local.save("attachments/report.txt", io.BytesIO(b"0123456789" * 10), content_type="text/plain")
    return local.url("attachments/report.txt", filename="Quarterly report.txt", content_type="text/plain")


def test_link_serves_the_file_with_safe_headers(app, link):
    response = app.test_client().get(link)
    with response:
        assert response.status_code == 200
        assert response.get_data() == b"0123456789" * 10
        assert response.headers["Content-Disposition"] == 'attachment; filename="Quarterly report.txt"'
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Type"] == "text/plain"
        assert "private" in response.headers["Cache-Control"]


def test_link_is_relative_to_the_application_root(app, local):
    local.save("attachments/x.txt", io.BytesIO(b"x"))
    with app.test_request_context("/", base_url="https://portal.example.com/portal"):
        assert local.url("attachments/x.txt", filename="x.txt").startswith("/portal/files/")


def test_tampered_token_is_forbidden(app, link):
    token = link.rsplit("/", 1)[1]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), token[:20], "garbage"):
        response = app.test_client().get(f"/files/{bad}")
        page = response.get_data(as_text=True)
        assert response.status_code == 403
        assert "This download link is not valid: it was changed or cut short on the way." in page


def test_token_signed_elsewhere_is_forbidden(app, local):
    payload = {"k": "attachments/report.txt", "f": "x", "t": None, "d": "attachment", "e": 2**40}
    other_secret = URLSafeSerializer("another-secret", salt=TOKEN_SALT).dumps(payload)
    other_salt = URLSafeSerializer(app.config["SECRET_KEY"], salt="cookie-session").dumps(payload)
    for token in (other_secret, other_salt):
        assert app.test_client().get(f"/files/{token}").status_code == 403


def test_expired_link_is_gone(app, link, monkeypatch):
    class Later:
        @staticmethod
        def time():
            return 4_000_000_000.0

    monkeypatch.setattr("portal.storage.local.time", Later)
    response = app.test_client().get(link)
    assert response.status_code == 410
    assert b"0123456789" not in response.get_data()


def test_link_to_a_deleted_file_is_not_found(app, local, link):
    local.delete("attachments/report.txt")
    assert app.test_client().get(link).status_code == 404


def test_range_request_gets_partial_content(app, link):
    response = app.test_client().get(link, headers={"Range": "bytes=10-19"})
    with response:
        assert response.status_code == 206
        assert response.get_data() == b"0123456789"
        assert response.headers["Content-Range"] == "bytes 10-19/100"


def test_unsatisfiable_range(app, link):
    response = app.test_client().get(link, headers={"Range": "bytes=500-600"})
    with response:
        assert response.status_code == 416


@pytest.mark.parametrize("header", ["If-None-Match", "If-Modified-Since"])
def test_conditional_request_gets_not_modified(app, link, header):
    first = app.test_client().get(link)
    with first:
        validator = first.headers["ETag"] if header == "If-None-Match" else first.headers["Last-Modified"]
    again = app.test_client().get(link, headers={header: validator})
    with again:
        assert again.status_code == 304
        assert again.get_data() == b""
