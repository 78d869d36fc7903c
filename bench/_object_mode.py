"""bench_migration.py --mode object: `flask storage migrate minio --from s3` against `rclone sync --checksum`.

Two moto threaded servers in the benchmark's process play `s3` and `minio` (their own endpoints, so
every byte passes the client, as between AWS and a MinIO of one's own). The source bucket is filled
once; each measurement starts from a fresh database whose rows point at it and an empty target bucket,
and the target bucket is removed afterwards (moto's costs grow with what it holds). rclone and the
migration each run as a child process.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import time
import uuid
from pathlib import Path

from bench_migration import (
    KEY_ID,
    ROOT,
    SECRET,
    MemoryWatch,
    child_env,
    create_bucket,
    drop_bucket,
    settings,
    timed,
)

GOAL_READBACK = 1.5


def fill_source(endpoint: str, bucket: str, count: int, size: int) -> list[tuple[str, str]]:
    """``count`` objects of ``size`` random bytes, each PUT with its SHA-256 as S3 and MinIO keep it;
    returns (key, sha256 hex) per object."""
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    objects = []
    for number in range(count):
        data = os.urandom(size)
        digest = hashlib.sha256(data)
        key = f"attachments/2026/11/{number:06d}-{uuid.uuid4().hex}"
        s3.put_object(
            Bucket=bucket, Key=key, Body=data, ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii")
        )
        objects.append((key, digest.hexdigest()))
    return objects


def object_settings(folder: Path, s3_endpoint: str, s3_bucket: str, minio_endpoint: str, minio_bucket: str) -> dict:
    config = settings(folder, s3_endpoint, s3_bucket, f"sqlite:///{folder / 'portal.db'}")
    config.update(
        MINIO_BUCKET=minio_bucket,
        MINIO_ENDPOINT_URL=minio_endpoint,
        MINIO_ACCESS_KEY=KEY_ID,
        MINIO_SECRET_KEY=SECRET,
    )
    return config


def prepare_rows(config: dict, objects: list[tuple[str, str]], size: int, database_url: str | None) -> None:
    """A database at head with one `s3` row per source object (its size and SHA-256 recorded)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from portal import create_app
    from portal.extensions import db, storage
    from portal.models import Attachment, Document

    if database_url:
        from sqlalchemy import create_engine, text

        config["DATABASE_URL"] = database_url
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(
                text("DROP SCHEMA IF EXISTS document CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            )
        engine.dispose()
    Path(config["LOCAL_STORAGE_PATH"]).mkdir(parents=True, exist_ok=True)
    app = create_app(config, environ={})
    with app.app_context():
        upgrade()
        storage.get("minio").ensure_ready()
        document_id = db.session.execute(
            insert(Document).values(title="bench", description="").returning(Document.id)
        ).scalar_one()
        for start in range(0, len(objects), 1000):
            db.session.execute(
                insert(Attachment),
                [
                    dict(
                        document_id=document_id,
                        filename=key.rsplit("/", 1)[1],
                        content_type="application/octet-stream",
                        size=size,
                        sha256=sha256,
                        storage_path=key,
                        storage_type="s3",
                    )
                    for key, sha256 in objects[start : start + 1000]
                ],
            )
        db.session.commit()
        db.engine.dispose()


def migrate_objects(config: dict, verify: str, workers: int, watch_memory: bool = False) -> tuple[float, list]:
    from portal.migration.launch import worker_command

    command = worker_command(
        "storage",
        "migrate",
        "minio",
        "--from",
        "s3",
        "--verify",
        verify,
        "--workers",
        str(workers),
        "--batch-size",
        "200",
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=child_env(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watch = MemoryWatch(process.pid) if watch_memory else None
    output, _ = process.communicate()
    elapsed = time.perf_counter() - started
    samples = watch.stop() if watch else []
    if process.returncode != 0 or " 0 failed" not in output:
        raise SystemExit(f"the migration failed:\n{output}")
    if verify == "readback" and " 0 read back" in output:
        raise SystemExit(f"nothing was read back:\n{output}")
    return elapsed, samples


def rclone_sync(s3_endpoint: str, source: str, minio_endpoint: str, target: str) -> None:
    """`rclone sync --checksum` from the source bucket to the target bucket, remotes set by environment."""
    # rclone's S3 client refuses a custom CA bundle on its plain-HTTP transport; the servers are local HTTP.
    env = {name: value for name, value in os.environ.items() if name != "AWS_CA_BUNDLE"}
    env.update(NO_PROXY="127.0.0.1,localhost", RCLONE_CONFIG=os.devnull)
    for name, endpoint in (("SRC", s3_endpoint), ("DST", minio_endpoint)):
        env.update(
            {
                f"RCLONE_CONFIG_{name}_TYPE": "s3",
                f"RCLONE_CONFIG_{name}_PROVIDER": "Other",
                f"RCLONE_CONFIG_{name}_ENDPOINT": endpoint,
                f"RCLONE_CONFIG_{name}_ACCESS_KEY_ID": KEY_ID,
                f"RCLONE_CONFIG_{name}_SECRET_ACCESS_KEY": SECRET,
                f"RCLONE_CONFIG_{name}_REGION": "us-east-1",
                f"RCLONE_CONFIG_{name}_FORCE_PATH_STYLE": "true",
            }
        )
    subprocess.run(
        ["rclone", "sync", "--checksum", "--transfers", "4", "--s3-no-check-bucket", f"SRC:{source}", f"DST:{target}"],
        env=env,
        check=True,
    )


def run(args, servers) -> None:
    """Rounds of rclone and the migration (read back, and by the store's checksum), then memory over rows."""
    (s3_endpoint, minio_endpoint), work = servers, Path(args.work)
    source = create_bucket(s3_endpoint, f"src-{uuid.uuid4().hex[:10]}")
    objects = fill_source(s3_endpoint, source, args.files, args.size)
    results: dict[str, list] = {"rclone": [], "readback": [], "checksum": []}
    ways = list(results)
    for round_number in range(args.rounds):
        for way in ways[round_number % 3 :] + ways[: round_number % 3]:
            target = f"dst-{uuid.uuid4().hex[:10]}"
            if way == "rclone":
                create_bucket(minio_endpoint, target)
                results[way].append(
                    timed(lambda target=target: rclone_sync(s3_endpoint, source, minio_endpoint, target))
                )
            else:
                folder = work / target
                folder.mkdir()
                config = object_settings(folder, s3_endpoint, source, minio_endpoint, target)
                prepare_rows(config, objects, args.size, args.database_url)
                verify = "readback" if way == "readback" else "auto"
                results[way].append(
                    timed(lambda config=config, verify=verify: migrate_objects(config, verify, args.workers))
                )
            drop_bucket(minio_endpoint, target)
    print(
        f"{args.files} objects of {args.size // 1024} KiB from one moto server to another, best of {args.rounds} "
        f"({'PostgreSQL' if args.database_url else 'SQLite'}, --workers {args.workers}):"
    )
    print(f"  {'':52s} {'wall':>8s} {'client CPU':>11s} {'moto CPU':>9s}")
    base, client, moto = min(results["rclone"])
    print(f"  {'rclone sync --checksum (MD5 of each upload)':52s} {base:7.2f}s {client:10.2f}s {moto:8.2f}s")
    for name, label in (
        ("readback", "migrate minio --from s3, read back and re-hashed"),
        ("checksum", "migrate minio --from s3, the store's SHA-256 answer"),
    ):
        wall, client, moto = min(results[name])
        ratio = wall / base
        goal = (
            f"(goal <= {GOAL_READBACK}x) {'ok' if ratio <= GOAL_READBACK else 'OVER GOAL'}"
            if name == "readback"
            else ""
        )
        print(f"  {label:52s} {wall:7.2f}s {client:10.2f}s {moto:8.2f}s  {ratio:.2f}x {goal}")
    print(
        "  every round's wall time: "
        + "; ".join(f"{name} " + " ".join(f"{wall:.1f}" for wall, _, _ in results[name]) for name in ways)
    )
    if args.rows:
        memory(work, s3_endpoint, minio_endpoint, args)
    drop_bucket(s3_endpoint, source)


def memory(work: Path, s3_endpoint: str, minio_endpoint: str, args) -> None:
    """Move ``args.rows`` small objects from s3 to minio while sampling the process's memory."""
    source = create_bucket(s3_endpoint, f"msrc-{uuid.uuid4().hex[:10]}")
    objects = fill_source(s3_endpoint, source, args.rows, 512)
    target = f"mdst-{uuid.uuid4().hex[:10]}"
    folder = work / target
    folder.mkdir()
    config = object_settings(folder, s3_endpoint, source, minio_endpoint, target)
    prepare_rows(config, objects, 512, args.database_url)
    elapsed, samples = migrate_objects(config, "readback", args.workers, watch_memory=True)
    drop_bucket(minio_endpoint, target)
    drop_bucket(s3_endpoint, source)
    if len(samples) < 20:
        print(f"  memory: too few samples over {elapsed:.1f} s")
        return
    at = {share: samples[min(len(samples) - 1, int(len(samples) * share))][1] for share in (0.1, 0.25, 0.5, 0.75)}
    at[1.0] = samples[-1][1]
    second_half = at[1.0] - at[0.5]
    print(
        f"  memory over {args.rows} rows s3 -> minio ({elapsed:.0f} s), resident: "
        + ", ".join(f"{int(share * 100)}%: {mb} MiB" for share, mb in at.items())
        + f"; second half {second_half:+d} MiB ({'flat' if second_half <= 2 else 'GROWING'})"
    )
