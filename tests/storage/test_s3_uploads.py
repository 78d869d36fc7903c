"""Incomplete multipart uploads (s3_uploads): what a listing shows of them, aborting one, and the lifecycle rule
that expires them, kept apart from the bucket's other rules. Bare providers under mock_aws: no app, no server;
a store's refusals are raised by a handler on the client, where botocore would raise them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from portal.storage.base import IncompleteUpload, StorageError, StorageMisconfigured
from portal.storage.s3 import S3StorageProvider
from portal.storage.s3_uploads import RULE_ID, abort, abort_rule_days, list_incomplete, set_abort_rule

BUCKET = "uploads"
MiB = 1024 * 1024


@pytest.fixture
def store():
    with mock_aws():
        provider = S3StorageProvider(BUCKET, access_key="AKIAUPLOADS", secret_key="uploads-secret")
        provider.ensure_ready()
        yield provider


@pytest.fixture
def client(store):
    return store.client


def start(client, key: str, *part_sizes: int) -> str:
    """A multipart upload of ``key`` left incomplete with parts of ``part_sizes`` bytes; its upload ID."""
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    for number, size in enumerate(part_sizes, start=1):
        client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=b"p" * size)
    return upload_id


def pending(client) -> list[tuple[str, str]]:
    return [
        (upload["Key"], upload["UploadId"])
        for upload in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    ]


def refuse(client, operation: str, code: str | None, status: int | None = None) -> None:
    """Make the store refuse every ``operation`` with ``code`` and/or HTTP ``status``."""
    response: dict = {}
    if code is not None:
        response["Error"] = {"Code": code, "Message": "refused"}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}

    def refused(**kwargs):
        raise ClientError(response, operation)

    client.meta.events.register_first(f"before-call.s3.{operation}", refused)


def rules(client) -> list[dict]:
    return client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]


# -- listing ---------------------------------------------------------------------------------------------


def test_each_incomplete_upload_is_listed_with_its_start_parts_and_bytes(client):
    big = start(client, "attachments/big", 5 * MiB, 123)
    empty = start(client, "attachments/empty")
    started = {
        upload["UploadId"]: upload["Initiated"] for upload in client.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    }

    listed = sorted(list_incomplete(client, BUCKET, "attachments/"), key=lambda upload: upload.key)

    assert listed == [
        IncompleteUpload("attachments/big", big, started[big], 2, 5 * MiB + 123),
        IncompleteUpload("attachments/empty", empty, started[empty], 0, 0),
    ]
    assert all(upload.started is not None for upload in listed)


def test_parts_a_store_lists_without_their_size_are_counted_and_add_no_bytes(client):
    upload_id = start(client, "attachments/a", 10, 20)

    def drop_sizes(parsed, **kwargs):
        for part in parsed.get("Parts", []):
            del part["Size"]

    client.meta.events.register("after-call.s3.ListParts", drop_sizes)
    (listed,) = list_incomplete(client, BUCKET, "")
    assert (listed.upload_id, listed.parts, listed.size) == (upload_id, 2, 0)


def test_a_listing_keeps_to_its_prefix(client):
    start(client, "attachments/a", 10)
    start(client, "other/b", 10)
    assert [upload.key for upload in list_incomplete(client, BUCKET, "attachments/")] == ["attachments/a"]
    assert sorted(upload.key for upload in list_incomplete(client, BUCKET, "")) == ["attachments/a", "other/b"]


def test_a_bucket_without_incomplete_uploads_lists_none(client):
    assert list(list_incomplete(client, BUCKET, "")) == []


def test_an_upload_completed_or_aborted_while_listed_is_left_out(client):
    gone = start(client, "attachments/gone", 10)
    kept = start(client, "attachments/kept", 10)

    def abort_first(params, **kwargs):
        if params["UploadId"] == gone:
            # another process finishes with it between the listing and its ListParts
            client.abort_multipart_upload(Bucket=BUCKET, Key="attachments/gone", UploadId=gone)

    client.meta.events.register_first("before-parameter-build.s3.ListParts", abort_first)
    assert [(upload.key, upload.upload_id) for upload in list_incomplete(client, BUCKET, "")] == [
        ("attachments/kept", kept)
    ]


def test_a_refused_part_listing_is_raised(client):
    start(client, "attachments/a", 10)
    refuse(client, "ListParts", "AccessDenied", 403)
    with pytest.raises(ClientError, match="AccessDenied"):
        list(list_incomplete(client, BUCKET, ""))


# -- aborting --------------------------------------------------------------------------------------------


def test_abort_removes_only_the_upload_named(client):
    first = start(client, "attachments/a", 10)
    second = start(client, "attachments/a", 10)
    abort(client, BUCKET, "attachments/a", first)
    assert pending(client) == [("attachments/a", second)]


def test_aborting_an_upload_already_gone_is_fine(client):
    upload_id = start(client, "attachments/a", 10)
    abort(client, BUCKET, "attachments/a", upload_id)
    abort(client, BUCKET, "attachments/a", upload_id)
    abort(client, BUCKET, "attachments/a", "no-such-upload")
    assert pending(client) == []


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), (None, 500)])
def test_any_other_refusal_of_an_abort_is_raised(client, code, status):
    upload_id = start(client, "attachments/a", 10)
    refuse(client, "AbortMultipartUpload", code, status)
    with pytest.raises(ClientError):
        abort(client, BUCKET, "attachments/a", upload_id)


# -- the lifecycle rule ----------------------------------------------------------------------------------


def test_the_rule_aborts_incomplete_uploads_of_the_whole_bucket_after_the_days_given(client):
    assert set_abort_rule(client, BUCKET, 1) is True
    assert rules(client) == [
        {
            "ID": RULE_ID,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
    assert abort_rule_days(client, BUCKET) == 1


def test_setting_the_rule_again_replaces_it_and_keeps_the_buckets_other_rules(client):
    other = {"ID": "keep-logs-30-days", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}
    client.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [other]})
    set_abort_rule(client, BUCKET, 7)
    set_abort_rule(client, BUCKET, 3)
    assert [rule["ID"] for rule in rules(client)] == ["keep-logs-30-days", RULE_ID]
    assert rules(client)[0] == other
    assert abort_rule_days(client, BUCKET) == 3


def test_zero_days_removes_the_rule_and_keeps_the_other_rules(client):
    other = {"ID": "keep-logs-30-days", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}
    client.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [other]})
    set_abort_rule(client, BUCKET, 7)
    assert set_abort_rule(client, BUCKET, 0) is True
    assert rules(client) == [other]
    assert abort_rule_days(client, BUCKET) is None


def test_zero_days_on_a_bucket_with_no_other_rule_leaves_no_lifecycle_configuration(client):
    set_abort_rule(client, BUCKET, 7)
    set_abort_rule(client, BUCKET, 0)
    with pytest.raises(ClientError, match="NoSuchLifecycleConfiguration"):
        client.get_bucket_lifecycle_configuration(Bucket=BUCKET)
    assert set_abort_rule(client, BUCKET, 0) is True  # nothing to remove is fine too
    assert abort_rule_days(client, BUCKET) is None


def test_the_rules_days_are_none_when_the_bucket_has_no_such_rule(client):
    assert abort_rule_days(client, BUCKET) is None
    client.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={
            "Rules": [{"ID": "other", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]
        },
    )
    assert abort_rule_days(client, BUCKET) is None


def test_a_lifecycle_configuration_answered_without_rules_counts_as_none(client):
    # Some S3-compatible stores answer an empty <LifecycleConfiguration/> rather than NoSuchLifecycleConfiguration.
    empty = [True]

    def answer_empty(**kwargs):
        if empty:
            return SimpleNamespace(status_code=200), {"ResponseMetadata": {"HTTPStatusCode": 200}}
        return None

    client.meta.events.register_first("before-call.s3.GetBucketLifecycleConfiguration", answer_empty)
    assert abort_rule_days(client, BUCKET) is None
    assert set_abort_rule(client, BUCKET, 4) is True
    empty.clear()
    assert [rule["ID"] for rule in rules(client)] == [RULE_ID]
    assert abort_rule_days(client, BUCKET) == 4


def test_a_rule_of_the_portals_name_that_aborts_nothing_has_no_days(client):
    client.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={
            "Rules": [{"ID": RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 9}}]
        },
    )
    assert abort_rule_days(client, BUCKET) is None


@pytest.mark.parametrize(
    ("operation", "code", "status", "named"),
    [
        ("GetBucketLifecycleConfiguration", "NotImplemented", 400, "NotImplemented"),
        ("GetBucketLifecycleConfiguration", "MethodNotAllowed", 400, "MethodNotAllowed"),
        ("PutBucketLifecycleConfiguration", "501", 400, "501"),
        ("PutBucketLifecycleConfiguration", "405", 400, "405"),
        ("PutBucketLifecycleConfiguration", "", 405, "405"),
        ("PutBucketLifecycleConfiguration", None, 501, "501"),
        ("PutBucketLifecycleConfiguration", "NotImplemented", None, "NotImplemented"),
    ],
)
def test_a_store_without_lifecycle_rules_is_misconfigured_and_told_what_to_run(client, operation, code, status, named):
    refuse(client, operation, code, status)
    with pytest.raises(StorageMisconfigured) as raised:
        set_abort_rule(client, BUCKET, 7)
    assert str(raised.value) == (
        f"bucket '{BUCKET}' takes no lifecycle rules ({named}); "
        "run `flask storage maintain` regularly to abort incomplete uploads"
    )
    assert isinstance(raised.value.__cause__, ClientError)


def test_a_store_that_cannot_remove_lifecycle_rules_is_misconfigured(client):
    refuse(client, "DeleteBucketLifecycle", "NotImplemented", 501)
    with pytest.raises(StorageMisconfigured, match=r"takes no lifecycle rules \(NotImplemented\)"):
        set_abort_rule(client, BUCKET, 0)


@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("GetBucketLifecycleConfiguration", "AccessDenied", 403),
        ("GetBucketLifecycleConfiguration", None, 500),
        ("PutBucketLifecycleConfiguration", "InternalError", 500),
    ],
)
def test_any_other_refusal_of_the_rule_is_raised_as_it_is(client, operation, code, status):
    refuse(client, operation, code, status)
    with pytest.raises(ClientError) as raised:
        set_abort_rule(client, BUCKET, 7)
    assert raised.value.response.get("Error", {}).get("Code") == code


def test_a_refused_read_of_the_rules_is_raised(client):
    refuse(client, "GetBucketLifecycleConfiguration", "AccessDenied", 403)
    with pytest.raises(ClientError, match="AccessDenied"):
        abort_rule_days(client, BUCKET)


# -- through the provider --------------------------------------------------------------------------------


def test_the_provider_lists_incomplete_uploads_and_logs_how_many(store, log_lines):
    start(store.client, "attachments/a", 10)
    start(store.client, "attachments/b", 10)
    start(store.client, "other/c", 10)
    assert sorted(upload.key for upload in store.incomplete_uploads("attachments/")) == [
        "attachments/a",
        "attachments/b",
    ]
    assert len(list(store.incomplete_uploads())) == 3
    assert list(store.incomplete_uploads("nothing/")) == []
    assert log_lines() == [
        ("incomplete_uploads", "attachments/", 2, "ok"),
        ("incomplete_uploads", "", 3, "ok"),
        ("incomplete_uploads", "nothing/", 0, "ok"),
    ]


def test_the_provider_aborts_an_upload_and_logs_it(store, log_lines):
    upload_id = start(store.client, "attachments/a", 10)
    store.abort_upload("attachments/a", upload_id)
    store.abort_upload("attachments/a", upload_id)
    assert pending(store.client) == []
    assert log_lines() == [("abort_upload", "attachments/a", None, "ok")] * 2


def test_the_provider_refuses_to_abort_under_an_unsafe_key(store):
    with pytest.raises(StorageError):
        store.abort_upload("../escape", "upload")


def test_the_provider_translates_a_refused_abort(store, log_lines):
    upload_id = start(store.client, "attachments/a", 10)
    refuse(store.client, "AbortMultipartUpload", "AccessDenied", 403)
    with pytest.raises(StorageMisconfigured, match="was refused"):
        store.abort_upload("attachments/a", upload_id)
    assert log_lines() == [("abort_upload", "attachments/a", None, "StorageMisconfigured")]


def test_the_provider_sets_the_rule_and_logs_it(store, log_lines):
    assert store.expire_incomplete_uploads(2) is True
    assert abort_rule_days(store.client, BUCKET) == 2
    refuse(store.client, "GetBucketLifecycleConfiguration", "AccessDenied", 403)
    with pytest.raises(StorageMisconfigured, match="was refused"):
        store.expire_incomplete_uploads(2)
    assert log_lines() == [
        ("expire_incomplete_uploads", None, None, "ok"),
        ("expire_incomplete_uploads", None, None, "StorageMisconfigured"),
    ]
