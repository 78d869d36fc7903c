"""Scheduled upkeep: `flask storage maintain` (jobs under a database lease) and the continuous integrity scrub."""
