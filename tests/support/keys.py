"""Key pairs for encrypted stores, written where a test wants them."""

from __future__ import annotations

from portal.storage.keys import write_keypair


def keypair(folder, pq=False) -> tuple[str, str, str]:
    key_id = write_keypair(folder, pq=pq)
    return key_id, str(folder / f"{key_id}.pub.pem"), str(folder / f"{key_id}.key.pem")
