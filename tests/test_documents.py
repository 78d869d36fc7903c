"""Documents: list with search and pagination, create, view, edit."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import Document


def make_documents(user, count: int, title: str = "Report") -> None:
    for number in range(count):
        db.session.add(Document(title=f"{title} {number:03d}", description="quarterly", created_by=user.id))
    db.session.commit()


def test_empty_list_invites_to_create(staff_client):
    page = staff_client.get("/").get_data(as_text=True)
    assert "No documents yet." in page


def test_create_view_and_edit(staff_client):
    response = staff_client.post("/documents/new", data={"title": "Lease", "description": "Office lease"})
    assert response.status_code == 302
    location = response.headers["Location"]
    page = staff_client.get(location).get_data(as_text=True)
    assert "Lease" in page and "Office lease" in page and "Sam Staff" in page
    document_id = int(location.rsplit("/", 1)[1])
    response = staff_client.post(
        f"/documents/{document_id}/edit", data={"title": "Lease 2027", "description": ""}, follow_redirects=True
    )
    assert "Your changes are saved." in response.get_data(as_text=True)
    assert db.session.get(Document, document_id).title == "Lease 2027"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"title": ""}, "This field is required."),
        ({"title": "x" * 201}, "Field cannot be longer than 200 characters."),
    ],
)
def test_bad_input_changes_nothing(staff_client, data, message):
    response = staff_client.post("/documents/new", data=data)
    assert message in response.get_data(as_text=True)
    assert db.session.query(Document).count() == 0


def test_search_and_pagination(app, staff_client, staff_user):
    make_documents(staff_user, 25, "Invoice")
    make_documents(staff_user, 2, "Contract")
    page = staff_client.get("/?q=contract").get_data(as_text=True)
    assert "Contract 000" in page and "Invoice" not in page
    assert "2 documents matching" in page
    first = staff_client.get("/").get_data(as_text=True)
    assert "27 documents" in first and 'rel="next"' in first
    second = staff_client.get("/?page=2").get_data(as_text=True)
    assert "Invoice 000" in second  # oldest last
    assert staff_client.get("/?page=99").status_code == 200


def test_search_treats_wildcards_literally(staff_client, staff_user):
    make_documents(staff_user, 1, "100% done")
    make_documents(staff_user, 1, "Other")
    page = staff_client.get("/?q=%25").get_data(as_text=True)
    assert "100% done" in page and "Other 000" not in page


def test_titles_are_escaped(staff_client, staff_user):
    make_documents(staff_user, 1, "<script>alert(1)</script>")
    page = staff_client.get("/").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


def test_unknown_document_is_a_friendly_404(staff_client):
    response = staff_client.get("/documents/999")
    assert response.status_code == 404
    assert "There is nothing here" in response.get_data(as_text=True)
    assert staff_client.get("/documents/999/edit").status_code == 404


def test_a_document_carries_its_paper_date(staff_client):
    response = staff_client.post(
        "/documents/new", data={"title": "Rechnung 4711", "document_date": "2026-02-27"}, follow_redirects=True
    )
    assert "dated 2026-02-27" in response.get_data(as_text=True)
    document = db.session.query(Document).one()
    assert document.document_date.isoformat() == "2026-02-27"
    edited = staff_client.post(
        f"/documents/{document.id}/edit", data={"title": "Rechnung 4711", "document_date": ""}, follow_redirects=True
    )
    assert "dated" not in edited.get_data(as_text=True)
    bad = staff_client.post(
        f"/documents/{document.id}/edit", data={"title": "Rechnung 4711", "document_date": "27.02."}
    )
    assert "Not a valid date value." in bad.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Document, document.id).document_date is None
