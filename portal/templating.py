"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from markupsafe import Markup

from portal.file_kinds import file_kind
from portal.formatting import MISSING, format_duration, format_size, round_half_up

ADMIN_LINKS = [("admin.users", "Users"), ("admin.storage", "Storage"), ("admin.audit_list", "Audit")]
# The name portal/documents imports for its JSON answers' size_human; new code imports portal.formatting.
human_size = format_size
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def utc_iso(value: datetime) -> str:
    """'2026-11-29T19:23:05Z'; a naive value is UTC (SQLite hands timezone-aware columns back naive)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def zoned_text(value: datetime, zone: ZoneInfo) -> str:
    """'29 Nov 2026, 20:23 CET': ``value`` in ``zone``, labelled with the zone (English, as the pages are)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M} {local.tzname()}"


def format_datetime(value: datetime | None) -> Markup:
    """A ``<time>`` whose datetime is UTC; its text is PORTAL_TIMEZONE's until static/local-time.js
    rewrites it in the viewer's own zone."""
    if value is None:
        return Markup(MISSING)
    zone = ZoneInfo(current_app.config["PORTAL_TIMEZONE"])
    return Markup('<time datetime="{}">{}</time>').format(utc_iso(value), zoned_text(value, zone))


def init_templating(app: Flask) -> None:
    """Register the filters and globals on ``app``."""
    app.add_template_filter(format_size, "filesize")
    app.add_template_filter(format_duration, "duration")
    app.add_template_filter(round_half_up, "whole")
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_global(file_kind, "file_kind")
    app.add_template_global(lambda: ADMIN_LINKS, "admin_links")
