"""/healthz: database and storage reachability for load balancers."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from portal.extensions import db, storage

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """200 with each part's state when all are reachable, 503 otherwise; never a secret or a trace."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # any driver error means "not reachable" to a load balancer
        db.session.rollback()
        database = f"unavailable: {type(exc).__name__}"
    stores = storage.check()
    healthy = database == "ok" and all(state == "ok" for state in stores.values())
    body = {"status": "ok" if healthy else "unavailable", "database": database, "storage": stores}
    return jsonify(body), 200 if healthy else 503
