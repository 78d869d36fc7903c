"""Jinja filters and globals shared by every template."""
from __future__ import annotations

from datetime import datetime

from flask import Flask

ADMIN_LINKS = [("admin.users", "Users"), ("admin.storage", "Storage"), ("admin.audit_list", "Audit")]


def human_size(size: int | None) -> str:
    """1536 -> '1.5 KB'; binary units, one decimal below 10."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            if unit == "bytes":
                return f"{int(value)} byte{'' if int(value) == 1 else 's'}"
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.0f} TB"


def format_datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def init_templating(app: Flask) -> None:
    """Register the filters and globals on ``app``."""
    app.add_template_filter(human_size, "filesize")
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_global(lambda: ADMIN_LINKS, "admin_links")
