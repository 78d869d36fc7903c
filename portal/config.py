"""Settings read from the environment (and an optional .env), validated once at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from portal.addresses import parse_address_list
from portal.formatting import parse_rate


class ConfigError(Exception):
    """A setting has a value the portal cannot run with; the message names it and says what it accepts."""


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default, how to parse it, and what it does (the README table)."""

    name: str
    default: Any
    parse: Callable[[str, str], Any]
    help: str
    secret: bool = False


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _rate(name: str, raw: str) -> int:
    try:
        return parse_rate(raw, allow_off=True)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _int(low: int, high: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number; use one from {low} to {high}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}={value} is out of range; use one from {low} to {high}")
        return value

    return parse


def _choice(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name}={raw!r} is not accepted; use one of: {', '.join(choices)}")
        return value

    return parse


def _list(name: str, raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _extensions(name: str, raw: str) -> frozenset[str]:
    items = {item.lower().lstrip(".") for item in _list(name, raw)}
    bad = sorted(item for item in items if not item.isalnum())
    if bad:
        raise ConfigError(f"{name} has {bad[0]!r}; list extensions as letters and digits, e.g. pdf,png,docx")
    return frozenset(items)


def _timezone(name: str, raw: str) -> str:
    value = raw.strip()
    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError):
        raise ConfigError(f"{name}={raw!r} is not a time zone; use an IANA name such as Europe/Berlin or UTC") from None
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PORTAL_ENV",
        "development",
        _choice("development", "production"),
        "`production` requires a strong SECRET_KEY and sends cookies over HTTPS only.",
    ),
    Setting(
        "SECRET_KEY",
        "",
        _text,
        "Signs sessions, CSRF tokens and local download links; in production at least "
        "32 characters and not a known default. Development generates one and keeps it in `instance/secret_key`.",
        secret=True,
    ),
    Setting(
        "DATABASE_URL",
        "",
        _text,
        "SQLAlchemy URL, e.g. `postgresql+psycopg://user@host/portal`. Default: SQLite at `instance/portal.db`.",
        secret=True,
    ),
    Setting(
        "LEGACY_FILES_ROOT",
        "",
        _text,
        "Folder that legacy `filepath` values are relative to (and must stay inside). Default: LOCAL_STORAGE_PATH.",
    ),
    Setting("STORAGE_TYPE", "local", _choice("local", "s3", "minio"), "Where new files are written."),
    Setting("LOCAL_STORAGE_PATH", "", _text, "Folder of the local store. Default: `instance/storage`."),
    Setting(
        "S3_BUCKET",
        "",
        _text,
        "Bucket of the `s3` store (and of `minio` while MINIO_BUCKET is empty); required when STORAGE_TYPE names it.",
    ),
    Setting("S3_REGION", "us-east-1", _text, "Region of the bucket."),
    Setting("S3_ACCESS_KEY", "", _text, "Access key id; empty uses boto3's usual credential chain.", secret=True),
    Setting("S3_SECRET_KEY", "", _text, "Secret access key.", secret=True),
    Setting("S3_ENDPOINT_URL", "", _text, "Endpoint of an S3-compatible store (MinIO), e.g. `http://127.0.0.1:9000`."),
    Setting(
        "S3_PUBLIC_ENDPOINT_URL",
        "",
        _text,
        "Endpoint browsers use for presigned links when it differs from S3_ENDPOINT_URL.",
    ),
    Setting("S3_PRESIGN_EXPIRES", 300, _int(1, 7 * 24 * 3600), "Seconds a presigned download link stays valid."),
    Setting(
        "S3_ADDRESSING_STYLE",
        "",
        _choice("", "auto", "path", "virtual"),
        "Bucket addressing; `minio` defaults to `path`.",
    ),
    Setting(
        "S3_CHECKSUMS",
        "",
        _choice("", "when_supported", "when_required"),
        "boto3 request/response checksum mode; `minio` defaults to `when_required`.",
    ),
    Setting("S3_SSE", "", _choice("", "aes256", "aws:kms"), "Server-side encryption: AES256 or aws:kms."),
    Setting("S3_SSE_KMS_KEY_ID", "", _text, "KMS key id when S3_SSE is aws:kms."),
    Setting("S3_MULTIPART_THRESHOLD_MB", 16, _int(5, 5120), "Objects from this size up go as multipart uploads."),
    Setting(
        "S3_STREAMED_PUT_MAX_MB",
        512,
        _int(0, 5120),
        "Uploads whose size the browser declares (the page's script does) go up to this size as one "
        "streamed PUT, larger ones as multipart uploads; 0: always multipart.",
    ),
    Setting("S3_MULTIPART_CHUNK_MB", 16, _int(5, 5120), "Part size of multipart uploads."),
    Setting("S3_MAX_CONCURRENCY", 4, _int(1, 64), "Parts uploaded at once."),
    Setting("S3_UPLOAD_BUFFER_MB", 48, _int(16, 4096), "About how much memory one streamed upload may hold in parts."),
    Setting("S3_CONNECT_TIMEOUT", 5, _int(1, 300), "Seconds to wait for a connection to the store."),
    Setting("S3_READ_TIMEOUT", 60, _int(1, 3600), "Seconds to wait for the store to answer."),
    Setting("S3_MAX_ATTEMPTS", 3, _int(1, 20), "Attempts per request, retries included."),
    Setting(
        "MINIO_BUCKET",
        "",
        _text,
        "Bucket of a second object store, `minio`, beside the S3_* one (`s3`); with MINIO_ENDPOINT_URL. "
        "Empty: `minio` names the S3_* store reached through S3_ENDPOINT_URL.",
    ),
    Setting("MINIO_ENDPOINT_URL", "", _text, "Endpoint of the `minio` store, e.g. `http://127.0.0.1:9000`."),
    Setting("MINIO_REGION", "us-east-1", _text, "Region of the `minio` bucket."),
    Setting("MINIO_ACCESS_KEY", "", _text, "Access key id of the `minio` store.", secret=True),
    Setting("MINIO_SECRET_KEY", "", _text, "Secret access key of the `minio` store.", secret=True),
    Setting(
        "MINIO_PUBLIC_ENDPOINT_URL",
        "",
        _text,
        "Endpoint browsers use for the `minio` store's presigned links when it differs from MINIO_ENDPOINT_URL.",
    ),
    Setting("LOCAL_URL_EXPIRES", 300, _int(1, 7 * 24 * 3600), "Seconds a signed local download link stays valid."),
    Setting(
        "DOWNLOAD_MODE",
        "redirect",
        _choice("redirect", "proxy"),
        "`proxy` streams downloads through the portal instead of redirecting to the store.",
    ),
    Setting(
        "DOWNLOAD_CACHE_SECONDS",
        5,
        _int(0, 60),
        "Seconds each process reuses an attachment's redirect without reading its row (0: never).",
    ),
    Setting(
        "AUDIT_DOWNLOADS",
        "on",
        _choice("on", "off"),
        "`on` records every download and inline view in the audit trail (who, which file, from where); `off` does not.",
    ),
    Setting(
        "AUDIT_FLUSH_SECONDS",
        1,
        _int(0, 60),
        "Download events wait at most this long to be written to the audit trail in one batch; `0` writes each at once.",
    ),
    Setting("MAX_UPLOAD_MB", 100, _int(1, 1024 * 1024), "Largest request body (all files of one upload)."),
    Setting(
        "ALLOWED_EXTENSIONS", frozenset(), _extensions, "Comma-separated allow-list, e.g. `pdf,png`; empty allows all."
    ),
    Setting(
        "QUARANTINE_PATH",
        "",
        _text,
        "Where `--delete-source` moves migrated local files until "
        "`flask storage purge-quarantine`. Default: `instance/quarantine`.",
    ),
    Setting(
        "S3_ABORT_INCOMPLETE_DAYS",
        7,
        _int(0, 3650),
        "`flask storage init` has the bucket abort multipart "
        "uploads left incomplete this many days (a lifecycle rule); 0 sets none.",
    ),
    Setting("STAGING_MAX_AGE_HOURS", 24, _int(1, 24 * 365), "Default age after which unsaved staging is purged."),
    Setting(
        "CLEANUP_STARTUP_LIMIT",
        100,
        _int(0, 10_000),
        "Owed object deletions (the cleanup outbox) a gunicorn start retries in the background; 0 retries none.",
    ),
    Setting(
        "CLEANUP_STARTUP_SECONDS",
        10,
        _int(1, 600),
        "After this many seconds the start-up retry takes no further owed deletion (`maintain` does the rest).",
    ),
    Setting(
        "TRASH_RETENTION_DAYS",
        30,
        _int(1, 3650),
        "Days deleted documents and attachments stay in the trash before `flask storage purge-trash` removes them.",
    ),
    Setting(
        "QUARANTINE_RETENTION_DAYS",
        7,
        _int(0, 3650),
        "Days migrated local files wait in QUARANTINE_PATH before `flask storage maintain` deletes them; "
        "0: maintain leaves the quarantine alone (`purge-quarantine` by hand).",
    ),
    Setting(
        "MAINTAIN_INTERVAL_MINUTES",
        50,
        _int(0, 10080),
        "`flask storage maintain` skips a job that started less than this long ago on any host (50 suits an "
        "hourly timer on every host); 0: every run does every job.",
    ),
    Setting(
        "SCRUB_INTERVAL_DAYS",
        30,
        _int(1, 3650),
        "The storage dashboard's promise: every object re-hashed within this many days (size the scrub to keep it).",
    ),
    Setting(
        "SCRUB_BUDGET_MINUTES",
        10,
        _int(0, 1440),
        "Minutes each `flask storage maintain` spends re-hashing objects (the default of `scrub --budget`); "
        "0: maintain does not scrub.",
    ),
    Setting(
        "SCRUB_RATE",
        20_000_000,
        _rate,
        "Bytes a second the scrub reads at most, e.g. `20MB/s` or `50MiB/s`, so downloads are not starved; "
        "`0`: no limit.",
    ),
    Setting(
        "STORAGE_ENCRYPTION", "off", _choice("off", "hybrid"), "Encrypt new objects with HPKE envelope encryption."
    ),
    Setting("STORAGE_ENCRYPTION_PUBLIC_KEY", "", _text, "PEM file of the recipient public key (for writing)."),
    Setting("STORAGE_ENCRYPTION_PRIVATE_KEYS", [], _list, "Comma-separated PEM files of private keys (for reading)."),
    Setting(
        "PROXY_FIX_X_FOR",
        0,
        _int(0, 5),
        "Proxies in front of the portal whose X-Forwarded-For/-Proto "
        "to trust (1 behind one load balancer); 0 trusts none.",
    ),
    Setting(
        "LOGIN_CACHE_SECONDS",
        5,
        _int(0, 300),
        "Seconds each process keeps who is signed in; a deactivation elsewhere takes effect within them (0: never kept).",
    ),
    Setting(
        "LOGIN_MAX_ATTEMPTS",
        5,
        _int(1, 1000),
        "Failed sign-ins for one account from one address before that pair is locked.",
    ),
    Setting(
        "LOGIN_LOCKOUT_MINUTES", 15, _int(1, 24 * 60), "How long a locked pair waits, and the window failures count in."
    ),
    Setting(
        "LOGIN_ACCOUNT_FAILURES",
        20,
        _int(1, 100000),
        "Failed sign-ins on one account from all addresses together after which each further attempt "
        "on it waits a delay that doubles from 2 seconds (an address failing 4 × LOGIN_MAX_ATTEMPTS times waits the same way).",
    ),
    Setting("LOGIN_DELAY_MAX_SECONDS", 120, _int(1, 3600), "Longest of those delays."),
    Setting("REMEMBER_DAYS", 14, _int(1, 365), 'Days a "Keep me signed in" sign-in lasts (cookie and server record).'),
    Setting("SESSION_HOURS", 12, _int(1, 24 * 30), 'Hours a sign-in without "Keep me signed in" lasts.'),
    Setting("RESET_LINK_HOURS", 24, _int(1, 24 * 14), "Hours a one-time password reset link stays valid."),
    Setting(
        "FORM_MAX_KB",
        64,
        _int(4, 10240),
        "Largest body of the small forms (sign-in, setup, account, reset, "
        "user administration); a larger one gets a 413 page before it is read.",
    ),
    Setting(
        "PORTAL_URL",
        "",
        _text,
        "The portal's public address, e.g. `https://portal.example.com`; "
        "reset links in mail and from `flask users reset-link` start with it. Required with SMTP_HOST.",
    ),
    Setting(
        "SMTP_HOST", "", _text, "Mail server for password reset links; empty: links are only shown to administrators."
    ),
    Setting("SMTP_PORT", 587, _int(1, 65535), "Port of the mail server."),
    Setting(
        "SMTP_SECURITY",
        "starttls",
        _choice("starttls", "ssl", "none"),
        "`starttls` upgrades the connection, `ssl` connects over TLS, `none` sends in the clear (a local relay).",
    ),
    Setting("SMTP_USERNAME", "", _text, "User name for the mail server; empty: no login."),
    Setting("SMTP_PASSWORD", "", _text, "Password for the mail server.", secret=True),
    Setting(
        "SMTP_FROM",
        "",
        _text,
        "Sender address of the portal's mail, e.g. `portal@example.com`. Required with SMTP_HOST.",
    ),
    Setting("SMTP_TIMEOUT", 10, _int(1, 300), "Seconds to wait for the mail server."),
    Setting("DOCUMENTS_PER_PAGE", 20, _int(1, 500), "Rows per page of the documents list."),
    Setting("ATTACHMENTS_PER_PAGE", 25, _int(1, 500), "Rows per page of a document's attachments."),
    Setting(
        "PORTAL_TIMEZONE",
        "UTC",
        _timezone,
        "IANA time zone of times on pages a browser shows without "
        "script (with script, each viewer sees their own), e.g. `Europe/Berlin`.",
    ),
    Setting("LOG_LEVEL", "info", _choice("debug", "info", "warning", "error"), "Level of the portal's log."),
    Setting(
        "METRICS_ALLOW",
        parse_address_list("METRICS_ALLOW", "127.0.0.1,::1"),
        lambda name, raw: parse_address_list(name, raw, ConfigError),
        "Addresses and networks (CIDR) that may read `/metrics` without a token; empty: token only.",
    ),
    Setting(
        "METRICS_TOKEN", "", _text, "Bearer token that opens `/metrics` from any address; empty: none.", secret=True
    ),
    Setting(
        "LOG_FORMAT",
        "text",
        _choice("text", "json"),
        "The log on standard error: `text` lines, or `json` (one object a line). Security events are at WARNING.",
    ),
)


def load_settings(environ: Mapping[str, str], instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict:
    """Parse every setting from ``environ``, apply ``overrides`` (already typed) and validate the whole.

    Raises ConfigError with one line naming the variable and what it accepts.
    """
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name)
        try:
            values[setting.name] = setting.parse(setting.name, raw) if raw not in (None, "") else setting.default
        except ConfigError:
            if setting.secret:  # a parser's message quotes the value: never a secret's
                raise ConfigError(f"{setting.name} is not accepted (its value is not shown)") from None
            raise
    values.update(overrides or {})
    _derive_defaults(values, Path(instance_path))
    _validate(values)
    return values


def _derive_defaults(values: dict, instance: Path) -> None:
    if not values["DATABASE_URL"]:
        values["DATABASE_URL"] = f"sqlite:///{instance / 'portal.db'}"
    if not values["LOCAL_STORAGE_PATH"]:
        values["LOCAL_STORAGE_PATH"] = str(instance / "storage")
    values["LEGACY_FILES_ROOT"] = values["LEGACY_FILES_ROOT"] or values["LOCAL_STORAGE_PATH"]
    values["QUARANTINE_PATH"] = values["QUARANTINE_PATH"] or str(instance / "quarantine")
    if values["STORAGE_TYPE"] == "minio" and not values["MINIO_BUCKET"]:
        values["S3_ADDRESSING_STYLE"] = values["S3_ADDRESSING_STYLE"] or "path"
        values["S3_CHECKSUMS"] = values["S3_CHECKSUMS"] or "when_required"
    if values["S3_ENDPOINT_URL"]:
        # S3-compatible stores behind an endpoint rarely have wildcard DNS for bucket subdomains.
        values["S3_ADDRESSING_STYLE"] = values["S3_ADDRESSING_STYLE"] or "path"
    values["S3_ADDRESSING_STYLE"] = values["S3_ADDRESSING_STYLE"] or "auto"
    values["S3_CHECKSUMS"] = values["S3_CHECKSUMS"] or "when_supported"
    if not values["SECRET_KEY"] and values["PORTAL_ENV"] == "development":
        values["SECRET_KEY"] = _instance_secret(instance)


def _instance_secret(instance: Path) -> str:
    """The development secret, generated once and kept (mode 0600) so sessions survive restarts."""
    path = instance / "secret_key"
    instance.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside and linked into place: gunicorn workers starting together all read one key.
        temporary = instance / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


# Values copied from examples and tutorials; anyone can sign sessions with them.
KNOWN_DEFAULT_KEYS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "changeit",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "dev",
        "development",
        "test",
        "testing",
        "default",
        "password",
        "insecure",
        "replace-me",
        "your-secret-key",
        "your_secret_key",
        "yoursecretkey",
        "super-secret-key",
        "supersecretkey",
        "your-secret-key-here",
        "change-this-secret-key",
        "please-change-me-to-something-random",
        "this-is-not-a-secret-change-it-in-production",
        "you-will-never-guess",
    }
)
MIN_PRODUCTION_KEY_LENGTH = 32


def _validate(values: dict) -> None:
    _timezone("PORTAL_TIMEZONE", values["PORTAL_TIMEZONE"])
    if not values["SECRET_KEY"]:
        raise ConfigError("SECRET_KEY is required when PORTAL_ENV=production; set it to a long random string")
    if values["PORTAL_ENV"] == "production":
        _check_production_key(values["SECRET_KEY"])
    _check_mail(values)
    _check_minio(values)
    minio_apart = bool(values["MINIO_BUCKET"])
    if values["STORAGE_TYPE"] == "s3" or (values["STORAGE_TYPE"] == "minio" and not minio_apart):
        if not values["S3_BUCKET"]:
            raise ConfigError(f"S3_BUCKET is required when STORAGE_TYPE={values['STORAGE_TYPE']}; name the bucket")
    if values["STORAGE_TYPE"] == "minio" and not minio_apart and not values["S3_ENDPOINT_URL"]:
        raise ConfigError("S3_ENDPOINT_URL is required when STORAGE_TYPE=minio, e.g. http://127.0.0.1:9000")
    for name in ("S3_ENDPOINT_URL", "S3_PUBLIC_ENDPOINT_URL", "MINIO_ENDPOINT_URL", "MINIO_PUBLIC_ENDPOINT_URL"):
        url = values[name]
        if url and not url.startswith(("http://", "https://")):
            shown = f"…@{url.rpartition('@')[2]}" if "@" in url else url  # before '@': a user name and password
            raise ConfigError(f"{name}={shown!r} must be an http:// or https:// URL")
    if bool(values["S3_ACCESS_KEY"]) != bool(values["S3_SECRET_KEY"]):
        raise ConfigError("S3_ACCESS_KEY and S3_SECRET_KEY go together; set both or neither")
    if values["S3_MULTIPART_CHUNK_MB"] * 2 > values["S3_UPLOAD_BUFFER_MB"]:
        raise ConfigError(
            f"S3_UPLOAD_BUFFER_MB={values['S3_UPLOAD_BUFFER_MB']} must hold two parts of "
            f"S3_MULTIPART_CHUNK_MB={values['S3_MULTIPART_CHUNK_MB']}; raise it or lower the part size"
        )
    if values["S3_MULTIPART_THRESHOLD_MB"] > values["S3_MULTIPART_CHUNK_MB"]:
        # An upload is held whole (to send it in one checked PUT) only up to one part's buffer: above the
        # part size it goes in parts anyway, without the checksum the store verifies.
        raise ConfigError(
            f"S3_MULTIPART_THRESHOLD_MB={values['S3_MULTIPART_THRESHOLD_MB']} is above "
            f"S3_MULTIPART_CHUNK_MB={values['S3_MULTIPART_CHUNK_MB']}: an upload goes in one request only up "
            "to one part; lower the threshold or raise the part size"
        )
    if values["S3_SSE"] == "aws:kms" and not values["S3_SSE_KMS_KEY_ID"]:
        raise ConfigError("S3_SSE_KMS_KEY_ID is required when S3_SSE=aws:kms")
    if values["STORAGE_ENCRYPTION"] == "hybrid" and not values["STORAGE_ENCRYPTION_PUBLIC_KEY"]:
        raise ConfigError(
            "STORAGE_ENCRYPTION_PUBLIC_KEY is required when STORAGE_ENCRYPTION=hybrid; "
            "create a pair with `flask storage keys generate DIR`"
        )
    for path in [values["STORAGE_ENCRYPTION_PUBLIC_KEY"], *values["STORAGE_ENCRYPTION_PRIVATE_KEYS"]]:
        if path and not Path(path).is_file():
            raise ConfigError(f"encryption key file {path!r} does not exist")
    _check_key_files(values)
    if values["DATABASE_URL"].startswith("postgres://"):
        raise ConfigError("DATABASE_URL uses 'postgres://'; write 'postgresql+psycopg://' instead")


def _check_minio(values: dict) -> None:
    """MINIO_* make `minio` a store of its own: a bucket and an endpoint, keys both or neither."""
    if not values["MINIO_BUCKET"]:
        stray = [name for name in MINIO_STORE_SETTINGS if values[name]]
        if stray:
            raise ConfigError(
                f"{stray[0]} is set but MINIO_BUCKET is not; set MINIO_BUCKET and MINIO_ENDPOINT_URL "
                "for a separate minio store, or leave every MINIO_* setting empty"
            )
        return
    if not values["MINIO_ENDPOINT_URL"]:
        raise ConfigError("MINIO_ENDPOINT_URL is required with MINIO_BUCKET, e.g. http://127.0.0.1:9000")
    if bool(values["MINIO_ACCESS_KEY"]) != bool(values["MINIO_SECRET_KEY"]):
        raise ConfigError("MINIO_ACCESS_KEY and MINIO_SECRET_KEY go together; set both or neither")


#: the settings that, with MINIO_BUCKET, describe the separate minio store (MINIO_REGION has a default)
MINIO_STORE_SETTINGS = ("MINIO_ENDPOINT_URL", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_PUBLIC_ENDPOINT_URL")


def _check_production_key(key: str) -> None:
    """Refuse keys that can be guessed; the message never repeats the key."""
    how = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    if key.strip().lower() in KNOWN_DEFAULT_KEYS:
        raise ConfigError(f"SECRET_KEY is a published example value, refused when PORTAL_ENV=production; {how}")
    if len(key) < MIN_PRODUCTION_KEY_LENGTH:
        raise ConfigError(
            f"SECRET_KEY has {len(key)} characters, fewer than the {MIN_PRODUCTION_KEY_LENGTH} "
            f"required when PORTAL_ENV=production; {how}"
        )


def _check_mail(values: dict) -> None:
    url = values["PORTAL_URL"]
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"PORTAL_URL={url!r} must be an http:// or https:// URL")
    values["PORTAL_URL"] = url.rstrip("/")
    if values["SMTP_HOST"]:
        for name in ("SMTP_FROM", "PORTAL_URL"):
            if not values[name]:
                raise ConfigError(f"{name} is required when SMTP_HOST is set (reset links are mailed from it)")
    if bool(values["SMTP_USERNAME"]) != bool(values["SMTP_PASSWORD"]):
        raise ConfigError("SMTP_USERNAME and SMTP_PASSWORD go together; set both or neither")


def _check_key_files(values: dict) -> None:
    """Load the configured key files once, so a wrong file stops start-up instead of the first upload."""
    from portal.storage.keys import KeyFileError, KeyRing, load_public_key

    try:
        if values["STORAGE_ENCRYPTION_PUBLIC_KEY"]:
            load_public_key(values["STORAGE_ENCRYPTION_PUBLIC_KEY"])
        KeyRing.from_files(values["STORAGE_ENCRYPTION_PRIVATE_KEYS"])
    except KeyFileError as exc:
        raise ConfigError(str(exc).replace("\n", " ")) from None
