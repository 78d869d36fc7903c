"""Administrator pages: users and storage."""
