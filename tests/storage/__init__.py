"""Tests of the storage layer: one conformance suite over every provider, plus provider specifics."""
