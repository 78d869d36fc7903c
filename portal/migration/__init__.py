"""Local -> object storage migration. The CLI and the dashboard use service.DocumentMigrationService (with the
types of options, errors and reports); the other modules are its parts (see docs/migration.md)."""
