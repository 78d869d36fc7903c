"""Benchmark: one large upload through the portal (gunicorn, S3 on moto or RGW) against boto3 straight into the bucket.

    .venv/bin/python bench/bench_upload.py [--size-mb 256] [--repeat 3] [--store moto|rgw]
        [--threshold-mb N] [--chunk-mb N] [--concurrency N] [--check]

Goals (from the issue): portal time <= 1.3x the faster of boto3's put_object and upload_file for the
same file into the same bucket of the same S3 server (moto's, or a Ceph RADOS Gateway with
--store rgw), measured in the same run; the gunicorn
worker's peak RSS grows by less than 64 MiB over its RSS right before the upload. Each run starts a
fresh gunicorn (so every upload meets a worker that has only served a sign-in and one small warm-up
upload), and the three ways alternate so drift on the host hits all of them. The best run of each
way counts for time, the worst for memory. Also timed, to read the result by: the store's
CompleteMultipartUpload alone, which every multipart upload (the portal's, upload_file's) pays after
its last byte and a single put_object never does. Exits 1 only with --check and a missed goal.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    STORES,
    MiB,
    RssWatch,
    cpu_seconds,
    create_document,
    csrf_token,
    portal_env,
    prepare_portal,
    setup_process,
    sign_in,
    start_gunicorn,
    start_store,
    store_cpu,
    tail,
    upload,
    worker_pid,
    write_random_file,
)

TIME_GOAL, MEMORY_GOAL_MIB = 1.30, 64


def s3_client(endpoint: str):
    """A plain boto3 client, boto3's defaults but for where the bucket is."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(signature_version="s3v4"),
    )


def empty_bucket(s3) -> None:
    """Delete every object, so the store's memory stays flat from run to run."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench"):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket="bench", Key=item["Key"])


def direct(s3, way: str, path: Path, store_pids: list[int]) -> dict:
    """One boto3 upload of ``path`` (put_object: one PUT; upload_file: boto3's default transfer)."""
    cpu_store, cpu_self = store_cpu(store_pids), time.process_time()
    started = time.perf_counter()
    if way == "put_object":
        with open(path, "rb") as body:
            s3.put_object(Bucket="bench", Key="direct/put_object.bin", Body=body)
    else:
        s3.upload_file(str(path), "bench", "direct/upload_file.bin", Config=TransferConfig())
    seconds = time.perf_counter() - started
    size = s3.head_object(Bucket="bench", Key=f"direct/{way}.bin")["ContentLength"]
    if size != path.stat().st_size:
        raise RuntimeError(f"{way} stored {size} bytes, not {path.stat().st_size}")
    return {
        "seconds": seconds,
        "cpu_client": time.process_time() - cpu_self,
        "cpu_store": store_cpu(store_pids) - cpu_store,
    }


def complete_cost(s3, path: Path, part_size: int = 16 * MiB) -> float:
    """Seconds the store takes to answer CompleteMultipartUpload for ``path`` sent as parts (one part at a time)."""
    upload_id = s3.create_multipart_upload(Bucket="bench", Key="direct/complete.bin", ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]
    parts = []
    with open(path, "rb") as source:
        while data := source.read(part_size):
            answer = s3.upload_part(
                Bucket="bench",
                Key="direct/complete.bin",
                UploadId=upload_id,
                PartNumber=len(parts) + 1,
                Body=data,
                ChecksumAlgorithm="CRC32",
            )
            part = {"PartNumber": len(parts) + 1, "ETag": answer["ETag"]}
            if "ChecksumCRC32" in answer:  # RGW 16 keeps no part checksums
                part["ChecksumCRC32"] = answer["ChecksumCRC32"]
            parts.append(part)
    started = time.perf_counter()
    s3.complete_multipart_upload(
        Bucket="bench", Key="direct/complete.bin", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return time.perf_counter() - started


def through_portal(env: dict, folder: Path, path: Path, store_pids: list[int], run: int, declare_size: bool) -> dict:
    """A fresh gunicorn; sign in, warm up with a small upload, then time and watch the big one, sent
    as the page's script sends it (``declare_size``) or as a plain form."""
    log = folder / "gunicorn.log"
    with ExitStack() as stack:
        master, base = start_gunicorn(stack, "wsgi:app", env, log)
        worker = worker_pid(master.pid)
        session = sign_in(base)
        document = create_document(session, base, f"bench upload {run}")
        token = csrf_token(session, f"{base}/documents/{document}")
        small = folder / "warm-up.bin"
        write_random_file(small, 64 * 1024)
        upload(session, base, document, small, token)  # loads boto3, its models and the client
        time.sleep(0.5)  # let the worker settle before the baseline
        cpu_worker, cpu_store, cpu_self = cpu_seconds(worker), store_cpu(store_pids), time.process_time()
        with RssWatch(worker) as rss:
            started = time.perf_counter()
            try:
                stored = upload(session, base, document, path, token, declare_size=declare_size)
            except Exception as exc:
                raise RuntimeError(f"{exc}\n--- gunicorn log ---\n{tail(log)}") from None
            seconds = time.perf_counter() - started
        if stored["size"] != path.stat().st_size:
            raise RuntimeError(f"the portal stored {stored['size']} bytes, not {path.stat().st_size}")
        return {
            "seconds": seconds,
            "rss_growth": rss.growth_mib,
            "rss_baseline": rss.baseline / 1024,
            "rss_exact": rss.exact,
            "cpu_worker": cpu_seconds(worker) - cpu_worker,
            "cpu_client": time.process_time() - cpu_self,
            "cpu_store": store_cpu(store_pids) - cpu_store,
        }


def report(args, settings: dict, results: dict[str, list[dict]], complete: float) -> int:
    best = {way: min(runs, key=lambda r: r["seconds"]) for way, runs in results.items()}
    baseline_way = min(("put_object", "upload_file"), key=lambda way: best[way]["seconds"])
    ratio = best["portal"]["seconds"] / best[baseline_way]["seconds"]
    form_ratio = best["portal_form"]["seconds"] / best[baseline_way]["seconds"]
    portal_runs = results["portal"] + results["portal_form"]
    growth = max(run["rss_growth"] for run in portal_runs)
    shown = (
        ", ".join(f"{name}={value}" for name, value in settings.items())
        or "portal defaults (16 MiB threshold and parts, 4 at once)"
    )
    print(f"file {args.size_mb} MiB on {args.store}, best of {args.repeat}; multipart settings: {shown}")
    for way in results:
        run = best[way]
        cpu = ", ".join(f"{key[4:]} {run[key]:.2f}" for key in ("cpu_client", "cpu_worker", "cpu_store") if key in run)
        print(f"  {way:12} {run['seconds']:6.2f} s   CPU s: {cpu}")
    print(
        f"  {args.store}'s CompleteMultipartUpload alone (16 MiB parts): {complete:.2f} s; "
        f"portal / upload_file: {best['portal']['seconds'] / best['upload_file']['seconds']:.2f}"
    )
    print(
        f"upload {args.size_mb} MiB: portal {best['portal']['seconds']:.2f} s, boto3 direct "
        f"({baseline_way}) {best[baseline_way]['seconds']:.2f} s, ratio {ratio:.2f} "
        f"(goal <= {TIME_GOAL:.2f}) {'met' if ratio <= TIME_GOAL else 'NOT met'}"
    )
    print(
        f"  the same upload from a plain form (no script, so no declared size: multipart): "
        f"{best['portal_form']['seconds']:.2f} s, ratio {form_ratio:.2f}"
    )
    exact = all(run["rss_exact"] for run in portal_runs)
    per_run = ", ".join(f"{run['rss_growth']:.1f}" for run in portal_runs)
    print(
        f"worker peak RSS growth during upload: {growth:.1f} MiB (goal < {MEMORY_GOAL_MIB}) "
        f"{'met' if growth < MEMORY_GOAL_MIB else 'NOT met'}   [baseline "
        f"{results['portal'][0]['rss_baseline']:.0f} MiB; {'VmHWM + ' if exact else ''}2 ms VmRSS samples; "
        f"per run: {per_run}]"
    )
    missed = ratio > TIME_GOAL or growth >= MEMORY_GOAL_MIB
    return 1 if args.check and missed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256, help="file size in MiB (default 256)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each way (default 3)")
    parser.add_argument("--threshold-mb", type=int, help="S3_MULTIPART_THRESHOLD_MB (default: the portal's)")
    parser.add_argument("--chunk-mb", type=int, help="S3_MULTIPART_CHUNK_MB (default: the portal's)")
    parser.add_argument("--concurrency", type=int, help="S3_MAX_CONCURRENCY (default: the portal's)")
    parser.add_argument("--store", choices=STORES, default="moto", help="the S3 server (default moto)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    setup_process()
    settings = {
        name: value
        for name, value in (
            ("S3_MULTIPART_THRESHOLD_MB", args.threshold_mb),
            ("S3_MULTIPART_CHUNK_MB", args.chunk_mb),
            ("S3_MAX_CONCURRENCY", args.concurrency),
        )
        if value
    }

    results: dict[str, list[dict]] = {"put_object": [], "upload_file": [], "portal": [], "portal_form": []}
    completes: list[float] = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-upload-")))
        store_pids, endpoint = start_store(stack, args.store, folder / "store.log")
        env = portal_env(folder, endpoint, **settings)
        prepare_portal(env, folder / "setup.log")
        path = folder / f"payload-{args.size_mb}MiB.bin"
        write_random_file(path, args.size_mb * MiB)
        s3 = s3_client(endpoint)
        for run in range(args.repeat):
            for way in results:
                if way.startswith("portal"):
                    results[way].append(through_portal(env, folder, path, store_pids, run, way == "portal"))
                else:
                    results[way].append(direct(s3, way, path, store_pids))
                empty_bucket(s3)
                line = ", ".join(
                    f"{key} {value:.2f}" for key, value in results[way][-1].items() if isinstance(value, float)
                )
                print(f"  run {run + 1} {way:12} {line}", flush=True)
            completes.append(complete_cost(s3, path))
            empty_bucket(s3)
    return report(args, settings, results, min(completes))


if __name__ == "__main__":
    sys.exit(main())
