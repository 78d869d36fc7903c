"""The readers the storage layer wraps streams in (portal/storage/streams.py): each rule, boundary and message."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from portal.storage.base import CHUNK_SIZE, StorageIntegrityError
from portal.storage.streams import ExactSize, HashingReader, open_regular_file


class Trickle:
    """A blocking stream that hands out at most ``step`` bytes per read and records what was asked."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self._data, self._step, self.asked = data, step, []

    def read(self, amount: int = -1) -> bytes:
        self.asked.append(amount)
        take = self._step if amount is None or amount < 0 else min(amount, self._step)
        piece, self._data = self._data[:take], self._data[take:]
        return piece


class NonBlocking:
    """A stream with nothing ready: read() gives None, as a non-blocking raw stream does."""

    def read(self, amount: int = -1) -> None:
        return None


# ExactSize


def test_a_negative_size_is_refused():
    with pytest.raises(ValueError) as caught:
        ExactSize(io.BytesIO(b""), -1)
    assert str(caught.value) == "size must not be negative"


def test_an_empty_stream_promised_as_empty_reads_as_empty():
    reader = ExactSize(io.BytesIO(b""), 0)
    assert reader.readable() is True
    assert (reader.size, reader.count) == (0, 0)
    assert reader.read() == b""
    assert reader.read(None) == b""


def test_the_exact_bytes_come_through_in_the_amounts_asked():
    reader = ExactSize(io.BytesIO(b"abcdef"), 6)
    assert reader.read(2) == b"ab"
    assert reader.count == 2
    assert reader.read(3) == b"cde"
    assert reader.read(10) == b"f"  # never more than was promised
    assert reader.count == 6
    assert reader.read(4) == b""


@pytest.mark.parametrize("amount", [-1, None])
def test_an_unbounded_read_gives_the_rest(amount):
    reader = ExactSize(io.BytesIO(b"abcdef"), 6)
    assert reader.read(1) == b"a"
    assert reader.read(amount) == b"bcdef"
    assert reader.count == 6


def test_a_trickling_stream_is_read_until_the_amount_is_there():
    source = Trickle(b"abcdefgh", step=3)
    reader = ExactSize(source, 8)
    assert reader.read(7) == b"abcdefg"
    assert source.asked == [7, 4, 1]  # each read asks only for what is still missing
    assert reader.read() == b"h"


def test_a_stream_that_falls_short_fails_saying_where_it_ended():
    reader = ExactSize(Trickle(b"abcd", step=1), 6)
    assert reader.read(2) == b"ab"
    with pytest.raises(StorageIntegrityError) as caught:
        reader.read()
    assert str(caught.value) == "the stream ended after 4 bytes; 6 were promised"


def test_a_stream_empty_from_the_start_fails():
    with pytest.raises(StorageIntegrityError) as caught:
        ExactSize(io.BytesIO(b""), 3).read(1)
    assert str(caught.value) == "the stream ended after 0 bytes; 3 were promised"


@pytest.mark.parametrize("amount", [-1, None, 6, 7])
def test_a_longer_stream_fails_before_its_last_promised_bytes_are_handed_out(amount):
    reader = ExactSize(io.BytesIO(b"abcdefg"), 6)
    with pytest.raises(StorageIntegrityError) as caught:
        reader.read(amount)
    assert str(caught.value) == "the stream holds more than the 6 bytes promised"


def test_a_longer_stream_fails_on_the_read_that_reaches_the_size():
    reader = ExactSize(io.BytesIO(b"abcdefg"), 6)
    assert reader.read(5) == b"abcde"
    with pytest.raises(StorageIntegrityError):
        reader.read(1)


def test_a_stream_with_bytes_beyond_an_empty_promise_fails():
    with pytest.raises(StorageIntegrityError) as caught:
        ExactSize(io.BytesIO(b"x"), 0).read()
    assert str(caught.value) == "the stream holds more than the 0 bytes promised"


def test_a_zero_byte_read_does_not_look_past_the_end():
    source = Trickle(b"x")
    reader = ExactSize(source, 0)
    assert reader.read(0) == b""
    assert source.asked == []


def test_a_zero_byte_read_reads_nothing():
    source = Trickle(b"abc")
    reader = ExactSize(source, 3)
    assert reader.read(0) == b""
    assert (reader.count, source.asked) == (0, [])
    assert reader.read() == b"abc"


def test_the_end_is_checked_once_the_size_is_reached():
    source = Trickle(b"ab", step=2)
    reader = ExactSize(source, 2)
    assert reader.read(2) == b"ab"
    assert source.asked == [2, 1]  # the one-byte look past the end


# HashingReader


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_hashing_reader_is_readable_and_not_seekable():
    reader = HashingReader(io.BytesIO(b""))
    assert reader.readable() is True
    assert reader.seekable() is False


@pytest.mark.parametrize("amount", [-1, None])
def test_an_unbounded_read_hashes_and_counts_everything(amount):
    reader = HashingReader(io.BytesIO(b"hello world"))
    assert reader.read(amount) == b"hello world"
    assert reader.size == 11
    assert reader.hexdigest() == sha(b"hello world")
    assert reader.digest() == hashlib.sha256(b"hello world").digest()
    assert reader.read() == b""


def test_an_unbounded_read_asks_for_whole_chunks():
    source = Trickle(b"abc", step=2)
    reader = HashingReader(source)
    assert reader.read() == b"abc"
    assert source.asked == [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE]


def test_a_bounded_read_is_exactly_the_amount_until_the_end():
    source = Trickle(b"abcdefgh", step=3)
    reader = HashingReader(source)
    assert reader.read(5) == b"abcde"
    assert source.asked == [5, 2]
    assert reader.read(5) == b"fgh"
    assert reader.read(5) == b""
    assert reader.size == 8
    assert reader.hexdigest() == sha(b"abcdefgh")


def test_an_empty_stream_hashes_as_empty():
    reader = HashingReader(io.BytesIO(b""))
    assert reader.read(4) == b""
    assert reader.read(0) == b""
    assert reader.size == 0
    assert reader.hexdigest() == sha(b"")


def test_bytes_pushed_back_come_out_first_and_are_hashed_once():
    reader = HashingReader(io.BytesIO(b"abcdef"))
    assert reader.read(4) == b"abcd"
    reader.unread(b"cd")
    assert reader.read(1) == b"c"  # less than what was pushed back: the rest stays pending
    assert reader.read(3) == b"def"
    assert reader.size == 6
    assert reader.hexdigest() == sha(b"abcdef")


def test_a_read_of_exactly_the_pushed_back_bytes_reads_nothing_more():
    source = Trickle(b"cdef", step=4)
    reader = HashingReader(source)
    assert reader.read(2) == b"cd"
    reader.unread(b"cd")
    assert reader.read(2) == b"cd"
    assert source.asked == [2]
    assert reader.read(0) == b""
    assert reader.read() == b"ef"


def test_a_zero_byte_read_leaves_pushed_back_bytes_pending():
    reader = HashingReader(io.BytesIO(b"ab"))
    assert reader.read(1) == b"a"
    reader.unread(b"a")
    assert reader.read(0) == b""
    assert reader.read() == b"ab"
    assert reader.hexdigest() == sha(b"ab")


@pytest.mark.parametrize("amount", [-1, None])
def test_an_unbounded_read_gives_pushed_back_bytes_and_the_rest(amount):
    reader = HashingReader(io.BytesIO(b"abcdef"))
    assert reader.read(2) == b"ab"
    reader.unread(b"b")
    assert reader.read(amount) == b"bcdef"
    assert reader.size == 6


def test_a_non_blocking_stream_is_refused():
    with pytest.raises(ValueError) as caught:
        HashingReader(NonBlocking()).read(4)
    assert str(caught.value) == "the upload stream returned None; it must be a blocking binary stream"


def test_readinto_full_fills_the_buffer_and_is_short_only_at_the_end():
    source = Trickle(b"abcdefgh", step=3)
    reader = HashingReader(source)
    buffer = bytearray(5)
    assert reader.readinto_full(memoryview(buffer)) == 5
    assert bytes(buffer) == b"abcde"
    assert source.asked == [5, 2]
    assert reader.readinto_full(memoryview(buffer)) == 3
    assert bytes(buffer[:3]) == b"fgh"
    assert reader.readinto_full(memoryview(buffer)) == 0
    assert reader.size == 8
    assert reader.hexdigest() == sha(b"abcdefgh")


def test_readinto_full_asks_for_at_most_a_chunk():
    source = Trickle(b"x" * 10, step=CHUNK_SIZE)
    reader = HashingReader(source)
    buffer = bytearray(CHUNK_SIZE + 4)
    assert reader.readinto_full(memoryview(buffer)) == 10
    assert source.asked == [CHUNK_SIZE, CHUNK_SIZE - 6]


def test_readinto_full_starts_with_pushed_back_bytes_without_hashing_them_again():
    reader = HashingReader(io.BytesIO(b"abcdefg"))
    assert reader.read(4) == b"abcd"
    reader.unread(b"bcd")
    small = bytearray(2)
    assert reader.readinto_full(memoryview(small)) == 2  # fewer than pushed back: the rest stays
    assert bytes(small) == b"bc"
    buffer = bytearray(6)
    assert reader.readinto_full(memoryview(buffer)) == 4
    assert bytes(buffer[:4]) == b"defg"
    assert reader.size == 7
    assert reader.hexdigest() == sha(b"abcdefg")


def test_readinto_full_refuses_a_non_blocking_stream():
    with pytest.raises(ValueError) as caught:
        HashingReader(NonBlocking()).readinto_full(memoryview(bytearray(4)))
    assert str(caught.value) == "the upload stream returned None; it must be a blocking binary stream"


# open_regular_file


def test_an_open_regular_file_gives_its_descriptor_position_and_size(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"0123456789")
    with open(path, "rb") as stream:
        stream.seek(4)
        found = open_regular_file(stream)
        assert found is not None
        fd, position, info = found
        assert fd == stream.fileno()
        assert position == 4
        assert info.st_size == 10
        stream.seek(10)  # at the end is still a file to read (nothing)
        assert open_regular_file(stream)[1] == 10


def test_a_position_past_the_end_is_not_a_file_to_read(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"0123")
    with open(path, "rb") as stream:
        stream.seek(5)
        assert open_regular_file(stream) is None


def test_anything_but_an_open_regular_file_gives_none(tmp_path):
    assert open_regular_file(io.BytesIO(b"abc")) is None  # no descriptor
    assert open_regular_file(object()) is None  # no fileno at all
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as pipe, os.fdopen(write_end, "wb"):
        assert open_regular_file(pipe) is None  # no position
    with open(os.devnull, "rb") as device:
        assert device.tell() == 0
        assert open_regular_file(device) is None  # a position, but not a regular file
    path = tmp_path / "file.bin"
    path.write_bytes(b"abc")
    stream = open(path, "rb")
    stream.close()
    assert open_regular_file(stream) is None  # closed
