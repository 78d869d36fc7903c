"""Requests signed without botocore's request pipeline (save()'s small PUTs and read-back): URLs,
signatures, credentials, what a small PUT leaves in the store, retries and refusals."""

from __future__ import annotations

import hashlib
import io
import json
from contextlib import contextmanager
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from portal.storage import s3_direct
from portal.storage.base import StorageIntegrityError, StorageMisconfigured, StorageUnavailable
from portal.storage.s3_direct import SMALL_PUT_MAX
from tests.support.buckets import empty_bucket, unique_bucket
from tests.support.moto_fidelity import BadDigest, s3_like_checksums
from tests.support.storage_apps import THRESHOLD, closed_port, make_storage_app, s3_settings

KEYS = (
    "attachments/plain.bin",
    "attachments/with space & plus+sign.pdf",
    "attachments/ünïcödé/名前.txt",
    "attachments/percent%20not-decoded?query#fragment",
    "attachments/tilde~/x",
    "a=b;c,d$e@f",
)


@pytest.fixture
def http_store(tmp_path, moto_endpoint):
    """An S3 provider on moto over real HTTP (the reader sends its own requests), bucket made."""
    app = make_storage_app(
        tmp_path, **s3_settings(unique_bucket(), S3_ENDPOINT_URL=moto_endpoint, S3_ADDRESSING_STYLE="path")
    )
    with app.app_context():
        provider = app.extensions["storage"].providers["s3"]
        provider.ensure_ready()
        yield provider
        empty_bucket(provider)


def read(provider, key: str) -> bytes:
    return b"".join(provider._direct().chunks(key))


def put_small(provider, key: str, body: bytes, **options):
    """save() of a body small enough for one direct PUT (its size known)."""
    return provider.save(key, io.BytesIO(body), size=len(body), **options)


@pytest.mark.parametrize("key", KEYS)
def test_reads_every_key_botocore_writes(http_store, key):
    data = f"bytes of {key}".encode() * 1000
    http_store.save(key, io.BytesIO(data))
    assert read(http_store, key) == data


@pytest.mark.parametrize("style", ["path", "virtual", "auto"])
@pytest.mark.parametrize("endpoint", ["", "https://minio.example.test:9000"])
def test_object_urls_are_the_ones_botocore_builds(tmp_path, style, endpoint):
    app = make_storage_app(
        tmp_path,
        **s3_settings("portal-files", S3_ENDPOINT_URL=endpoint, S3_ADDRESSING_STYLE=style, S3_REGION="eu-west-2"),
    )
    with app.app_context():
        provider = app.extensions["storage"].providers["s3"]
        reader = provider._direct()
        for key in KEYS:
            link = provider.client.generate_presigned_url("get_object", Params={"Bucket": "portal-files", "Key": key})
            parts = urlsplit(link)
            assert reader.url(key) == f"{parts.scheme}://{parts.netloc}{parts.path}"


@contextmanager
def store_checking_signatures(endpoint: str):
    """moto answering only requests signed with an IAM user's key (made here, allowed s3:*); yields the key."""
    iam = boto3.client(
        "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    user = f"reader-{unique_bucket()}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0").raise_for_status()
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf").raise_for_status()


def test_a_store_that_checks_signatures_accepts_ours_and_refuses_a_wrong_secret(tmp_path, http_store, moto_endpoint):
    data = b"signed and checked" * 500
    http_store.save("attachments/checked.bin", io.BytesIO(data))
    with store_checking_signatures(moto_endpoint) as (key_id, secret):

        def provider(secret_key: str):
            app = make_storage_app(
                tmp_path,
                **s3_settings(
                    http_store.bucket, S3_ENDPOINT_URL=moto_endpoint, S3_ACCESS_KEY=key_id, S3_SECRET_KEY=secret_key
                ),
            )
            return app.extensions["storage"].providers["s3"]

        assert read(provider(secret), "attachments/checked.bin") == data
        with pytest.raises(StorageMisconfigured, match=r"refused \(403\); check the credentials") as refused:
            read(provider(secret + "x"), "attachments/checked.bin")
        assert secret not in str(refused.value) and key_id not in str(refused.value)


def test_credentials_come_from_the_environment_when_none_are_configured(
    tmp_path, http_store, moto_endpoint, monkeypatch
):
    http_store.save("attachments/env.bin", io.BytesIO(b"from the chain"))
    with store_checking_signatures(moto_endpoint) as (key_id, secret):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        app = make_storage_app(tmp_path, STORAGE_TYPE="s3", S3_BUCKET=http_store.bucket, S3_ENDPOINT_URL=moto_endpoint)
        provider = app.extensions["storage"].providers["s3"]
        assert read(provider, "attachments/env.bin") == b"from the chain"


def test_no_credentials_anywhere_is_a_clear_message(tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    app = make_storage_app(tmp_path, STORAGE_TYPE="s3", S3_BUCKET="portal-files", S3_ENDPOINT_URL="http://127.0.0.1:9")
    provider = app.extensions["storage"].providers["s3"]
    with pytest.raises(StorageMisconfigured, match="no S3 credentials were found; set S3_ACCESS_KEY and S3_SECRET_KEY"):
        read(provider, "attachments/any.bin")


# -- small PUTs -------------------------------------------------------------------------------------


def head(provider, key: str) -> dict:
    return provider.client.head_object(Bucket=provider.bucket, Key=key, ChecksumMode="ENABLED")


def test_a_small_put_leaves_what_save_leaves(http_store):
    data = b"a small file " * 700
    sha256 = hashlib.sha256(data).hexdigest()
    with s3_like_checksums():
        http_store.save(
            "attachments/saved", io.BytesIO(data), content_type="application/pdf", metadata={"portal-envelope": "none"}
        )
        stored = put_small(
            http_store,
            "attachments/direct",
            data,
            content_type="application/pdf",
            metadata={"portal-envelope": "none"},
            expected_sha256=sha256,
        )
    assert (stored.size, stored.sha256, stored.store_sha256) == (len(data), sha256, sha256)
    saved, direct_head = head(http_store, "attachments/saved"), head(http_store, "attachments/direct")
    for field in ("ContentLength", "ContentType", "Metadata", "ChecksumSHA256"):
        assert direct_head[field] == saved[field], field
    assert direct_head["Metadata"] == {"portal-sha256": sha256, "portal-envelope": "none"}
    assert read(http_store, "attachments/direct") == data
    assert http_store.stat("attachments/direct").sha256 == sha256


def test_stat_reports_the_stores_own_checksum_and_none_for_a_multipart_object(http_store):
    small, large = b"checked by the store" * 100, b"L" * (THRESHOLD + 1)
    with s3_like_checksums():
        http_store.save("attachments/sdk", io.BytesIO(small))
        put_small(http_store, "attachments/direct", small)
        http_store.save("attachments/parts", io.BytesIO(large))
    sha256 = hashlib.sha256(small).hexdigest()
    assert http_store.stat("attachments/sdk").store_sha256 == sha256
    assert http_store.stat("attachments/direct").store_sha256 == sha256
    parts = http_store.stat("attachments/parts")
    assert (parts.size, parts.store_sha256) == (len(large), None)  # a checksum of part checksums, if any


def test_a_small_put_carries_the_configured_server_side_encryption(tmp_path, moto_endpoint):
    app = make_storage_app(tmp_path, **s3_settings(unique_bucket(), S3_ENDPOINT_URL=moto_endpoint, S3_SSE="aes256"))
    with app.app_context():
        provider = app.extensions["storage"].providers["s3"]
        provider.ensure_ready()
        put_small(provider, "attachments/sealed", b"sealed at rest")
        assert head(provider, "attachments/sealed")["ServerSideEncryption"] == "AES256"
        empty_bucket(provider)


def test_bytes_other_than_expected_are_not_sent(http_store):
    with pytest.raises(StorageIntegrityError, match="does not match"):
        put_small(
            http_store, "attachments/wrong", b"these bytes", expected_sha256=hashlib.sha256(b"others").hexdigest()
        )
    assert list(http_store.list("attachments/")) == []


@pytest.mark.parametrize(
    "body, metadata, message",
    [
        (b"x", {"Bad Name": "v"}, "metadata name"),
        (b"x", {"name": "caf\u00e9"}, "printable ASCII"),
    ],
)
def test_bad_small_puts_are_refused_before_any_request(http_store, body, metadata, message):
    with pytest.raises(ValueError, match=message):
        put_small(http_store, "attachments/refused", body, metadata=metadata)
    assert list(http_store.list("attachments/")) == []


def test_a_body_over_the_direct_limit_is_refused_before_any_request(http_store):
    with pytest.raises(ValueError, match="at most"):
        s3_direct.put_small(
            http_store._direct(), "attachments/refused", b"x" * (SMALL_PUT_MAX + 1), metadata={}, sse={}
        )
    assert list(http_store.list("attachments/")) == []


def test_save_sends_a_body_of_known_small_size_directly_and_a_larger_one_through_the_sdk(http_store):
    puts = []
    http_store.client.meta.events.register("before-call.s3.PutObject", lambda **kwargs: puts.append(kwargs))
    put_small(http_store, "attachments/direct", b"d" * SMALL_PUT_MAX)
    put_small(http_store, "attachments/sdk", b"s" * (SMALL_PUT_MAX + 1))
    http_store.save("attachments/unsized", io.BytesIO(b"u" * 10))  # no size: the SDK's one PUT
    assert [call["params"]["url_path"].rsplit("/", 1)[1] for call in puts] == ["sdk", "unsized"]
    assert [read(http_store, key) for key in ("attachments/direct", "attachments/sdk", "attachments/unsized")] == [
        b"d" * SMALL_PUT_MAX,
        b"s" * (SMALL_PUT_MAX + 1),
        b"u" * 10,
    ]


def test_a_store_that_checks_signatures_takes_our_put_and_refuses_a_wrong_secret(tmp_path, http_store, moto_endpoint):
    with store_checking_signatures(moto_endpoint) as (key_id, secret):

        def provider(secret_key: str):
            app = make_storage_app(
                tmp_path,
                **s3_settings(
                    http_store.bucket, S3_ENDPOINT_URL=moto_endpoint, S3_ACCESS_KEY=key_id, S3_SECRET_KEY=secret_key
                ),
            )
            return app.extensions["storage"].providers["s3"]

        put_small(provider(secret), "attachments/signed", b"signed and checked")
        with pytest.raises(StorageMisconfigured, match="was refused") as refused:
            put_small(provider(secret + "x"), "attachments/forged", b"forged")
        assert secret not in str(refused.value) and key_id not in str(refused.value)
    assert read(http_store, "attachments/signed") == b"signed and checked"
    assert [item.key for item in http_store.list("attachments/")] == ["attachments/signed"]


def test_a_store_that_rejects_the_bytes_is_an_integrity_error(http_store, monkeypatch):
    from moto.s3.responses import S3Response

    def bad_digest(self, response_headers):
        raise BadDigest()

    monkeypatch.setattr(S3Response, "_get_checksum", bad_digest)
    with pytest.raises(StorageIntegrityError, match=r"checksum mismatch \(BadDigest\)"):
        put_small(http_store, "attachments/garbled", b"garbled on the way")


@pytest.fixture
def busy_store(http_store, monkeypatch):
    """The store answers 503 SlowDown to the next ``busy_store["refusals"]`` object PUTs; backoff waits are
    recorded, not slept."""
    from moto.s3.responses import S3Response

    original = S3Response._key_response_put
    state = {"refusals": 0, "waits": []}

    def put(self, *args, **kwargs):
        if state["refusals"]:
            state["refusals"] -= 1
            return 503, {}, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Response, "_key_response_put", put)
    monkeypatch.setattr(s3_direct, "_backoff", state["waits"].append)
    return state


def test_a_busy_store_is_tried_again(http_store, busy_store):
    busy_store["refusals"] = 2
    put_small(http_store, "attachments/patient", b"third time lucky")
    assert busy_store["waits"] == [1, 2]
    assert read(http_store, "attachments/patient") == b"third time lucky"


def test_a_store_busy_on_every_attempt_is_unavailable(http_store, busy_store):
    busy_store["refusals"] = 3
    with pytest.raises(StorageUnavailable, match=r"is unavailable \(SlowDown\); try again later"):
        put_small(http_store, "attachments/never", b"never stored")
    assert busy_store["waits"] == [1, 2]
    assert list(http_store.list("attachments/")) == []


def test_an_unreachable_store_is_tried_again_then_unavailable(tmp_path, monkeypatch):
    waits = []
    monkeypatch.setattr(s3_direct, "_backoff", waits.append)
    app = make_storage_app(
        tmp_path, **s3_settings("portal-files", S3_ENDPOINT_URL=f"http://127.0.0.1:{closed_port()}", S3_MAX_ATTEMPTS=2)
    )
    with app.app_context():
        provider = app.extensions["storage"].providers["s3"]
        with pytest.raises(StorageUnavailable, match="cannot be reached"):
            put_small(provider, "attachments/nowhere", b"nowhere to go")
    assert waits == [1]


class _Answer:
    """An error answer as urllib3 hands it over: a status and a body that may break off."""

    def __init__(self, status: int, body: bytes | Exception):
        self.status, self._body = status, body

    def read(self, amount=None, decode_content=True) -> bytes:
        if isinstance(self._body, Exception):
            raise self._body
        return self._body[:amount]


@pytest.mark.parametrize(
    "answer, code",
    [
        (_Answer(400, b"<Error><Code>BadDigest</Code><Message>no</Message></Error>"), "BadDigest"),
        (_Answer(502, b"<html><body>Bad Gateway</body></html>"), "502"),  # a proxy's page: the status is the code
        (_Answer(500, b""), "500"),
    ],
)
def test_error_answers_are_read_for_their_code(answer, code):
    error = s3_direct._client_error(answer, "PutObject")
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == answer.status


def test_an_error_answer_that_breaks_off_still_gives_its_status():
    import urllib3

    error = s3_direct._client_error(_Answer(503, urllib3.exceptions.ProtocolError("reset")), "PutObject")
    assert error.response["Error"]["Code"] == "503"
