"""Object keys: fresh upload keys and migrated keys live under the prefixes `flask storage orphans` lists."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from portal.documents.service import new_key
from portal.object_keys import PREFIXES, TABLE_PREFIXES, migrated_key, upload_key

NOW = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.mark.parametrize("prefix", sorted(TABLE_PREFIXES.values()))
def test_upload_keys_are_fresh_and_under_a_listed_prefix(prefix):
    first, second = upload_key(prefix, NOW), upload_key(prefix, NOW)
    assert re.fullmatch(rf"{prefix}/2026/11/[0-9a-f]{{32}}", first) and first != second
    assert first.startswith(PREFIXES)


@pytest.mark.parametrize("prefix", ["uploads", "attachments/../x", "", "Attachments"])
def test_an_unknown_prefix_is_refused(prefix):
    with pytest.raises(ValueError, match="is not an object key prefix"):
        upload_key(prefix, NOW)


def test_the_documents_service_builds_its_keys_here():
    assert re.fullmatch(r"staging/\d{4}/\d{2}/[0-9a-f]{32}", new_key("staging"))
    with pytest.raises(ValueError):
        new_key("elsewhere")


@pytest.mark.parametrize(
    "table, expected",
    [("attachment", "attachments/migrated/7/ab12"), ("attachment_staging", "staging/migrated/7/ab12")],
)
def test_migrated_keys_are_deterministic_and_under_a_listed_prefix(table, expected):
    assert migrated_key(table, 7, "ab12") == migrated_key(table, 7, "ab12") == expected
    assert expected.startswith(PREFIXES)
