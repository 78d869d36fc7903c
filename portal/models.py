"""Database models: users and their sessions, sign-in records, the audit trail, documents, attachments, staged uploads."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, false, func, true
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from portal.extensions import db
from portal.folding import fold

# Document tables live in this PostgreSQL schema; SQLite translates it away (see portal/database.py).
DOCUMENT_SCHEMA = "document"


def file_table_args(table: str, *extra_indexed: str) -> tuple:
    """Explicit index names (the migrations' names), so they do not change with the schema."""
    columns = ("storage_path", "storage_type", *extra_indexed)
    return (*(Index(f"ix_{table}_{column}", column) for column in columns), {"schema": DOCUMENT_SCHEMA})


def trigram_index(name: str, column: str) -> Index:
    """A PostgreSQL pg_trgm index that serves ``LIKE '%term%'`` on a folded column; nothing elsewhere."""
    index = Index(name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})
    return index.ddl_if(dialect="postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (SQLite hands DateTime(timezone=True) back naive; every stored time is UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class User(UserMixin, db.Model):
    """A member of staff; administrators also manage users and storage."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def role(self) -> str:
        return "admin" if self.is_admin else "staff"


class LoginAttempt(db.Model):
    """One sign-in attempt, kept for a while so repeated failures can be limited across workers."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class UserSession(db.Model):
    """One signed-in browser: the cookie carries a random token, the row its hash and its end.

    Signing out, a new password, deactivation or "sign out everywhere" delete rows, which ends the
    session and its remember cookie wherever they are replayed from.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PasswordReset(db.Model):
    """A one-time password reset link: the hash of its token, its end, and when it was used."""

    __tablename__ = "password_reset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class LoginThrottle(db.Model):
    """Failed sign-ins counted for one key: an (account, address) pair, an account, or an address.

    Rows are changed only by compare-and-set on ``version``, so concurrent attempts never count past a limit.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(330), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # A locked pair refuses attempts until then; an account or address over its threshold waits until then.
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(db.Model):
    """One thing that happened: when, who, from which address, what, to which object, the outcome, details."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    # The email as given (also for failed sign-ins with no account behind them).
    actor_email: Mapped[str] = mapped_column(String(255), default="", index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    event: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(20), default="success")
    detail: Mapped[str] = mapped_column(Text, default="")


class Document(db.Model):
    """The thing attachments belong to."""

    __tablename__ = "document"
    __table_args__ = (
        Index("ix_document_created_at", "created_at"),
        Index("ix_document_document_date", "document_date"),
        Index("ix_document_title_folded", "title_folded"),
        Index("ix_document_created_by", "created_by"),
        Index("ix_document_deleted_at", "deleted_at"),
        trigram_index("ix_document_search_text_trgm", "search_text"),
        {"schema": DOCUMENT_SCHEMA},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), onupdate=utcnow)
    #: the paper's own date (a letter's, an invoice's), when staff give one; "added" is created_at
    document_date: Mapped[date | None] = mapped_column(Date)
    #: what the document is found by (title, description, file names, people), folded; written by
    #: portal.documents.search_index whenever one of those changes
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: the title folded, for sorting by title the way people read it; kept in step by ``_fold_title``
    title_folded: Mapped[str] = mapped_column(String(200), default="", server_default="")

    #: when the document went to the trash, and by whom; None while it is live (see portal.documents.trash)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    creator: Mapped[User | None] = relationship(foreign_keys=[created_by])

    @validates("title")
    def _fold_title(self, key: str, value: str) -> str:
        self.title_folded = fold(value)
        return value


class StoredFileMixin:
    """Columns shared by attachments and staged uploads: what the file is and where its bytes live."""

    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    # The legacy local path from before object storage; rows without storage_path are read from here.
    filepath: Mapped[str | None] = mapped_column(String(500))
    storage_path: Mapped[str | None] = mapped_column(String(500))
    storage_type: Mapped[str] = mapped_column(String(50), default="local", server_default="local")
    # Hybrid encryption envelope (key id and wrapped data key, as text); None for plaintext objects.
    encryption: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())

    @property
    def location(self) -> str:
        """Where the bytes are, as shown on the badge: the storage type, or 'legacy' for a filepath row."""
        return self.storage_type if self.storage_path else "legacy"


class Attachment(StoredFileMixin, db.Model):
    """A file attached to a document."""

    __tablename__ = "attachment"
    __table_args__ = (
        *file_table_args("attachment", "document_id", "uploaded_by", "deleted_at")[:-1],
        Index("ix_attachment_last_verified_at", "last_verified_at", "id"),
        Index("ix_attachment_verify_outcome", "verify_outcome"),
        {"schema": DOCUMENT_SCHEMA},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey(f"{DOCUMENT_SCHEMA}.document.id"))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    #: when the attachment went to the trash (alone, or with its document), and by whom; None while it is live
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    #: when `flask storage scrub` last re-hashed the object, what it found ('ok', 'mismatch', 'missing',
    #: 'unreadable') and why; None until the first scrub reaches the row (portal.upkeep.scrub)
    last_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verify_outcome: Mapped[str | None] = mapped_column(String(20))
    verify_detail: Mapped[str | None] = mapped_column(String(500))

    document: Mapped[Document] = relationship(backref=db.backref("attachments", lazy="dynamic"))
    uploader: Mapped[User | None] = relationship(foreign_keys=[uploaded_by])


class AttachmentStaging(StoredFileMixin, db.Model):
    """A file uploaded while a document is being written; promoted into Attachment when it is saved."""

    __tablename__ = "attachment_staging"
    __table_args__ = file_table_args("attachment_staging", "owner_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    owner: Mapped[User | None] = relationship()
