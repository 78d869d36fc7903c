"""The portal's Prometheus instruments: names, labels and buckets, one set per process as Prometheus expects.

With PROMETHEUS_MULTIPROC_DIR set (before this module is first imported) every value is kept in a file of
that folder, so any gunicorn worker can answer a scrape with the sum over all of them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# The *_created series double every counter's output and no dashboard here uses them.
disable_created_metrics()

#: seconds; uploads and proxied downloads of large files run well past the usual 10 s top bucket
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "portal_http_requests",
    "HTTP requests answered, by endpoint (route name), method and status.",
    ("endpoint", "method", "status"),
)
HTTP_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time from a request's arrival to its response being ready (a streamed body not included).",
    ("endpoint", "method"),
    buckets=LATENCY_BUCKETS,
)
# livesum: a worker that dies mid-request leaves no phantom request behind (gunicorn's child_exit hook).
HTTP_IN_PROGRESS = Gauge(
    "portal_http_requests_in_progress", "Requests being handled right now.", multiprocess_mode="livesum"
)

UPLOADS = Counter("portal_uploads", "Files written from uploads (direct and staged), by store.", ("store",))
UPLOAD_BYTES = Counter("portal_upload_bytes", "Bytes of uploaded files written, by store.", ("store",))
DOWNLOADS = Counter("portal_downloads", "Downloads handed out (redirected or streamed), by store.", ("store",))
DOWNLOAD_BYTES = Counter(
    "portal_download_bytes", "Bytes of the files handed out, by store (a redirected file counts its size).", ("store",)
)

STORAGE_OPERATIONS = Counter(
    "portal_storage_operations",
    "Storage operations, by store, operation and outcome (ok or an error class).",
    ("store", "op", "outcome"),
)
STORAGE_DURATION = Histogram(
    "portal_storage_operation_duration_seconds",
    "Time storage operations took, by store and operation.",
    ("store", "op"),
    buckets=LATENCY_BUCKETS,
)

LOGIN_FAILURES = Counter(
    "portal_login_failures", "Sign-ins refused for a wrong password or an unknown or inactive account."
)
LOGIN_LOCKOUTS = Counter(
    "portal_login_lockouts", "Sign-ins refused without a check, during a pause after repeated failures."
)

MIGRATION_RUNS_FINISHED = Counter(
    "portal_migration_runs_finished",
    "Migration and verification runs that ended, by kind and final status.",
    ("kind", "status"),
)
