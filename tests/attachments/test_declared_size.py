"""Files sent with their size declared (as the page's script sends them): checked exactly, and on S3
streamed to the store in one PUT as they arrive."""

from __future__ import annotations

import os

import pytest
import requests

from portal.extensions import storage
from portal.storage.base import StorageIntegrityError
from portal.storage.crypto import ciphertext_size
from tests.support.files import PDF, declared, downloaded, rows, stored_keys, upload

MiB = 1024 * 1024
BIG = b"%PDF-1.7\n" + os.urandom(6 * MiB)  # above the 5 MiB multipart threshold of s3_app_config


def post(client, document, files, endpoint="direct"):
    body, content_type = declared(files)
    url = f"/documents/{document.id}/attachments" if endpoint == "direct" else "/staging"
    return client.post(url, data=body, content_type=content_type, headers={"Accept": "application/json"})


def test_a_declared_file_is_stored_and_reads_back(staff_client, document):
    response = post(staff_client, document, [("a.pdf", PDF, len(PDF)), ("b.pdf", PDF * 2, 2 * len(PDF))])
    assert response.status_code == 201
    assert [item["size"] for item in response.get_json()["files"]] == [len(PDF), 2 * len(PDF)]
    assert sorted(downloaded(staff_client, row.id) for row in rows()[0]) == [PDF, PDF * 2]


BAD_SIZES = [
    ("more bytes than declared", len(PDF) - 1, "did not have the"),
    ("fewer bytes than declared", len(PDF) + 1, "did not have the"),
    ("not a number", "twelve", "not a whole number of bytes"),
    ("negative", "-5", "not a whole number of bytes"),
    ("exponent", "1e9", "not a whole number of bytes"),
    ("a digit that is not 0-9", "\u00b2", "not a whole number of bytes"),
    ("more than the whole upload", str(10**14), "larger than the whole upload"),
]


@pytest.mark.parametrize("case, size, message", BAD_SIZES, ids=[case[0] for case in BAD_SIZES])
@pytest.mark.parametrize("endpoint", ["direct", "staging"])
def test_a_wrong_declared_size_is_refused_and_nothing_changes(staff_client, document, case, size, message, endpoint):
    response = post(staff_client, document, [("ok.pdf", PDF, len(PDF)), ("a.pdf", PDF, size)], endpoint)
    assert response.status_code == 400
    assert message in response.get_json()["message"]
    assert rows() == ([], []) and stored_keys() == []


class TestOnS3:
    @pytest.fixture
    def app_config(self, s3_app_config):
        return s3_app_config

    @pytest.fixture(autouse=True)
    def bucket(self, app):
        storage.default.ensure_ready()

    @pytest.fixture
    def requests_sent(self, app) -> list[str]:
        """The names of the S3 operations the portal's clients send from now on."""
        sent: list[str] = []
        provider = storage.default
        for purpose in ("main", "stream"):
            provider._client(purpose).meta.events.register(
                "before-call.s3", lambda model, **kwargs: sent.append(model.name)
            )
        return sent

    def test_a_large_declared_file_goes_up_in_one_streamed_put(self, staff_client, document, requests_sent):
        response = post(staff_client, document, [("big.pdf", BIG, len(BIG))])
        assert response.status_code == 201
        assert requests_sent == ["PutObject"]  # no multipart upload, no parts to join
        (row,), _ = rows()
        location = staff_client.get(f"/attachments/{row.id}/download").headers["Location"]
        assert requests.get(location, timeout=30).content == BIG

    @pytest.mark.parametrize("size", [len(BIG) - 1, len(BIG) + 1], ids=["more bytes", "fewer bytes"])
    def test_a_streamed_file_that_differs_from_its_size_leaves_nothing(self, staff_client, document, size):
        response = post(staff_client, document, [("big.pdf", BIG, size)])
        assert response.status_code == 400
        assert "did not have the" in response.get_json()["message"]
        assert rows() == ([], []) and stored_keys() == []

    @pytest.mark.moto  # makes moto's backend refuse the PUT
    def test_a_store_refusing_the_streamed_put_leaves_nothing(self, staff_client, document, monkeypatch):
        from moto.s3.exceptions import AccessForbidden
        from moto.s3.models import S3Backend

        def refuse(self, *args, **kwargs):
            raise AccessForbidden("Access Denied")

        monkeypatch.setattr(S3Backend, "put_object", refuse)
        response = post(staff_client, document, [("big.pdf", BIG, len(BIG))])
        assert response.status_code == 503
        assert "bucket" not in response.get_data(as_text=True)  # no store details on the page
        assert rows() == ([], []) and stored_keys() == []

    def test_without_a_declared_size_a_large_file_goes_multipart(self, staff_client, document, requests_sent):
        assert upload(staff_client, document.id, ("big.pdf", BIG), json=True).status_code == 201
        assert requests_sent[0] == "CreateMultipartUpload" and requests_sent[-1] == "CompleteMultipartUpload"


class TestOverTheStreamedLimit:
    @pytest.fixture
    def app_config(self, s3_app_config):
        return {**s3_app_config, "S3_STREAMED_PUT_MAX_MB": 0}

    def test_a_declared_file_over_the_limit_goes_multipart(self, app, staff_client, document):
        storage.default.ensure_ready()
        sent: list[str] = []
        storage.default.client.meta.events.register("before-call.s3", lambda model, **kw: sent.append(model.name))
        assert post(staff_client, document, [("big.pdf", BIG, len(BIG))]).status_code == 201
        assert "CreateMultipartUpload" in sent and "PutObject" not in sent
        (row,), _ = rows()
        location = staff_client.get(f"/attachments/{row.id}/download").headers["Location"]
        assert requests.get(location, timeout=30).content == BIG

    @pytest.mark.parametrize("size", [len(BIG) - 1, len(BIG) + 1], ids=["more bytes", "fewer bytes"])
    def test_a_multipart_file_that_differs_from_its_size_leaves_nothing(self, app, staff_client, document, size):
        storage.default.ensure_ready()
        response = post(staff_client, document, [("big.pdf", BIG, size)])
        assert response.status_code == 400
        assert "did not have the" in response.get_json()["message"]
        assert rows() == ([], []) and stored_keys() == []
        assert storage.default.client.list_multipart_uploads(Bucket=storage.default.bucket).get("Uploads", []) == []


class TestEncrypted:
    @pytest.fixture
    def app_config(self, s3_app_config, tmp_path):
        from tests.support.keys import keypair

        _, public, private = keypair(tmp_path / "keys")
        return {
            **s3_app_config,
            "STORAGE_ENCRYPTION": "hybrid",
            "STORAGE_ENCRYPTION_PUBLIC_KEY": public,
            "STORAGE_ENCRYPTION_PRIVATE_KEYS": [private],
        }

    def test_the_ciphertext_streams_up_and_the_download_is_the_original(self, app, staff_client, document):
        storage.default.ensure_ready()
        sent: list[str] = []
        storage.default._client("stream").meta.events.register(
            "before-call.s3", lambda model, **kwargs: sent.append(model.name)
        )
        assert post(staff_client, document, [("big.pdf", BIG, len(BIG))]).status_code == 201
        assert sent == ["PutObject"]
        (row,), _ = rows()
        assert storage.default.stat(row.storage_path).size == ciphertext_size(len(BIG))
        assert downloaded(staff_client, row.id) == BIG


def test_a_store_integrity_failure_without_a_declared_size_stays_a_storage_error(staff_client, document, monkeypatch):
    def corrupt(key, stream, **kwargs):
        raise StorageIntegrityError("the store's checksum differs")

    monkeypatch.setattr(storage.default, "save", corrupt)
    response = upload(staff_client, document.id, ("a.pdf", PDF), json=True)
    assert response.status_code == 503
    assert "integrity check" in response.get_json()["message"]
    assert rows() == ([], [])
