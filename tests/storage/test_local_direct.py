"""LocalStorageProvider called directly (no app settings, no other store): each operation at its boundaries,
with exactly what a caller, a log reader or a browser following a /files/<token> link sees."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from datetime import UTC, datetime
from typing import NamedTuple

import pytest
from flask import Flask
from itsdangerous import URLSafeSerializer
from werkzeug.datastructures import Headers

from portal.storage.base import CHUNK_SIZE, ObjectNotFound, StorageIntegrityError, StorageMisconfigured, StoredObject
from portal.storage.disposition import FILE_POLICY, VIEW_POLICY
from portal.storage.local import BAD_LINK, TOKEN_SALT, LocalStorageProvider
from tests.support.storage_apps import SIGNING_KEY

DATA = b"0123456789" * 10
DATA_SHA = hashlib.sha256(DATA).hexdigest()
LINE = re.compile(r'storage op=(\w+) provider=(\w+) key=("[^"]*"|-) size=(\d+|-) ms=\d+\.\d outcome=(\w+)$')
EXPIRED = "This download link has expired. Go back to the document and download it again."


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Recorder:
    """A blocking stream that hands out ``data`` in the amounts asked and records each amount."""

    def __init__(self, data: bytes, during_read=None) -> None:
        self._data, self.asked, self._during_read = data, [], during_read

    def read(self, amount: int = -1) -> bytes:
        self.asked.append(amount)
        if self._during_read:
            self._during_read()
        take = len(self._data) if amount is None or amount < 0 else amount
        piece, self._data = self._data[:take], self._data[take:]
        return piece


class NonBlocking:
    def read(self, amount: int = -1) -> None:
        return None


def token_for(payload, key: str = SIGNING_KEY) -> str:
    """A token signed as the store signs, for payloads url() would never make."""
    return URLSafeSerializer(key, salt=TOKEN_SALT).dumps(payload)


class Answer(NamedTuple):
    status: int
    headers: Headers
    body: bytes


def client_for(provider):
    app = Flask(__name__)
    app.add_url_rule("/files/<token>", "files", provider.send)
    return app.test_client()


def fetch(client, url: str, headers: dict | None = None) -> Answer:
    response = client.get(url, headers=headers or {})
    with response:  # closes the file send_file opened
        return Answer(response.status_code, response.headers, response.get_data())


def log_lines(caplog) -> list[tuple[str, ...]]:
    return [LINE.match(r.getMessage()).group(1, 2, 3, 4, 5) for r in caplog.records if r.name == "portal.storage"]


def leftovers(store) -> list[str]:
    return sorted(str(p.relative_to(store.root)) for p in store.root.rglob(".tmp-*"))


# -- construction, paths and the one path guard ---------------------------------------------------


def test_a_store_names_its_folder_and_the_path_of_a_key(store, tmp_path):
    assert store.root == (tmp_path / "store").resolve()
    assert store.location == ("local", str((tmp_path / "store").resolve()))
    assert store.path_for("attachments/a.txt") == store.root / "attachments" / "a.txt"
    assert store.local_path("attachments/a.txt") == store.root / "attachments" / "a.txt"
    assert store.name == "local"


def test_links_last_five_minutes_unless_told(tmp_path):
    assert LocalStorageProvider(tmp_path).link_seconds == 300
    told = LocalStorageProvider(tmp_path, url_expires=60)
    assert (told.url_expires, told.link_seconds) == (60, 60)


def test_a_key_that_resolves_to_the_folder_itself_is_refused(store):
    (store.root / "self").symlink_to(store.root)
    with pytest.raises(StorageMisconfigured) as caught:
        store.path_for("self")
    assert str(caught.value) == "unsafe storage key 'self': resolves outside the storage folder"


def test_a_key_that_resolves_outside_is_refused_showing_its_first_200_characters(store, tmp_path):
    name = "x" * 250
    (store.root / name).symlink_to(tmp_path)
    with pytest.raises(StorageMisconfigured) as caught:
        store.path_for(name)
    assert str(caught.value) == f"unsafe storage key {'x' * 200!r}: resolves outside the storage folder"


def test_a_missing_folder_is_named_and_not_created(tmp_path):
    missing = LocalStorageProvider(tmp_path / "gone")
    expected = f"local storage folder {(tmp_path / 'gone').resolve()} does not exist; run `flask storage init`"
    for call in (lambda: missing.path_for("a"), missing.check, lambda: next(missing.list())):
        with pytest.raises(StorageMisconfigured) as caught:
            call()
        assert str(caught.value) == expected
    assert not (tmp_path / "gone").exists()


# -- check and ensure_ready -------------------------------------------------------------------------


def test_ensure_ready_creates_a_private_folder_with_its_parents_and_may_run_twice(tmp_path):
    provider = LocalStorageProvider(tmp_path / "a" / "b" / "store")
    provider.ensure_ready()
    provider.ensure_ready()
    assert (tmp_path / "a" / "b" / "store").is_dir()
    assert (tmp_path / "a" / "b" / "store").stat().st_mode & 0o777 == 0o700


@pytest.fixture
def denied(store, monkeypatch):
    """os.access granting the store's folder every permission but ``denied.bits``, and nothing anywhere else."""

    class Denied:
        bits = 0

        def __call__(self, path, mode):
            return path == store.root and not (mode & self.bits)

    fake = Denied()
    monkeypatch.setattr(os, "access", fake)
    return fake


@pytest.mark.parametrize("bit", [os.W_OK, os.X_OK], ids=["write", "search"])
def test_check_for_writing_needs_write_and_search_permission(store, denied, bit):
    denied.bits = bit
    with pytest.raises(StorageMisconfigured) as caught:
        store.check()
    assert str(caught.value) == f"local storage folder {store.root} is not writable by the portal"


@pytest.mark.parametrize("bit", [os.R_OK, os.X_OK], ids=["read", "search"])
def test_check_for_reading_needs_read_and_search_permission(store, denied, bit):
    denied.bits = bit
    with pytest.raises(StorageMisconfigured) as caught:
        store.check(write=False)
    assert str(caught.value) == f"local storage folder {store.root} is not readable by the portal"


def test_check_asks_only_for_what_it_needs(store, denied):
    denied.bits = os.R_OK
    store.check()
    denied.bits = os.W_OK
    store.check(write=False)


# -- save and _write -----------------------------------------------------------------------------


def test_save_answers_and_records_what_it_stored(store):
    saved = store.save(
        "attachments/a/b/report.txt",
        io.BytesIO(DATA),
        content_type="text/plain",
        metadata={"owner": "7"},
        expected_sha256=DATA_SHA.upper(),
        size=len(DATA),
    )
    assert saved == StoredObject("attachments/a/b/report.txt", 100, DATA_SHA, "text/plain", {"owner": "7"})
    assert (store.root / "attachments/a/b/report.txt").read_bytes() == DATA
    stat = store.stat("attachments/a/b/report.txt")
    assert (stat.size, stat.sha256, stat.content_type, stat.metadata) == (100, DATA_SHA, "text/plain", {"owner": "7"})
    assert sorted(os.listdir(store.root / "attachments/a/b")) == [".report.txt.meta.json", "report.txt"]


def test_save_without_the_optional_parts(store):
    assert store.save("a.bin", io.BytesIO(b"")) == StoredObject("a.bin", 0, sha(b""), None, {})
    assert store.stat("a.bin").metadata == {}


def test_a_second_save_in_the_same_folder_replaces_the_object(store):
    store.save("attachments/a.txt", io.BytesIO(b"first"), content_type="text/plain", metadata={"v": "1"})
    store.save("attachments/b.txt", io.BytesIO(b"other"))
    store.save("attachments/a.txt", io.BytesIO(b"second"))
    assert b"".join(store.open("attachments/a.txt")) == b"second"
    stat = store.stat("attachments/a.txt")
    assert (stat.sha256, stat.content_type, stat.metadata) == (sha(b"second"), None, {})
    assert leftovers(store) == []


def test_save_reads_the_stream_in_bounded_pieces(store):
    data = os.urandom(2 * CHUNK_SIZE + 1)
    stream = Recorder(data)
    assert store.save("big.bin", stream).size == len(data)
    assert stream.asked == [CHUNK_SIZE] * 4
    assert store.stat("big.bin").sha256 == sha(data)


def test_a_wrong_sha256_stores_nothing_and_says_how_much_came(store):
    store.save("a.txt", io.BytesIO(b"old"))
    with pytest.raises(StorageIntegrityError) as caught:
        store.save("a.txt", io.BytesIO(b"12345"), expected_sha256="0" * 64)
    assert str(caught.value) == "SHA-256 of the 5 bytes received does not match the expected one"
    assert b"".join(store.open("a.txt")) == b"old"
    assert leftovers(store) == []


@pytest.mark.parametrize("size", [4, 6])
def test_a_declared_size_the_stream_does_not_hold_stores_nothing(store, size):
    with pytest.raises(StorageIntegrityError):
        store.save("a.txt", io.BytesIO(b"12345"), size=size)
    assert not (store.root / "a.txt").exists()
    assert leftovers(store) == []


def test_bad_metadata_or_sha256_is_refused_before_anything_is_written(store):
    with pytest.raises(ValueError):
        store.save("a.txt", io.BytesIO(b"x"), metadata={"Bad Name": "x"})
    with pytest.raises(ValueError):
        store.save("a.txt", io.BytesIO(b"x"), expected_sha256="abc")
    assert os.listdir(store.root) == []


def test_a_non_blocking_stream_is_refused_and_leaves_nothing(store):
    with pytest.raises(ValueError) as caught:
        store.save("a.txt", NonBlocking())
    assert str(caught.value) == "the upload stream returned None; it must be a blocking binary stream"
    assert os.listdir(store.root) == []


def test_while_writing_the_temp_file_is_hidden_beside_the_target(store):
    seen = []

    def look():
        seen.append((sorted(os.listdir(store.root / "attachments")), [o.key for o in store.list()]))

    store.save("attachments/keep.txt", io.BytesIO(b"k"))
    store.save("attachments/new.txt", Recorder(b"abc", during_read=look))
    names, listed = seen[0]
    assert [name for name in names if name.startswith(".tmp-")] and len(names) == 3
    assert listed == ["attachments/keep.txt"]


def test_a_stream_that_breaks_leaves_neither_object_nor_temp_file(store):
    def fail():
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.save("attachments/a.txt", Recorder(b"abc", during_read=fail))
    assert os.listdir(store.root / "attachments") == []


def test_an_object_whose_record_cannot_be_written_is_removed(store, monkeypatch):
    def refuse(path, record):
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_sidecar", refuse)
    with pytest.raises(OSError, match="disk full"):
        store.save("attachments/a.txt", io.BytesIO(b"abc"))
    assert os.listdir(store.root / "attachments") == []


def test_a_record_failing_after_the_object_was_deleted_reports_the_records_failure(store, monkeypatch):
    def deleted_then_refused(path, record):
        path.unlink()
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_sidecar", deleted_then_refused)
    with pytest.raises(OSError) as caught:
        store.save("attachments/a.txt", io.BytesIO(b"abc"))
    assert str(caught.value) == "disk full"


# -- open --------------------------------------------------------------------------------------------


@pytest.fixture
def report(store):
    store.save("attachments/report.txt", io.BytesIO(DATA), content_type="text/plain", metadata={"owner": "7"})
    return "attachments/report.txt"


@pytest.mark.parametrize(
    ("byte_range", "expected"),
    [(None, DATA), ((0, 0), b"0"), ((2, 4), b"234"), ((95, 99), b"56789"), ((98, 500), b"89"), ((100, 200), b"")],
)
def test_open_yields_exactly_the_range_asked(store, report, byte_range, expected):
    assert b"".join(store.open(report, byte_range)) == expected


def test_open_yields_bounded_pieces(store):
    data = os.urandom(2 * CHUNK_SIZE + 1)
    store.save("big.bin", io.BytesIO(data))
    pieces = list(store.open("big.bin"))
    assert [len(piece) for piece in pieces] == [CHUNK_SIZE, CHUNK_SIZE, 1]
    assert b"".join(pieces) == data
    assert b"".join(store.open("big.bin", (CHUNK_SIZE - 1, CHUNK_SIZE))) == data[CHUNK_SIZE - 1 : CHUNK_SIZE + 1]


def test_a_reversed_range_is_refused(store, report):
    with pytest.raises(ValueError):
        store.open(report, (5, 4))


def test_a_closed_reader_yields_nothing_more(store, report):
    chunks = store.open(report)
    chunks.close()
    assert list(chunks) == []


def test_a_file_that_shrinks_while_read_ends_the_read(store, report):
    chunks = store.open(report, (10, 99))
    os.truncate(store.path_for(report), 10)
    assert list(chunks) == []


@pytest.mark.parametrize("key", ["attachments/missing.txt", "attachments", "attachments/report.txt/x"])
def test_open_of_what_is_not_an_object_is_not_found(store, report, key):
    with pytest.raises(ObjectNotFound) as caught:
        store.open(key)
    assert str(caught.value) == f"no object at {key!r}"


# -- stat --------------------------------------------------------------------------------------------


def test_stat_answers_size_record_and_modification_time(store, report):
    os.utime(store.path_for(report), (1_700_000_000, 1_700_000_000.5))
    assert store.stat(report) == StoredObject(
        report, 100, DATA_SHA, "text/plain", {"owner": "7"}, modified=datetime(2023, 11, 14, 22, 13, 20, 500000, UTC)
    )


def test_a_file_without_a_record_has_only_size_and_time(store):
    (store.root / "by-hand.txt").write_bytes(b"abc")
    stat = store.stat("by-hand.txt")
    assert (stat.size, stat.sha256, stat.content_type, stat.metadata, stat.store_sha256) == (3, None, None, {}, None)


def test_a_record_that_is_not_json_counts_as_none(store, report):
    (store.root / "attachments/.report.txt.meta.json").write_text("{not json")
    stat = store.stat(report)
    assert (stat.size, stat.sha256, stat.content_type, stat.metadata) == (100, None, None, {})


@pytest.mark.parametrize("key", ["attachments/missing.txt", "attachments", "attachments/report.txt/x"])
def test_stat_of_what_is_not_an_object_is_not_found(store, report, key):
    with pytest.raises(ObjectNotFound) as caught:
        store.stat(key)
    assert str(caught.value) == f"no object at {key!r}"


# -- delete ------------------------------------------------------------------------------------------


def test_delete_removes_the_object_and_its_record(store, report):
    store.delete(report)
    assert os.listdir(store.root / "attachments") == []
    (store.root / report).write_bytes(b"new")
    assert store.stat(report).content_type is None


@pytest.mark.parametrize("key", ["attachments/missing.txt", "attachments", "attachments/report.txt/x"])
def test_delete_of_what_is_not_an_object_does_nothing(store, report, key):
    store.delete(key)
    assert b"".join(store.open(report)) == DATA


# -- copy --------------------------------------------------------------------------------------------


def test_copy_answers_and_records_the_copy_with_the_sources_type_and_metadata(store, report):
    copied = store.copy(report, "elsewhere/deep/copy.txt")
    assert copied == StoredObject("elsewhere/deep/copy.txt", 100, DATA_SHA, "text/plain", {"owner": "7"})
    stat = store.stat("elsewhere/deep/copy.txt")
    assert (stat.size, stat.sha256, stat.content_type, stat.metadata) == (100, DATA_SHA, "text/plain", {"owner": "7"})
    assert b"".join(store.open("elsewhere/deep/copy.txt")) == DATA
    assert b"".join(store.open(report)) == DATA


def test_a_copy_is_hashed_from_the_bytes_not_taken_from_the_record(store, report):
    (store.root / report).write_bytes(b"edited by hand")
    store.save("attachments/other.txt", io.BytesIO(b"x"))
    copied = store.copy(report, "attachments/other.txt")
    assert (copied.size, copied.sha256) == (14, sha(b"edited by hand"))
    stat = store.stat("attachments/other.txt")
    assert (stat.size, stat.sha256, stat.content_type) == (14, sha(b"edited by hand"), "text/plain")
    assert leftovers(store) == []


def test_a_copy_of_a_file_without_a_record_gets_one(store):
    (store.root / "by-hand.txt").write_bytes(b"abc")
    assert store.copy("by-hand.txt", "copy.txt") == StoredObject("copy.txt", 3, sha(b"abc"), None, {})
    assert store.stat("copy.txt").sha256 == sha(b"abc")


def test_a_large_copy_is_exact(store):
    data = os.urandom(CHUNK_SIZE + 3)
    store.save("big.bin", io.BytesIO(data))
    assert store.copy("big.bin", "copy.bin").sha256 == sha(data)
    assert (store.root / "copy.bin").read_bytes() == data


def test_copy_reads_the_source_in_bounded_pieces(store, monkeypatch):
    store.save("big.bin", io.BytesIO(os.urandom(2 * CHUNK_SIZE + 1)))
    asked = []

    class Recording(io.FileIO):
        def read(self, amount=-1):
            asked.append(amount)
            return super().read(amount)

    monkeypatch.setattr("portal.storage.local.open", lambda path, mode: Recording(path, mode), raising=False)
    store.copy("big.bin", "copy.bin")
    assert asked == [CHUNK_SIZE] * 4


@pytest.mark.parametrize("key", ["attachments/missing.txt", "attachments", "attachments/report.txt/x"])
def test_copy_of_what_is_not_an_object_is_not_found_and_writes_nothing(store, report, key):
    with pytest.raises(ObjectNotFound) as caught:
        store.copy(key, "copies/x.txt")
    assert str(caught.value) == f"no object at {key!r}"
    assert not (store.root / "copies").exists()


# -- set_metadata ------------------------------------------------------------------------------------


def test_set_metadata_replaces_only_the_metadata(store, report):
    store.set_metadata(report, {"state": "final"})
    stat = store.stat(report)
    assert (stat.sha256, stat.content_type, stat.metadata) == (DATA_SHA, "text/plain", {"state": "final"})
    store.set_metadata(report, None)
    assert store.stat(report).metadata == {}


def test_set_metadata_of_a_file_without_a_record_vouches_for_nothing(store):
    (store.root / "by-hand.txt").write_bytes(b"abc")
    store.set_metadata("by-hand.txt", {"a": "b"})
    stat = store.stat("by-hand.txt")
    assert (stat.size, stat.sha256, stat.content_type, stat.metadata) == (3, None, None, {"a": "b"})


def test_set_metadata_does_not_make_an_unchecked_sha256_vouch_for_the_bytes(store):
    (store.root / "by-hand.txt").write_bytes(b"abc")
    # A record without a size (written by hand) vouches for nothing, before and after.
    (store.root / ".by-hand.txt.meta.json").write_text(json.dumps({"sha256": sha(b"other bytes")}))
    assert store.stat("by-hand.txt").sha256 is None
    store.set_metadata("by-hand.txt", {"a": "b"})
    assert store.stat("by-hand.txt").sha256 is None


def test_set_metadata_checks_the_metadata(store, report):
    with pytest.raises(ValueError):
        store.set_metadata(report, {"Bad Name": "x"})
    assert store.stat(report).metadata == {"owner": "7"}


@pytest.mark.parametrize("key", ["attachments/missing.txt", "attachments", "attachments/report.txt/x"])
def test_set_metadata_of_what_is_not_an_object_is_not_found(store, report, key):
    with pytest.raises(ObjectNotFound) as caught:
        store.set_metadata(key, {"a": "b"})
    assert str(caught.value) == f"no object at {key!r}"


# -- list --------------------------------------------------------------------------------------------


@pytest.fixture
def tree(store):
    for key in ("a/b", "a-c", "a.txt", "a/z/y", "b", "notes.txt", "a/.hidden/x"):
        (store.root / key).parent.mkdir(parents=True, exist_ok=True)
        (store.root / key).write_bytes(key.encode())
    store.save("a/saved.bin", io.BytesIO(b"12345"), content_type="text/plain")
    (store.root / ".stray").write_bytes(b"dot file")
    (store.root / "link-to-a").symlink_to(store.root / "a")
    (store.root / "link-to-b").symlink_to(store.root / "b")
    return store


def test_list_is_every_object_in_plain_key_order_with_its_size(tree):
    assert [(o.key, o.size) for o in tree.list()] == [
        ("a-c", 3),
        ("a.txt", 5),
        ("a/b", 3),
        ("a/saved.bin", 5),
        ("a/z/y", 5),
        ("b", 1),
        ("notes.txt", 9),
    ]


@pytest.mark.parametrize(
    ("prefix", "keys"),
    [
        ("a/", ["a/b", "a/saved.bin", "a/z/y"]),
        ("a/z", ["a/z/y"]),
        ("a/s", ["a/saved.bin"]),
        ("a", ["a-c", "a.txt", "a/b", "a/saved.bin", "a/z/y"]),
        ("notes.txt.", []),
        ("a/b/", []),
        ("c", []),
    ],
)
def test_list_keeps_the_keys_that_start_with_the_prefix(tree, prefix, keys):
    assert [o.key for o in tree.list(prefix)] == keys


def test_list_of_an_empty_store_is_empty(store):
    assert list(store.list()) == []


def test_a_file_deleted_while_listing_is_left_out(tree):
    listing = tree.list("a/")
    assert next(listing).key == "a/b"
    os.unlink(tree.root / "a" / "saved.bin")
    assert [o.key for o in listing] == ["a/z/y"]


# -- the log line of each operation -------------------------------------------------------------------


def test_each_operation_logs_its_key_and_size(store, caplog, files_client):
    caplog.set_level(logging.INFO, logger="portal.storage")
    store.save("a/x", io.BytesIO(b"12345"))
    b"".join(store.open("a/x", (1, 2)))
    store.stat("a/x")
    store.copy("a/x", "a/y")
    store.set_metadata("a/y", {"k": "v"})
    assert [o.key for o in store.list("a/")] == ["a/x", "a/y"]
    fetch(files_client, store.url("a/x", filename="x"))
    store.delete("a/x")
    store.check()
    assert log_lines(caplog) == [
        ("save", "local", '"a/x"', "5", "ok"),
        ("open", "local", '"a/x"', "2", "ok"),
        ("stat", "local", '"a/x"', "5", "ok"),
        ("copy", "local", '"a/x -> a/y"', "5", "ok"),
        ("set_metadata", "local", '"a/y"', "-", "ok"),
        ("list", "local", '"a/"', "2", "ok"),
        ("url", "local", '"a/x"', "-", "ok"),
        ("serve", "local", '"a/x"', "5", "ok"),
        ("delete", "local", '"a/x"', "-", "ok"),
        ("check", "local", "-", "-", "ok"),
    ]


def test_a_listing_stopped_early_logs_what_it_gave(tree, caplog):
    caplog.set_level(logging.INFO, logger="portal.storage")
    listing = tree.list()
    next(listing)
    listing.close()
    assert log_lines(caplog) == [("list", "local", '""', "1", "closed")]


def test_a_store_logs_under_its_own_name(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="portal.storage")
    LocalStorageProvider(tmp_path, name="archive").save("a", io.BytesIO(b"1"))
    assert log_lines(caplog) == [("save", "archive", '"a"', "1", "ok")]


# -- url and the /files/<token> answer ------------------------------------------------------------


def test_a_link_is_a_signed_token_under_files(store, report, clock):
    link = store.url(report, filename="Report.txt", content_type="text/plain", disposition="inline")
    assert link.startswith("/files/")
    payload = URLSafeSerializer(SIGNING_KEY, salt=TOKEN_SALT).loads(link.removeprefix("/files/"))
    assert payload == {"k": report, "f": "Report.txt", "t": "text/plain", "d": "inline", "e": 1_800_000_300}


def test_a_link_goes_through_link_for_token(store, report):
    custom = LocalStorageProvider(store.root, secret_key=SIGNING_KEY, link_for_token=lambda token: f"/p/{token}!")
    link = custom.url(report, filename="x")
    assert link.startswith("/p/") and link.endswith("!")


def test_a_link_to_an_unsafe_key_is_refused(store):
    with pytest.raises(StorageMisconfigured, match="unsafe storage key"):
        store.url("../x", filename="x")


@pytest.mark.parametrize("secret_key", [None, "", [], [""]])
def test_without_a_signing_key_there_are_no_links_and_every_token_is_refused(tmp_path, secret_key):
    provider = LocalStorageProvider(tmp_path, secret_key=secret_key)
    with pytest.raises(StorageMisconfigured) as caught:
        provider.url("a", filename="x")
    assert str(caught.value) == "SECRET_KEY is not set, so local download links cannot be signed"
    (tmp_path / "a").write_bytes(b"x")
    response = fetch(client_for(provider), f"/files/{token_for({'k': 'a', 'e': 2**40})}")
    assert response.status == 403
    assert BAD_LINK in response.body.decode()


def test_links_are_signed_with_the_last_key_and_the_earlier_ones_still_accepted(store, report):
    rotated = LocalStorageProvider(store.root, secret_key=["", "old-key", SIGNING_KEY + "-new"])
    link = rotated.url(report, filename="x")
    assert URLSafeSerializer(SIGNING_KEY + "-new", salt=TOKEN_SALT).loads(link.removeprefix("/files/"))["k"] == report
    client = client_for(rotated)
    old = token_for({"k": report, "e": 2**40}, key="old-key")
    assert fetch(client, f"/files/{old}").body == DATA
    assert fetch(client, link).body == DATA
    # The empty key is dropped, not accepted.
    assert fetch(client, f"/files/{token_for({'k': report, 'e': 2**40}, key='')}").status == 403


def test_a_link_answers_the_file_with_exact_headers(store, report, files_client):
    response = fetch(files_client, store.url(report, filename="Quarterly report.txt", content_type="text/plain"))
    assert response.status == 200
    assert response.body == DATA
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["Content-Length"] == "100"
    assert response.headers["Content-Disposition"] == 'attachment; filename="Quarterly report.txt"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == FILE_POLICY
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-cache, max-age=0, private"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"]
    assert response.headers["Last-Modified"]


def test_a_link_without_a_type_or_name_answers_a_download(store, report, files_client):
    response = fetch(files_client, store.url(report, filename=""))
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; filename="download"'
    forged = fetch(files_client, f"/files/{token_for({'k': report, 'e': 2**40})}")
    assert forged.headers["Content-Type"] == "application/octet-stream"
    assert forged.headers["Content-Disposition"] == 'attachment; filename="download"'
    assert forged.headers["Content-Security-Policy"] == FILE_POLICY


def test_an_inline_link_to_a_passive_type_shows_it(store, report, files_client):
    link = store.url(report, filename="scan.pdf", content_type="application/pdf", disposition="inline")
    response = fetch(files_client, link)
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == 'inline; filename="scan.pdf"'
    assert response.headers["Content-Security-Policy"] == VIEW_POLICY


def test_an_inline_link_to_an_active_type_is_a_download(store, report, files_client):
    link = store.url(report, filename="page.html", content_type="text/html", disposition="inline")
    assert fetch(files_client, link).headers["Content-Disposition"] == 'attachment; filename="page.html"'
    # Even a token that says inline (signed by hand) gets the download answer for an active type.
    forged = {"k": report, "f": "page.html", "t": "text/html", "d": "inline", "e": 2**40}
    response = fetch(files_client, f"/files/{token_for(forged)}")
    assert response.headers["Content-Disposition"] == 'attachment; filename="page.html"'
    assert response.headers["Content-Security-Policy"] == FILE_POLICY
    assert response.headers["Content-Type"] == "text/html"


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=10-19", 206, b"0123456789", "bytes 10-19/100"),
        ("bytes=95-", 206, b"56789", "bytes 95-99/100"),
        ("bytes=-3", 206, b"789", "bytes 97-99/100"),
        ("bytes=98-500", 206, b"89", "bytes 98-99/100"),
        ("bytes=100-200", 416, None, "bytes */100"),
    ],
)
def test_a_range_request_gets_that_range(store, report, files_client, header, status, body, content_range):
    response = fetch(files_client, store.url(report, filename="r.txt"), headers={"Range": header})
    assert response.status == status
    assert response.headers["Content-Range"] == content_range
    if body is not None:
        assert response.body == body
        assert response.headers["Content-Length"] == str(len(body))


def test_conditional_requests_answer_not_modified_only_when_unchanged(store, report, files_client):
    link = store.url(report, filename="r.txt")
    first = fetch(files_client, link)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        again = fetch(files_client, link, headers=headers)
        assert again.status == 304
        assert again.body == b""
    assert fetch(files_client, link, headers={"If-None-Match": '"other"'}).status == 200
    assert fetch(files_client, link, headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}).status == 200
    assert fetch(files_client, link, headers={"If-Range": '"other"', "Range": "bytes=0-1"}).status == 200
    assert fetch(files_client, link, headers={"If-Range": etag, "Range": "bytes=0-1"}).status == 206


def test_a_link_is_served_until_its_last_second(store, report, files_client, clock):
    link = store.url(report, filename="r.txt", expires_in=60)
    clock.now += 60
    assert fetch(files_client, link).status == 200
    clock.now += 1
    response = fetch(files_client, link)
    assert response.status == 410
    assert f"<p>{EXPIRED}</p>" in response.body.decode()


def test_a_link_lasts_the_stores_default_when_not_told(store, report, files_client, clock):
    link = store.url(report, filename="r.txt")
    clock.now += 300
    assert fetch(files_client, link).status == 200
    clock.now += 1
    assert fetch(files_client, link).status == 410


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        token_for({"k": "attachments/report.txt", "e": 2**40}, key="another-secret"),
        URLSafeSerializer(SIGNING_KEY, salt="cookie-session").dumps({"k": "attachments/report.txt", "e": 2**40}),
        token_for(["attachments/report.txt", 2**40]),
        token_for({"k": "attachments/report.txt"}),
        token_for({"k": "attachments/report.txt", "e": "2099-01-01"}),
    ],
    ids=["not a token", "other key", "other salt", "not a dict", "no expiry", "expiry not a number"],
)
def test_a_token_the_store_did_not_make_is_forbidden(store, report, files_client, token):
    response = fetch(files_client, f"/files/{token}")
    assert response.status == 403
    assert BAD_LINK in response.body.decode()


@pytest.mark.parametrize("key", ["attachments/missing.txt", "attachments", "../outside.txt", None])
def test_a_link_to_what_is_not_an_object_is_not_found(store, report, files_client, key):
    response = fetch(files_client, f"/files/{token_for({'k': key, 'e': 2**40})}")
    assert response.status == 404


def test_a_link_when_the_folder_is_gone_is_not_found(store, report, files_client, tmp_path):
    link = store.url(report, filename="r.txt")
    store.root.rename(tmp_path / "moved")
    assert fetch(files_client, link).status == 404
