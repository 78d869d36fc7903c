"""Benchmark: S3StorageProvider.save vs boto3's upload_file for one large file, time and peak memory.

    .venv/bin/python bench/bench_storage_s3.py [--size-mb 256] [--repeat 3] [--storage-type s3|minio]
        [--store moto|rgw]

The S3 server (moto's, or a Ceph RADOS Gateway with --store rgw) runs in processes of its own (its
memory is not ours to count). Each upload runs in a
fresh child process that first builds its client and makes one small request, so the baseline holds
boto3 and its models; the figure is the peak RSS (VmHWM, reset before the upload, plus a 2 ms
sampler as a fallback) minus that baseline.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from _harness import STORES, start_store

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
TIME_GOAL, MEMORY_GOAL_MIB = 1.1, 64


def write_file(path: Path, size: int) -> None:
    """``size`` pseudo-random bytes, written 8 MiB at a time (never the whole file in memory)."""
    block = os.urandom(8 * MiB)
    with open(path, "wb") as out:
        left = size
        while left:
            out.write(block[: min(left, len(block))])
            left -= min(left, len(block))


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0); without it only the sampler counts.
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def provider_for(endpoint: str, bucket: str, storage_type: str):
    from portal.config import load_settings
    from portal.storage.factory import ObjectStorageFactory

    settings = load_settings(
        {},
        tempfile.gettempdir(),
        {
            "SECRET_KEY": "bench",
            "STORAGE_TYPE": storage_type,
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": endpoint,
            "S3_ACCESS_KEY": "bench",
            "S3_SECRET_KEY": "bench",  # the keys start_store's RGW user has
        },
    )
    return ObjectStorageFactory(settings).object_store()


def run_side(side: str, endpoint: str, bucket: str, storage_type: str, path: str, key: str, queue) -> None:
    """In a child process: one upload by ``side`` (upload_file, save, save-stream); puts (seconds, bytes, CPU)."""
    import io

    provider = provider_for(endpoint, bucket, storage_type)
    provider.save(f"warm-up/{key}", io.BytesIO(b"warm"))  # client, models, pools: part of the baseline
    provider.delete(f"warm-up/{key}")
    exact = _reset_peak()
    baseline, peak, done = _status("VmRSS"), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _status("VmRSS"))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    if side == "upload_file":
        provider.client.upload_file(
            path, bucket, key, Config=provider.transfer, ExtraArgs={"ContentType": "application/octet-stream"}
        )
    else:
        with open(path, "rb") as stream:
            # "stream" hides the file behind a bare read(), as a socket or a decoder would.
            source = stream if side == "save" else type("Stream", (), {"read": lambda self, n=-1: stream.read(n)})()
            provider.save(key, source, content_type="application/octet-stream")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    done.set()
    sampler.join()
    top = max(peak[0], _status("VmHWM") if exact else 0)
    queue.put((seconds, top - baseline, cpu))


def measure(side: str, args, endpoint: str, path: Path, run: int) -> tuple[float, int, float]:
    context = multiprocessing.get_context("spawn")  # a clean interpreter: nothing inherited counts
    queue = context.Queue()
    key = f"bench/{side}-{run}.bin"
    child = context.Process(
        target=run_side, args=(side, endpoint, args.bucket, args.storage_type, str(path), key, queue)
    )
    child.start()
    result = queue.get(timeout=600)
    child.join()
    provider_for(endpoint, args.bucket, args.storage_type).delete(key)  # keep the server's memory flat
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="uploads per side; the median counts")
    parser.add_argument(
        "--storage-type",
        choices=("s3", "minio"),
        default="s3",
        help="settings profile (minio: path style, checksums when_required)",
    )
    parser.add_argument("--bucket", default="portal-bench")
    parser.add_argument("--store", choices=STORES, default="moto", help="the S3 server (default moto)")
    args = parser.parse_args()

    with ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-store-")))
        _, endpoint = start_store(stack, args.store, logs / "store.log")
        provider_for(endpoint, args.bucket, args.storage_type).ensure_ready()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder, "payload.bin")
            write_file(path, args.size_mb * MiB)
            results: dict[str, list[tuple[float, int, float]]] = {"upload_file": [], "save": [], "save-stream": []}
            for run in range(args.repeat):  # alternate, so drift in the server hits both sides alike
                for side in results:
                    results[side].append(measure(side, args, endpoint, path, run))

    times = {side: statistics.median(run[0] for run in runs) for side, runs in results.items()}
    memory = {side: max(run[1] for run in runs) / MiB for side, runs in results.items()}
    cpu = {side: statistics.median(run[2] for run in runs) for side, runs in results.items()}
    ratio = times["save"] / times["upload_file"]
    print(f"file: {args.size_mb} MiB on {args.store}, profile: {args.storage_type}, runs per side: {args.repeat}")
    print(f"{'':24}" + "".join(f"{side:>14}" for side in results))
    print(f"{'median seconds':24}" + "".join(f"{times[side]:>14.2f}" for side in results))
    print(f"{'peak RSS growth (MiB)':24}" + "".join(f"{memory[side]:>14.1f}" for side in results))
    print(f"{'client CPU seconds':24}" + "".join(f"{cpu[side]:>14.2f}" for side in results))
    print("(save: an open file, read in place; save-stream: the same bytes from a non-seekable reader)")
    print(f"time ratio save/upload_file: {ratio:.2f} (goal <= {TIME_GOAL}) {'ok' if ratio <= TIME_GOAL else 'OVER'}")
    print(
        f"save peak RSS growth: {memory['save']:.1f} MiB (goal < {MEMORY_GOAL_MIB}) "
        f"{'ok' if memory['save'] < MEMORY_GOAL_MIB else 'OVER'}"
    )


if __name__ == "__main__":
    main()
