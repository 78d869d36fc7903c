"""GET /metrics: who may read it (METRICS_ALLOW, METRICS_TOKEN) and the Prometheus text it answers with."""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from portal.addresses import AddressList
from portal.extensions import db
from portal.metrics.database import DatabaseGauges

bp = Blueprint("metrics", __name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def presented_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header; None without one (other schemes included)."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def may_scrape(remote_addr: str | None, authorization: str | None, allow: AddressList, token: str) -> bool:
    """A bearer token decides alone (it must match METRICS_TOKEN); without one, the address must be allowed."""
    presented = presented_token(authorization)
    if presented is not None:
        # Constant time, so response timing tells nothing about how much of a guess was right.
        return bool(token) and hmac.compare_digest(presented.encode(), token.encode())
    return remote_addr in allow


class _ThisProcess(Collector):
    """The instruments as this process holds them (no PROMETHEUS_MULTIPROC_DIR: one process serves)."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    """A registry for one scrape: every worker's instruments (or this process's), and the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseGauges(db.engine))
    return registry


@bp.route("/metrics")
def scrape() -> Response:
    """Prometheus text for allowed addresses or the right token, 403 for anyone else; no login either way."""
    config = current_app.config
    if not may_scrape(
        request.remote_addr, request.headers.get("Authorization"), config["METRICS_ALLOW"], config["METRICS_TOKEN"]
    ):
        return Response(
            "Forbidden: /metrics is open to METRICS_ALLOW addresses or with METRICS_TOKEN.\n",
            status=403,
            mimetype="text/plain",
        )
    response = Response(generate_latest(scrape_registry()), headers={"Content-Type": CONTENT_TYPE_LATEST})
    response.cache_control.no_store = True
    return response
