"""Signing in through the real forms: the test password, the CSRF token a page carries, sign-in and out."""

from __future__ import annotations

PASSWORD = "correct horse battery"


def csrf_token_from(page: str) -> str:
    """The CSRF token a rendered page carries (in its meta tag)."""
    return page.split('name="csrf-token" content="')[1].split('"')[0]


class AuthActions:
    """Sign in and out through the real forms."""

    def __init__(self, client):
        self._client = client

    def login(self, email: str = "staff@example.com", password: str = PASSWORD, **kwargs):
        data = {"email": email, "password": password}
        if self._client.application.config["WTF_CSRF_ENABLED"]:
            data["csrf_token"] = csrf_token_from(self._client.get("/auth/login").get_data(as_text=True))
        return self._client.post("/auth/login", data=data, **kwargs)

    def logout(self):
        data = {}
        if self._client.application.config["WTF_CSRF_ENABLED"]:
            data["csrf_token"] = csrf_token_from(self._client.get("/").get_data(as_text=True))
        return self._client.post("/auth/logout", data=data)
