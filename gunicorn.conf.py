"""gunicorn settings for the portal: `gunicorn --config gunicorn.conf.py wsgi:app` (`make run` uses it).

Command-line options (--bind, --workers, ...) still win over what is set here.
"""

import multiprocessing
import os
import shutil
import sys
import tempfile

# gunicorn 25+ opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl: one path per
# user, so a second gunicorn on the machine (another checkout, another service) would take it over.
control_socket_disable = True

# Prometheus: every worker keeps its counters in files of one folder, so a scrape answered by any worker
# shows the sum over all of them. Without PROMETHEUS_MULTIPROC_DIR a fresh folder is made for this run.
_owned_metrics_dir = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _owned_metrics_dir = tempfile.mkdtemp(prefix="portal-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _owned_metrics_dir

# Set once by the first worker that is ready; shared with every worker forked from this process.
_announced = multiprocessing.Value("b", 0)


def on_starting(server):
    """Start from empty counters: files left by an earlier run would be added to this one's."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.unlink(os.path.join(folder, name))


def post_worker_init(worker):
    """Once, in the first worker that has loaded the portal: say where to point the browser, and retry a small
    batch of owed object deletions in the background (portal/cleanup/startup.py)."""
    with _announced.get_lock():
        if _announced.value:
            return
        _announced.value = 1
    for address in _browser_addresses(worker.sockets):
        print(f"Document Portal is ready: {address}", file=sys.stderr, flush=True)
    if "storage" in getattr(worker.wsgi, "extensions", {}):  # the portal, not another app served with this file
        from portal.cleanup.startup import start_retry

        start_retry(worker.wsgi)


def child_exit(server, worker):
    """Drop the live gauges of a worker that is gone (its counters stay in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _owned_metrics_dir:
        shutil.rmtree(_owned_metrics_dir, ignore_errors=True)


def _browser_addresses(sockets):
    for sock in sockets:
        address = sock.getsockname()
        if isinstance(address, tuple):
            host, port = address[0], address[1]
            host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
            yield f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
        else:
            yield f"unix:{address}"
