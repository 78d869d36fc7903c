"""Debian's nginx running the repository's docs/ops/nginx.conf, unprivileged and throwaway, in front of a test's gunicorn.

Everything lives under one temporary folder (prefix, temporary files, logs, pid, a self-signed
certificate for 127.0.0.1); the site file is used as shipped, with only its addresses, certificate
and log paths pointed there. Where nginx is missing the tests are skipped with the reason, unless
REQUIRE_NGINX=1 (CI) makes that an error.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.gunicorn import free_port

SITE = Path(__file__).resolve().parent.parent.parent / "docs" / "ops" / "nginx.conf"
INSTALL_HINT = "apt-get install nginx-light"


def nginx_binary() -> str:
    """The nginx program; skips the test where it is missing (fails instead with REQUIRE_NGINX=1)."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found:
        return found
    if os.environ.get("REQUIRE_NGINX") == "1":
        pytest.fail(f"REQUIRE_NGINX=1 but nginx is not installed ({INSTALL_HINT})")
    pytest.skip(f"nginx is not installed ({INSTALL_HINT}); REQUIRE_NGINX=1 makes this an error")


@dataclass(frozen=True)
class Nginx:
    """A running throwaway nginx: its HTTPS base URL, the certificate to trust, its error log."""

    base: str
    port: int
    certificate: Path
    error_log: Path


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate (and key) for 127.0.0.1, valid for a day, that clients can be told to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "portal.crt", folder / "portal.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def site_for_test(upstream_port: int, https_port: int, http_port: int, folder: Path, cert: Path, key: Path) -> str:
    """docs/ops/nginx.conf with its addresses, certificate and logs moved into the test's folder.

    Each line replaced must be there as shipped: a change to the file that this misses fails here.
    """
    text = SITE.read_text()
    changes = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "/etc/letsencrypt/live/portal.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/portal.example.com/privkey.pem": str(key),
        "/var/log/nginx/portal.access.log": str(folder / "access.log"),
        "/var/log/nginx/portal.error.log": str(folder / "error.log"),
    }
    for shipped, replacement in changes.items():
        assert text.count(shipped) == 1, f"docs/ops/nginx.conf no longer has {shipped!r} once"
        text = text.replace(shipped, replacement)
    return text


def main_config(folder: Path, site: Path) -> str:
    """What /etc/nginx/nginx.conf gives a site, for an unprivileged instance: everything under ``folder``."""
    temp = {name: folder / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    # As root, nginx would switch its workers to "nobody", who cannot use the test's folders.
    user = f"user {pwd.getpwuid(os.getuid()).pw_name};" if os.geteuid() == 0 else ""
    return f"""{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    access_log {folder}/access.log;
    include {site};
}}
"""


@contextmanager
def nginx_in_front(upstream: str, folder: Path) -> Iterator[Nginx]:
    """Run the shipped site in front of ``upstream`` (http://127.0.0.1:PORT); yield it once /healthz answers."""
    binary = nginx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(folder)
    https_port, http_port = free_port(), free_port()
    site = folder / "portal.conf"
    site.write_text(site_for_test(int(upstream.rsplit(":", 1)[1]), https_port, http_port, folder, cert, key))
    config = folder / "nginx.conf"
    config.write_text(main_config(folder, site))
    command = [binary, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, f"nginx -t refused the configuration:\n{checked.stderr}"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = Nginx(f"https://127.0.0.1:{https_port}", https_port, cert, folder / "error.log")
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                requests.get(running.base + "/healthz", verify=str(cert), timeout=10)
                break
            except requests.RequestException:
                assert process.poll() is None, f"nginx stopped:\n{running.error_log.read_text()}"
                assert time.monotonic() < deadline, "nginx did not start answering"
                time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=30)
