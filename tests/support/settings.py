"""Changing settings of a running test app the way a restart with them would."""

from __future__ import annotations

import dataclasses

from flask import Flask

from portal.storage import StorageEncryption


def restart_with(app: Flask, **settings) -> None:
    """Update ``app.config`` and rebuild what Storage.init_app built from it (the encryption and its keys).

    The portal loads its keys once per process (each `flask` command starts one); a test that changes
    them mid-way stands for such a restart, as an operator would do between two runs.
    """
    app.config.update(settings)
    state = app.extensions["storage"]
    app.extensions["storage"] = dataclasses.replace(state, encryption=StorageEncryption.from_config(app.config))
