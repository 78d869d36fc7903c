"""Flask-Migrate: the baseline, add_object_storage_columns and head, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from portal.extensions import db
from tests.databases import engines, scratch_database
from tests.support.apps import make_app

HEAD = "0010_migration_source"
STORAGE_INDEXES = {
    "ix_attachment_storage_path",
    "ix_attachment_storage_type",
    "ix_attachment_staging_storage_path",
    "ix_attachment_staging_storage_type",
}


@pytest.fixture(params=engines())
def legacy_app(request, tmp_path):
    """An app whose database is at revision 1 (before object storage), with real rows in it."""
    with scratch_database(tmp_path / "db", request.param) as url:
        app = make_app(tmp_path, url)
        with app.app_context():
            upgrade(revision="0001_baseline")
            schema = "document." if db.engine.dialect.name == "postgresql" else ""
            db.session.execute(
                text("INSERT INTO \"user\" (id, email, name, password_hash) VALUES (1, 'old@example.com', 'Old', 'x')")
            )
            db.session.execute(
                text(f"INSERT INTO {schema}document (id, title, created_by) VALUES (1, 'Contract 2019', 1)")
            )
            db.session.execute(
                text(
                    f"INSERT INTO {schema}attachment (id, document_id, filename, content_type, size, filepath, uploaded_by)"
                    " VALUES (1, 1, 'scan.pdf', 'application/pdf', 42, 'legacy/2019/scan.pdf', 1)"
                )
            )
            db.session.execute(
                text(
                    f"INSERT INTO {schema}attachment_staging (id, filename, content_type, size, filepath, owner_id)"
                    " VALUES (1, 'draft.png', 'image/png', 7, 'legacy/tmp/draft.png', 1)"
                )
            )
            db.session.commit()
            yield app, schema
            db.session.remove()
            db.engine.dispose()


def _columns(table: str) -> set[str]:
    schema = "document" if db.engine.dialect.name == "postgresql" else None
    return {column["name"] for column in inspect(db.engine).get_columns(table, schema=schema)}


def _indexes(table: str) -> set[str]:
    schema = "document" if db.engine.dialect.name == "postgresql" else None
    return {index["name"] for index in inspect(db.engine).get_indexes(table, schema=schema)}


def test_upgrade_adds_storage_columns_and_existing_rows_read_local(legacy_app):
    app, schema = legacy_app
    upgrade(revision="0002_add_object_storage_columns")
    for table in ("attachment", "attachment_staging"):
        assert {"storage_path", "storage_type"} <= _columns(table)
    indexes = _indexes("attachment") | _indexes("attachment_staging")
    assert STORAGE_INDEXES <= indexes
    row = db.session.execute(text(f"SELECT storage_type, storage_path, filepath FROM {schema}attachment")).one()
    assert tuple(row) == ("local", None, "legacy/2019/scan.pdf")
    staged = db.session.execute(text(f"SELECT storage_type, storage_path FROM {schema}attachment_staging")).one()
    assert tuple(staged) == ("local", None)
    if schema:  # on PostgreSQL the tables really live in schema `document`
        assert "attachment" in inspect(db.engine).get_table_names(schema="document")


def test_column_types_match_the_agreed_schema(legacy_app):
    upgrade(revision="0002_add_object_storage_columns")
    schema = "document" if db.engine.dialect.name == "postgresql" else None
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("attachment", schema=schema)}
    assert columns["storage_path"]["type"].length == 500
    assert columns["storage_type"]["type"].length == 50
    assert "local" in str(columns["storage_type"]["default"])


def test_downgrade_removes_columns_and_indexes_and_keeps_rows(legacy_app):
    app, schema = legacy_app
    upgrade()
    downgrade(revision="0001_baseline")
    for table in ("attachment", "attachment_staging"):
        assert not {"storage_path", "storage_type", "sha256"} & _columns(table)
    assert not STORAGE_INDEXES & (_indexes("attachment") | _indexes("attachment_staging"))
    row = db.session.execute(text(f"SELECT filename, filepath FROM {schema}attachment")).one()
    assert tuple(row) == ("scan.pdf", "legacy/2019/scan.pdf")


def test_upgrade_to_head_keeps_legacy_rows_usable_through_the_models(legacy_app):
    from portal.models import Document

    upgrade()
    document = db.session.get(Document, 1)
    attachment = document.attachments.one()
    assert attachment.filename == "scan.pdf"
    assert attachment.location == "legacy"
    assert attachment.storage_type == "local"


def test_flask_db_upgrade_command(legacy_app):
    app, _ = legacy_app
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "storage_path" in _columns("attachment")
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == HEAD


def test_models_match_head(legacy_app):
    """No drift between the models and the migrations: autogenerate finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from sqlalchemy import MetaData
    from sqlalchemy.schema import BLANK_SCHEMA

    upgrade()
    from portal.database import dialect_objects_only

    metadata, options = db.metadata, {"include_object": dialect_objects_only(db.engine.dialect.name)}
    if db.engine.dialect.name == "sqlite":
        # SQLite has no schemas: compare against the models with `document.` translated away, as at run time.
        metadata = MetaData()
        for table in db.metadata.sorted_tables:
            copy = table.to_metadata(metadata, schema=None, referred_schema_fn=lambda *args: BLANK_SCHEMA)
            conditions = {index.name: index._ddl_if for index in table.indexes}
            for index in copy.indexes:  # to_metadata drops Index.ddl_if: carry it over for include_object
                index._ddl_if = conditions[index.name]
    else:
        options |= {
            "include_schemas": True,
            "include_name": lambda name, kind, parent: kind != "schema" or name in (None, "public", "document"),
        }
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_upgrade_fills_the_search_columns_of_existing_rows(legacy_app):
    """Rows from before search are found by it after `flask db upgrade`: the columns are backfilled."""
    from portal.documents.listing import parse_query, search_documents

    app, schema = legacy_app
    db.session.execute(text(f"UPDATE {schema}document SET title = 'Vertrag Müller 2019' WHERE id = 1"))
    db.session.execute(text(f"UPDATE {schema}attachment SET filename = 'Überweisung März.pdf' WHERE id = 1"))
    db.session.execute(text("UPDATE \"user\" SET name = 'Jürgen Weiß' WHERE id = 1"))
    db.session.commit()
    upgrade()
    for words in ("muller", "uberweisung marz", "weiss", "JURGEN"):
        found = search_documents(parse_query({"q": words}), per_page=10)
        assert [document.id for document in found.items] == [1], words
    db.session.rollback()  # end the reads, or PostgreSQL's ALTER TABLE below waits for their locks
    downgrade(revision="0005_accounts_sessions_audit")
    assert "search_text" not in _columns("document") and "filename_folded" not in _columns("attachment")
