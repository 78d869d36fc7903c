"""Engine options per database: the `document` schema on PostgreSQL, translated away on SQLite."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url


def engine_options(database_url: str) -> dict:
    """SQLALCHEMY_ENGINE_OPTIONS for ``database_url``."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # SQLite has no schemas: the same models and migrations run with `document.` dropped.
        return {
            "execution_options": {"schema_translate_map": {"document": None}},
            "connect_args": {"timeout": 30},
        }
    return {"pool_pre_ping": True}


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Foreign keys on, and WAL so readers and one writer (a migration run) do not block each other."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def dialect_objects_only(dialect_name: str):
    """An Alembic ``include_object`` hook: leave out model indexes created only on another database
    (``Index.ddl_if(dialect=...)``, such as PostgreSQL's trigram indexes), so autogenerate sees no drift."""

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        condition = getattr(obj, "_ddl_if", None) if type_ == "index" and not reflected else None
        return condition is None or condition.dialect in (None, dialect_name)

    return include_object
