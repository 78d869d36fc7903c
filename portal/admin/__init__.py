"""Administrator pages under /admin: the blueprint and its URL table. Every page answers 403 to staff."""

from __future__ import annotations

from flask import Blueprint

from portal.admin import dashboard, missing_views, names, purge_views, users
from portal.audit import views as audit_views

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(users.require_admin)
names.register(bp)
bp.add_app_template_global(dashboard.bytes_percent, "bytes_percent")

bp.add_url_rule("/users", view_func=users.users, methods=["GET", "POST"])
bp.add_url_rule("/users/<int:user_id>/toggle", view_func=users.toggle_user, methods=["POST"])
bp.add_url_rule("/users/<int:user_id>/edit", view_func=users.edit_user, methods=["GET", "POST"])
bp.add_url_rule("/users/<int:user_id>/reset-link", view_func=users.reset_link, methods=["POST"])
bp.add_url_rule("/users/<int:user_id>/unlock", view_func=users.unlock_user, methods=["POST"])

bp.add_url_rule("/audit", view_func=audit_views.audit_list)
bp.add_url_rule("/audit.csv", view_func=audit_views.audit_csv)

bp.add_url_rule("/storage", endpoint="storage", view_func=dashboard.storage_dashboard)
bp.add_url_rule("/storage/runs", view_func=dashboard.start_migration, methods=["POST"])
bp.add_url_rule("/storage/verify", view_func=dashboard.start_verification, methods=["POST"])
bp.add_url_rule("/storage/runs/<int:run_id>", view_func=dashboard.storage_run)
bp.add_url_rule("/storage/runs/<int:run_id>/progress", view_func=dashboard.storage_run_progress)
bp.add_url_rule("/storage/runs/<int:run_id>/cancel", view_func=dashboard.cancel_run, methods=["POST"])
bp.add_url_rule("/storage/runs/<int:run_id>/retry", view_func=dashboard.retry_run, methods=["POST"])
bp.add_url_rule("/storage/runs/<int:run_id>/resume", view_func=dashboard.resume_run, methods=["POST"])
bp.add_url_rule("/storage/missing", view_func=missing_views.missing_files)
bp.add_url_rule("/storage/missing/<int:item_id>/lost", view_func=missing_views.mark_lost, methods=["POST"])
bp.add_url_rule("/storage/purge-trash", view_func=purge_views.purge_trash, methods=["POST"])
bp.add_url_rule("/storage/purge-quarantine", view_func=purge_views.purge_quarantine, methods=["POST"])
