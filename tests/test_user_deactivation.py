"""Deactivating an account asks first: an unconfirmed post answers with the question and changes nothing."""

from __future__ import annotations

from portal.extensions import db
from portal.models import User


def test_an_unconfirmed_deactivation_asks_and_changes_nothing(admin_client, staff_user):
    response = admin_client.post(f"/admin/users/{staff_user.id}/toggle")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Deactivate {staff_user.name} ({staff_user.email})?" in page
    assert 'name="confirmed" value="yes"' in page and f'aria-label="Deactivate {staff_user.email}"' in page
    assert 'href="/admin/users"' in page  # the way back
    db.session.expire_all()
    assert db.session.get(User, staff_user.id).is_active


def test_a_confirmed_deactivation_deactivates(admin_client, staff_user):
    response = admin_client.post(
        f"/admin/users/{staff_user.id}/toggle", data={"confirmed": "yes"}, follow_redirects=True
    )
    assert f"{staff_user.email} is now deactivated." in response.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(User, staff_user.id).is_active


def test_reactivation_needs_no_question(admin_client, staff_user):
    admin_client.post(f"/admin/users/{staff_user.id}/toggle", data={"confirmed": "yes"})
    response = admin_client.post(f"/admin/users/{staff_user.id}/toggle", follow_redirects=True)
    assert f"{staff_user.email} is now active." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, staff_user.id).is_active


def test_the_users_list_names_each_button_and_carries_the_question(admin_client, staff_user):
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert f'aria-label="Deactivate {staff_user.email}"' in page
    assert f'data-confirm="Deactivate {staff_user.name} ({staff_user.email})?"' in page
    assert 'id="confirm-dialog"' in page and "confirm.js" in page


def test_a_second_confirmed_deactivation_leaves_the_account_deactivated(admin_client, staff_user):
    """A double click on the confirming button, or two admins at once: the second post asks for the same state."""
    for _ in range(2):
        response = admin_client.post(
            f"/admin/users/{staff_user.id}/toggle", data={"active": "0", "confirmed": "yes"}, follow_redirects=True
        )
    assert f"{staff_user.email} is already deactivated." in response.get_data(as_text=True)
    db.session.expire_all()
    assert not db.session.get(User, staff_user.id).is_active


def test_the_question_page_posts_the_asked_state_again(admin_client, staff_user):
    page = admin_client.post(f"/admin/users/{staff_user.id}/toggle", data={"active": "0"}).get_data(as_text=True)
    assert '<input type="hidden" name="active" value="0">' in page


def test_one_cannot_deactivate_oneself_and_is_not_asked_first(admin_client, admin_user):
    response = admin_client.post(f"/admin/users/{admin_user.id}/toggle", data={"active": "0"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "You cannot deactivate your own account." in page and "Deactivate Ada Admin" not in page
    db.session.expire_all()
    assert db.session.get(User, admin_user.id).is_active
