"""Mail for reset links, sent through SMTP_* when configured."""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Mapping
from email.message import EmailMessage

from flask import current_app

log = logging.getLogger("portal.mail")


class MailError(Exception):
    """The mail server refused the message or could not be reached; the message is safe to show."""


def mail_configured() -> bool:
    return bool(current_app.config["SMTP_HOST"])


def reset_message(to: str, name: str, url: str, hours: int) -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = "Reset your Document Portal password"
    message.set_content(
        f"Hello {name},\n\n"
        f"Use this link to choose a new password for Document Portal:\n\n{url}\n\n"
        f"It works once and for {hours} hours. If you did not ask for it, ignore this mail; "
        "your password stays as it is.\n"
    )
    return message


def send(message: EmailMessage, config: Mapping | None = None) -> None:
    """Send ``message`` from SMTP_FROM; raises MailError."""
    config = config or current_app.config
    message["From"] = config["SMTP_FROM"]
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT"]
    try:
        if config["SMTP_SECURITY"] == "ssl":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            if config["SMTP_SECURITY"] == "starttls":
                server.starttls(context=ssl.create_default_context())
            if config["SMTP_USERNAME"]:
                server.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("mail to %s through %s:%s failed: %s", message["To"], host, port, exc)
        raise MailError(f"The mail server did not take the message ({type(exc).__name__}).") from None


def send_later(message: EmailMessage) -> threading.Thread:
    """Send in the background, so a request's answer time does not tell whether a mail went out."""
    config = {key: current_app.config[key] for key in current_app.config if key.startswith("SMTP_")}

    def deliver() -> None:
        try:
            send(message, config)
        except MailError:
            pass  # logged by send()

    thread = threading.Thread(target=deliver, name="portal-mail", daemon=True)
    thread.start()
    return thread
