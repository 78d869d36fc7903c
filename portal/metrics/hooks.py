"""The request hooks and /metrics: every request counted by route name and status, and timed.

Apart from portal.metrics itself (the counting functions the storage layer and the models call), so that
this module may import the scrape endpoint, which needs the database, without an import cycle.
"""

from __future__ import annotations

import time

from flask import Flask, Response, current_app, g, request

from portal.metrics import instruments
from portal.metrics.scrape import bp

# Methods a route may declare; anything else a client invents is counted as "other" (bounded labels).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SCRAPE_ENDPOINT = "metrics.scrape"


def init_metrics(app: Flask) -> None:
    """Install the request hooks and /metrics on ``app``.

    Call it before any other extension registers request hooks: its before_request hook then runs first, so
    the clock starts before the rest and /metrics is answered ahead of the login guard (it needs no login).
    """
    if "metrics" in app.extensions:
        raise RuntimeError("init_metrics() was already called for this app")
    app.extensions["metrics"] = True
    app.register_blueprint(bp)
    app.before_request(_start)
    app.after_request(_count)
    app.teardown_request(_finish)


def _start() -> Response | None:
    g.metrics_started = time.perf_counter()
    instruments.HTTP_IN_PROGRESS.inc()
    g.metrics_in_progress = True
    if request.endpoint == SCRAPE_ENDPOINT:
        return current_app.view_functions[SCRAPE_ENDPOINT]()
    return None


def _count(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        endpoint = request.endpoint or "unmatched"  # 404s and 405s: never the raw path (unbounded labels)
        method = request.method if request.method in KNOWN_METHODS else "other"
        instruments.HTTP_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        instruments.HTTP_DURATION.labels(endpoint, method).observe(time.perf_counter() - started)
    return response


def _finish(exc: BaseException | None) -> None:
    if g.pop("metrics_in_progress", False):
        instruments.HTTP_IN_PROGRESS.dec()
