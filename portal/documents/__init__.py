"""Documents and their attachments."""
