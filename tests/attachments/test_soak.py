"""A bounded soak on a real S3 server: a few hundred uploads, downloads, deletes, restores and purges with a store
outage in the middle, then one `flask storage maintain` leaves nothing behind and every successful upload intact."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from portal.documents.service import DocumentStorageService
from portal.documents.trash import TrashService
from portal.extensions import db, storage
from portal.models import Attachment, AttachmentStaging, Document
from tests.support.files import multipart, rows, stored_keys
from tests.support.outbox import make_due, outbox
from tests.support.store_faults import refusing

pytestmark = pytest.mark.slow

STEPS = 300
OUTAGE = range(130, 145)  # the store answers 503 to everything in these steps
MiB = 1024 * 1024
JSON = {"Accept": "application/json"}


@pytest.fixture
def app_config(s3_app_config):
    return s3_app_config


class Soak:
    """The staff member's side: what was uploaded, what should be there, what went to the trash."""

    def __init__(self, client, rng: random.Random, outage):
        self.client, self.rng, self.outage = client, rng, outage
        self.expected: dict[int, bytes] = {}  # attachment id -> bytes, every upload that answered success
        self.trashed: set[int] = set()
        self.purged: set[int] = set()
        self.documents: list[int] = []
        self.serial = 0
        self.counts: dict[str, int] = {}

    def content(self) -> tuple[str, bytes]:
        self.serial += 1
        size = 6 * MiB + self.rng.randrange(1000) if self.rng.random() < 0.04 else self.rng.randrange(1, 300_000)
        return f"file-{self.serial}.bin", self.rng.randbytes(size)

    def answered(self, response, ok: int, name: str) -> bool:
        """True when the portal said success; otherwise the failure must be the user's mistake or the outage."""
        success = response.status_code == ok
        self.counts[f"{name} {'ok' if success else response.status_code}"] = (
            self.counts.get(f"{name} {'ok' if success else response.status_code}", 0) + 1
        )
        if not success:
            assert response.status_code == 400 or (self.outage.down and response.status_code == 503), (
                name,
                response.status_code,
                response.get_data(as_text=True)[:300],
            )
        return success

    def live(self) -> list[int]:
        return sorted(set(self.expected) - self.trashed - self.purged)

    # -- the operations --------------------------------------------------------------------------

    def new_document(self) -> None:
        response = self.client.post("/documents/new", data={"title": f"Soak {len(self.documents)}"})
        if response.status_code == 302:
            self.documents.append(int(re.search(r"/documents/(\d+)", response.headers["Location"]).group(1)))

    def upload_several(self) -> None:
        self.upload(count=3)

    def upload(self, count: int | None = None) -> None:
        files = [self.content() for _ in range(count or self.rng.randint(1, 3))]
        if self.rng.random() < 0.1:
            files.insert(self.rng.randrange(len(files) + 1), ("empty.bin", b""))  # refused: none of them is kept
        body, content_type = multipart(files)
        document = self.rng.choice(self.documents)
        response = self.client.post(
            f"/documents/{document}/attachments", data=body, headers=JSON, content_type=content_type
        )
        if self.answered(response, 201, "upload"):
            by_name = dict(files)
            for item in response.get_json()["files"]:
                self.expected[item["id"]] = by_name[item["filename"]]

    def stage_and_save(self) -> None:
        files = [self.content() for _ in range(self.rng.randint(1, 2))]
        body, content_type = multipart(files)
        response = self.client.post("/staging", data=body, headers=JSON, content_type=content_type)
        if not self.answered(response, 201, "stage"):
            return
        staged = [item["id"] for item in response.get_json()["files"]]
        if self.rng.random() < 0.3:  # changed their mind about one
            gone = staged.pop()
            self.answered(self.client.post(f"/staging/{gone}/delete", headers=JSON), 200, "unstage")
        if not staged:
            return
        response = self.client.post("/documents/new", data={"title": "From staging", "staged_ids": staged})
        if self.answered(response, 302, "save staged"):
            document = int(re.search(r"/documents/(\d+)", response.headers["Location"]).group(1))
            by_name = dict(files)
            for row in db.session.scalars(select(Attachment).where(Attachment.document_id == document)):
                self.expected[row.id] = by_name[row.filename]
        else:  # the staged files are still the user's; take them away again
            for staged_id in staged:
                self.client.post(f"/staging/{staged_id}/delete", headers=JSON)

    def download(self) -> None:
        live = self.live()
        if not live or self.outage.down:
            return
        attachment = self.rng.choice(live)
        response = self.client.get(f"/attachments/{attachment}/download")
        assert response.status_code == 302
        fetched = requests.get(response.headers["Location"], timeout=60)
        assert fetched.status_code == 200 and fetched.content == self.expected[attachment]
        self.counts["download ok"] = self.counts.get("download ok", 0) + 1

    def trash(self) -> None:
        live = self.live()
        if live:
            attachment = self.rng.choice(live)
            assert self.client.post(f"/attachments/{attachment}/delete").status_code == 302
            self.trashed.add(attachment)

    def restore(self) -> None:
        if self.trashed:
            attachment = self.rng.choice(sorted(self.trashed))
            assert self.client.post(f"/trash/attachments/{attachment}/restore").status_code == 302
            self.trashed.discard(attachment)

    def purge(self) -> None:
        if not self.trashed:
            return
        due = self.rng.sample(sorted(self.trashed), k=max(1, len(self.trashed) // 2))
        then = datetime.now(UTC) - timedelta(days=40)
        db.session.execute(Attachment.__table__.update().where(Attachment.id.in_(due)).values(deleted_at=then))
        db.session.commit()
        report = TrashService().purge(timedelta(days=30))
        assert report.attachments == len(due)
        assert bool(report.failed) <= self.outage.down  # deletes are owed only while the store is down
        self.trashed -= set(due)
        self.purged |= set(due)


def test_soak_leaves_nothing_behind_and_loses_nothing(app, staff_client, runner, s3_server):
    storage.default.ensure_ready()
    outage = refusing(storage.default, down=False)
    soak = Soak(staff_client, random.Random(18), outage)
    for _ in range(3):
        soak.new_document()
    operations = [soak.upload] * 5 + [soak.stage_and_save] * 2 + [soak.download] * 4
    operations += [soak.trash] * 2 + [soak.restore, soak.purge, soak.new_document]
    # in the outage, what lets objects go: uploads (the first file stored, the next refused), purges, promotions
    in_outage = [soak.upload] * 3 + [soak.trash, soak.purge, soak.stage_and_save, soak.restore]
    for step in range(STEPS):
        outage.down = step in OUTAGE
        if step == OUTAGE.start:
            outage.passes = 1  # it goes down in the middle of this step's upload
            soak.upload_several()
            continue
        soak.rng.choice(in_outage if outage.down else operations)()
    outage.down = False
    assert outage.refused > 0 and soak.counts.get("upload ok", 0) > 50, soak.counts

    owed = len(outbox())
    print(f"soak: {soak.counts}, {outage.refused} requests refused, {owed} deletions owed before maintain")
    assert owed > 0  # the outage left deletions to retry
    make_due()  # the backoff of deletions refused minutes ago has passed
    result = runner.invoke(args=["storage", "maintain", "--upload-age", "0s"])
    assert result.exit_code == 0, result.output
    assert outbox() == []
    assert list(storage.default.incomplete_uploads("")) == []
    orphans = runner.invoke(args=["storage", "orphans"])
    assert orphans.exit_code == 0 and "No orphans." in orphans.output, orphans.output

    attachments, staged = rows()
    assert sorted(stored_keys()) == sorted(row.storage_path for row in [*attachments, *staged])
    assert {row.id for row in attachments} == set(soak.expected) - soak.purged
    service = DocumentStorageService()
    for row in attachments:  # live and trashed alike, every byte
        assert b"".join(service.open(row)) == soak.expected[row.id], row.id
    assert db.session.scalar(select(db.func.count()).select_from(Document)) >= 3
    assert all(row.storage_path for row in db.session.scalars(select(AttachmentStaging)))
