"""WSGI entry point: `gunicorn wsgi:app` and `flask --app wsgi ...`."""

from portal import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:
    # One clear line for the operator instead of a traceback.
    raise SystemExit(f"Configuration error: {exc}") from None
