"""The storage extension: every configured provider by name, bound to an app with ``init_app``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, has_app_context, url_for

from portal.storage.base import StorageError, StorageMisconfigured, StorageProvider
from portal.storage.encryption import StorageEncryption
from portal.storage.factory import ObjectStorageFactory
from portal.storage.local import LocalStorageProvider
from portal.storage.streams import ExactSize

__all__ = ["ExactSize", "ObjectStorageFactory", "Storage", "StorageEncryption"]

STORAGE_TYPES = ("local", "s3", "minio")
_REQUIRED = ("LOCAL_STORAGE_PATH", "STORAGE_TYPE", "S3_BUCKET")


@dataclass(frozen=True)
class _State:
    """What init_app keeps in ``app.extensions["storage"]``."""

    providers: dict[str, StorageProvider]  # by every name a row's storage_type may carry
    default: str
    encryption: StorageEncryption

    @property
    def local(self) -> LocalStorageProvider:
        return self.providers["local"]  # type: ignore[return-value]


def _link_for_token(token: str) -> str:
    """The /files/<token> URL; a bare path when no request (and no SERVER_NAME) tells the host."""
    try:
        return url_for("storage_files.download", token=token)
    except RuntimeError:
        root = current_app.config.get("APPLICATION_ROOT", "/") if has_app_context() else "/"
        return f"{root.rstrip('/')}/files/{token}"


def _files_blueprint() -> Blueprint:
    """A fresh blueprint per app for the local provider's signed links (no module-level state)."""
    bp = Blueprint("storage_files", __name__)

    @bp.get("/files/<token>")
    def download(token: str):
        """Serve a signed local download: 403 tampered, 410 expired, 404 gone."""
        return current_app.extensions["storage"].local.send(token)

    return bp


class Storage:
    """Flask extension holding the local provider, the S3 provider when S3_BUCKET is set, the MinIO
    provider when MINIO_BUCKET is set (else `minio` names the S3 one), and the encryption at rest (its keys loaded once, here).

    Create it unbound (``storage = Storage()``) and bind it with ``storage.init_app(app)``; its
    properties then answer for ``current_app``.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the providers (ObjectStorageFactory, no network I/O) and the encryption (loading the key
        files) from app.config, and register GET /files/<token>.

        Raises RuntimeError when storage is already registered on ``app`` or the settings are missing,
        KeyFileError for an unreadable key file.
        """
        if "storage" in app.extensions:
            raise RuntimeError(
                "A 'Storage' instance is already registered on this Flask app; "
                "import and use that one (portal.extensions.storage) instead."
            )
        missing = [name for name in _REQUIRED if name not in app.config]
        if missing:
            raise RuntimeError(
                f"storage.init_app needs the portal settings in app.config (missing {missing[0]}); "
                "load them with portal.config.load_settings first"
            )
        providers = ObjectStorageFactory(app.config, _link_for_token).providers()
        encryption = StorageEncryption.from_config(app.config)
        app.extensions["storage"] = _State(providers, app.config["STORAGE_TYPE"], encryption)
        app.register_blueprint(_files_blueprint())

    def _state(self) -> _State:
        if not has_app_context():
            raise RuntimeError(
                "storage was used outside an application context; push app.app_context() "
                "(and did you forget storage.init_app(app)?)"
            )
        state = current_app.extensions.get("storage")
        if state is None:
            raise RuntimeError(
                "storage is not registered on the current Flask app; did you forget storage.init_app(app)?"
            )
        return state

    @property
    def default(self) -> StorageProvider:
        """The provider new objects are written to (STORAGE_TYPE)."""
        state = self._state()
        return state.providers[state.default]

    @property
    def encryption(self) -> StorageEncryption:
        """Encryption at rest as configured at start-up: encrypt-on-write, decrypt, re-wrap."""
        return self._state().encryption

    def get(self, name: str | None) -> StorageProvider:
        """The provider for a row's storage_type ('local', 's3', 'minio'; None means 'local').

        Raises StorageMisconfigured for an unknown name or a store not configured on this host.
        """
        state = self._state()
        name = (name or "local").strip().lower()
        if name not in STORAGE_TYPES:
            raise StorageMisconfigured(f"unknown storage type {name!r}; expected one of {', '.join(STORAGE_TYPES)}")
        try:
            return state.providers[name]
        except KeyError:
            how = (
                "MINIO_BUCKET and MINIO_ENDPOINT_URL (or S3_BUCKET with S3_ENDPOINT_URL)"
                if name == "minio"
                else "S3_BUCKET"
            )
            raise StorageMisconfigured(
                f"storage {name!r} is not configured on this host; set {how} to read its files"
            ) from None

    @property
    def names(self) -> tuple[str, ...]:
        """The configured stores, each once, by the name its provider writes into rows."""
        return tuple(dict.fromkeys(provider.name for provider in self._state().providers.values()))

    def check(self) -> dict[str, str]:
        """Each configured store's state for /healthz: "ok" or a short message safe to show."""
        report: dict[str, str] = {}
        for name in self.names:
            try:
                self.get(name).check()
            except StorageError as exc:
                report[name] = str(exc)
            except Exception as exc:  # a health probe reports; it never takes the endpoint down
                report[name] = f"error: {type(exc).__name__}"
            else:
                report[name] = "ok"
        return report
