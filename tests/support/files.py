"""What the attachment tests send and look at: sample files, upload and staging requests, rows and stored keys."""

from __future__ import annotations

import io
import uuid

from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from portal.extensions import db, storage
from portal.models import Attachment, AttachmentStaging

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40 + b"%%EOF\n"


def legacy_row(document, root, filepath: str, content: bytes = PDF) -> Attachment:
    """A row from before object storage: only a ``filepath`` under ``root`` (LEGACY_FILES_ROOT), file on disk."""
    path = root / filepath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    row = Attachment(
        document_id=document.id,
        filename=path.name,
        content_type="application/pdf",
        size=len(content),
        filepath=filepath,
    )
    db.session.add(row)
    db.session.commit()
    return row


def multipart(files: list[tuple[str, bytes]], **fields: str) -> tuple[bytes, str]:
    """A multipart/form-data body (fields first, as the portal's forms send them) and its content type.

    Built in memory: werkzeug's test client spools large bodies to a temporary file it never closes.
    """
    values = MultiDict(list(fields.items()))
    for name, content in files:
        values.add("files", FileStorage(io.BytesIO(content), filename=name))
    boundary, body = encode_multipart(values)
    return body, f"multipart/form-data; boundary={boundary}"


def declared(files: list[tuple[str, bytes, int | str]]) -> tuple[bytes, str]:
    """A body as the page's script sends it: each file right after a ``size`` field declaring its length."""
    boundary = "declared" + uuid.uuid4().hex
    body = bytearray()
    for name, content, size in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="size"\r\n\r\n{size}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


def upload(client, document_id: int, *files: tuple[str, bytes], json: bool = False, **kwargs):
    """POST files to a document's direct-upload form."""
    body, content_type = multipart(list(files))
    headers = {"Accept": "application/json"} if json else {}
    return client.post(
        f"/documents/{document_id}/attachments", data=body, headers=headers, content_type=content_type, **kwargs
    )


def stage(client, *files: tuple[str, bytes]):
    body, content_type = multipart(list(files))
    return client.post("/staging", data=body, headers={"Accept": "application/json"}, content_type=content_type)


def stored_keys() -> list[str]:
    """Every object key the default store holds (what an operator listing the bucket or folder sees)."""
    return sorted(obj.key for obj in storage.default.list(""))


def purge_trash():
    """Empty the trash now (what `flask storage purge-trash` does once the retention has passed)."""
    from datetime import timedelta

    from portal.documents.trash import TrashService

    return TrashService().purge(timedelta(0))


def rows() -> tuple[list[Attachment], list[AttachmentStaging]]:
    db.session.expire_all()
    return db.session.query(Attachment).all(), db.session.query(AttachmentStaging).all()


def downloaded(client, attachment_id: int) -> bytes:
    """Follow the download link like a browser: the redirect, then the signed or presigned URL."""
    with client.get(f"/attachments/{attachment_id}/download") as response:
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 200:
            return response.get_data()
        location = response.headers["Location"]
    with client.get(location) as response:
        assert response.status_code == 200
        return response.get_data()


def owed_keys() -> list[str]:
    """The keys whose deletion the cleanup outbox still owes a store."""
    from portal.cleanup.outbox import OUTBOX

    with db.engine.connect() as conn:
        return list(conn.execute(select(OUTBOX.c.key)).scalars())
