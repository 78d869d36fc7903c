"""static/format.js writes every size and duration exactly as portal/formatting.py does."""

from __future__ import annotations

import pytest

from portal.formatting import format_duration, format_size
from tests.support.formatting_cases import DURATIONS, SIZES

pytestmark = pytest.mark.browser

MORE_SIZES = [
    *(1023 * 1024**power + offset for power in range(1, 5) for offset in (-1, 0, 511, 512, 513)),
    *(int(9.95 * 1024**power) + offset for power in range(1, 5) for offset in (-1, 0, 1)),
    *(1024**power * 10 - offset for power in range(1, 5) for offset in (0, 51, 52, 53)),
    0.5,
    1.5,
    2.5,
    1_572_864,
]
MORE_DURATIONS = [*(edge + offset for edge in (60, 3600, 86400) for offset in (-0.5, -0.51, 0.49, 0.5)), 1e9, 12.5]


def test_the_script_and_the_server_agree(page, live_server, admin_user):
    sizes = [size for size, _ in SIZES] + MORE_SIZES
    durations = [seconds for seconds, _ in DURATIONS] + MORE_DURATIONS
    page.goto(live_server + "/auth/login")
    in_script = page.evaluate(
        "([sizes, durations]) => [sizes.map(PortalFormat.size), durations.map(PortalFormat.duration)]",
        [sizes, durations],
    )
    assert in_script == [[format_size(size) for size in sizes], [format_duration(seconds) for seconds in durations]]
