"""What the commands' options have in common: a duration or a byte rate, read by portal.formatting and refused
as a usage error (exit 2) naming the option."""

from __future__ import annotations

from datetime import timedelta

import click

from portal.formatting import parse_duration, parse_rate


def duration(value: str, option: str, *, allow_zero: bool = False) -> timedelta:
    """``value`` ('30m', '24h', '7d') as a timedelta, above zero unless ``allow_zero``."""
    try:
        return parse_duration(value, allow_zero=allow_zero)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def rate(value: str, option: str) -> int:
    """``value`` ('20MB/s') as bytes a second; 0 for no limit ('0', 'off', 'unlimited')."""
    try:
        return parse_rate(value, allow_off=True)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
