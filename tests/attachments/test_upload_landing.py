"""After an upload staff land where the new files are: marked, on page 1, with a message saying what was saved."""

from __future__ import annotations

from portal.extensions import db
from portal.models import Attachment
from tests.support.files import PDF, PNG, upload


def _busy(document, count: int) -> None:
    for number in range(count):
        db.session.add(
            Attachment(
                document_id=document.id,
                filename=f"scan-{number:02d}.pdf",
                size=len(PDF),
                content_type="application/pdf",
                storage_path=f"attachments/old-{number}",
            )
        )
    db.session.commit()


def test_an_upload_onto_a_busy_document_shows_the_new_file_where_the_user_lands(staff_client, document):
    _busy(document, 30)
    response = upload(staff_client, document.id, ("Angebot 2027.pdf", PDF))
    assert response.status_code == 302 and "new=" in response.location
    page = staff_client.get(response.location).get_data(as_text=True)
    assert "1 file saved: Angebot 2027.pdf." in page
    new_row = page.index('class="new"')
    assert page.index("Angebot 2027.pdf", new_row) - new_row < 1500, "the marked row is the new file"
    assert page.index("Angebot 2027.pdf") < page.index("scan-29.pdf"), "newest first, so it is on page 1"


def test_a_name_the_document_already_has_is_kept_beside_the_old_file(staff_client, document):
    upload(staff_client, document.id, ("report.pdf", PDF))
    response = upload(staff_client, document.id, ("report.pdf", PDF), ("photo.png", PNG))
    page = staff_client.get(response.location).get_data(as_text=True)
    assert "2 files saved: report.pdf, photo.png. report.pdf is kept beside the earlier file of the same name." in page


def test_new_ids_of_another_document_mark_nothing(staff_client, document, staff_user):
    upload(staff_client, document.id, ("report.pdf", PDF))
    (row,) = db.session.query(Attachment).all()
    page = staff_client.get(f"/documents/{document.id}?new={row.id + 1000},x,{'9' * 30}").get_data(as_text=True)
    assert "saved:" not in page and 'class="new"' not in page


def test_attachments_sort_by_each_column(staff_client, document):
    for name, content in (("b.pdf", PDF * 3), ("a.png", PNG), ("c.pdf", PDF)):
        upload(staff_client, document.id, (name, content))

    def order(query: str) -> list[str]:
        page = staff_client.get(f"/documents/{document.id}{query}").get_data(as_text=True)
        return sorted(("a.png", "b.pdf", "c.pdf"), key=lambda name: page.index(f">{name}</a>"))

    assert order("") == ["c.pdf", "a.png", "b.pdf"]  # newest first
    assert order("?sort=name") == ["a.png", "b.pdf", "c.pdf"]
    assert order("?sort=name&dir=desc") == ["c.pdf", "b.pdf", "a.png"]
    assert order("?sort=size&dir=desc")[0] == "b.pdf"
    assert order("?sort=type")[0] == "c.pdf" or order("?sort=type")[0] == "b.pdf"  # application/pdf < image/png
    assert order("?sort=nonsense") == ["c.pdf", "a.png", "b.pdf"]
