"""The download service decides the answer from the row and the parsed conditions alone, with no request."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import ETags, IfRange, Range
from werkzeug.exceptions import NotFound, RequestedRangeNotSatisfiable

from portal.documents.downloads import Conditions, LegacyFile, Redirect, Streamed, decide_download
from portal.storage.base import ObjectNotFound
from tests.support.files import PDF, legacy_row, rows, upload


def conditions(byte_range: Range | None = None, if_none_match: ETags | None = None, head: bool = False) -> Conditions:
    return Conditions(byte_range, IfRange(), if_none_match or ETags(), head)


@pytest.fixture
def attachment(staff_client, document):
    upload(staff_client, document.id, ("r.pdf", PDF))
    return rows()[0][-1]


def test_a_local_object_is_a_redirect_to_a_signed_link(app, attachment):
    answer = decide_download(attachment.id, conditions())
    assert isinstance(answer, Redirect) and answer.url.startswith("/files/")


def test_a_legacy_row_is_its_file_on_disk(app, document, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "legacy/old.pdf")
    answer = decide_download(row.id, conditions())
    assert isinstance(answer, LegacyFile) and answer.path.read_bytes() == PDF
    assert (answer.filename, answer.content_type) == ("old.pdf", "application/pdf")


def test_a_legacy_row_whose_file_is_gone_is_not_found(app, document, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "legacy/old.pdf")
    (tmp_path / "storage" / "legacy" / "old.pdf").unlink()
    with pytest.raises(ObjectNotFound):
        decide_download(row.id, conditions())


def test_no_such_attachment_is_404(app):
    with pytest.raises(NotFound):
        decide_download(999, conditions())


class TestProxy:
    @pytest.fixture
    def app_config(self):
        return {"DOWNLOAD_MODE": "proxy"}

    def test_a_range_is_streamed_as_asked(self, app, attachment):
        answer = decide_download(attachment.id, conditions(Range("bytes", [(5, 25)])))
        assert isinstance(answer, Streamed) and answer.byte_range == (5, 24) and answer.size == len(PDF)
        assert b"".join(answer.body) == PDF[5:25]

    def test_a_known_etag_is_not_modified_and_opens_nothing(self, app, attachment):
        answer = decide_download(attachment.id, conditions(if_none_match=ETags([attachment.sha256])))
        assert isinstance(answer, Streamed) and answer.not_modified and answer.body == ()

    def test_head_opens_nothing(self, app, attachment):
        answer = decide_download(attachment.id, conditions(head=True))
        assert isinstance(answer, Streamed) and not answer.not_modified and answer.body == ()

    def test_a_range_past_the_end_is_416(self, app, attachment):
        with pytest.raises(RequestedRangeNotSatisfiable):
            decide_download(attachment.id, conditions(Range("bytes", [(len(PDF), None)])))
