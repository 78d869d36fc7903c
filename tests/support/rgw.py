"""A throwaway single-node Ceph RADOS Gateway (one mon, one in-memory OSD, radosgw) for tests and benchmarks.

Everything it makes (config, monitor store, logs, admin sockets, pid files) lives under one temporary
folder; it listens on 127.0.0.1 only, on ports picked from a range so two runs on one machine do not
collide, and it stops only the daemons it started: its own child processes, which also die with the
process that started them if that is killed outright. Debian: ``apt-get install radosgw ceph-mon ceph-osd``.

    python -m tests.support.rgw            # start one, print its endpoint and keys, stop on Ctrl-C
    python -m tests.support.rgw -- CMD...  # run CMD with RGW_ENDPOINT_URL and the keys in its environment
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PACKAGES = "radosgw ceph-mon ceph-osd"
PROGRAMS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
# Each run takes a block of ports: the monitor, the gateway, and the OSD's messengers.
PORT_RANGE = (27100, 28900)
BLOCK = 12
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0

CONFIG = """\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon_port}]
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind port min = {osd_ports[0]}
ms bind port max = {osd_ports[1]}
# No cephx: a throwaway cluster on the loopback. Without crc the client loops on "-13" (EACCES).
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
run dir = {root}/run
admin socket = {root}/run/$name.asok
pid file = {root}/run/$name.pid
log file = {root}/log/$name.log
crash dir = {root}/crash
keyring = {root}/keyring
# One OSD: pools of one replica, placement across OSDs rather than hosts, no autoscaler.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
# radosgw creates its pools one by one on first start, each waiting out the monitor's batching
# (1 s by default): 0.01 s takes the start from ~13 s to ~1 s.
paxos propose interval = 0.01
paxos min wait = 0.01
mon data = {root}/mon/$name
osd data = {root}/osd/$name
osd objectstore = memstore
memstore device bytes = {memory_bytes}
# Deleted objects give their RAM back soon (RGW frees the tails of large objects in the background).
rgw gc obj min wait = 10
rgw gc processor period = 10
osd max object size = 134217728

[client.rgw.portal]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {root}/rgw
rgw enable usage log = false
rgw thread pool size = 64
"""


class RgwUnavailable(RuntimeError):
    """The Ceph packages are missing, or the gateway did not come up (the message says which, and why)."""


@dataclass(frozen=True)
class Rgw:
    """A running gateway: its S3 endpoint and the keys of its one user."""

    endpoint: str
    access_key: str
    secret_key: str
    root: Path
    #: the daemons' process ids (monitor, OSD, gateway), for benchmarks that count the store's CPU
    pids: tuple[int, ...] = ()

    def environment(self) -> dict[str, str]:
        return {"RGW_ENDPOINT_URL": self.endpoint, "RGW_ACCESS_KEY": self.access_key, "RGW_SECRET_KEY": self.secret_key}


def missing_programs() -> list[str]:
    """The Ceph programs this machine lacks (empty when an RGW can run here)."""
    return [name for name in PROGRAMS if shutil.which(name) is None]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_block() -> int:
    """The first port of a block of BLOCK free ports in PORT_RANGE, starting somewhere that depends on the pid."""
    blocks = (PORT_RANGE[1] - PORT_RANGE[0]) // BLOCK
    first = os.getpid() % blocks
    for step in range(blocks):
        start = PORT_RANGE[0] + ((first + step) % blocks) * BLOCK
        if all(_port_free(port) for port in range(start, start + BLOCK)):
            return start
    raise RgwUnavailable(f"no {BLOCK} free ports in {PORT_RANGE[0]}-{PORT_RANGE[1]} on 127.0.0.1")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # A test run killed outright must not leave daemons behind: they get SIGKILL when it dies.
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Cluster:
    """The daemons of one throwaway cluster under ``root``; start() brings them up, stop() takes them down."""

    def __init__(
        self, root: Path, memory_bytes: int = 8 << 30, access_key: str | None = None, secret_key: str | None = None
    ) -> None:
        self.root = root
        self.conf = root / "ceph.conf"
        self.memory_bytes = memory_bytes
        self.access_key = access_key or "PORTAL" + uuid.uuid4().hex[:14].upper()
        self.secret_key = secret_key or uuid.uuid4().hex + uuid.uuid4().hex[:8]
        self._children: list[subprocess.Popen] = []

    def _run(self, *args: str, timeout: float = 60) -> str:
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise RgwUnavailable(f"{args[0]} did not answer in {timeout:.0f} s{self._log_tail()}") from exc
        if done.returncode != 0:
            raise RgwUnavailable(
                f"{' '.join(args[:3])} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-800:]}{self._log_tail()}"
            )
        return done.stdout

    def _daemon(self, *args: str) -> None:
        log = open(self.root / "log" / f"{Path(args[0]).name}-{len(self._children)}.out", "wb")
        with log:
            self._children.append(
                subprocess.Popen(
                    [*args, "-f", "-c", str(self.conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                    start_new_session=True,
                )
            )

    def _log_tail(self) -> str:
        logs = sorted((self.root / "log").glob("*.log")) if (self.root / "log").is_dir() else []
        tails = []
        for path in logs:
            lines = path.read_text(errors="replace").splitlines()[-5:]
            tails.append(f"\n--- {path.name}\n" + "\n".join(lines))
        return "".join(tails)

    def start(self) -> Rgw:
        for folder in ("run", "log", "crash", "mon", "osd", "rgw"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        base = _free_block()
        mon_port, rgw_port = base, base + 1
        fsid = str(uuid.uuid4())
        self.conf.write_text(
            CONFIG.format(
                fsid=fsid,
                mon_port=mon_port,
                rgw_port=rgw_port,
                root=self.root,
                osd_ports=(base + 2, base + BLOCK - 1),
                memory_bytes=self.memory_bytes,
            )
        )
        conf = ("-c", str(self.conf))
        monmap = str(self.root / "monmap")
        self._run("monmaptool", "--create", "--fsid", fsid, "--add", "a", f"v2:127.0.0.1:{mon_port}", monmap)
        self._run("ceph-mon", *conf, "--mkfs", "-i", "a", "--monmap", monmap)
        self._daemon("ceph-mon", "-i", "a")
        osd_uuid = str(uuid.uuid4())
        osd_id = self._run("ceph", *conf, "--connect-timeout", "30", "osd", "new", osd_uuid).strip()
        (self.root / "osd" / f"osd.{osd_id}").mkdir()
        self._run("ceph-osd", *conf, "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        self._daemon("ceph-osd", "-i", osd_id)
        self._daemon("radosgw", "-n", "client.rgw.portal")
        endpoint = f"http://127.0.0.1:{rgw_port}"
        self._wait_for(endpoint)
        self._run(
            "radosgw-admin",
            *conf,
            "user",
            "create",
            "--uid",
            "portal",
            "--display-name",
            "Portal tests",
            "--access-key",
            self.access_key,
            "--secret-key",
            self.secret_key,
        )
        return Rgw(endpoint, self.access_key, self.secret_key, self.root, tuple(child.pid for child in self._children))

    def _wait_for(self, endpoint: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for child in self._children:
                if child.poll() is not None:
                    raise RgwUnavailable(f"{child.args[0]} exited with {child.returncode}{self._log_tail()}")
            try:
                with urllib.request.urlopen(endpoint, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any S3 answer (even 403) means the gateway serves
            except OSError:
                time.sleep(0.1)
        raise RgwUnavailable(f"radosgw did not answer on {endpoint} in {START_TIMEOUT:.0f} s{self._log_tail()}")

    def stop(self) -> None:
        """Stop the daemons this cluster started, newest first (a monitor stopped first leaves the others
        waiting for it): SIGTERM, then SIGKILL for one that does not exit in STOP_TIMEOUT."""
        for child in reversed(self._children):
            if child.poll() is None:
                child.terminate()
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self._children.clear()


@contextmanager
def running_rgw(
    parent: str | None = None, access_key: str | None = None, secret_key: str | None = None
) -> Iterator[Rgw]:
    """Start a gateway under a fresh temporary folder (in ``parent``), its user holding the given keys
    (made up when None), yield it, then stop it and remove the folder."""
    missing = missing_programs()
    if missing:
        raise RgwUnavailable(f"{', '.join(missing)} not installed (apt-get install {PACKAGES})")
    root = Path(tempfile.mkdtemp(prefix="portal-rgw-", dir=parent))
    cluster = Cluster(root, access_key=access_key, secret_key=secret_key)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.rgw", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="*", help="run this with RGW_* in its environment, then stop")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        with running_rgw() as rgw:
            print(f"RGW ready in {time.monotonic() - started:.1f} s under {rgw.root}", file=sys.stderr, flush=True)
            if args.command:
                return subprocess.call(args.command, env={**os.environ, **rgw.environment()})
            for name, value in rgw.environment().items():
                print(f"{name}={value}", flush=True)
            # Stop cleanly on kill and on Ctrl-C, even when started in the background (where the shell
            # has SIGINT ignored).
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
            return 0
    except RgwUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
