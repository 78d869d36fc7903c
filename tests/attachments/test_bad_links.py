"""A /files link that was changed, cut short or has expired says exactly that, on the portal's own page."""

from __future__ import annotations

import pytest

from tests.support.files import PDF, rows, upload


@pytest.fixture
def link(staff_client, document) -> str:
    upload(staff_client, document.id, ("Angebot.pdf", PDF))
    return staff_client.get(f"/attachments/{rows()[0][-1].id}/download").headers["Location"]


@pytest.mark.parametrize("spoil", [lambda link: link[:-3] + "xyz", lambda link: link[:30]], ids=["changed", "cut"])
def test_a_spoiled_link_says_the_link_is_bad_not_the_account(staff_client, link, spoil):
    response = staff_client.get(spoil(link))
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "This download link is not valid: it was changed or cut short on the way." in page
    assert "does not have access" not in page
    assert 'class="topbar"' in page and "Back to documents" in page


def test_an_expired_link_says_it_expired(staff_client, link, monkeypatch):
    monkeypatch.setattr("portal.storage.local.time.time", lambda: 4_000_000_000.0)
    response = staff_client.get(link)
    assert response.status_code == 410
    assert "This download link has expired. Go back to the document and download it again." in response.get_data(
        as_text=True
    )
