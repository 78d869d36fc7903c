"""The cleanup outbox: deletions the store refused, recorded durably and retried until it confirms."""
