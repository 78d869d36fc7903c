"""The audit trail: ``record(...)`` writes one audit_event row and one log line.

Call it from any route, service or command::

    from portal import audit
    audit.record("document.create", object_type="document", object_id=document.id)

Who and from where default to the signed-in user and the request's address (``cli`` outside a
request). ``record`` commits by default; inside a unit of work pass ``commit=False`` and the row
goes in with the caller's own commit (or its rollback). ``record_later`` is for events as frequent as
downloads: logged at once, the row written with others within a second (portal/audit/buffer.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app, has_request_context, request
from flask_login import current_user
from sqlalchemy import Connection, insert

from portal.audit.buffer import EventBuffer
from portal.extensions import db
from portal.models import AuditEvent, utcnow

log = logging.getLogger("portal.audit")

#: events under these prefixes are security events: logged at WARNING (others at INFO)
SECURITY_PREFIXES = ("auth.", "account.", "user.", "audit.", "storage.rotate_key")
OUTCOMES = ("success", "failure", "refused", "cancelled")


def record(
    event: str,
    *,
    outcome: str = "success",
    user: Any = None,
    email: str | None = None,
    object_type: str = "",
    object_id: Any = "",
    detail: str | Mapping[str, Any] = "",
    commit: bool = True,
    connection: Connection | None = None,
) -> AuditEvent | None:
    """Add one audit event (and log it); ``user`` is who acted (default: the signed-in user).

    ``email`` names the actor when there is no account behind it (a failed sign-in). ``detail`` may
    be text or a mapping (stored as JSON). With ``connection`` the row is inserted through it, in its
    transaction (neither the session nor ``commit`` is used) and nothing is returned; else the session's new
    AuditEvent is. Raises ValueError for an outcome not in OUTCOMES.
    """
    values = _values(event, outcome, user, email, object_type, object_id, detail)
    row = None
    if connection is not None:
        connection.execute(insert(AuditEvent.__table__).values(**values))
    else:
        row = AuditEvent(**values)
        db.session.add(row)
        if commit:
            db.session.commit()
    _log(values)
    return row


def record_later(
    event: str,
    *,
    outcome: str = "success",
    object_type: str = "",
    object_id: Any = "",
    detail: str | Mapping[str, Any] = "",
) -> None:
    """Log the event now and write its row with this process's next batch (at most AUDIT_FLUSH_SECONDS later;
    at once when that is 0)."""
    values = _values(event, outcome, None, None, object_type, object_id, detail)
    buffer = pending()
    buffer.add(values)
    if not buffer.seconds:
        buffer.flush()
    _log(values)


def pending() -> EventBuffer:
    """This app's batch of audit rows still to be written (readers flush it first)."""
    buffer = current_app.extensions.get("audit_buffer")
    if buffer is None:
        seconds = current_app.config["AUDIT_FLUSH_SECONDS"]
        buffer = current_app.extensions["audit_buffer"] = EventBuffer(db.engine, seconds=seconds)
    return buffer


def _values(event, outcome, user, email, object_type, object_id, detail) -> dict[str, Any]:
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    actor = user if user is not None else _signed_in()
    text = json.dumps(dict(detail), sort_keys=True, default=str) if isinstance(detail, Mapping) else str(detail)
    return dict(
        created_at=utcnow(),
        event=event[:64],
        outcome=outcome,
        actor_id=getattr(actor, "id", None),
        actor_email=(email if email is not None else getattr(actor, "email", "") or "")[:255],
        remote_addr=(request.remote_addr or "unknown")[:64] if has_request_context() else "cli",
        object_type=object_type[:40],
        object_id=str(object_id if object_id is not None else "")[:64],
        detail=text,
    )


def _log(values: dict[str, Any]) -> None:
    """The event's log line, from the values written (reading the committed row back would cost a SELECT)."""
    event, text = values["event"], values["detail"]
    level = logging.WARNING if event.startswith(SECURITY_PREFIXES) else logging.INFO
    fields = {
        "event": event,
        "outcome": values["outcome"],
        "user": values["actor_email"],
        "address": values["remote_addr"],
        "object": f"{values['object_type']}:{values['object_id']}" if values["object_type"] else "",
    }
    log.log(
        level,
        "%s %s user=%s address=%s%s%s",
        event,
        values["outcome"],
        values["actor_email"] or "-",
        values["remote_addr"],
        f" object={fields['object']}" if fields["object"] else "",
        f" {text}" if text else "",
        extra={"audit": {**fields, "detail": text}},
    )


def _signed_in() -> Any:
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user
    return None
