"""Encrypted vs plain upload of the same file to moto's S3 server, through the portal's S3 provider.

Goal (issue: hybrid encryption): the encrypted upload takes at most 1.15x the plain one.
Usage: .venv/bin/python bench/bench_encrypted_upload.py [--size-mb 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.config import load_settings  # noqa: E402
from portal.storage.crypto import EncryptingReader  # noqa: E402
from portal.storage.factory import ObjectStorageFactory  # noqa: E402
from portal.storage.keys import generate_keypair  # noqa: E402

MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(port: int) -> subprocess.Popen:
    """moto's server in its own process, so its CPU and memory are not the portal's."""
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("moto server did not start within 30 s")


def write_file(path: Path, size_mb: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(MiB))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    port = free_port()
    moto = start_moto(port)
    try:
        with tempfile.TemporaryDirectory() as folder:
            settings = load_settings(
                {},
                folder,
                {
                    "STORAGE_TYPE": "s3",
                    "S3_BUCKET": "bench-encrypted",
                    "S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                    "S3_ACCESS_KEY": "bench",
                    "S3_SECRET_KEY": "bench-secret",
                },
            )
            provider = ObjectStorageFactory(settings).object_store()
            provider.ensure_ready()
            source = Path(folder) / "payload.bin"
            write_file(source, args.size_mb)
            public_key = generate_keypair().public

            def plain() -> None:
                with source.open("rb") as handle:
                    provider.save("bench/plain", handle)

            def encrypted() -> None:
                with source.open("rb") as handle:
                    provider.save("bench/encrypted", EncryptingReader(handle, public_key))

            timings: dict[str, list[float]] = {"plain": [], "encrypted": []}
            for _ in range(args.rounds):
                for name, run in (("plain", plain), ("encrypted", encrypted)):
                    started = time.perf_counter()
                    run()
                    timings[name].append(time.perf_counter() - started)
            best = {name: min(values) for name, values in timings.items()}
            ratio = best["encrypted"] / best["plain"]
            print(f"upload {args.size_mb} MiB to moto's S3 server (best of {args.rounds}):")
            print(f"  plain     {best['plain']:.2f} s  ({args.size_mb / best['plain']:.0f} MiB/s)")
            print(f"  encrypted {best['encrypted']:.2f} s  ({args.size_mb / best['encrypted']:.0f} MiB/s)")
            print(f"  ratio encrypted/plain {ratio:.2f} (goal <= 1.15)")
    finally:
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    main()
