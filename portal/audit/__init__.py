"""The audit trail: ``record(...)`` writes one audit_event row and one log line.

Call it from any route, service or command::

    from portal import audit
    audit.record("document.create", object_type="document", object_id=document.id)

Who and from where default to the signed-in user and the request's address (``cli`` outside a
request). ``record`` commits by default; inside a unit of work pass ``commit=False`` and the row
goes in with the caller's own commit (or its rollback).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from portal.extensions import db
from portal.models import AuditEvent

log = logging.getLogger("portal.audit")

#: events under these prefixes are security events: logged at WARNING (others at INFO)
SECURITY_PREFIXES = ("auth.", "account.", "user.", "audit.")
OUTCOMES = ("success", "failure", "refused")


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
) -> AuditEvent:
    """Add one audit event (and log it); ``user`` is who acted (default: the signed-in user).

    ``email`` names the actor when there is no account behind it (a failed sign-in). ``detail`` may
    be text or a mapping (stored as JSON). Raises ValueError for an outcome not in OUTCOMES.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    actor = user if user is not None else _signed_in()
    text = json.dumps(dict(detail), sort_keys=True, default=str) if isinstance(detail, Mapping) else str(detail)
    row = AuditEvent(
        event=event[:64],
        outcome=outcome,
        actor_id=getattr(actor, "id", None),
        actor_email=(email if email is not None else getattr(actor, "email", "") or "")[:255],
        remote_addr=(request.remote_addr or "unknown")[:64] if has_request_context() else "cli",
        object_type=object_type[:40],
        object_id=str(object_id if object_id is not None else "")[:64],
        detail=text,
    )
    db.session.add(row)
    if commit:
        db.session.commit()
    level = logging.WARNING if event.startswith(SECURITY_PREFIXES) else logging.INFO
    fields = {
        "event": row.event,
        "outcome": outcome,
        "user": row.actor_email,
        "address": row.remote_addr,
        "object": f"{row.object_type}:{row.object_id}" if row.object_type else "",
    }
    log.log(
        level,
        "%s %s user=%s address=%s%s%s",
        row.event,
        outcome,
        row.actor_email or "-",
        row.remote_addr,
        f" object={fields['object']}" if fields["object"] else "",
        f" {text}" if text else "",
        extra={"audit": {**fields, "detail": text}},
    )
    return row


def _signed_in() -> Any:
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user
    return None
