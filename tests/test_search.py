"""Finding a document among many: accents and case ignored, file names and people searched, filters, sorting."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from portal.auth.service import create_user
from portal.extensions import db
from portal.models import Attachment, Document
from tests.support.accounts import PASSWORD


@pytest.fixture
def office(app, staff_user, admin_user):
    """A small German office: two more people, documents with and without files."""
    jurgen = create_user("jw@example.com", "Jürgen Weiß", PASSWORD)
    anna = create_user("ab@example.com", "Anna Becker", PASSWORD)

    def document(title, creator, *files, description="", added=None, paper_date=None):
        row = Document(title=title, description=description, created_by=creator.id, document_date=paper_date)
        if added:
            row.created_at = added
        db.session.add(row)
        db.session.flush()
        for filename, content_type, uploader in files:
            db.session.add(
                Attachment(
                    document_id=row.id,
                    filename=filename,
                    content_type=content_type,
                    size=10,
                    storage_path=f"attachments/{row.id}/{filename}",
                    uploaded_by=uploader.id,
                )
            )
        return row

    docs = {
        "mueller": document(
            "Müller & Söhne",
            staff_user,
            ("angebot.pdf", "application/pdf", staff_user),
            added=datetime(2026, 3, 1, 9, tzinfo=UTC),
            paper_date=date(2026, 2, 27),
        ),
        "bank": document(
            "Bank",
            anna,
            ("Überweisung März.pdf", "application/pdf", anna),
            ("kontoauszug.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", anna),
            added=datetime(2026, 4, 2, 9, tzinfo=UTC),
        ),
        "photos": document(
            "Site visit",
            staff_user,
            ("IMG_0001.jpg", "image/jpeg", jurgen),
            ("IMG_0002.jpg", "image/jpeg", jurgen),
            ("IMG_0003.jpg", "image/jpeg", jurgen),
            added=datetime(2026, 5, 3, 9, tzinfo=UTC),
            paper_date=date(2025, 12, 1),
        ),
        "notes": document(
            "Notes", anna, description="Straße der Einheit, Café am Eck", added=datetime(2026, 6, 4, 9, tzinfo=UTC)
        ),
    }
    db.session.commit()
    return {"docs": {key: row.id for key, row in docs.items()}, "jurgen": jurgen.id, "anna": anna.id}


def titles(client, url: str) -> list[str]:
    page = client.get(url).get_data(as_text=True)
    return [title for title in ("Müller &amp; Söhne", "Bank", "Site visit", "Notes") if f">{title}</a>" in page]


@pytest.mark.parametrize(
    "words, expected",
    [
        ("muller", ["Müller &amp; Söhne"]),
        ("MÜLLER", ["Müller &amp; Söhne"]),
        ("sohne", ["Müller &amp; Söhne"]),
        ("uberweisung", ["Bank"]),
        ("Überweisung märz", ["Bank"]),
        ("kontoauszug", ["Bank"]),
        ("weiss", ["Site visit"]),  # uploaded a file to it
        ("jurgen img_0002", ["Site visit"]),
        ("becker", ["Bank", "Notes"]),  # created them
        ("strasse cafe", ["Notes"]),  # the description, ß and é folded
        ("muller bank", []),  # every word must match
        ("img_", ["Site visit"]),  # _ is a letter here, not a wildcard
    ],
)
def test_one_box_finds_titles_descriptions_file_names_and_people(staff_client, office, words, expected):
    assert sorted(titles(staff_client, f"/?q={words}")) == sorted(expected)


def test_filters_by_uploader_type_and_date(staff_client, office):
    assert titles(staff_client, f"/?uploader={office['jurgen']}") == ["Site visit"]
    assert sorted(titles(staff_client, f"/?uploader={office['anna']}")) == ["Bank", "Notes"]
    assert titles(staff_client, "/?type=image") == ["Site visit"]
    assert titles(staff_client, "/?type=spreadsheet") == ["Bank"]
    assert sorted(titles(staff_client, "/?type=pdf")) == ["Bank", "Müller &amp; Söhne"]
    assert sorted(titles(staff_client, "/?from=2026-04-01&to=2026-05-31")) == ["Bank", "Site visit"]
    assert titles(staff_client, "/?q=img&from=2026-06-01") == []


@pytest.mark.parametrize(
    "url, message",
    [
        ("/?from=2026-13-01", "“2026-13-01” is not a date (added from); use YYYY-MM-DD. That filter was left out."),
        ("/?type=video", "“video” is not a file type this list knows. The filter was left out."),
        ("/?uploader=someone", "That uploader is not known. The filter was left out."),
        ("/?from=2026-06-01&to=2026-01-01", "The date range ends before it starts, so it was turned round."),
    ],
)
def test_a_bad_filter_is_named_and_left_out(staff_client, office, url, message):
    page = staff_client.get(url)
    assert page.status_code == 200
    assert message in page.get_data(as_text=True)


def test_columns_sort_both_ways(staff_client, office):
    assert titles_in_order(staff_client, "/?sort=title&dir=asc") == [
        "Bank",
        "Müller &amp; Söhne",
        "Notes",
        "Site visit",
    ]
    assert titles_in_order(staff_client, "/?sort=title&dir=desc") == [
        "Site visit",
        "Notes",
        "Müller &amp; Söhne",
        "Bank",
    ]
    assert titles_in_order(staff_client, "/") == ["Notes", "Site visit", "Bank", "Müller &amp; Söhne"]  # newest
    assert titles_in_order(staff_client, "/?sort=attachments&dir=desc") == [
        "Site visit",
        "Bank",
        "Müller &amp; Söhne",
        "Notes",
    ]
    # Documents without a paper date come last either way.
    assert titles_in_order(staff_client, "/?sort=date&dir=desc")[:2] == ["Müller &amp; Söhne", "Site visit"]
    assert titles_in_order(staff_client, "/?sort=date&dir=asc")[:2] == ["Site visit", "Müller &amp; Söhne"]
    page = staff_client.get("/?sort=title&dir=asc").get_data(as_text=True)
    assert 'aria-sort="ascending"' in page


def titles_in_order(client, url: str) -> list[str]:
    page = client.get(url).get_data(as_text=True)
    found = [
        (page.index(f">{title}</a>"), title)
        for title in ("Müller &amp; Söhne", "Bank", "Site visit", "Notes")
        if f">{title}</a>" in page
    ]
    return [title for _, title in sorted(found)]


def test_a_page_past_the_end_says_so(app, staff_client, staff_user):
    for number in range(37):
        db.session.add(Document(title=f"Letter {number:02d}", created_by=staff_user.id))
    db.session.commit()
    page = staff_client.get("/?page=99").get_data(as_text=True)
    assert "Page 99 is past the end: there are 37 documents on 2 pages." in page
    assert "No documents yet" not in page
    assert 'href="/?page=2"' in page


def test_the_search_text_follows_renames_new_files_and_deletes(staff_client, office):
    from portal.models import User

    jurgen = db.session.get(User, office["jurgen"])
    jurgen.name = "Jürgen Schwarz"
    db.session.commit()
    assert titles(staff_client, "/?q=weiss") == []
    assert titles(staff_client, "/?q=schwarz") == ["Site visit"]

    bank = db.session.get(Document, office["docs"]["bank"])
    db.session.add(
        Attachment(
            document_id=bank.id,
            filename="Mahnung Größe.pdf",
            content_type="application/pdf",
            size=1,
            storage_path="attachments/x/mahnung",
        )
    )
    db.session.commit()
    assert titles(staff_client, "/?q=mahnung grosse") == ["Bank"]

    for row in db.session.query(Attachment).filter_by(document_id=bank.id, filename="kontoauszug.xlsx"):
        db.session.delete(row)
    bank.title = "Bankunterlagen"
    db.session.commit()
    assert titles(staff_client, "/?q=kontoauszug") == []
    assert "Bankunterlagen" in staff_client.get("/?q=bankunterlagen").get_data(as_text=True)


def test_a_broad_search_counts_only_so_far(staff_client, staff_user, monkeypatch):
    from portal.documents import listing

    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    for number in range(5):
        db.session.add(Document(title=f"Rechnung {number}", created_by=staff_user.id))
    db.session.commit()
    page = staff_client.get("/?q=rechnung").get_data(as_text=True)
    assert "More than 3 documents match “rechnung”; the first 3 are listed. Add a word or a filter" in page
    assert "5 documents" in staff_client.get("/").get_data(as_text=True), "the whole list is counted exactly"


def test_trashed_files_and_documents_are_not_found(staff_client, office):
    (offer,) = db.session.query(Attachment).filter_by(filename="angebot.pdf").all()
    assert staff_client.post(f"/attachments/{offer.id}/delete").status_code == 302
    assert titles(staff_client, "/?q=angebot") == []
    assert titles(staff_client, "/?q=muller") == ["Müller &amp; Söhne"]
    assert staff_client.post(f"/trash/attachments/{offer.id}/restore").status_code == 302
    assert titles(staff_client, "/?q=angebot") == ["Müller &amp; Söhne"]
    assert staff_client.post(f"/documents/{office['docs']['mueller']}/delete").status_code == 302
    assert titles(staff_client, "/?q=angebot") == []
