"""Incomplete multipart uploads: listed and aborted by `orphans` and `maintain`; `init` sets the lifecycle rule."""

from __future__ import annotations

from portal.storage import s3_uploads

PART = b"p" * (5 * 1024 * 1024)  # S3's smallest part but the last


def start_upload(store, key: str = "attachments/2026/11/killed-mid-upload") -> str:
    """What a worker killed mid-upload leaves: a multipart upload with one part and no completion."""
    upload_id = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)["UploadId"]
    store.client.upload_part(Bucket=store.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=PART)
    return upload_id


def open_uploads(store) -> list[str]:
    return [item["Key"] for item in store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])]


def test_provider_lists_and_aborts_incomplete_uploads(store):
    upload_id = start_upload(store)
    [found] = list(store.incomplete_uploads("attachments/"))
    assert (found.key, found.upload_id, found.parts, found.size) == (
        "attachments/2026/11/killed-mid-upload",
        upload_id,
        1,
        len(PART),
    )
    assert found.started is not None
    assert list(store.incomplete_uploads("staging/")) == []
    store.abort_upload(found.key, found.upload_id)
    store.abort_upload(found.key, found.upload_id)  # already gone: still fine
    assert open_uploads(store) == []


def test_orphans_lists_incomplete_uploads_and_delete_aborts_them(runner, store):
    start_upload(store)
    report = runner.invoke(args=["storage", "orphans"])
    assert report.exit_code == 1
    assert "incomplete upload: s3:attachments/2026/11/killed-mid-upload started " in report.output
    assert "1 part(s), 5.0 MiB [kept]" in report.output and "1 orphan(s) remain." in report.output
    # moto reports every upload as started in 2010: an age no upload reaches stands in for "too new"
    young = runner.invoke(args=["storage", "orphans", "--delete", "--min-age", "1000w"])
    assert "[too new]" in young.output and open_uploads(store)
    aborted = runner.invoke(args=["storage", "orphans", "--delete", "--min-age", "0s"])
    assert "[aborted]" in aborted.output and aborted.exit_code == 0, aborted.output
    assert open_uploads(store) == []


def test_maintain_aborts_old_incomplete_uploads(runner, store):
    start_upload(store)
    kept = runner.invoke(args=["storage", "maintain", "--upload-age", "1000w"])
    assert "s3: 0 incomplete upload(s) aborted." in kept.output and open_uploads(store)
    result = runner.invoke(args=["storage", "maintain", "--upload-age", "0s"])
    assert result.exit_code == 0, result.output
    assert "s3: 1 incomplete upload(s) aborted." in result.output
    assert open_uploads(store) == []


def test_init_sets_the_abort_rule_and_keeps_other_rules(app, runner, store):
    other = {"ID": "keep-me", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}
    store.client.put_bucket_lifecycle_configuration(Bucket=store.bucket, LifecycleConfiguration={"Rules": [other]})
    result = runner.invoke(args=["storage", "init"])
    assert result.exit_code == 0, result.output
    assert "multipart uploads left incomplete are aborted after 7 day(s)" in result.output
    assert s3_uploads.abort_rule_days(store.client, store.bucket) == 7
    rules = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
    assert "keep-me" in {rule["ID"] for rule in rules}
    app.config["S3_ABORT_INCOMPLETE_DAYS"] = 0
    removed = runner.invoke(args=["storage", "init"])
    assert "no lifecycle rule for incomplete uploads (S3_ABORT_INCOMPLETE_DAYS=0)" in removed.output
    assert s3_uploads.abort_rule_days(store.client, store.bucket) is None


def test_init_says_so_when_the_store_takes_no_lifecycle_rules(runner, store, monkeypatch):
    from botocore.exceptions import ClientError

    def refuse(**kwargs):
        raise ClientError(
            {"Error": {"Code": "NotImplemented", "Message": "not here"}, "ResponseMetadata": {"HTTPStatusCode": 501}},
            "PutBucketLifecycleConfiguration",
        )

    monkeypatch.setattr(store.client, "put_bucket_lifecycle_configuration", refuse)
    result = runner.invoke(args=["storage", "init"])
    assert result.exit_code == 0, result.output  # the store works; only the rule is missing
    assert "s3: no lifecycle rule for incomplete uploads: bucket" in result.output
    assert "takes no lifecycle rules (NotImplemented); run `flask storage maintain` regularly" in result.output


def test_maintain_fails_when_a_store_cannot_list_its_uploads(runner, store, monkeypatch):
    from portal.storage.base import StorageUnavailable

    def unavailable(prefix=""):
        raise StorageUnavailable("the store is unavailable (503); try again later")

    monkeypatch.setattr(store, "incomplete_uploads", unavailable)
    result = runner.invoke(args=["storage", "maintain"])
    assert result.exit_code == 1
    assert "s3: incomplete uploads not checked: the store is unavailable" in result.output
