"""The argument rules every provider applies (portal/storage/checks.py), each rule and its message."""

from __future__ import annotations

import pytest

from portal.storage.base import StorageMisconfigured
from portal.storage.checks import byte_span, check_key, check_metadata, check_sha256

HEX = "0123456789abcdef" * 4


def test_a_sha256_is_lowercased_and_none_stays_none():
    assert check_sha256(HEX.upper()) == HEX
    assert check_sha256(HEX) == HEX
    assert check_sha256(None) is None


@pytest.mark.parametrize("value", ["zz" * 32, HEX[:-1], HEX + "0", f" {HEX[1:]}", 12345, b"0" * 64])
def test_anything_but_64_hex_digits_is_refused(value):
    with pytest.raises(ValueError) as caught:
        check_sha256(value)
    assert str(caught.value) == "expected_sha256 must be 64 hexadecimal digits"


@pytest.mark.parametrize(
    "byte_range, size, span",
    [
        (None, 10, (0, 10)),
        ((0, 0), 10, (0, 1)),
        ((2, 5), 10, (2, 4)),
        ((7, 9), 10, (7, 3)),
        ((7, 10), 10, (7, 3)),  # one past the end: clipped to the last byte
        ((7, 400), 10, (7, 3)),
        ((9, 9), 10, (9, 1)),
        ((10, 12), 10, (10, 0)),  # starting at the end: empty
        ((11, 12), 10, (10, 0)),
        ((0, 5), 0, (0, 0)),
    ],
)
def test_byte_span_is_the_range_clipped_to_the_object(byte_range, size, span):
    assert byte_span(byte_range, size) == span


@pytest.mark.parametrize("byte_range", [(-1, 3), (5, 4)])
def test_a_negative_or_reversed_range_is_refused(byte_range):
    with pytest.raises(ValueError) as caught:
        byte_span(byte_range, 10)
    assert str(caught.value) == f"byte_range {byte_range!r} must be (first, last) with 0 <= first <= last"


def test_metadata_is_copied_when_it_fits_headers():
    given = {"sha-256": "x", "a": " ~printable~ "}
    clean = check_metadata(given)
    assert clean == given and clean is not given
    assert check_metadata(None) == {}
    assert check_metadata({"a" * 64: "v"}) == {"a" * 64: "v"}
    assert check_metadata({"n": "v" * 2047}) == {"n": "v" * 2047}  # name and value: 2048 bytes in all


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"Upper": "v"}, "metadata name 'Upper' must be lowercase letters, digits or '-'"),
        ({"-dash": "v"}, "metadata name '-dash' must be lowercase letters, digits or '-'"),
        ({"a" * 65: "v"}, f"metadata name {'a' * 65!r} must be lowercase letters, digits or '-'"),
        ({7: "v"}, "metadata name 7 must be lowercase letters, digits or '-'"),
        ({"name": "tab\there"}, "metadata 'name' must be a printable ASCII string"),
        ({"name": "caf\u00e9"}, "metadata 'name' must be a printable ASCII string"),
        ({"name": "\x7f"}, "metadata 'name' must be a printable ASCII string"),
        ({"name": 5}, "metadata 'name' must be a printable ASCII string"),
        ({"n": "v" * 2048}, "metadata is larger than 2048 bytes"),
    ],
)
def test_metadata_that_headers_cannot_carry_is_refused(metadata, message):
    with pytest.raises(ValueError) as caught:
        check_metadata(metadata)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "key, reason",
    [
        ("", "unsafe storage key: empty"),
        (None, "unsafe storage key: empty"),
        ("a/\x00b", "unsafe storage key 'a/\\x00b': control character or backslash"),
        ("a\x1fb", "unsafe storage key 'a\\x1fb': control character or backslash"),
        ("a\x7fb", "unsafe storage key 'a\\x7fb': control character or backslash"),
        ("a\\b", "unsafe storage key 'a\\\\b': control character or backslash"),
        ("/etc/passwd", "unsafe storage key '/etc/passwd': absolute path"),
        ("C:evil", "unsafe storage key 'C:evil': absolute path"),
        ("a//b", "unsafe storage key 'a//b': empty, '..' or dot-prefixed component"),
        ("a/../b", "unsafe storage key 'a/../b': empty, '..' or dot-prefixed component"),
        ("a/.meta", "unsafe storage key 'a/.meta': empty, '..' or dot-prefixed component"),
        ("a/", "unsafe storage key 'a/': empty, '..' or dot-prefixed component"),
        ("x" * 1025, f"unsafe storage key {'x' * 200!r}: longer than 1024 bytes"),
        ("é" * 513, f"unsafe storage key {'é' * 200!r}: longer than 1024 bytes"),  # 1026 bytes in 513 characters
    ],
)
def test_unsafe_keys_are_refused_saying_why(key, reason):
    with pytest.raises(StorageMisconfigured) as caught:
        check_key(key)
    assert str(caught.value) == reason


@pytest.mark.parametrize("key", ["attachments/2026/11/x.pdf", "a", "a~b/c d", "x" * 1024, "é" * 512, "a.b/c."])
def test_plain_keys_pass_unchanged(key):
    assert check_key(key) == key
