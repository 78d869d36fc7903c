"""Bad input gets a clear message and changes nothing: one table of cases."""

from __future__ import annotations

import pytest

from tests.support.files import PDF, PNG, multipart, rows, stored_keys

ALLOW = {"ALLOWED_EXTENSIONS": frozenset({"pdf", "png", "txt"}), "MAX_UPLOAD_MB": 1}
BIG = b"%PDF-1.7\n" + b"0" * (1024 * 1024 + 10)

# (case, files, settings, expected status, expected message)
CASES = [
    ("empty file", [("empty.pdf", b"")], {}, 400, "“empty.pdf” is empty. Nothing was saved."),
    ("no file chosen", [], {}, 400, "Choose at least one file to upload."),
    ("over MAX_UPLOAD_MB", [("big.pdf", BIG)], ALLOW, 413, "larger than the limit of 1 MB"),
    ("type outside the allow-list", [("tool.exe", b"MZ\x90\x00")], ALLOW, 400, "“tool.exe” is not an accepted type"),
    ("double extension", [("x.pdf.exe", b"MZ\x90\x00")], ALLOW, 400, "“x.pdf.exe” is not an accepted type"),
    ("trailing dot", [("report.pdf.", PDF)], ALLOW, 400, "ends with a dot or space"),
    ("bytes disagree with extension", [("photo.pdf", PNG)], ALLOW, 400, "“photo.pdf” does not look like a .pdf file"),
    (
        "windows executable named pdf",
        [("cv.pdf", b"MZ\x90\x00\x03" + b"\x00" * 300)],
        ALLOW,
        400,
        "does not look like a .pdf",
    ),
    (
        "one bad file spoils the batch",
        [("ok.pdf", PDF), ("bad.exe", b"MZ")],
        ALLOW,
        400,
        "“bad.exe” is not an accepted type",
    ),
    ("name is only dots", [("..", PDF)], {}, 400, "A file has no usable name."),
]


@pytest.fixture
def app_config(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize(
    "app_config, case, files, status, message",
    [(settings, case, files, status, message) for case, files, settings, status, message in CASES],
    ids=[case[0] for case in CASES],
    indirect=["app_config"],
)
@pytest.mark.parametrize("endpoint", ["direct", "staging"])
def test_refused_with_a_clear_message_and_nothing_changes(
    staff_client, document, app_config, case, files, status, message, endpoint
):
    body, content_type = multipart(files)
    url = f"/documents/{document.id}/attachments" if endpoint == "direct" else "/staging"
    response = staff_client.post(url, data=body, content_type=content_type, headers={"Accept": "application/json"})
    assert response.status_code == status
    assert message in response.get_json()["message"]
    assert rows() == ([], []) and stored_keys() == []


def test_browser_form_shows_the_message_on_the_document_page(staff_client, document):
    body, content_type = multipart([("empty.pdf", b"")])
    response = staff_client.post(
        f"/documents/{document.id}/attachments", data=body, content_type=content_type, follow_redirects=True
    )
    assert "“empty.pdf” is empty. Nothing was saved." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("../../etc/passwd", "passwd"),
        ("nul\x00byte.pdf", "nulbyte.pdf"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
        ("<img src=x onerror=alert(1)>.pdf", "<img src=x onerror=alert(1)>.pdf"),
    ],
)
def test_hostile_names_are_kept_for_display_only(staff_client, document, raw, shown):
    body, content_type = multipart([(raw, PDF)])
    response = staff_client.post(
        f"/documents/{document.id}/attachments",
        data=body,
        content_type=content_type,
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201
    (attachment,), _ = rows()
    assert attachment.filename == shown
    (key,) = stored_keys()
    assert key.startswith("attachments/") and ".." not in key and "passwd" not in key
    page = staff_client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert "<img src=x" not in page


@pytest.mark.parametrize(
    "body, message",
    [
        ("not base64 at all!", "not valid base64"),
        ("data:image/png,rawbytes", "not base64-encoded"),
        ("", "is empty"),
    ],
)
def test_invalid_base64_is_refused(staff_client, body, message):
    response = staff_client.post("/staging/base64?filename=x.png", data=body, content_type="text/plain")
    assert response.status_code == 400
    assert message in response.get_json()["message"]
    assert rows() == ([], []) and stored_keys() == []


def test_base64_without_a_name_is_refused(staff_client):
    response = staff_client.post("/staging/base64", data="aGVsbG8=", content_type="text/plain")
    assert response.status_code == 400 and "no usable name" in response.get_json()["message"]


def test_nonexistent_document_is_404(staff_client):
    body, content_type = multipart([("a.pdf", PDF)])
    assert staff_client.post("/documents/999/attachments", data=body, content_type=content_type).status_code == 404
    assert stored_keys() == []


def test_not_multipart_is_refused(staff_client, document):
    response = staff_client.post(
        f"/documents/{document.id}/attachments",
        data="x",
        content_type="text/plain",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400 and "multipart/form-data" in response.get_json()["message"]


def test_a_cut_off_body_saves_nothing(staff_client, document):
    body, content_type = multipart([("a.pdf", PDF * 50)])
    response = staff_client.post(
        f"/documents/{document.id}/attachments",
        data=body[: len(body) // 2],
        content_type=content_type,
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400 and "cut off or malformed" in response.get_json()["message"]
    assert rows() == ([], []) and stored_keys() == []


def test_no_login_goes_to_the_login_page(client, admin_user, document):
    body, content_type = multipart([("a.pdf", PDF)])
    for url in (f"/documents/{document.id}/attachments", "/staging"):
        response = client.post(url, data=body, content_type=content_type)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert client.get("/attachments/1/download").status_code == 302
    assert stored_keys() == []


class TestCSRF:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    @pytest.mark.parametrize("token", [None, "forged-token"])
    def test_missing_or_wrong_token_is_refused(self, staff_client, document, token):
        fields = {"csrf_token": token} if token else {}
        body, content_type = multipart([("a.pdf", PDF)], **fields)
        for url in (f"/documents/{document.id}/attachments", "/staging"):
            response = staff_client.post(url, data=body, content_type=content_type)
            assert response.status_code == 400
            assert "security token" in response.get_data(as_text=True)
        assert staff_client.post("/staging/base64?filename=a.txt", data="aGk=").status_code == 400
        assert rows() == ([], []) and stored_keys() == []

    def test_token_in_the_form_or_header_is_accepted(self, staff_client, document):
        page = staff_client.get(f"/documents/{document.id}").get_data(as_text=True)
        token = page.split('name="csrf-token" content="')[1].split('"')[0]
        body, content_type = multipart([("a.pdf", PDF)], csrf_token=token)
        assert (
            staff_client.post(f"/documents/{document.id}/attachments", data=body, content_type=content_type).status_code
            == 302
        )
        body, content_type = multipart([("b.pdf", PDF)])
        assert (
            staff_client.post(
                "/staging", data=body, content_type=content_type, headers={"X-CSRFToken": token}
            ).status_code
            == 201
        )
        assert (
            staff_client.post("/staging/base64?filename=c.txt", data="aGk=", headers={"X-CSRFToken": token}).status_code
            == 201
        )


def test_a_filename_crafted_to_break_out_of_script_stays_text(staff_client, document):
    name = "x');alert(document.domain);('.pdf"
    body, content_type = multipart([(name, PDF)])
    staff_client.post(f"/documents/{document.id}/attachments", data=body, content_type=content_type)
    response = staff_client.get(f"/documents/{document.id}")
    page = response.get_data(as_text=True)
    assert "onsubmit" not in page and "onclick" not in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'data-confirm="Delete x&#39;);alert(document.domain);(&#39;.pdf?"' in page


# The portal decides the type from the bytes and the extension: a declared type, well-formed or not, is
# never recorded (a PNG declared as image/webp or text/html is recorded as the PNG it is).
@pytest.mark.parametrize(
    "declared, recorded",
    [
        ("text/plain\r\nX-Evil: 1", "image/png"),
        ("nonsense", "image/png"),
        ("image/webp", "image/png"),
        ("text/html", "image/png"),
    ],
)
def test_a_declared_type_is_never_what_is_recorded(staff_client, declared, recorded):
    import base64

    response = staff_client.post(
        "/staging/base64",
        query_string={"filename": "a.png", "content_type": declared},
        data=base64.b64encode(PNG),
        content_type="text/plain",
    )
    assert response.status_code == 201
    assert response.get_json()["files"][0]["content_type"] == recorded


def test_base64_sent_as_a_form_is_refused_clearly(staff_client):
    response = staff_client.post("/staging/base64?filename=a.txt", data={"data": "aGk="})
    assert response.status_code == 400 and "not as a form" in response.get_json()["message"]
    assert rows() == ([], [])
