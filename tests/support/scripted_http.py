"""An HTTP endpoint on 127.0.0.1 that answers each request with the next answer of a script: for the tests of
what the portal's own requests do on the wire (connections kept or dropped, bodies that break off, answers a
real store gives only when it is unwell), which no S3 server can be made to do on cue."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

#: a script entry that closes the connection without answering
HANG_UP = None
#: a script entry that keeps the connection open and never answers
SILENCE = b""


@dataclass(frozen=True)
class Held:
    """A script entry: send ``first`` now and hold ``rest`` back until the client's next request on the same
    connection, then send it before that request's answer (a client that reuses a connection whose answer
    it has not read to its end then reads ``rest`` as the next answer)."""

    first: bytes
    rest: bytes


def answer(
    status: int, body: bytes = b"", *, headers: dict[str, str] | None = None, length: int | None = None
) -> bytes:
    """The raw bytes of one HTTP/1.1 answer; ``length`` other than ``len(body)`` promises bytes never sent."""
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "X")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body) if length is None else length}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedServer:
    """Answers requests in order from ``script``: raw answer bytes, HANG_UP or SILENCE. A connection whose
    answer promised more bytes than it sent is closed after it. ``connections`` counts accepted connections."""

    script: list[bytes | Held | None]
    requests: list[Request] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._socket.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            try:
                self._answer(conn, reader)
            except OSError:
                pass  # the client hung up mid-answer: what some tests do on purpose

    def _answer(self, conn: socket.socket, reader) -> None:
        held = b""
        while True:
            request = _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            reply = self.script.pop(0) if self.script else HANG_UP
            if reply is HANG_UP:
                return
            if reply == SILENCE:
                self._stop.wait()
                return
            if isinstance(reply, Held):
                conn.sendall(held + reply.first)
                held = reply.rest
                continue
            conn.sendall(held + reply)
            held = b""
            if _promises_more(reply):
                return


def _read_request(reader) -> Request | None:
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, value = line.decode("latin-1").split(":", 1)
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", 0)))
    return Request(method, path, headers, body)


def _promises_more(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value) != len(body)
    return False
