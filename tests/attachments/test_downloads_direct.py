"""Who gets which bytes, and how: decide_download and decide_view called directly, without a request.

Each test stores its file through the service (no upload request) and checks the decision, then what a
browser gets from it: the signed link followed, or the route's answer for a stream or a legacy file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, event, update
from werkzeug.datastructures import ETags, IfRange, Range
from werkzeug.exceptions import NotFound, RequestedRangeNotSatisfiable

from portal.documents.attachment_routes import _response
from portal.documents.downloads import (
    Conditions,
    LegacyFile,
    NotViewable,
    Redirect,
    Streamed,
    decide_download,
    decide_view,
    forget_download,
)
from portal.documents.file_rules import IncomingFile
from portal.documents.service import DocumentStorageService
from portal.expiring_cache import Recent
from portal.extensions import db, storage
from portal.models import Attachment
from portal.storage.base import ObjectNotFound, StorageUnavailable
from portal.storage.keys import DecryptionError
from tests.support.apps import Clock
from tests.support.files import PDF, PNG, legacy_row
from tests.support.keys import keypair
from tests.support.watched import Watched

SIZE = len(PDF)
SHA = hashlib.sha256(PDF).hexdigest()
PAYLOAD = os.urandom(300_000)  # several 64 KiB segments when encrypted
SANDBOX = "default-src 'none'; sandbox"
VIEW_SANDBOX = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def conditions(
    byte_range: Range | None = None,
    *,
    if_range: IfRange | None = None,
    if_none_match: ETags | None = None,
    head: bool = False,
) -> Conditions:
    return Conditions(byte_range, if_range or IfRange(), if_none_match or ETags(), head)


def delete_elsewhere(attachment_id: int) -> None:
    """Another worker process's delete as seen from here: the row is gone, nothing else changed."""
    db.session.execute(delete(Attachment).where(Attachment.id == attachment_id))
    db.session.commit()
    db.session.expunge_all()


def served(app, answer):
    """What the browser gets for a decision: the signed link followed, or the route's answer; body read."""
    if isinstance(answer, Redirect):
        response = app.test_client().get(answer.url)
    else:
        with app.test_request_context():
            response = _response(answer)
        response.direct_passthrough = False
    response.get_data()
    response.close()
    return response


class WatchedList(list):
    piece: int | None = None


def failing(error: Exception):
    raise error
    yield b""  # a generator: the error comes with the first read, as a store's does


@pytest.fixture
def store_file(app, document, staff_user):
    """``store_file(name, content)``: an attachment stored through the service, as an upload stores it."""

    def store(name: str, content: bytes) -> Attachment:
        incoming = IncomingFile(name, "", io.BytesIO(content))
        (row,) = DocumentStorageService().add_attachments(document.id, [incoming], staff_user)
        return row

    return store


@pytest.fixture
def pdf(store_file) -> Attachment:
    return store_file("r.pdf", PDF)


@pytest.fixture
def clock(app) -> Clock:
    """One clock for the kept links and the store's reachability."""
    clock = Clock()
    app.extensions["recent_download_links"] = Recent(clock=clock)
    app.extensions["store_reachable"] = Recent(clock=clock)
    return clock


@pytest.fixture
def handed_out():
    """``handed_out(store)``: (downloads, bytes) counted for ``store`` since the test began."""

    def read(store: str) -> tuple[float, float]:
        labels = {"store": store}
        return (
            REGISTRY.get_sample_value("portal_downloads_total", labels) or 0.0,
            REGISTRY.get_sample_value("portal_download_bytes_total", labels) or 0.0,
        )

    before = {store: read(store) for store in ("local", "legacy")}
    return lambda store: tuple(now - then for now, then in zip(read(store), before[store], strict=True))


class Answers:
    """A store's answer to "are you there?", set by the test; counts how often it was asked."""

    up = True
    asked = 0

    def reachable(self) -> bool:
        self.asked += 1
        return self.up


@pytest.fixture
def store_answers(app, monkeypatch) -> Answers:
    """The local store's answers."""
    answers = Answers()
    monkeypatch.setattr(storage.get("local"), "reachable", answers.reachable)
    return answers


@pytest.fixture
def watched(monkeypatch) -> list[Watched]:
    """Every stream the service opens, watched; set ``watched.piece`` to have them arrive in small pieces."""
    streams = WatchedList()
    open_row = DocumentStorageService.open

    def spy(service, row, byte_range=None):
        stream = Watched(open_row(service, row, byte_range), streams.piece)
        streams.append(stream)
        return stream

    monkeypatch.setattr(DocumentStorageService, "open", spy)
    return streams


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return keypair(tmp_path_factory.mktemp("keys"))


# -- a redirect to the store ---------------------------------------------------------------------


def test_a_stored_file_is_a_link_to_its_bytes_as_a_sandboxed_attachment(app, store_file, handed_out):
    row = store_file("Prüfbericht 2026.pdf", PDF)
    answer = decide_download(row.id, conditions())
    assert isinstance(answer, Redirect) and answer.filename == "Prüfbericht 2026.pdf"
    response = served(app, answer)
    assert response.status_code == 200 and response.get_data() == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Prufbericht 2026.pdf\"; filename*=UTF-8''Pr%C3%BCfbericht%202026.pdf"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == SANDBOX
    assert handed_out("local") == (1, SIZE)


def recorded_as(row: Attachment, content_type: str) -> Attachment:
    """``row`` as recorded before the portal decided types: with the type its uploader declared."""
    db.session.execute(update(Attachment).where(Attachment.id == row.id).values(content_type=content_type))
    db.session.commit()
    return row


def test_a_link_serves_the_type_the_portal_decided_not_the_recorded_one(app, store_file):
    row = recorded_as(store_file("page.html", b"<p>hi</p>"), "text/plain")
    response = served(app, decide_download(row.id, conditions()))
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.get_data() == b"<p>hi</p>"


def test_a_repeated_download_is_the_same_link_without_reading_the_row(app, clock, pdf, handed_out):
    first = decide_download(pdf.id, conditions())
    delete_elsewhere(pdf.id)
    assert decide_download(pdf.id, conditions()) == first == Redirect(first.url, "r.pdf")
    assert handed_out("local") == (2, 2 * SIZE)


def test_a_link_forgotten_here_is_not_handed_out_again(app, clock, pdf):
    decide_download(pdf.id, conditions())
    forget_download(pdf.id)
    delete_elsewhere(pdf.id)
    with pytest.raises(NotFound):
        decide_download(pdf.id, conditions())


def test_a_link_loaded_while_the_attachment_was_forgotten_is_not_kept(app, clock, pdf):
    """A delete in this process while the row was being read: the link read with that row is not kept."""
    attachment_id = pdf.id
    db.session.expunge_all()
    deleted_meanwhile = []

    def forget_once(*args):
        if not deleted_meanwhile:
            deleted_meanwhile.append(True)
            forget_download(attachment_id)

    event.listen(db.engine, "before_cursor_execute", forget_once)
    try:
        assert isinstance(decide_download(attachment_id, conditions()), Redirect)
    finally:
        event.remove(db.engine, "before_cursor_execute", forget_once)
    assert deleted_meanwhile
    delete_elsewhere(attachment_id)
    with pytest.raises(NotFound):
        decide_download(attachment_id, conditions())


class TestShortLinks:
    @pytest.fixture
    def app_config(self):
        return {"LOCAL_URL_EXPIRES": 20, "DOWNLOAD_CACHE_SECONDS": 30}

    def test_a_link_is_kept_for_a_tenth_of_its_lifetime(self, app, clock, pdf):
        first = decide_download(pdf.id, conditions())
        delete_elsewhere(pdf.id)
        clock.now += 1.99
        assert decide_download(pdf.id, conditions()) == first
        clock.now += 0.01
        with pytest.raises(NotFound):
            decide_download(pdf.id, conditions())


class TestShortCache:
    @pytest.fixture
    def app_config(self):
        return {"LOCAL_URL_EXPIRES": 3600, "DOWNLOAD_CACHE_SECONDS": 1}

    def test_a_link_is_kept_for_download_cache_seconds_when_that_is_shorter(self, app, clock, pdf):
        first = decide_download(pdf.id, conditions())
        delete_elsewhere(pdf.id)
        clock.now += 0.99
        assert decide_download(pdf.id, conditions()) == first
        clock.now += 0.01
        with pytest.raises(NotFound):
            decide_download(pdf.id, conditions())


# -- a store that does not answer ----------------------------------------------------------------

DOWN = "the local store does not answer, so no download link was handed out"


class TestUnreachableStore:
    @pytest.fixture
    def app_config(self):
        return {"DOWNLOAD_CACHE_SECONDS": 30}  # a link kept longer than the store's answer (5 s)

    def test_a_store_that_does_not_answer_gets_no_link_for_two_seconds(
        self, app, clock, pdf, store_answers, handed_out
    ):
        store_answers.up = False
        with pytest.raises(StorageUnavailable, match=f"^{DOWN}$"):
            decide_download(pdf.id, conditions())
        store_answers.up = True
        clock.now += 1.99
        with pytest.raises(StorageUnavailable, match=f"^{DOWN}$"):
            decide_download(pdf.id, conditions())
        assert store_answers.asked == 1 and handed_out("local") == (0, 0)
        clock.now += 0.01
        assert isinstance(decide_download(pdf.id, conditions()), Redirect)
        assert store_answers.asked == 2 and handed_out("local") == (1, SIZE)

    def test_a_store_that_answered_is_asked_again_after_five_seconds(self, app, clock, store_file, store_answers):
        first, second = store_file("a.pdf", PDF), store_file("b.pdf", PDF)
        decide_download(first.id, conditions())
        decide_download(second.id, conditions())
        clock.now += 4.99
        decide_download(first.id, conditions())
        assert store_answers.asked == 1
        clock.now += 0.01
        decide_download(second.id, conditions())
        assert store_answers.asked == 2

    def test_a_kept_link_is_not_handed_out_while_its_store_is_down(self, app, clock, pdf, store_answers, handed_out):
        decide_download(pdf.id, conditions())
        store_answers.up = False
        clock.now += 5
        with pytest.raises(StorageUnavailable, match=f"^{DOWN}$"):
            decide_download(pdf.id, conditions())
        assert handed_out("local") == (1, SIZE)


class TestKeptLinkToAnotherStore:
    @pytest.fixture
    def app_config(self):
        # Presigning asks nothing of the store: nothing needs to listen at the endpoint.
        return {
            "S3_BUCKET": "portal-links",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "S3_ACCESS_KEY": "testing-access",
            "S3_SECRET_KEY": "testing-secret",
            "S3_REGION": "us-east-1",
            "DOWNLOAD_CACHE_SECONDS": 30,
        }

    def test_a_kept_link_is_checked_against_its_own_store(
        self, app, clock, document, staff_user, store_answers, monkeypatch
    ):
        s3 = Answers()
        monkeypatch.setattr(storage.get("s3"), "reachable", s3.reachable)
        row = Attachment(
            document_id=document.id,
            uploaded_by=staff_user.id,
            filename="r.pdf",
            content_type="application/pdf",
            size=SIZE,
            sha256=SHA,
            storage_type="s3",
            storage_path="attachments/r",
        )
        db.session.add(row)
        db.session.commit()
        first = decide_download(row.id, conditions())
        assert first.url.startswith("http://127.0.0.1:9/portal-links/attachments/r?")
        s3.up = False
        clock.now += 5
        with pytest.raises(
            StorageUnavailable, match="^the s3 store does not answer, so no download link was handed out$"
        ):
            decide_download(row.id, conditions())
        assert store_answers.asked == 0


# -- a file from before object storage -----------------------------------------------------------


def test_a_legacy_file_is_its_file_on_disk_as_a_sandboxed_attachment(app, document, tmp_path, handed_out):
    row = legacy_row(document, tmp_path / "storage", "legacy/2019/old scan.pdf")
    answer = decide_download(row.id, conditions())
    path = tmp_path / "storage" / "legacy" / "2019" / "old scan.pdf"
    assert answer == LegacyFile(path, "old scan.pdf", "application/pdf")
    response = served(app, answer)
    assert response.get_data() == PDF and response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="old scan.pdf"'
    assert response.headers["Content-Security-Policy"] == SANDBOX
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert handed_out("legacy") == (1, SIZE)


def test_a_legacy_file_is_served_as_the_type_its_name_allows_not_the_recorded_one(app, document, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "legacy/page.html", b"<p>hi</p>")  # recorded as a PDF
    assert decide_download(row.id, conditions()).content_type == "application/octet-stream"


def test_a_missing_legacy_file_is_not_found_naming_it(app, document, tmp_path, handed_out):
    row = legacy_row(document, tmp_path / "storage", "legacy/gone.pdf")
    (tmp_path / "storage" / "legacy" / "gone.pdf").unlink()
    with pytest.raises(ObjectNotFound, match=r"^legacy file 'legacy/gone.pdf' is missing$"):
        decide_download(row.id, conditions())
    assert handed_out("legacy") == (0, 0)


@pytest.mark.parametrize("decide", [decide_download, decide_view], ids=["download", "view"])
def test_a_row_with_no_file_recorded_is_not_found(app, document, decide):
    """Neither a stored object nor a legacy file: the bytes are missing (404), not the store set up wrong (503)."""
    row = Attachment(document_id=document.id, filename="x.pdf", content_type="application/pdf", size=1)
    db.session.add(row)
    db.session.commit()
    with pytest.raises(ObjectNotFound, match="^this attachment has neither a storage path nor a legacy file path$"):
        decide(row.id, conditions())


# -- streamed through the portal -----------------------------------------------------------------


def streamed(answer) -> tuple[Streamed, bytes]:
    """The decision without its body, and the body's bytes."""
    assert isinstance(answer, Streamed)
    return dataclasses.replace(answer, body=()), b"".join(answer.body)


class TestProxy:
    @pytest.fixture
    def app_config(self):
        return {"DOWNLOAD_MODE": "proxy"}

    def test_the_whole_file_is_streamed_as_a_sandboxed_attachment(self, app, pdf, handed_out):
        answer = decide_download(pdf.id, conditions())
        response = served(app, answer)
        assert dataclasses.replace(answer, body=()) == Streamed("r.pdf", "application/pdf", SIZE, SHA)
        assert response.status_code == 200 and response.get_data() == PDF
        assert response.headers["Content-Length"] == str(SIZE)
        assert response.headers["Content-Disposition"] == 'attachment; filename="r.pdf"'
        assert response.headers["Content-Security-Policy"] == SANDBOX
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert handed_out("local") == (1, SIZE)

    def test_a_stream_is_served_as_the_type_its_name_allows_not_the_recorded_one(self, app, store_file):
        row = recorded_as(store_file("page.html", b"<p>hi</p>"), "text/plain")
        answer, body = streamed(decide_download(row.id, conditions()))
        assert answer.content_type == "application/octet-stream" and body == b"<p>hi</p>"

    def test_a_range_is_streamed_and_counted_as_asked(self, app, pdf, handed_out):
        answer, body = streamed(decide_download(pdf.id, conditions(Range("bytes", [(5, 25)]))))
        assert answer == Streamed("r.pdf", "application/pdf", SIZE, SHA, (5, 24)) and body == PDF[5:25]
        assert handed_out("local") == (1, 20)

    def test_a_range_to_the_end_is_streamed(self, app, pdf):
        answer, body = streamed(decide_download(pdf.id, conditions(Range("bytes", [(10, None)]))))
        assert answer.byte_range == (10, SIZE - 1) and body == PDF[10:]
        response = served(app, decide_download(pdf.id, conditions(Range("bytes", [(10, None)]))))
        assert response.status_code == 206 and response.headers["Content-Range"] == f"bytes 10-{SIZE - 1}/{SIZE}"

    def test_a_range_past_the_end_is_416_saying_the_size(self, app, pdf, handed_out):
        with pytest.raises(RequestedRangeNotSatisfiable) as refused:
            decide_download(pdf.id, conditions(Range("bytes", [(SIZE, None)])))
        assert refused.value.get_response().headers["Content-Range"] == f"bytes */{SIZE}"
        assert handed_out("local") == (0, 0)

    @pytest.mark.parametrize(
        "asked",
        [Range("bytes", [(0, 5), (10, 15)]), Range("items", [(0, 5)])],
        ids=["two ranges", "other units"],
    )
    def test_anything_but_one_byte_range_gets_the_whole_file(self, app, pdf, asked):
        answer, body = streamed(decide_download(pdf.id, conditions(asked)))
        assert answer.byte_range is None and body == PDF

    def test_a_range_if_the_file_is_unchanged_is_honoured(self, app, pdf):
        answer, body = streamed(decide_download(pdf.id, conditions(Range("bytes", [(0, 5)]), if_range=IfRange(SHA))))
        assert answer.byte_range == (0, 4) and body == PDF[:5]

    def test_a_range_if_the_file_is_another_gets_the_whole_file(self, app, pdf):
        """The browser holds part of another version: it needs all of this one."""
        asked = conditions(Range("bytes", [(0, 4)]), if_range=IfRange("0" * 64))
        answer, body = streamed(decide_download(pdf.id, asked))
        assert answer.byte_range is None and body == PDF

    def test_a_copy_the_browser_has_is_not_modified_and_nothing_is_opened(self, app, pdf, watched, handed_out):
        answer = decide_download(pdf.id, conditions(if_none_match=ETags([SHA])))
        assert answer == Streamed("r.pdf", "application/pdf", SIZE, SHA, not_modified=True)
        assert watched == [] and handed_out("local") == (0, 0)

    def test_a_copy_of_another_file_is_answered_with_this_one(self, app, pdf):
        answer, body = streamed(decide_download(pdf.id, conditions(if_none_match=ETags(["0" * 64]))))
        assert not answer.not_modified and body == PDF

    def test_a_file_without_a_checksum_is_never_not_modified(self, app, pdf):
        db.session.execute(update(Attachment).where(Attachment.id == pdf.id).values(sha256=None))
        db.session.commit()
        answer, body = streamed(decide_download(pdf.id, conditions(if_none_match=ETags(star_tag=True))))
        assert answer == Streamed("r.pdf", "application/pdf", SIZE, None) and body == PDF

    def test_head_gets_the_answer_without_opening_the_file(self, app, pdf, watched, handed_out):
        answer = decide_download(pdf.id, conditions(Range("bytes", [(5, 25)]), head=True))
        assert answer == Streamed("r.pdf", "application/pdf", SIZE, SHA, (5, 24))
        assert watched == [] and handed_out("local") == (0, 0)

    def test_an_empty_file_streams_nothing(self, app, store_file, tmp_path, handed_out):
        row = store_file("notes.txt", b"x")
        (tmp_path / "storage" / row.storage_path).write_bytes(b"")
        db.session.execute(update(Attachment).where(Attachment.id == row.id).values(size=0))
        db.session.commit()
        answer, body = streamed(decide_download(row.id, conditions()))
        assert answer.size == 0 and body == b""
        assert handed_out("local") == (1, 0)

    def test_a_finished_download_closes_the_store_stream(self, app, pdf, watched):
        assert b"".join(decide_download(pdf.id, conditions()).body) == PDF
        assert [stream.closed for stream in watched] == [True]

    def test_an_abandoned_download_closes_the_store_stream(self, app, pdf, watched):
        watched.piece = 100
        body = decide_download(pdf.id, conditions()).body
        assert next(body) == PDF[:100]
        body.close()  # what the server does when the browser goes away
        assert [stream.closed for stream in watched] == [True]

    def test_a_stream_the_store_answers_with_nothing_ends_cleanly(self, app, pdf, monkeypatch):
        """S3 answers a range past the end of an object shorter than its row with no bytes (nothing to close):
        the browser gets fewer bytes than Content-Length, not an error in the portal."""
        monkeypatch.setattr(DocumentStorageService, "open", lambda *args: iter(()))
        assert b"".join(decide_download(pdf.id, conditions()).body) == b""

    def test_a_store_that_fails_on_the_first_read_fails_the_request(self, app, pdf, monkeypatch, caplog):
        stream = Watched(failing(StorageUnavailable("the store hung up")))
        monkeypatch.setattr(DocumentStorageService, "open", lambda *args: stream)
        with pytest.raises(StorageUnavailable, match="the store hung up"):
            decide_download(pdf.id, conditions())
        assert stream.closed
        assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []

    def test_bytes_that_fail_their_check_on_the_first_read_fail_the_request_logged(self, app, pdf, monkeypatch, caplog):
        stream = Watched(failing(DecryptionError("segment 0 failed")))
        monkeypatch.setattr(DocumentStorageService, "open", lambda *args: stream)
        with pytest.raises(DecryptionError):
            decide_download(pdf.id, conditions())
        assert stream.closed
        assert [record.getMessage() for record in caplog.records] == [
            f"download of attachment {pdf.id} (r.pdf) refused: segment 0 failed"
        ]


class TestEncrypted:
    @pytest.fixture
    def app_config(self, keys):
        _, public, private = keys
        return {
            "STORAGE_ENCRYPTION": "hybrid",
            "STORAGE_ENCRYPTION_PUBLIC_KEY": public,
            "STORAGE_ENCRYPTION_PRIVATE_KEYS": [private],
        }

    def test_an_encrypted_file_is_streamed_decrypted_even_in_redirect_mode(self, app, store_file):
        row = store_file("secret.bin", PAYLOAD)
        answer, body = streamed(decide_download(row.id, conditions()))
        assert answer.content_type == "application/octet-stream" and body == PAYLOAD

    def test_a_tampered_first_segment_fails_the_request_logged(self, app, store_file, tmp_path, caplog):
        row = store_file("secret.bin", PAYLOAD)
        flip(tmp_path / "storage" / row.storage_path, 1000)
        with pytest.raises(DecryptionError) as refused:
            decide_download(row.id, conditions())
        assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == [
            f"download of attachment {row.id} (secret.bin) refused: {refused.value}"
        ]

    def test_a_tampered_later_segment_stops_after_true_bytes_logged(self, app, store_file, tmp_path, caplog):
        row = store_file("secret.bin", PAYLOAD)
        flip(tmp_path / "storage" / row.storage_path, 150_000)
        body = decide_download(row.id, conditions()).body
        received = bytearray()
        with pytest.raises(DecryptionError) as stopped:
            for chunk in body:
                received += chunk
        assert 0 < len(received) < 150_000 and bytes(received) == PAYLOAD[: len(received)]
        assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == [
            f"download of attachment {row.id} (secret.bin) stopped: {stopped.value}"
        ]

    def test_an_encrypted_image_is_shown_inline_decrypted(self, app, store_file):
        row = store_file("scan.png", PNG)
        answer, body = streamed(decide_view(row.id, conditions()))
        assert answer == Streamed("scan.png", "image/png", len(PNG), row.sha256, disposition="inline")
        assert body == PNG


def flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# -- shown inline --------------------------------------------------------------------------------

TEXT = "Minutes — Straße\n".encode() * 100


@pytest.mark.parametrize(
    "name, content, served_as",
    [("scan.png", PNG, "image/png"), ("minutes.txt", TEXT, "text/plain; charset=utf-8")],
)
def test_a_viewable_file_is_a_link_that_shows_it_inline_in_a_sandbox(app, store_file, name, content, served_as):
    row = store_file(name, content)
    answer = decide_view(row.id, conditions())
    assert isinstance(answer, Redirect) and answer.filename == name
    response = served(app, answer)
    assert response.get_data() == content and response.headers["Content-Type"] == served_as
    assert response.headers["Content-Disposition"] == f'inline; filename="{name}"'
    assert response.headers["Content-Security-Policy"] == VIEW_SANDBOX
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("page.html", b"<p>hi</p>", "page.html is not a viewable type"),
        ("table.csv", b"a,b\n1,2\n", "table.csv is not a viewable type"),
        ("sheet.docx", b"PK\x03\x04" + bytes(100), "sheet.docx is not a viewable type"),
    ],
)
def test_a_file_of_a_type_not_shown_inline_is_not_viewable(app, store_file, name, content, reason):
    row = store_file(name, content)
    with pytest.raises(NotViewable, match=f"^{reason}$"):
        decide_view(row.id, conditions())


def test_the_name_not_the_recorded_type_decides_what_is_shown(app, store_file):
    """A row recorded before the portal decided types: markup that claimed to be plain text."""
    row = recorded_as(store_file("page.html", b"<p>hi</p>"), "text/plain")
    with pytest.raises(NotViewable, match="^page.html is not a viewable type$"):
        decide_view(row.id, conditions())


def test_a_file_without_an_extension_is_shown_as_its_recorded_type(app, store_file):
    row = store_file("pasted", PNG)
    response = served(app, decide_view(row.id, conditions()))
    assert response.get_data() == PNG and response.headers["Content-Type"] == "image/png"
    assert response.headers["Content-Disposition"] == 'inline; filename="pasted"'


def test_an_empty_file_is_not_viewable(app, store_file, tmp_path):
    row = store_file("empty.txt", b"x")
    (tmp_path / "storage" / row.storage_path).write_bytes(b"")
    db.session.execute(update(Attachment).where(Attachment.id == row.id).values(size=0))
    db.session.commit()
    with pytest.raises(NotViewable, match="^empty.txt is not a viewable type$"):
        decide_view(row.id, conditions())


def test_bytes_that_do_not_match_the_name_are_not_viewable(app, store_file, tmp_path):
    """A row recorded before the portal checked types: the bytes read back now decide."""
    row = store_file("scan.png", PNG)
    (tmp_path / "storage" / row.storage_path).write_bytes(PDF)
    with pytest.raises(NotViewable, match="^scan.png does not hold what its name says$"):
        decide_view(row.id, conditions())


def test_an_object_the_store_answers_with_nothing_is_not_viewable(app, store_file, monkeypatch):
    """S3's answer for an object shorter than its row: no bytes, and nothing to close."""
    row = store_file("scan.png", PNG)
    monkeypatch.setattr(DocumentStorageService, "open", lambda *args: iter(()))
    with pytest.raises(NotViewable, match="^scan.png does not hold what its name says$"):
        decide_view(row.id, conditions())


def test_a_view_reads_back_only_the_first_kilobyte_and_closes_it(app, store_file, watched):
    row = store_file("minutes.txt", TEXT)
    decide_view(row.id, conditions())
    assert [(stream.read, stream.closed) for stream in watched] == [(1024, True)]


def test_a_small_file_is_read_back_whole_to_be_viewed(app, store_file, watched):
    row = store_file("scan.png", PNG[:100])
    decide_view(row.id, conditions())
    assert [(stream.read, stream.closed) for stream in watched] == [(100, True)]


def test_a_first_kilobyte_arriving_in_small_pieces_is_checked_whole(app, store_file, watched):
    watched.piece = 3  # an S3 body arrives in pieces of any size
    row = store_file("scan.png", PNG)
    assert isinstance(decide_view(row.id, conditions()), Redirect)


@pytest.mark.parametrize("control_at, shown", [(1023, False), (1024, True)])
def test_a_text_file_is_judged_by_its_first_kilobyte(app, store_file, tmp_path, control_at, shown):
    row = store_file("minutes.txt", TEXT)
    content = bytearray(TEXT)
    content[control_at] = 0
    (tmp_path / "storage" / row.storage_path).write_bytes(bytes(content))
    if shown:
        assert isinstance(decide_view(row.id, conditions()), Redirect)
    else:
        with pytest.raises(NotViewable):
            decide_view(row.id, conditions())


def test_a_legacy_file_is_shown_inline_from_disk(app, document, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "legacy/old.pdf")
    answer = decide_view(row.id, conditions())
    assert answer == LegacyFile(tmp_path / "storage" / "legacy" / "old.pdf", "old.pdf", "application/pdf", "inline")
    response = served(app, answer)
    assert response.get_data() == PDF
    assert response.headers["Content-Disposition"] == 'inline; filename="old.pdf"'
    assert response.headers["Content-Security-Policy"] == VIEW_SANDBOX


class TestProxyView:
    @pytest.fixture
    def app_config(self):
        return {"DOWNLOAD_MODE": "proxy"}

    def test_a_viewable_file_is_streamed_inline_in_a_sandbox(self, app, store_file):
        row = store_file("minutes.txt", TEXT)
        answer = decide_view(row.id, conditions(Range("bytes", [(0, 10)])))
        response = served(app, answer)
        assert dataclasses.replace(answer, body=()) == Streamed(
            "minutes.txt", "text/plain; charset=utf-8", len(TEXT), row.sha256, (0, 9), disposition="inline"
        )
        assert response.status_code == 206 and response.get_data() == TEXT[:10]
        assert response.headers["Content-Disposition"] == 'inline; filename="minutes.txt"'
        assert response.headers["Content-Security-Policy"] == VIEW_SANDBOX
