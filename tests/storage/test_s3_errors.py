"""What a botocore failure becomes (s3_errors): the StorageError of each error code, status and exception, its
exact message, the endpoint as messages name it, and a GetObject body whose failures arrive translated."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from portal.storage.base import (
    CHUNK_SIZE,
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageUnavailable,
)
from portal.storage.s3_errors import TranslatedChunks, endpoint_label, translate

ENDPOINT = "http://minio:9000"
WHERE = f"bucket 'files' at {ENDPOINT}"


def client_error(code: str | None, status: int | None = 400) -> ClientError:
    response: dict = {}
    if code is not None:
        response["Error"] = {"Code": code, "Message": "detail SignatureProvided=abc AKIASECRET"}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "GetObject")


def translated(exc: Exception, key: str | None = "attachments/a") -> StorageError:
    return translate(exc, bucket="files", endpoint=ENDPOINT, key=key)


def assert_translated(exc: Exception, kind: type, message: str, key: str | None = "attachments/a") -> None:
    result = translated(exc, key)
    assert (type(result), str(result)) == (kind, message)


@pytest.mark.parametrize("code", ["NoSuchKey", "NotFound", "404"])
def test_a_missing_object_names_its_key_the_bucket_and_the_endpoint(code):
    assert_translated(client_error(code, 404), ObjectNotFound, f"no object at 'attachments/a' in {WHERE}")


@pytest.mark.parametrize("code", ["NoSuchKey", "NotFound", "404", "NoSuchBucket"])
def test_not_found_without_a_key_is_a_missing_bucket(code):
    message = f"bucket 'files' does not exist at {ENDPOINT}; create it with `flask storage init`"
    assert_translated(client_error(code, 404), StorageMisconfigured, message, key=None)


def test_no_such_bucket_is_a_missing_bucket_even_for_a_key():
    message = f"bucket 'files' does not exist at {ENDPOINT}; create it with `flask storage init`"
    assert_translated(client_error("NoSuchBucket", 404), StorageMisconfigured, message)


def test_an_invalid_bucket_name_names_the_setting():
    assert_translated(
        client_error("InvalidBucketName"), StorageMisconfigured, "S3_BUCKET 'files' is not a valid bucket name"
    )


@pytest.mark.parametrize(
    "code",
    [
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AccountProblem",
        "AllAccessDisabled",
    ],
)
def test_a_refusal_of_access_points_at_the_keys_and_the_policy(code):
    message = f"access to {WHERE} was refused ({code}); check S3_ACCESS_KEY, S3_SECRET_KEY and the bucket policy"
    assert_translated(client_error(code, 400), StorageMisconfigured, message)


def test_a_403_without_a_code_is_a_refusal_of_access_named_by_its_status():
    message = f"access to {WHERE} was refused (403); check S3_ACCESS_KEY, S3_SECRET_KEY and the bucket policy"
    assert_translated(client_error("", 403), StorageMisconfigured, message)


@pytest.mark.parametrize(
    "code", ["PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "301", "400"]
)
def test_a_wrong_region_or_endpoint_names_the_settings_to_check(code):
    message = f"{WHERE} answered {code}; check S3_REGION, S3_ENDPOINT_URL and S3_ADDRESSING_STYLE"
    assert_translated(client_error(code, 400), StorageMisconfigured, message)


@pytest.mark.parametrize(
    "code", ["BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch"]
)
def test_a_checksum_refusal_is_an_integrity_error_naming_the_key(code):
    message = f"{WHERE} rejected the bytes of 'attachments/a': checksum mismatch ({code})"
    assert_translated(client_error(code, 400), StorageIntegrityError, message)


@pytest.mark.parametrize(
    "code", ["SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeTooSkewed"]
)
def test_a_busy_store_is_unavailable_for_now(code):
    message = f"{WHERE} is unavailable ({code}); try again later"
    assert_translated(client_error(code, 400), StorageUnavailable, message)


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_without_a_known_code_is_unavailable_named_by_its_status(status):
    assert_translated(
        client_error("", status), StorageUnavailable, f"{WHERE} is unavailable ({status}); try again later"
    )


def test_a_server_error_keeps_its_unknown_code_in_the_message():
    assert_translated(client_error("Boom", 502), StorageUnavailable, f"{WHERE} is unavailable (Boom); try again later")


@pytest.mark.parametrize(("code", "status", "named"), [("TeapotError", 418, "TeapotError"), ("", 499, "499")])
def test_any_other_refusal_is_a_storage_error_named_by_its_code_or_status(code, status, named):
    assert_translated(client_error(code, status), StorageError, f"{WHERE} refused the request ({named})")


def test_a_refusal_without_code_or_status_is_named_by_a_zero():
    assert_translated(client_error(None, None), StorageError, f"{WHERE} refused the request (0)")


def test_no_message_repeats_the_stores_detail_or_a_credential():
    for code in ("AccessDenied", "SignatureDoesNotMatch", "BadDigest", "SlowDown", "Teapot", "NoSuchKey"):
        message = str(translated(client_error(code, 403)))
        assert "SignatureProvided" not in message and "AKIASECRET" not in message and "detail" not in message


def test_a_storage_error_passes_through_as_it_is():
    error = ObjectNotFound("already translated")
    assert translated(error) is error


def test_a_body_failing_its_checksum_is_an_integrity_error_naming_the_key():
    assert_translated(
        FlexibleChecksumError(error_msg="crc32 mismatch"),
        StorageIntegrityError,
        f"the bytes of 'attachments/a' read from {WHERE} failed their checksum",
    )


@pytest.mark.parametrize(
    "error", [NoCredentialsError(), PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY")]
)
def test_missing_credentials_name_the_settings(error):
    assert_translated(error, StorageMisconfigured, "no S3 credentials were found; set S3_ACCESS_KEY and S3_SECRET_KEY")


@pytest.mark.parametrize(
    ("error", "what"),
    [
        (
            EndpointConnectionError(endpoint_url="http://user:pass@minio:9000/files/a?X-Amz-Signature=1"),
            "connection failed",
        ),
        (HTTPClientError(error="reset"), "connection failed"),
        (ResponseStreamingError(error="reset"), "connection failed"),
        (ConnectionRefusedError(111, "refused"), "connection failed"),
        (OSError("broken pipe"), "connection failed"),
        (ConnectTimeoutError(endpoint_url="http://minio:9000/files/a"), "timed out"),
        (ReadTimeoutError(endpoint_url="http://minio:9000/files/a"), "timed out"),
        (TimeoutError("timed out"), "timed out"),
    ],
)
def test_a_store_out_of_reach_says_whether_it_timed_out_and_names_only_the_endpoint(error, what):
    message = f"the store at {ENDPOINT} cannot be reached ({what}); check that it is running and S3_ENDPOINT_URL"
    assert_translated(error, StorageUnavailable, message)


@pytest.mark.parametrize("error", [ValueError("X-Amz-Signature=abc"), RuntimeError("secret")])
def test_anything_else_is_a_storage_error_named_by_its_type_only(error):
    assert_translated(error, StorageError, f"{WHERE} failed ({type(error).__name__})")


@pytest.mark.parametrize(
    ("url", "region", "label"),
    [
        (None, "eu-west-2", "AWS S3 (eu-west-2)"),
        ("", "us-east-1", "AWS S3 (us-east-1)"),
        ("http://minio:9000", "us-east-1", "http://minio:9000"),
        ("https://user:secret@s3.example.test:8443/prefix?token=1", "us-east-1", "https://s3.example.test:8443"),
        ("https://s3.example.test/prefix/", "us-east-1", "https://s3.example.test"),
        ("http://", "us-east-1", "http://"),
    ],
)
def test_the_endpoint_is_named_by_scheme_host_and_port_only(url, region, label):
    assert endpoint_label(url, region) == label


class Body:
    """A GetObject body: hands out ``chunks`` (an exception is raised in its turn) and records reads and closes."""

    def __init__(self, *chunks):
        self.chunks, self.asked, self.closed = list(chunks), [], 0

    def read(self, amount=None):
        self.asked.append(amount)
        chunk = self.chunks.pop(0) if self.chunks else b""
        if isinstance(chunk, Exception):
            raise chunk
        return chunk

    def close(self):
        self.closed += 1


def keyed(exc: Exception, key: str) -> StorageError:
    return translate(exc, bucket="files", endpoint=ENDPOINT, key=key)


def test_translated_chunks_give_the_body_a_chunk_at_a_time_and_close_it_at_the_end():
    body = Body(b"first", b"second")
    chunks = TranslatedChunks(body, "attachments/a", keyed)
    assert iter(chunks) is chunks
    assert list(chunks) == [b"first", b"second"]
    assert body.asked == [CHUNK_SIZE] * 3
    assert body.closed == 1


def test_translated_chunks_close_the_body_when_the_caller_stops_early():
    body = Body(b"first", b"second")
    chunks = TranslatedChunks(body, "attachments/a", keyed)
    assert next(chunks) == b"first"
    chunks.close()
    assert body.closed == 1


@pytest.mark.parametrize(
    ("failure", "kind", "message"),
    [
        (
            ResponseStreamingError(error="connection reset"),
            StorageUnavailable,
            f"the store at {ENDPOINT} cannot be reached (connection failed); check that it is running and S3_ENDPOINT_URL",
        ),
        (
            FlexibleChecksumError(error_msg="crc32 mismatch"),
            StorageIntegrityError,
            f"the bytes of 'attachments/b' read from {WHERE} failed their checksum",
        ),
        (client_error("NoSuchKey", 404), ObjectNotFound, f"no object at 'attachments/b' in {WHERE}"),
        (
            ConnectionResetError(104, "reset"),
            StorageUnavailable,
            f"the store at {ENDPOINT} cannot be reached (connection failed); check that it is running and S3_ENDPOINT_URL",
        ),
    ],
)
def test_a_body_that_fails_mid_stream_is_closed_and_fails_translated_for_its_key(failure, kind, message):
    body = Body(b"first", failure, b"never")
    chunks = TranslatedChunks(body, "attachments/b", keyed)
    assert next(chunks) == b"first"
    with pytest.raises(kind) as raised:
        next(chunks)
    assert str(raised.value) == message
    assert raised.value.__cause__ is failure
    assert body.closed == 1


def test_a_body_failure_that_is_not_a_store_error_is_left_as_it_is():
    body = Body(ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        next(TranslatedChunks(body, "attachments/a", keyed))
    assert body.closed == 0


def test_any_other_botocore_failure_of_a_body_is_a_storage_error_named_by_its_type():
    body = Body(BotoCoreError())
    with pytest.raises(StorageError) as raised:
        next(TranslatedChunks(body, "attachments/a", keyed))
    assert (type(raised.value), str(raised.value)) == (StorageError, f"{WHERE} failed (BotoCoreError)")
    assert body.closed == 1
