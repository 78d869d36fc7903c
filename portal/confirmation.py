"""Asking before a destructive POST: the question as a page when the form came without its confirmation.

A button that deactivates, cancels or removes posts to its route; the route acts only when the post
carries ``confirmed=yes`` (the dialog of static/confirm.js and the page below both send it). Without it
the route answers with the question itself, so a page without script asks too and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template, request


@dataclass(frozen=True)
class Question:
    """What the confirmation page shows: the question, what follows, and the two ways out."""

    question: str
    note: str
    button: str  # the confirming button's text ("Deactivate")
    label: str  # its accessible name, naming the item ("Deactivate anna@example.com")
    action: str  # where the confirmed form posts (the same route)
    cancel: str  # where "keep" goes back to
    keep: str = "Cancel"
    fields: tuple[tuple[str, str], ...] = ()  # what the asking form carried besides csrf (posted again as is)


def confirmed() -> bool:
    """True when the posted form says the user confirmed."""
    return request.form.get("confirmed") == "yes"


def ask(question: Question):
    """The confirmation page for ``question`` (200: nothing was done, a question is the answer)."""
    return render_template("confirm.html", ask=question)
