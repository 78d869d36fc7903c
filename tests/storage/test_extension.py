"""The Storage extension: binding, lookup by name, health report, and one log line per operation."""

from __future__ import annotations

import io
import logging
import re

import pytest
from flask import Flask
from moto import mock_aws

from portal.config import load_settings
from portal.storage import Storage
from portal.storage.base import ObjectNotFound, StorageMisconfigured
from tests.support.buckets import unique_bucket
from tests.support.storage_apps import SECRETS, closed_port, make_storage_app, s3_settings


def test_second_init_app_is_refused(tmp_path):
    app = make_storage_app(tmp_path)
    with pytest.raises(RuntimeError, match="already registered"):
        Storage().init_app(app)


def test_init_app_needs_the_portal_settings():
    with pytest.raises(RuntimeError, match="load_settings"):
        Storage(Flask(__name__))


def test_unbound_use_says_what_to_do(tmp_path):
    storage = Storage()
    with pytest.raises(RuntimeError, match=r"did you forget storage\.init_app\(app\)\?"):
        _ = storage.default
    bare = Flask(__name__)
    bare.config.update(load_settings({}, str(tmp_path), {"SECRET_KEY": "x"}))
    with bare.app_context(), pytest.raises(RuntimeError, match=r"did you forget storage\.init_app\(app\)\?"):
        storage.get("local")


def test_storage_answers_for_the_current_app(tmp_path):
    storage = Storage()
    first, second = Flask("first"), Flask("second")
    for app, folder in ((first, "one"), (second, "two")):
        app.config.update(load_settings({}, str(tmp_path / folder), {"SECRET_KEY": "x"}))
        storage.init_app(app)
    with first.app_context():
        assert storage.default.root == (tmp_path / "one" / "storage").resolve()
    with second.app_context():
        assert storage.default.root == (tmp_path / "two" / "storage").resolve()


def test_local_only_host(tmp_path):
    app = make_storage_app(tmp_path)
    storage = Storage()
    with app.app_context():
        assert storage.names == ("local",)
        assert storage.default is storage.get("local") is storage.get(None)
        for name in ("s3", "minio"):
            with pytest.raises(StorageMisconfigured, match=f"storage '{name}' is not configured on this host"):
                storage.get(name)
        with pytest.raises(StorageMisconfigured, match="unknown storage type 'ftp'"):
            storage.get("ftp")


@pytest.mark.parametrize("storage_type", ["s3", "minio"])
def test_one_s3_provider_answers_to_both_names(tmp_path, storage_type):
    app = make_storage_app(
        tmp_path, **s3_settings(unique_bucket(), STORAGE_TYPE=storage_type, S3_ENDPOINT_URL="http://127.0.0.1:9000")
    )
    storage = Storage()
    with app.app_context():
        assert storage.names == ("local", storage_type)
        assert storage.get("s3") is storage.get("minio") is storage.default
        assert storage.default.name == storage_type


def minio_settings(bucket: str, endpoint: str = "http://127.0.0.1:9000", **overrides) -> dict:
    return {
        "MINIO_BUCKET": bucket,
        "MINIO_ENDPOINT_URL": endpoint,
        "MINIO_ACCESS_KEY": "AKIAMINIOTESTACCESS",
        "MINIO_SECRET_KEY": "minio-test-secret-key",
        **overrides,
    }


def test_minio_settings_make_two_stores(tmp_path):
    s3_bucket, minio_bucket = unique_bucket(), unique_bucket()
    app = make_storage_app(
        tmp_path,
        **s3_settings(s3_bucket, STORAGE_TYPE="minio"),
        **minio_settings(minio_bucket, MINIO_REGION="eu-west-1"),
    )
    storage = Storage()
    with app.app_context():
        assert storage.names == ("local", "s3", "minio")
        s3, minio = storage.get("s3"), storage.get("minio")
        assert s3 is not minio
        assert (s3.name, s3.bucket, s3.endpoint_url) == ("s3", s3_bucket, None)
        assert (minio.name, minio.bucket, minio.endpoint_url) == ("minio", minio_bucket, "http://127.0.0.1:9000")
        assert minio.region == "eu-west-1"
        assert storage.default is minio


def test_minio_alone_leaves_s3_unconfigured(tmp_path):
    app = make_storage_app(tmp_path, STORAGE_TYPE="minio", **minio_settings(unique_bucket()))
    storage = Storage()
    with app.app_context():
        assert storage.names == ("local", "minio")
        with pytest.raises(StorageMisconfigured, match="storage 's3' is not configured on this host; set S3_BUCKET"):
            storage.get("s3")


def test_check_reports_each_store_by_name(tmp_path):
    """/healthz's report: the minio store down is named as minio, the s3 store answers for itself."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    app = make_storage_app(
        tmp_path,
        **s3_settings(unique_bucket(), S3_ENDPOINT_URL=endpoint, S3_MAX_ATTEMPTS=1, S3_CONNECT_TIMEOUT=1),
        **minio_settings(unique_bucket(), endpoint),
    )
    with app.app_context():
        Storage().get("local").ensure_ready()
        report = Storage().check()
    assert sorted(report) == ["local", "minio", "s3"]
    assert report["local"] == "ok"
    assert report["s3"] != "ok" and report["minio"] != "ok"
    assert "minio-test-secret-key" not in str(report)


def test_s3_configured_but_local_default(tmp_path):
    app = make_storage_app(tmp_path, **s3_settings(unique_bucket(), STORAGE_TYPE="local"))
    with app.app_context():
        assert Storage().default.name == "local"
        assert Storage().get("s3").name == "s3"


def test_init_app_does_not_touch_the_network(tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    app = make_storage_app(tmp_path, **s3_settings(unique_bucket(), S3_ENDPOINT_URL=endpoint))
    assert app.extensions["storage"].providers["s3"]._clients == {}
    assert any(rule.rule == "/files/<token>" for rule in app.url_map.iter_rules())


def test_check_reports_every_store(tmp_path):
    with mock_aws():
        app = make_storage_app(tmp_path, **s3_settings("portal-not-created"))
        storage = Storage()
        with app.app_context():
            storage.get("local").ensure_ready()
            assert storage.check() == {
                "local": "ok",
                "s3": "bucket 'portal-not-created' does not exist at AWS S3 (us-east-1); "
                "create it with `flask storage init`",
            }
            storage.default.ensure_ready()
            assert storage.check() == {"local": "ok", "s3": "ok"}


def test_check_reports_a_missing_local_folder(tmp_path):
    app = make_storage_app(tmp_path)
    with app.app_context():
        assert "does not exist" in Storage().check()["local"]


LINE = re.compile(r'storage op=(\w+) provider=(\w+) key=("[^"]*"|-) size=(\d+|-) ms=\d+\.\d outcome=(\w+)$')


@pytest.mark.parametrize("storage_type", ["local", "s3"])
def test_one_log_line_per_operation_without_secrets(tmp_path, caplog, storage_type):
    with mock_aws():
        settings = s3_settings(unique_bucket()) if storage_type == "s3" else {}
        app = make_storage_app(tmp_path, **settings)
        with app.app_context():
            provider = Storage().default
            provider.ensure_ready()
            caplog.clear()
            caplog.set_level(logging.INFO, logger="portal.storage")
            provider.save("attachments/a", io.BytesIO(b"12345"))
            b"".join(provider.open("attachments/a"))
            provider.stat("attachments/a")
            url = provider.url("attachments/a", filename="a.txt")
            provider.copy("attachments/a", "attachments/b")
            list(provider.list("attachments/"))
            with pytest.raises(ObjectNotFound):
                provider.stat("attachments/missing")
            provider.delete("attachments/a")
    records = [r for r in caplog.records if r.name == "portal.storage"]
    found = [LINE.match(r.getMessage()).group(1, 2, 3, 4, 5) for r in records]
    assert found == [
        ("save", storage_type, '"attachments/a"', "5", "ok"),
        ("open", storage_type, '"attachments/a"', "5", "ok"),
        ("stat", storage_type, '"attachments/a"', "5", "ok"),
        ("url", storage_type, '"attachments/a"', "-", "ok"),
        ("copy", storage_type, '"attachments/a -> attachments/b"', "5", "ok"),
        ("list", storage_type, '"attachments/"', "2", "ok"),
        ("stat", storage_type, '"attachments/missing"', "-", "ObjectNotFound"),
        ("delete", storage_type, '"attachments/a"', "-", "ok"),
    ]
    everything = caplog.text
    assert not any(secret in everything for secret in SECRETS)
    # Neither the signed link (local token, presigned query string) nor any signature is logged.
    signed_part = url.partition("?")[2] or url.rpartition("/")[2]
    assert signed_part not in everything and "Signature" not in everything
    assert records[0].storage == {
        "op": "save",
        "provider": storage_type,
        "key": "attachments/a",
        "size": 5,
        "ms": records[0].storage["ms"],
        "outcome": "ok",
    }


def test_the_factory_builds_every_configured_store_by_the_names_rows_carry(tmp_path):
    from portal.storage import ObjectStorageFactory

    local_only = load_settings({}, str(tmp_path / "one"), {"SECRET_KEY": "x"})
    assert list(ObjectStorageFactory(local_only).providers()) == ["local"]
    both = load_settings(
        {},
        str(tmp_path / "two"),
        {
            "SECRET_KEY": "x",
            **s3_settings("portal-files", STORAGE_TYPE="minio", S3_ENDPOINT_URL="http://127.0.0.1:9000"),
        },
    )
    providers = ObjectStorageFactory(both).providers()
    assert list(providers) == ["local", "s3", "minio"]
    assert providers["s3"] is providers["minio"] and providers["minio"].name == "minio"
    assert providers["local"].root == (tmp_path / "two" / "storage").resolve()


def test_the_size_guard_is_exported_from_the_package():
    from portal.storage import ExactSize
    from portal.storage.base import StorageIntegrityError

    assert ExactSize(io.BytesIO(b"abc"), 3).read() == b"abc"
    with pytest.raises(StorageIntegrityError, match="more than the 2 bytes promised"):
        ExactSize(io.BytesIO(b"abc"), 2).read()
    with pytest.raises(StorageIntegrityError, match="4 were promised"):
        ExactSize(io.BytesIO(b"abc"), 4).read()
