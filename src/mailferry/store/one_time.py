"""Sealed one-time secrets: what a one-time link reveals, stored so that the state file
alone reveals nothing.

    one_time_secrets
      lookup      sha256 of the link's token (the token itself is never stored)   primary key
      user        whom it is for (shown on the page before revealing)
      nonce, sealed   the secret, AES-GCM-encrypted under a key derived from the token
      created_at, expires_at

Taking a secret deletes its row in the same transaction, and only the transaction whose
DELETE removed the row may use it: two clicks (or two dashboards on one PostgreSQL) never
both see it. Expired rows are purged on every issue and take. The sealing is web/onetime.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailferry.store.tables import one_time_secrets


@dataclass(frozen=True)
class SealedSecret:
    lookup: str
    user: str
    nonce: bytes
    sealed: bytes
    created_at: float
    expires_at: float


def _purge(conn: Connection, now: float) -> None:
    conn.execute(one_time_secrets.delete().where(one_time_secrets.c.expires_at <= now))


def put_sealed(conn: Connection, secret: SealedSecret) -> None:
    _purge(conn, secret.created_at)
    conn.execute(one_time_secrets.insert().values(
        lookup=secret.lookup, user=secret.user, nonce=secret.nonce, sealed=secret.sealed,
        created_at=secret.created_at, expires_at=secret.expires_at))


def peek_sealed(conn: Connection, lookup: str, now: float) -> SealedSecret | None:
    row = conn.execute(sa.select(one_time_secrets).where(
        one_time_secrets.c.lookup == lookup, one_time_secrets.c.expires_at > now)).first()
    return SealedSecret(*row) if row is not None else None


def take_sealed(conn: Connection, lookup: str, now: float) -> SealedSecret | None:
    """The sealed secret, removed for good; None if unknown, expired or already taken."""
    _purge(conn, now)
    found = peek_sealed(conn, lookup, now)
    if found is None:
        return None
    gone = conn.execute(one_time_secrets.delete().where(one_time_secrets.c.lookup == lookup))
    return found if gone.rowcount == 1 else None
