"""The S3 servers the suites run against over real HTTP: moto's threaded server and a Ceph RADOS Gateway.

A test (or a fixture it uses) that asks for ``s3_server`` runs once per server; ``pytest -m rgw``
selects the RGW runs. A test that needs moto's own APIs (its backend, its responses, the fidelity
patches) carries ``@pytest.mark.moto`` and runs on moto only; one about what only a real store does
carries ``@pytest.mark.rgw`` and runs on the RGW only. Where radosgw is not installed the
RGW runs are skipped with the reason, unless REQUIRE_RGW=1 makes that an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config

from tests.support.rgw import PACKAGES, Rgw, RgwUnavailable, missing_programs, running_rgw

SERVERS = ("moto", "rgw")
REQUIRE_RGW = os.environ.get("REQUIRE_RGW") == "1"


@dataclass(frozen=True)
class S3Server:
    """An S3 endpoint on 127.0.0.1 and the keys it takes (None where any key will do)."""

    name: str
    endpoint: str
    access_key: str | None = None
    secret_key: str | None = None

    @classmethod
    def of_rgw(cls, rgw: Rgw) -> S3Server:
        return cls("rgw", rgw.endpoint, rgw.access_key, rgw.secret_key)

    def keys(self, access_key: str, secret_key: str) -> dict[str, str]:
        """S3_ACCESS_KEY and S3_SECRET_KEY: the server's own, else the test's made-up ones."""
        return {"S3_ACCESS_KEY": self.access_key or access_key, "S3_SECRET_KEY": self.secret_key or secret_key}

    def client(self):
        """A plain boto3 client on this server, for looking behind the portal's back."""
        keys = self.keys("testing-access", "testing-secret")
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=keys["S3_ACCESS_KEY"],
            aws_secret_access_key=keys["S3_SECRET_KEY"],
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "total_max_attempts": 2}),
        )

    def remove_all_buckets(self) -> None:
        """Empty and delete every bucket (pending multipart uploads too): the RGW's memory is the OSD's RAM."""
        client = self.client()
        for bucket in client.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
                client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            client.delete_bucket(Bucket=name)


def rgw_skip_reason() -> str | None:
    """Why the RGW runs cannot happen here (None when they can)."""
    missing = missing_programs()
    if not missing:
        return None
    return f"Ceph RADOS Gateway not installed ({', '.join(missing)} missing): apt-get install {PACKAGES}"


def server_params(marked: set[str]) -> list:
    """The ``s3_server`` parameters of a test marked with ``marked`` (of moto, rgw): those, or both."""
    params = []
    if "rgw" not in marked or "moto" in marked:
        params.append(pytest.param("moto", id="moto"))
    if "moto" not in marked or "rgw" in marked:
        params.append(pytest.param("rgw", id="rgw", marks=pytest.mark.rgw))
    return params


def skip_rgw_where_missing(items) -> None:
    """Collection hook body: skip rgw-marked tests with the reason, or stop the run if REQUIRE_RGW=1."""
    reason = rgw_skip_reason()
    if reason is None:
        return
    if REQUIRE_RGW:
        raise pytest.UsageError(f"REQUIRE_RGW=1 but {reason}")
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "rgw" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def rgw_server(tmp_path_factory) -> Iterator[Rgw]:
    """One RADOS Gateway for the whole run, started when a test first needs it."""
    reason = rgw_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    try:
        with running_rgw(str(tmp_path_factory.getbasetemp())) as rgw:
            yield rgw
    except RgwUnavailable as exc:
        pytest.fail(f"the RADOS Gateway did not start: {exc}", pytrace=False)


@pytest.fixture
def s3_server(request) -> Iterator[S3Server]:
    """The S3 server of this test (moto unless parametrised; tests/conftest.py parametrises it)."""
    name = getattr(request, "param", "moto")
    if name == "moto":
        yield S3Server("moto", request.getfixturevalue("moto_endpoint"))
        return
    rgw: Rgw = request.getfixturevalue("rgw_server")
    server = S3Server.of_rgw(rgw)
    yield server
    server.remove_all_buckets()  # a bucket per test, gone with it


def pytest_generate_tests(metafunc):
    """A test on ``s3_server`` runs on moto and on the RGW; one marked ``moto`` (or ``rgw``) on that one only."""
    if "s3_server" in metafunc.fixturenames:
        marked = {name for name in ("moto", "rgw") if metafunc.definition.get_closest_marker(name)}
        metafunc.parametrize("s3_server", server_params(marked), indirect=True)


def pytest_collection_modifyitems(config, items):
    skip_rgw_where_missing(items)
