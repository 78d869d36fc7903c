"""Benchmark: requests/s of the portal's download redirect against a bare Flask route that only redirects.

    .venv/bin/python bench/bench_download.py [--clients 8] [--requests 3000] [--repeat 3] [--check]

Both apps run under the same gunicorn settings (1 worker, 4 threads) on 127.0.0.1, one at a time
under the same load: ``--clients`` keep-alive connections, each sending its next request as soon as
its last answer is in, until ``--requests`` answers have come back (or 60 s have passed). The load
comes from one small socket client (selectors, pre-built requests) so that it costs far less than
either server and does not cap both at its own speed. Every answer must be a 302 to a presigned S3
URL. Goal (from the issue): portal >= 0.5x the bare redirect's requests/s, best run of each, the two
alternating. Exits 1 only with --check and a missed goal.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    HOST,
    cpu_seconds,
    create_document,
    csrf_token,
    portal_env,
    prepare_portal,
    setup_process,
    sign_in,
    start_gunicorn,
    start_moto,
    upload,
    worker_pid,
    write_random_file,
)

GOAL = 0.50
TARGET_ENV = "BENCH_REDIRECT_TARGET"


def bare_app():
    """The baseline: a Flask app whose only route answers the download path with a fixed 302."""
    from flask import Flask, redirect

    app = Flask("bare_redirect")
    target = os.environ[TARGET_ENV]

    @app.get("/attachments/<int:attachment_id>/download")
    def download(attachment_id: int):
        return redirect(target, code=302)

    return app


class Connection:
    """One keep-alive client connection: sends a request, reads one whole answer, checks it."""

    def __init__(self, port: int, request: bytes, expect: bytes):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.request, self.expect = request, expect
        self.buffer = b""
        self.sent_at = 0.0

    def send(self) -> None:
        self.sent_at = time.perf_counter()
        self.sock.sendall(self.request)  # a few hundred bytes: always fits the socket buffer

    def receive(self) -> bool:
        """Read what arrived; True once a whole answer is in (checked and consumed)."""
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("the server closed a keep-alive connection")
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self.buffer[:end]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return False
        if not head.startswith(b"HTTP/1.1 302") or self.expect not in head:
            raise RuntimeError(f"unexpected answer: {head[:300]!r}")
        self.buffer = self.buffer[end + 4 + length :]
        return True


def load(port: int, request: bytes, expect: bytes, clients: int, total: int, limit: float = 60) -> dict:
    """``clients`` connections in lock-step request/answer until ``total`` answers; requests/s and latency."""
    selector = selectors.DefaultSelector()
    connections = [Connection(port, request, expect) for _ in range(clients)]
    latencies: list[float] = []
    try:
        started = time.perf_counter()
        deadline = started + limit
        sent = 0
        for connection in connections:
            if sent < total:
                selector.register(connection.sock, selectors.EVENT_READ, connection)
                connection.send()
                sent += 1
        while len(latencies) < total:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {len(latencies)} of {total} answers in {limit:.0f} s")
            for key, _ in selector.select(timeout=1):
                connection = key.data
                if connection.receive():
                    latencies.append(time.perf_counter() - connection.sent_at)
                    if sent < total:
                        connection.send()
                        sent += 1
        seconds = time.perf_counter() - started
    finally:
        for connection in connections:
            connection.sock.close()
        selector.close()
    latencies.sort()
    return {
        "rps": total / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def build_request(port: int, path: str, session) -> bytes:
    """The raw GET the load client repeats: the signed-in session's cookies and User-Agent
    (Flask-Login's strong session protection ties the session to the User-Agent)."""
    cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: {session.headers['User-Agent']}\r\n"
        f"Accept: */*\r\nCookie: {cookies}\r\n\r\n"
    ).encode("latin-1")


def measure(name: str, port: int, request: bytes, args, master_pid: int) -> dict:
    worker = worker_pid(master_pid)
    load(port, request, b"X-Amz-Signature=", args.clients, min(300, args.requests))  # warm-up, not counted
    cpu = cpu_seconds(worker)
    result = load(port, request, b"X-Amz-Signature=", args.clients, args.requests)
    result["worker_cpu_ms"] = 1000 * (cpu_seconds(worker) - cpu) / args.requests
    print(
        f"  {name:7} {result['rps']:7.0f} req/s  p50 {result['p50_ms']:5.1f} ms  p99 {result['p99_ms']:6.1f} ms  "
        f"worker CPU {result['worker_cpu_ms']:.2f} ms/request",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--requests", type=int, default=3000, help="answers per measurement (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements of each app (default 3)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()
    setup_process()

    results: dict[str, list[dict]] = {"portal": [], "bare": []}
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-download-")))
        _, endpoint = start_moto(stack, folder / "moto.log")
        env = portal_env(folder, endpoint)
        prepare_portal(env, folder / "setup.log")
        portal, base = start_gunicorn(stack, "wsgi:app", env, folder / "portal.log")
        session = sign_in(base)
        document = create_document(session, base, "bench download")
        small = folder / "report.pdf"
        write_random_file(small, 64 * 1024)
        token = csrf_token(session, f"{base}/documents/{document}")
        attachment = upload(session, base, document, small, token)["id"]
        path = f"/attachments/{attachment}/download"
        first = session.get(base + path, allow_redirects=False, timeout=30)
        target = first.headers.get("Location", "")
        if first.status_code != 302 or not target.startswith(endpoint):
            raise RuntimeError(f"the download answered {first.status_code} {target[:80]!r}, not a 302 to S3")

        bare_env = {**os.environ, TARGET_ENV: target}
        bare, bare_base = start_gunicorn(
            stack,
            "bench_download:bare_app()",
            bare_env,
            folder / "bare.log",
            probe=path,
            extra=("--pythonpath", str(Path(__file__).parent)),
        )
        ports = {"portal": urlsplit(base).port, "bare": urlsplit(bare_base).port}
        masters = {"portal": portal.pid, "bare": bare.pid}
        print(f"{args.clients} keep-alive clients, {args.requests} requests per measurement, GET {path}")
        for _ in range(args.repeat):  # alternate, so drift on the host hits both alike
            for name in results:
                request = build_request(ports[name], path, session)
                results[name].append(measure(name, ports[name], request, args, masters[name]))

    best = {name: max(runs, key=lambda run: run["rps"]) for name, runs in results.items()}
    ratio = best["portal"]["rps"] / best["bare"]["rps"]
    print(
        f"redirect: portal {best['portal']['rps']:.0f} req/s, bare redirect {best['bare']['rps']:.0f} req/s, "
        f"ratio {ratio:.2f} (goal >= {GOAL:.2f}) {'met' if ratio >= GOAL else 'NOT met'}   "
        f"[best of {args.repeat}; worker CPU per request: portal {best['portal']['worker_cpu_ms']:.2f} ms, "
        f"bare {best['bare']['worker_cpu_ms']:.2f} ms]"
    )
    return 1 if args.check and ratio < GOAL else 0


if __name__ == "__main__":
    sys.exit(main())
