"""Local -> object storage migration; its callers use service.DocumentMigrationService (docs/migration.md)."""
