"""Benchmark: `flask storage migrate s3` against `aws s3 sync` of the same files to the same moto server.

Prints the time of each, the two ratios (verification by reading back, and by the store's checksum
at write time) against their goals, and the migration's memory over 10,000 rows.

    .venv/bin/python bench/bench_migration.py [--files 2000] [--size 16384] [--rows 10000] [--rounds 3]
    .venv/bin/python bench/bench_migration.py --mode object   # s3 -> minio against rclone (bench/_object_mode.py)

The moto server runs in this process; the aws CLI and the migration each run as a child process, so
they pay the same start-up and reach the server the same way. The migration runs with LOG_LEVEL=warning
(aws runs with --only-show-errors): neither prints a line per file. Each round runs the three ways
in a turning order, and every measurement meets an empty moto: the previous one's bucket is emptied
and removed first (moto's costs grow with the objects it holds, which once favoured whatever ran
first).
"""

from __future__ import annotations

import argparse
import compileall
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moto.server import ThreadedMotoServer  # noqa: E402

from tests.support.moto_fidelity import install as keep_sent_checksums  # noqa: E402

GOAL_READBACK, GOAL_CHECKSUM = 1.6, 1.1
KEY_ID, SECRET = "AKIABENCHMARKMIGRATE", "bench-secret-key"


def aws_command() -> list[str]:
    """The aws CLI: on PATH, else `python3 -m awscli`; raises SystemExit when neither works."""
    for command in (["aws"], ["python3", "-m", "awscli"], [sys.executable, "-m", "awscli"]):
        if shutil.which(command[0]) and subprocess.run([*command, "--version"], capture_output=True).returncode == 0:
            return command
    raise SystemExit("the aws CLI is not installed (pip install awscli, or apt-get install awscli)")


def make_files(root: Path, count: int, size: int) -> list[str]:
    paths = []
    for number in range(count):
        relative = f"legacy/{number // 100:03d}/file-{number:06d}.bin"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(os.urandom(size))
        paths.append(relative)
    return paths


def settings(work: Path, endpoint: str, bucket: str, database_url: str) -> dict:
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench",
        "STORAGE_TYPE": "s3",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": endpoint,
        "S3_ACCESS_KEY": KEY_ID,
        "S3_SECRET_KEY": SECRET,
        "S3_ADDRESSING_STYLE": "path",
        "LOCAL_STORAGE_PATH": str(work / "storage"),
        "LEGACY_FILES_ROOT": str(work / "files"),
        "QUARANTINE_PATH": str(work / "quarantine"),
        "LOG_LEVEL": "warning",
        "INSTANCE_PATH": str(work / "instance"),
    }


def prepare_database(work: Path, config: dict, paths: list[str], size: int) -> None:
    """A database at head holding one legacy row per file (no sha256, as before checksums)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from portal import create_app
    from portal.extensions import db, storage
    from portal.models import Attachment, Document

    app = create_app(config, environ={})
    with app.app_context():
        upgrade()
        storage.get("local").ensure_ready()
        storage.get("s3").ensure_ready()
        document_id = db.session.execute(
            insert(Document).values(title="bench", description="").returning(Document.id)
        ).scalar_one()
        for start in range(0, len(paths), 1000):
            db.session.execute(
                insert(Attachment),
                [
                    dict(
                        document_id=document_id,
                        filename=Path(path).name,
                        content_type="application/octet-stream",
                        size=size,
                        filepath=path,
                        storage_type="local",
                    )
                    for path in paths[start : start + 1000]
                ],
            )
        db.session.commit()
        db.engine.dispose()


def child_env(config: dict) -> dict:
    from portal.migration.launch import INSTANCE_ENV

    env = {**os.environ, **{k: v for k, v in config.items() if k != "INSTANCE_PATH"}}
    env[INSTANCE_ENV] = config["INSTANCE_PATH"]
    env.update(NO_PROXY="127.0.0.1,localhost", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


class CpuClock:
    """CPU seconds spent by the child processes and by this process (the moto server) during a block."""

    def __enter__(self) -> CpuClock:
        self._children, self._self = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF)
        return self

    def __exit__(self, *exc) -> None:
        self.client = _cpu(resource.RUSAGE_CHILDREN) - self._children
        self.server = _cpu(resource.RUSAGE_SELF) - self._self


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class MemoryWatch:
    """Samples a child's resident memory (VmRSS) every 50 ms."""

    def __init__(self, pid: int):
        self.pid, self.samples = pid, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    self.samples.append((time.monotonic(), int(line.split()[1]) // 1024))

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join()
        return self.samples


def migrate(config: dict, verify: str, *, workers: int, watch_memory: bool = False) -> tuple[float, list]:
    from portal.migration.launch import worker_command

    command = worker_command(
        "storage", "migrate", "s3", "--verify", verify, "--workers", str(workers), "--batch-size", "200"
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
    if verify == "auto" and " 0 read back" not in output:
        raise SystemExit(f"the store kept no SHA-256 checksum, so objects were read back after all:\n{output}")
    return elapsed, samples


def sync(source: Path, endpoint: str, bucket: str) -> float:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "NO_PROXY": "127.0.0.1,localhost",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    started = time.perf_counter()
    subprocess.run(
        [
            *aws_command(),
            "--endpoint-url",
            endpoint,
            "s3",
            "sync",
            str(source),
            f"s3://{bucket}/legacy",
            "--only-show-errors",
        ],
        env=env,
        check=True,
    )
    return time.perf_counter() - started


def fresh(work: Path, endpoint: str, paths: list[str], size: int, files_root: Path, database_url: str | None) -> dict:
    """A new database (SQLite file unless --database-url) and bucket over the same files."""
    name = f"bench-{uuid.uuid4().hex[:10]}"
    folder = work / name
    folder.mkdir()
    (folder / "files").symlink_to(files_root, target_is_directory=True)
    config = settings(folder, endpoint, name, database_url or f"sqlite:///{folder / 'portal.db'}")
    if database_url:
        from sqlalchemy import create_engine, text

        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(
                text("DROP SCHEMA IF EXISTS document CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            )
        engine.dispose()
    prepare_database(folder, config, paths, size)
    return config


def timed(run) -> tuple[float, float, float]:
    """(wall seconds, client CPU seconds, server CPU seconds) of ``run()``."""
    with CpuClock() as clock:
        started = time.perf_counter()
        run()
        wall = time.perf_counter() - started
    return wall, clock.client, clock.server


def drop_bucket(endpoint: str, name: str) -> None:
    """Empty and remove a bucket, and let the server's process free its objects, so that every
    measurement meets a moto as empty as the first one did (its costs grow with what it holds)."""
    import gc

    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
    s3.delete_bucket(Bucket=name)
    gc.collect()


def create_bucket(endpoint: str, name: str) -> str:
    import boto3

    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    ).create_bucket(Bucket=name)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=16 * 1024)
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the memory run (0 skips it)")
    parser.add_argument("--rounds", type=int, default=3, help="each side's best of this many")
    parser.add_argument("--workers", type=int, default=4, help="the migration's --workers (default: the CLI's own)")
    parser.add_argument("--database-url", help="a scratch PostgreSQL database (it is wiped); default SQLite")
    parser.add_argument(
        "--mode",
        choices=("local", "object"),
        default="local",
        help="local: the disk to one moto against aws s3 sync; object: one moto to another against rclone",
    )
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log would cost both sides alike
    logging.getLogger("alembic").setLevel(logging.WARNING)
    keep_sent_checksums()
    # aws starts from the compiled bytecode in its site-packages; where PYTHONDONTWRITEBYTECODE is set (as
    # on this machine) every migration process would otherwise compile the portal's modules anew.
    compileall.compile_dir(ROOT / "portal", quiet=1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    work = Path(tempfile.mkdtemp(prefix="bench-migration-"))
    results: dict[str, list] = {"sync": [], "readback": [], "checksum": []}
    if args.mode == "object":
        import _object_mode

        second = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        second.start()
        args.work = str(work)
        try:
            _object_mode.run(args, (endpoint, "http://{}:{}".format(*second.get_host_and_port())))
        finally:
            second.stop()
            server.stop()
            shutil.rmtree(work, ignore_errors=True)
        return
    try:
        files_root = work / "files"
        paths = make_files(files_root, args.files, args.size)
        ways = ["sync", "readback", "checksum"]
        for round_number in range(args.rounds):
            # The order turns every round, so drift on the host hits each way alike.
            for way in ways[round_number % 3 :] + ways[: round_number % 3]:
                if way == "sync":
                    bucket = create_bucket(endpoint, f"sync-{uuid.uuid4().hex[:10]}")
                    results["sync"].append(timed(lambda bucket=bucket: sync(files_root / "legacy", endpoint, bucket)))
                else:
                    config = fresh(work, endpoint, paths, args.size, files_root, args.database_url)
                    verify = "readback" if way == "readback" else "auto"
                    results[way].append(
                        timed(lambda config=config, verify=verify: migrate(config, verify, workers=args.workers))
                    )
                    bucket = config["S3_BUCKET"]
                drop_bucket(endpoint, bucket)
        print(
            f"{args.files} files of {args.size // 1024} KiB to moto's threaded server, best of {args.rounds} "
            f"({'PostgreSQL' if args.database_url else 'SQLite'}, --workers {args.workers}):"
        )
        print(f"  {'':50s} {'wall':>8s} {'client CPU':>11s} {'moto CPU':>9s}")
        sync_wall, client, moto = min(results["sync"])
        print(f"  {'aws s3 sync (copies, verifies nothing)':50s} {sync_wall:7.2f}s {client:10.2f}s {moto:8.2f}s")
        for name, goal, label in (
            ("readback", GOAL_READBACK, "migrate, verified by reading back"),
            ("checksum", GOAL_CHECKSUM, "migrate, verified by the store's SHA-256 answer"),
        ):
            wall, client, moto = min(results[name])
            ratio = wall / sync_wall
            verdict = "ok" if ratio <= goal else "OVER GOAL"
            print(f"  {label:50s} {wall:7.2f}s {client:10.2f}s {moto:8.2f}s  {ratio:.2f}x (goal <= {goal}x) {verdict}")
        print(
            "  every round's wall time (the spread is the host's noise): "
            + "; ".join(f"{name} " + " ".join(f"{wall:.1f}" for wall, _, _ in results[name]) for name in ways)
        )
        if args.rows:
            memory(work, endpoint, args.rows, args.database_url, args.workers)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def memory(work: Path, endpoint: str, rows: int, database_url: str | None, workers: int) -> None:
    """Migrate ``rows`` small files while sampling memory. Flat: the second half adds at most 2 MiB
    (bounded caches fill early; anything kept per row would grow as much again in the second half)."""
    small_root = work / "small"
    paths = make_files(small_root, rows, 512)
    config = fresh(work, endpoint, paths, 512, small_root, database_url)
    elapsed, samples = migrate(config, "auto", workers=workers, watch_memory=True)
    if len(samples) < 20:
        print(f"  memory: too few samples over {elapsed:.1f} s")
        return
    at = {share: samples[min(len(samples) - 1, int(len(samples) * share))][1] for share in (0.1, 0.25, 0.5, 0.75)}
    at[1.0] = samples[-1][1]
    trail = ", ".join(f"{int(share * 100)}%: {mb} MiB" for share, mb in at.items())
    second_half = at[1.0] - at[0.5]
    verdict = "flat" if second_half <= 2 else "GROWING"
    print(
        f"  memory over {rows} rows ({elapsed:.0f} s), resident: {trail}; peak {max(mb for _, mb in samples)} MiB; "
        f"second half {second_half:+d} MiB ({verdict})"
    )


if __name__ == "__main__":
    main()
