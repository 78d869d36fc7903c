"""/healthz: database and storage reachability for load balancers."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
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
        current_app.logger.warning("healthz: database: %s", type(exc).__name__)
        database = "unavailable"
    stores = {}
    for name, state in storage.check().items():
        if state != "ok":
            # The detail (paths, endpoints) is for the operator's log; the endpoint needs no login.
            current_app.logger.warning("healthz: storage %s: %s", name, state)
        stores[name] = "ok" if state == "ok" else "unavailable"
    healthy = database == "ok" and all(state == "ok" for state in stores.values())
    body = {"status": "ok" if healthy else "unavailable", "database": database, "storage": stores}
    return jsonify(body), 200 if healthy else 503
