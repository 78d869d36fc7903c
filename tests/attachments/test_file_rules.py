"""The rules an uploaded file must pass and the type the portal decides for it (portal/documents/file_rules.py),
each rule with its boundary and its message. The upload tests check the same rules through the pages."""

from __future__ import annotations

import io

import pytest

from portal.documents.file_rules import (
    GENERIC_TYPE,
    PASSIVE_TYPES,
    CheckedFile,
    IncomingFile,
    UploadRejected,
    check_extension,
    check_file,
    check_signature,
    clean_filename,
    decided_type,
    download_type,
    passive_type,
    peek,
)

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20
ZIP = b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 30
NO_NAME = "A file has no usable name. Rename it and upload it again."


def rejected(call, *args) -> UploadRejected:
    with pytest.raises(UploadRejected) as caught:
        call(*args)
    return caught.value


def test_an_upload_rejection_is_a_400_unless_told_otherwise():
    assert UploadRejected("x").status == 400
    assert UploadRejected("x", 413).status == 413
    assert str(UploadRejected("the message")) == "the message"


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("a/b/c.txt", "c.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # no right-to-left override to disguise the extension
        ("a\u2066b\u2069c\u200e\u200f\u061c.pdf", "abc.pdf"),
        ("a\x00b\tc\x7f.pdf", "abc.pdf"),
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ("  spaced.pdf  ", "spaced.pdf"),
        ("e\u0301t\u00e9.pdf", "\u00e9t\u00e9.pdf"),  # NFC: one form of each letter
    ],
)
def test_a_name_keeps_only_its_last_part_without_controls(raw, clean):
    assert clean_filename(raw) == clean


@pytest.mark.parametrize("raw", ["", None, ".", "..", "   ", "folder/", "\u202e", "a/..", "\x00\x01"])
def test_a_name_with_nothing_usable_left_is_refused(raw):
    caught = rejected(clean_filename, raw)
    assert (str(caught), caught.status) == (NO_NAME, 400)


def test_a_long_name_is_cut_to_255_characters_keeping_a_short_extension():
    assert clean_filename("a" * 255) == "a" * 255
    assert clean_filename("a" * 251 + ".pdf") == "a" * 251 + ".pdf"
    assert clean_filename("a" * 256) == "a" * 255
    assert clean_filename("a" * 300 + ".pdf") == "a" * 251 + ".pdf"
    sixteen = "b" * 16
    assert clean_filename("a" * 300 + "." + sixteen) == "a" * 238 + "." + sixteen
    dotted = "report v1.2 " + "a" * 300 + ".pdf"  # the extension is after the last dot, not the first
    assert clean_filename(dotted) == dotted[:251] + ".pdf"
    seventeen = "b" * 17
    assert clean_filename("a" * 300 + "." + seventeen) == "a" * 255  # not an extension worth keeping


def test_without_an_allow_list_every_extension_passes_unchecked():
    assert check_extension("x.exe", frozenset()) is None
    assert check_extension("no extension", frozenset()) is None


def test_an_allowed_extension_is_returned_in_lower_case():
    assert check_extension("Scan.PDF", frozenset({"pdf", "png"})) == "pdf"
    assert check_extension("a.b.png", frozenset({"pdf", "png"})) == "png"


@pytest.mark.parametrize("name", ["x.pdf.", "x.pdf ", "x.pdf. ", "x."])
def test_a_name_ending_in_a_dot_or_space_is_refused(name):
    caught = rejected(check_extension, name, frozenset({"pdf"}))
    assert str(caught) == f"“{name}” ends with a dot or space. Rename it and upload it again."


@pytest.mark.parametrize("name", ["x.pdf.exe", "pdf", ".pdf", "x.exe", "x", "scan.pdfX"])
def test_an_extension_outside_the_list_is_refused_naming_the_list(name):
    caught = rejected(check_extension, name, frozenset({"png", "pdf"}))
    assert str(caught) == f"“{name}” is not an accepted type. Accepted: pdf, png."


@pytest.mark.parametrize(
    "name, ext, head",
    [
        ("a.pdf", "pdf", PDF),
        ("a.png", "png", PNG),
        ("a.jpg", "jpg", JPEG),
        ("a.jpeg", "jpeg", JPEG),  # the JPEG family: jpg, jpeg, jpe, jfif
        ("a.jfif", "jfif", JPEG),
        ("a.docx", "docx", ZIP),  # office files are zip files
        ("a.odt", "odt", ZIP),
        ("a.ods", "ods", ZIP),  # not among the zip signature's own extensions: its family lets it pass
        ("a.htm", "htm", b"<!DOCTYPE html><html>"),
        ("a.txt", "txt", b"plain words"),  # no signature to check
        ("a.csv", "csv", b"a,b\n1,2\n"),
        ("a.txt", "txt", PDF),  # a weak match (4 bytes) is not clearly another type
    ],
)
def test_bytes_that_fit_the_extension_pass(name, ext, head):
    check_signature(name, ext, head)


@pytest.mark.parametrize(
    "name, ext, head",
    [
        ("photo.pdf", "pdf", PNG),
        ("scan.png", "png", PDF),
        ("a.png", "png", b"plain words"),  # png has a signature: it must be there
        ("notes.txt", "txt", PNG),  # clearly a PNG
        ("notes.txt", "txt", b"#PES0001" + b"\x00" * 20),  # a match of confidence 0.5 is clear enough
        ("a.jpg", "jpg", ZIP),
    ],
)
def test_bytes_of_another_type_are_refused(name, ext, head):
    caught = rejected(check_signature, name, ext, head)
    assert str(caught) == f"“{name}” does not look like a .{ext} file. Nothing was saved."


def test_the_rules_together_decide_the_type_and_keep_every_byte():
    body = PNG + b"rest of the image" * 1000
    checked = check_file(IncomingFile("dir/photo.png", "text/html", io.BytesIO(body)), frozenset({"png"}))
    assert (checked.filename, checked.content_type) == ("photo.png", "image/png")  # the declared type is ignored
    assert checked.stream.read() == body
    assert isinstance(checked, CheckedFile)


def test_an_empty_file_is_refused():
    caught = rejected(check_file, IncomingFile("x.pdf", "application/pdf", io.BytesIO(b"")), frozenset())
    assert str(caught) == "“x.pdf” is empty. Nothing was saved."


def test_without_an_allow_list_bytes_that_disagree_with_the_name_are_kept_untyped():
    checked = check_file(IncomingFile("photo.pdf", "application/pdf", io.BytesIO(PNG)), frozenset())
    assert checked.content_type == GENERIC_TYPE
    caught = rejected(check_file, IncomingFile("photo.pdf", "application/pdf", io.BytesIO(PNG)), frozenset({"pdf"}))
    assert str(caught) == "“photo.pdf” does not look like a .pdf file. Nothing was saved."


@pytest.mark.parametrize(
    "head, text",
    [
        (b"words", True),
        (b"tab\tnew line\nform feed\x0ccarriage\r", True),
        ("caf\u00e9".encode(), True),
        (b"ab\xf0\x9f\x98", True),  # a four-byte character cut after three bytes by the sniff size
        (b"ab\xc3", True),
        (b"", False),
        (b"a\x00b", False),
        (b"a\x08b", False),
        (b"a\x0bb", False),
        (b"a\x0eb", False),
        (b"a\x1fb", False),
        (b"a\x7fb", False),
        (b"\xff words", False),
        (b"words\xff", False),  # invalid, not cut off
    ],
)
def test_plain_text_is_utf8_without_control_bytes(head, text):
    assert PASSIVE_TYPES["txt"].matches(head) is text
    assert PASSIVE_TYPES["csv"].matches(head) is text


def test_webp_is_a_riff_file_of_kind_webp():
    webp = PASSIVE_TYPES["webp"]
    assert webp.matches(b"RIFF\x10\x00\x00\x00WEBPVP8 ")
    assert not webp.matches(b"RIFF\x10\x00\x00\x00WAVEfmt ")
    assert not webp.matches(b"RIFX\x10\x00\x00\x00WEBPVP8 ")
    assert PASSIVE_TYPES["gif"].matches(b"GIF87a...") and PASSIVE_TYPES["gif"].matches(b"GIF89a...")
    assert not PASSIVE_TYPES["gif"].matches(b"GIF88a...")


def test_the_passive_type_comes_from_the_extension_or_for_a_bare_name_from_the_record():
    assert passive_type("Scan.PDF").mime_type == "application/pdf"
    assert passive_type("scan.final.pdf").mime_type == "application/pdf"  # the last dot names it
    assert passive_type("a.exe") is None
    assert passive_type("a.html", "text/html") is None
    assert passive_type("pasted", "Image/PNG; charset=binary").mime_type == "image/png"
    assert passive_type(".png", "image/gif").mime_type == "image/gif"  # a dot file has no extension
    assert passive_type("pasted") is None
    assert passive_type("pasted", "text/html") is None
    assert passive_type(None) is None


@pytest.mark.parametrize(
    "name, head, decided",
    [
        ("a.pdf", PDF, "application/pdf"),
        ("a.pdf", PNG, GENERIC_TYPE),
        ("a.PNG", PNG, "image/png"),
        ("pasted", PNG, "image/png"),  # no extension: the signature names it
        ("pasted", PDF, "application/pdf"),
        ("pasted", b"plain words", GENERIC_TYPE),  # text never names itself
        ("a.html", b"<html>", GENERIC_TYPE),
        ("a.exe", PNG, GENERIC_TYPE),
        ("a.txt", b"words", "text/plain"),
        ("", PNG, "image/png"),
        (".png", PNG, "image/png"),  # a dot file has no extension: the signature names it
        (".hidden.pdf", PNG, GENERIC_TYPE),  # but this one is a .pdf
        ("scan.final.pdf", PDF, "application/pdf"),
    ],
)
def test_the_decided_type_needs_the_bytes_to_match(name, head, decided):
    assert decided_type(name, head) == decided


@pytest.mark.parametrize(
    "name, recorded, served",
    [
        ("a.pdf", "application/pdf", "application/pdf"),
        ("a.pdf", "Application/PDF; x=y", "application/pdf"),
        ("a.pdf", "text/html", GENERIC_TYPE),
        ("a.pdf", None, GENERIC_TYPE),
        ("pasted", "image/png", "image/png"),
        ("a.exe", "application/x-msdownload", GENERIC_TYPE),
        ("a.html", "text/html", GENERIC_TYPE),
        ("a.exe", "application/pdf", GENERIC_TYPE),  # a name with an extension: the name decides, not the record
        ("a.png", "application/pdf", GENERIC_TYPE),
    ],
)
def test_a_download_is_served_as_the_recorded_type_only_when_it_is_the_names_passive_type(name, recorded, served):
    assert download_type(name, recorded) == served


class Recorded(io.BytesIO):
    """A stream that records the sizes asked of it and hands out at most ``step`` bytes a read."""

    def __init__(self, data: bytes, step: int = 1 << 30) -> None:
        super().__init__(data)
        self.asked: list[int] = []
        self._step = step

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(size)
        return super().read(self._step if size is None or size < 0 else min(size, self._step))


def test_peek_reads_the_head_across_short_reads_and_replays_it():
    source = Recorded(b"abcdefgh", step=3)
    head, stream = peek(source, 5)
    assert head == b"abcde"
    assert source.asked == [5, 2]
    assert stream.read(-1) == b"abcdefgh"


def test_a_short_stream_is_all_head():
    head, stream = peek(io.BytesIO(b"abc"), 5)
    assert head == b"abc"
    assert stream.read() == b"abc"
    assert stream.read() == b""
    head, stream = peek(io.BytesIO(b""))
    assert (head, stream.read()) == (b"", b"")


def test_the_replayed_stream_yields_every_byte_in_the_amounts_asked():
    head, stream = peek(io.BytesIO(b"abcdefgh"), 4)
    assert head == b"abcd"
    assert stream.read(1) == b"a"
    assert stream.read(2) == b"bc"
    assert stream.read(3) == b"def"  # the rest of the head and the first byte after it
    assert stream.read(10) == b"gh"
    assert stream.read(10) == b""


def test_a_zero_byte_read_takes_nothing():
    source = Recorded(b"abcdefgh")
    head, stream = peek(source, 4)
    source.asked.clear()
    assert stream.read(0) == b""
    assert source.asked == []
    assert stream.read() == b"abcdefgh"


def test_a_read_of_exactly_the_head_does_not_read_further():
    source = Recorded(b"abcdefgh")
    head, stream = peek(source, 4)
    source.asked.clear()
    assert stream.read(4) == b"abcd"
    assert source.asked == []
    assert stream.read(4) == b"efgh"
    assert source.asked == [4]


def test_a_read_of_everything_gives_the_head_and_the_rest():
    source = Recorded(b"abcdefgh")
    head, stream = peek(source, 4)
    source.asked.clear()
    assert stream.read(6) == b"abcdef"
    assert source.asked == [2]
    assert stream.read() == b"gh"
