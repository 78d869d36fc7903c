"""A small office's portal, as rows: four accounts, documents with many attachments, migration runs.

Only the rows the pages list are written (no file bytes): these fixtures are for how pages look.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.auth.service import create_user
from portal.extensions import db
from portal.migration.models import MigrationItem, MigrationRun
from portal.models import Attachment, Document
from tests.support.accounts import PASSWORD

#: when the busy document was created: 20:23 in Berlin (CET), 08:23 the next day in Auckland (NZDT)
CREATED = datetime(2026, 11, 29, 19, 23, tzinfo=UTC)

_OPENXML = "application/vnd.openxmlformats-officedocument."
FILES = [
    (
        "Angebot_Rahmenvertrag_Stadtwerke_Musterstadt_2026_final_überarbeitet.docx",
        _OPENXML + "wordprocessingml.document",
        48_213,
    ),
    ("Kostenaufstellung Q4 2026 (Entwurf).xlsx", _OPENXML + "spreadsheetml.sheet", 1_572_864),
    ("Scan_Unterschrift_Geschäftsführung.pdf", "application/pdf", 3_407_872),
    ("Präsentation Vorstand.pptx", _OPENXML + "presentationml.presentation", 24_117_248),
    ("Foto Baustelle Nord.jpeg", "image/jpeg", 5_242_880),
    ("Protokoll.txt", "text/plain; charset=utf-8", 900),
    ("Anlagen_komplett.zip", "application/zip", 1_288_490_189),
    ("export.bin", "application/octet-stream", 1),
    ("Lieferantenliste.csv", "text/csv", 20_480),
    ("Sprachnotiz.m4a", "audio/mp4", 734_003),
    ("Rundmail an alle Mitarbeiterinnen und Mitarbeiter.eml", "message/rfc822", 61_440),
    ("Bericht.odt", "application/vnd.oasis.opendocument.text", 102_400),
]
LOCATIONS = ("local", "s3", "legacy")


@dataclass(frozen=True)
class Office:
    admin_email: str
    staff_email: str
    busy_document_id: int
    run_id: int


def _user(email: str, name: str, is_admin: bool = False):
    return create_user(email, name, PASSWORD, is_admin=is_admin)


def _attachment(document: Document, index: int, uploader_id: int) -> Attachment:
    name, content_type, size = FILES[index % len(FILES)]
    location = LOCATIONS[index % len(LOCATIONS)]
    row = Attachment(
        document_id=document.id,
        filename=name if index < len(FILES) else f"{index:02d} {name}",
        content_type=content_type,
        size=size + index,
        uploaded_by=uploader_id,
        created_at=CREATED - timedelta(minutes=7 * index),
        encryption="x25519:office-key:wrapped" if index % 4 == 0 else None,
    )
    if location == "legacy":
        row.filepath = f"legacy/2019/{index}/{name}"
    else:
        row.storage_type, row.storage_path = location, f"attachments/2026/11/{index:032x}"
    return row


def _runs(admin_id: int) -> int:
    """A finished migration with failures, a verification and one still running; returns the finished one's id."""
    finished = MigrationRun(
        kind="migrate",
        target="s3",
        status="completed",
        options=json.dumps(
            {"batch_size": 100, "workers": 4, "verify": "auto", "include_staging": True, "delete_source": False}
        ),
        items_total=3000,
        bytes_total=7_301_444_403,
        items_claimed=3000,
        items_done=2998,
        items_failed=2,
        bytes_done=7_301_000_000,
        created_by=admin_id,
        created_from="dashboard",
        created_at=CREATED,
        started_at=CREATED,
        heartbeat_at=CREATED + timedelta(seconds=1789),
        finished_at=CREATED + timedelta(seconds=1789),
        message="2998 moved, 2 failed",
    )
    db.session.add(finished)
    db.session.flush()
    for row_id, source in (
        (17, "legacy/2019/Projektunterlagen/Stadtwerke/Angebot_Rahmenvertrag_final_v3.docx"),
        (2291, "legacy/2021/Personal/Zeugnis_Müller.pdf"),
    ):
        db.session.add(
            MigrationItem(
                run_id=finished.id,
                table_name="attachment",
                row_id=row_id,
                status="failed",
                source=source,
                error="the local file is missing (No such file or directory)",
            )
        )
    db.session.add(
        MigrationRun(
            kind="verify",
            target="s3",
            status="completed",
            options=json.dumps({"deep": True}),
            items_total=2998,
            items_done=2998,
            created_by=admin_id,
            created_from="cli",
            created_at=CREATED + timedelta(hours=1),
            started_at=CREATED + timedelta(hours=1),
            finished_at=CREATED + timedelta(hours=1, minutes=4),
        )
    )
    now = datetime.now(UTC)
    db.session.add(
        MigrationRun(
            kind="migrate",
            target="s3",
            status="running",
            active=1,
            options=json.dumps(
                {"batch_size": 100, "workers": 4, "verify": "readback", "include_staging": True, "delete_source": True}
            ),
            items_total=3000,
            bytes_total=7_301_444_403,
            items_done=1210,
            bytes_done=2_147_483_648,
            created_by=admin_id,
            created_from="dashboard",
            created_at=now - timedelta(minutes=10),
            started_at=now - timedelta(minutes=10),
            heartbeat_at=now,
        )
    )
    return finished.id


def furnish_office(attachments: int = 30, documents: int = 24) -> Office:
    """Write the office's rows; the first document (the busy one) has ``attachments`` attachments."""
    admin = _user("ada.admin@example.com", "Ada Admin", is_admin=True)
    staff = _user("sabine.schmidt@example.com", "Sabine Schmidt")
    _user("juergen.mueller-luedenscheidt@buchhaltung.example.com", "Jürgen Müller-Lüdenscheidt")
    _user("kim@example.com", "Kim Okafor")
    busy = Document(
        title="Rahmenvertrag Stadtwerke Musterstadt – Angebot, Kalkulation und Unterschriften",
        description="Alles zum Rahmenvertrag 2026.\nAnsprechpartner: Herr Dr. Brandt "
        "(https://example.com/stadtwerke/rahmenvertrag/2026/angebot-und-kalkulation)",
        created_by=staff.id,
        created_at=CREATED,
    )
    db.session.add(busy)
    for number in range(1, documents):
        db.session.add(
            Document(
                title=f"Vorgang {number:03d}: Rechnung und Lieferschein",
                created_by=admin.id,
                created_at=CREATED - timedelta(days=number),
            )
        )
    db.session.flush()
    db.session.add_all(_attachment(busy, index, staff.id if index % 2 else admin.id) for index in range(attachments))
    run_id = _runs(admin.id)
    db.session.commit()
    return Office(admin.email, staff.email, busy.id, run_id)
