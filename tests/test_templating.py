"""What the templates show: times as <time> in PORTAL_TIMEZONE, friendly file types, locations for admins only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from portal import ConfigError, create_app
from portal.config import load_settings
from portal.extensions import db
from portal.file_kinds import BY_FAMILY, BY_TYPE, OTHER
from portal.models import Attachment, Document
from portal.templating import format_datetime

ROOT = Path(__file__).resolve().parent.parent
WINTER = datetime(2026, 11, 29, 19, 23, 5, tzinfo=UTC)
SUMMER = datetime(2026, 7, 1, 22, 5, tzinfo=UTC)


def test_the_time_zone_defaults_to_utc(tmp_path):
    assert load_settings({}, str(tmp_path))["PORTAL_TIMEZONE"] == "UTC"
    assert load_settings({"PORTAL_TIMEZONE": " Europe/Berlin "}, str(tmp_path))["PORTAL_TIMEZONE"] == "Europe/Berlin"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe", "utc", "../etc/passwd", "/etc/localtime", "Europe/"])
def test_a_zone_that_does_not_exist_stops_start_up(tmp_path, zone):
    with pytest.raises(ConfigError) as caught:
        load_settings({"PORTAL_TIMEZONE": zone}, str(tmp_path))
    assert str(caught.value) == (
        f"PORTAL_TIMEZONE={zone!r} is not a time zone; use an IANA name such as Europe/Berlin or UTC"
    )


def test_a_bad_zone_given_to_create_app_is_refused_too(tmp_path):
    with pytest.raises(ConfigError, match="PORTAL_TIMEZONE='Berlin' is not a time zone"):
        create_app({"INSTANCE_PATH": str(tmp_path), "PORTAL_TIMEZONE": "Berlin"}, environ={})


@pytest.fixture
def app_config():
    return {"PORTAL_TIMEZONE": "Europe/Berlin"}


@pytest.mark.parametrize(
    "value, shown",
    [
        (WINTER, '<time datetime="2026-11-29T19:23:05Z">29 Nov 2026, 20:23 CET</time>'),
        (SUMMER, '<time datetime="2026-07-01T22:05:00Z">2 Jul 2026, 00:05 CEST</time>'),
        (WINTER.replace(tzinfo=None), '<time datetime="2026-11-29T19:23:05Z">29 Nov 2026, 20:23 CET</time>'),
        (None, "—"),
    ],
)
def test_times_are_utc_in_the_markup_and_portal_timezone_in_the_text(app, value, shown):
    assert str(format_datetime(value)) == shown


def _busy_document(staff_user) -> Document:
    document = Document(title="Angebot", description="", created_by=staff_user.id, created_at=WINTER)
    db.session.add(document)
    db.session.flush()
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    db.session.add(
        Attachment(
            document_id=document.id,
            filename="Angebot.docx",
            content_type=docx,
            size=48_213,
            uploaded_by=staff_user.id,
            storage_type="s3",
            storage_path="attachments/1",
            created_at=WINTER,
        )
    )
    db.session.commit()
    return document


def test_staff_see_friendly_types_and_sizes_but_no_storage_location(staff_client, staff_user):
    page = staff_client.get(f"/documents/{_busy_document(staff_user).id}").get_data(as_text=True)
    assert re.search(
        r'<td class="file-type" title="application/vnd\.openxmlformats-officedocument\.'
        r'wordprocessingml\.document">Word document</td>',
        page,
    )
    assert 'file-icons.svg#word"' in page and "47 KiB" in page
    assert '<time datetime="2026-11-29T19:23:05Z">29 Nov 2026, 20:23 CET</time>' in page
    assert "store-s3" not in page and "Stored" not in page


def test_admins_see_where_each_file_is_stored(admin_client, staff_user):
    page = admin_client.get(f"/documents/{_busy_document(staff_user).id}").get_data(as_text=True)
    assert '<span class="badge store-s3">s3</span>' in page and "<th>Stored</th>" in page


def test_every_page_loads_the_time_and_format_scripts_and_the_favicon(client, admin_user):
    page = client.get("/auth/login").get_data(as_text=True)
    for asset in ("format.js", "local-time.js", "favicon.svg"):
        assert f'/static/{asset}"' in page
        assert (ROOT / "static" / asset).is_file()
    assert '<a class="skip-link" href="#content">Skip to content</a>' in page and 'id="content"' in page


def test_every_kind_has_its_icon_in_the_sprite():
    sprite = (ROOT / "static" / "file-icons.svg").read_text()
    icons = {kind.icon for kind in [*BY_TYPE.values(), *BY_FAMILY.values(), OTHER]}
    missing = sorted(icon for icon in icons if f'<symbol id="{icon}"' not in sprite)
    assert missing == []
