"""Upkeep suite fixtures: a clock moved by sleeping, attachments written through the portal's own service."""

from __future__ import annotations

import io

import pytest

from portal.documents.file_rules import IncomingFile
from portal.documents.service import DocumentStorageService
from portal.models import Attachment
from tests.support.scrub import FakeTime


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def add(app, document, staff_user):
    """add(data, name) -> the Attachment, written to STORAGE_TYPE (encrypted when STORAGE_ENCRYPTION is on)."""

    def add(data: bytes, name: str = "scan.bin") -> Attachment:
        [row] = DocumentStorageService().add_attachments(
            document.id, [IncomingFile(name, "application/octet-stream", io.BytesIO(data))], staff_user
        )
        return row

    return add
