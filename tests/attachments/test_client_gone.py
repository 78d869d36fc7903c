"""A browser that goes away mid-upload is an everyday event: logged at INFO, nothing saved, no ERROR line."""

from __future__ import annotations

import io
import logging

from tests.support.files import PDF, multipart, rows, stored_keys


class CutOff(io.RawIOBase):
    """A request body whose connection resets after ``limit`` bytes, as a closed tab's does."""

    def __init__(self, body: bytes, limit: int) -> None:
        self._body, self._limit, self._at = body, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._at >= self._limit:
            raise ConnectionResetError(104, "Connection reset by peer")
        chunk = self._body[self._at : min(self._limit, self._at + len(buffer))]
        buffer[: len(chunk)] = chunk
        self._at += len(chunk)
        return len(chunk)


def test_a_tab_closed_mid_upload_is_logged_at_info_and_saves_nothing(staff_client, document, caplog):
    body, content_type = multipart([("big.pdf", PDF * 200)])
    caplog.set_level(logging.INFO)
    response = staff_client.post(
        f"/documents/{document.id}/attachments",
        content_type=content_type,
        environ_overrides={
            "wsgi.input": io.BufferedReader(CutOff(body, len(body) // 2)),
            "CONTENT_LENGTH": str(len(body)),
        },
    )
    assert response.status_code == 400
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert rows() == ([], []) and stored_keys() == []


def test_a_reset_connection_that_reaches_the_error_pages_is_info_not_error(staff_client, document, caplog, monkeypatch):
    """Servers differ in what a reset socket raises; one that raises ConnectionResetError from the body's
    read reaches the OSError page, which must not take it for a failing disk."""
    from portal.documents import attachment_routes

    def reset(*args, **kwargs):
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(attachment_routes, "streamed_files", reset)
    caplog.set_level(logging.INFO)
    body, content_type = multipart([("big.pdf", PDF)])
    response = staff_client.post(f"/documents/{document.id}/attachments", data=body, content_type=content_type)
    assert response.status_code == 400
    assert "The request was cut off before it finished. Nothing was saved." in response.get_data(as_text=True)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert any(
        record.levelno == logging.INFO and "client went away" in record.getMessage() for record in caplog.records
    )
