"""Settings: defaults, validation at start-up, secrets."""

from __future__ import annotations

import os
import stat
import traceback
from pathlib import Path

import pytest

from portal import ConfigError, create_app
from portal.config import load_settings
from tests.support.cli import flask_cli

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_sqlite_and_local_storage(tmp_path):
    settings = load_settings({}, str(tmp_path))
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path / 'portal.db'}"
    assert settings["STORAGE_TYPE"] == "local"
    assert settings["LOCAL_STORAGE_PATH"] == str(tmp_path / "storage")
    assert settings["MAX_UPLOAD_MB"] == 100


@pytest.mark.parametrize(
    "environ, fragment",
    [
        ({"STORAGE_TYPE": "ftp"}, "STORAGE_TYPE='ftp' is not accepted; use one of: local, s3, minio"),
        ({"STORAGE_TYPE": "s3"}, "S3_BUCKET is required when STORAGE_TYPE=s3"),
        ({"STORAGE_TYPE": "minio", "S3_BUCKET": "b"}, "S3_ENDPOINT_URL is required when STORAGE_TYPE=minio"),
        ({"S3_ENDPOINT_URL": "127.0.0.1:9000"}, "S3_ENDPOINT_URL='127.0.0.1:9000' must be an http:// or https:// URL"),
        (
            {"S3_ENDPOINT_URL": "key:pass@minio:9000"},
            "S3_ENDPOINT_URL='…@minio:9000' must be an http:// or https:// URL",
        ),
        ({"MAX_UPLOAD_MB": "lots"}, "MAX_UPLOAD_MB='lots' is not a whole number"),
        ({"MAX_UPLOAD_MB": "0"}, "MAX_UPLOAD_MB=0 is out of range"),
        ({"S3_ACCESS_KEY": "AKIAEXAMPLE"}, "S3_ACCESS_KEY and S3_SECRET_KEY go together"),
        ({"S3_SSE": "aws:kms"}, "S3_SSE_KMS_KEY_ID is required"),
        ({"DOWNLOAD_MODE": "stream"}, "DOWNLOAD_MODE='stream' is not accepted; use one of: redirect, proxy"),
        ({"ALLOWED_EXTENSIONS": "pdf,*.exe"}, "ALLOWED_EXTENSIONS has '*.exe'"),
        ({"STORAGE_ENCRYPTION": "hybrid"}, "STORAGE_ENCRYPTION_PUBLIC_KEY is required"),
        (
            {"STORAGE_ENCRYPTION_PUBLIC_KEY": "/nonexistent/key.pem"},
            "encryption key file '/nonexistent/key.pem' does not exist",
        ),
        ({"DATABASE_URL": "postgres://u@h/db"}, "write 'postgresql+psycopg://' instead"),
        ({"PORTAL_ENV": "production"}, "SECRET_KEY is required when PORTAL_ENV=production"),
        ({"S3_MULTIPART_CHUNK_MB": "64"}, "S3_UPLOAD_BUFFER_MB=48 must hold two parts of S3_MULTIPART_CHUNK_MB=64"),
        (
            {"S3_MULTIPART_THRESHOLD_MB": "17"},
            "S3_MULTIPART_THRESHOLD_MB=17 is above S3_MULTIPART_CHUNK_MB=16: an upload goes in one request only up "
            "to one part; lower the threshold or raise the part size",
        ),
        ({"SCRUB_RATE": "fast"}, "SCRUB_RATE: 'fast' is not a rate; write e.g. 20MB/s, 512KiB/s or 1000000/s"),
        ({"SCRUB_INTERVAL_DAYS": "0"}, "SCRUB_INTERVAL_DAYS=0 is out of range"),
        ({"MINIO_BUCKET": "b"}, "MINIO_ENDPOINT_URL is required with MINIO_BUCKET"),
        ({"MINIO_ENDPOINT_URL": "http://127.0.0.1:9000"}, "MINIO_ENDPOINT_URL is set but MINIO_BUCKET is not"),
        (
            {"MINIO_BUCKET": "b", "MINIO_ENDPOINT_URL": "http://m:9000", "MINIO_ACCESS_KEY": "AKIAEXAMPLE"},
            "MINIO_ACCESS_KEY and MINIO_SECRET_KEY go together",
        ),
        ({"MINIO_BUCKET": "b", "MINIO_ENDPOINT_URL": "m:9000"}, "MINIO_ENDPOINT_URL='m:9000' must be an http://"),
    ],
)
def test_bad_values_stop_start_up_with_one_clear_line(tmp_path, environ, fragment):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, str(tmp_path))
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


SECRET = "Hunter2-very-secret-value"
S3_KEYS = {"S3_ACCESS_KEY": "AKIAEXAMPLE", "S3_SECRET_KEY": SECRET}


def everything_said(caught: pytest.ExceptionInfo, caplog, capsys) -> str:
    """The error with its whole chain and traceback, the log records and the output: where a secret could leak."""
    captured = capsys.readouterr()
    return "".join(traceback.format_exception(caught.value)) + caplog.text + captured.out + captured.err


@pytest.mark.parametrize(
    "environ",
    [
        {"PORTAL_ENV": "production", "SECRET_KEY": SECRET},  # too short for production
        {"S3_SECRET_KEY": SECRET, "S3_BUCKET": "b"},  # a secret without its access key
        {"STORAGE_TYPE": "s3", **S3_KEYS},  # no bucket
        {"STORAGE_TYPE": "minio", "S3_BUCKET": "b", **S3_KEYS},  # no endpoint
        {
            "STORAGE_TYPE": "minio",
            "S3_BUCKET": "b",
            "S3_ENDPOINT_URL": f"AKIAEXAMPLE:{SECRET}@127.0.0.1:9000",
            **S3_KEYS,
        },
        {"STORAGE_TYPE": "minio", "S3_ENDPOINT_URL": f"http://AKIAEXAMPLE:{SECRET}@minio:9000", **S3_KEYS},  # no bucket
        {"STORAGE_TYPE": "s3", "S3_BUCKET": "b", "S3_SSE": "aws:kms", **S3_KEYS},
        {"DATABASE_URL": f"postgres://portal:{SECRET}@db.example/portal"},
    ],
    ids=[
        "weak production key",
        "lone S3 secret",
        "S3 without bucket",
        "MinIO without endpoint",
        "endpoint with credentials",
        "http endpoint with credentials",
        "KMS without key id",
        "postgres:// URL with password",
    ],
)
def test_secrets_never_appear_in_settings_errors(tmp_path, caplog, capsys, environ):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, str(tmp_path))
    assert SECRET not in everything_said(caught, caplog, capsys)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://portal:{SECRET}@db.example:notaport/portal",
        f"portal:{SECRET}@db.example/portal",
        f"postgresql+nodriver://portal:{SECRET}@db.example/portal",
    ],
    ids=["port not a number", "no scheme", "unknown driver"],
)
def test_a_malformed_database_url_never_shows_its_password(tmp_path, caplog, capsys, url):
    with pytest.raises(Exception) as caught:  # noqa: PT011 -- SQLAlchemy's own error; the point is what it says
        create_app(
            {"INSTANCE_PATH": str(tmp_path), "LOCAL_STORAGE_PATH": str(tmp_path / "s")}, environ={"DATABASE_URL": url}
        )
    assert SECRET not in everything_said(caught, caplog, capsys)


def test_development_secret_is_generated_once_and_private(tmp_path):
    first = load_settings({}, str(tmp_path))["SECRET_KEY"]
    second = load_settings({}, str(tmp_path))["SECRET_KEY"]
    assert first == second and len(first) >= 40
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600


def test_production_uses_secure_cookies(tmp_path):
    app = create_app(
        {"INSTANCE_PATH": str(tmp_path), "LOCAL_STORAGE_PATH": str(tmp_path / "s")},
        environ={"PORTAL_ENV": "production", "SECRET_KEY": "x" * 40},
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_upload_limit_becomes_max_content_length(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path)}, environ={"MAX_UPLOAD_MB": "3"})
    assert app.config["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024


def test_wsgi_refuses_bad_config_with_one_line_and_no_traceback():
    result = flask_cli({"STORAGE_TYPE": "ftp", "S3_SECRET_KEY": "hunter2-secret"}, "routes")
    assert result.returncode != 0
    assert "Configuration error: STORAGE_TYPE='ftp' is not accepted; use one of: local, s3, minio" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout


def test_production_without_secret_key_refuses_to_run():
    result = flask_cli({"PORTAL_ENV": "production", "SECRET_KEY": ""}, "routes")
    assert result.returncode != 0
    assert "SECRET_KEY is required when PORTAL_ENV=production" in result.stderr


def test_a_secret_setting_that_does_not_parse_is_named_but_never_quoted(tmp_path, monkeypatch):
    """Secret settings are plain text today; should one ever get a parser that refuses a value, its
    message must not carry the value (the registry's ``secret`` flag decides)."""
    from portal import config

    def refuse(name, raw):
        raise ConfigError(f"{name}={raw!r} is not accepted")

    import dataclasses

    monkeypatch.setattr(
        config,
        "SETTINGS",
        tuple(
            dataclasses.replace(setting, parse=refuse) if setting.name == "S3_SECRET_KEY" else setting
            for setting in config.SETTINGS
        ),
    )
    with pytest.raises(ConfigError) as caught:
        load_settings({"S3_SECRET_KEY": "hunter2-very-secret", "S3_BUCKET": "b"}, str(tmp_path))
    assert str(caught.value) == "S3_SECRET_KEY is not accepted (its value is not shown)"


@pytest.mark.parametrize(("raw", "rate"), [("20MB/s", 20_000_000), ("50MiB/s", 50 * 1024**2), ("0", 0), ("off", 0)])
def test_scrub_rate_reads_sizes_a_second(tmp_path, raw, rate):
    assert load_settings({"SCRUB_RATE": raw}, str(tmp_path))["SCRUB_RATE"] == rate


def test_minio_settings_make_a_store_of_their_own(tmp_path):
    """With MINIO_*, STORAGE_TYPE=minio needs neither S3_BUCKET nor S3_ENDPOINT_URL, and leaves the S3 defaults alone."""
    settings = load_settings(
        {"STORAGE_TYPE": "minio", "MINIO_BUCKET": "m", "MINIO_ENDPOINT_URL": "http://127.0.0.1:9000"}, str(tmp_path)
    )
    assert settings["MINIO_BUCKET"] == "m"
    assert settings["MINIO_REGION"] == "us-east-1"
    assert settings["S3_ADDRESSING_STYLE"] == "auto"
    assert settings["S3_CHECKSUMS"] == "when_supported"


def test_minio_secret_never_shown_in_a_config_error(tmp_path):
    environ = {"MINIO_BUCKET": "b", "MINIO_ENDPOINT_URL": "http://m:9000", "MINIO_SECRET_KEY": SECRET}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, str(tmp_path))
    assert "MINIO_ACCESS_KEY and MINIO_SECRET_KEY go together" in str(caught.value)
    assert SECRET not in str(caught.value)
