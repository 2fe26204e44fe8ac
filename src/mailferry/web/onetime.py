"""One-time links: show a secret (a user's new password) once, to the holder of the link.

How another package hands a secret over (notify, for `[notify] credentials = "link"`):

    links = OneTimeSecrets(state)                     # the project's ProjectState
    token = links.issue("alice", new_password, ttl=7 * 86400)
    url = f"{public_base_url}once/{token}"            # goes into alice's notice

What is stored (store/one_time.py): sha256 of the token and the secret sealed with AES-GCM
under a key derived from the token (HKDF-SHA256). The token exists only in the link, so
the state file, its backups and the logs never hold the secret or the means to open it.
Opening the link (GET) shows whom it is for and a button; only the POST that button sends
reveals the secret and deletes it, so a mail scanner that follows links does not burn it.
A used, expired or unknown link gets the same answer.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mailferry.store import ProjectState, SealedSecret

TOKEN_BYTES = 32
DEFAULT_TTL = 7 * 86400.0


@dataclass(frozen=True)
class Revealed:
    user: str
    secret: str


def _lookup(token: str) -> str:
    return hashlib.sha256(b"mailferry one-time lookup\0" + token.encode()).hexdigest()


def _key(token: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"mailferry one-time secret").derive(token.encode())


def well_formed(token: str) -> bool:
    """A token as `issue` makes them (urlsafe base64 of TOKEN_BYTES bytes)."""
    try:
        return len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == TOKEN_BYTES
    except ValueError:
        return False


class OneTimeSecrets:
    def __init__(self, state: ProjectState) -> None:
        self.state = state

    def issue(self, user: str, secret: str, *, ttl: float = DEFAULT_TTL) -> str:
        """Seal `secret` for `user`; the returned token is the only way to open it."""
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        lookup = _lookup(token)
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(_key(token)).encrypt(nonce, secret.encode(), f"{lookup}\0{user}".encode())
        now = time.time()
        self.state.put_sealed_secret(SealedSecret(lookup, user, nonce, sealed, now, now + ttl))
        return token

    def holder(self, token: str) -> str | None:
        """Whom the link is for, while it can still be opened; None otherwise."""
        if not well_formed(token):
            return None
        found = self.state.peek_sealed_secret(_lookup(token))
        return found.user if found is not None else None

    def reveal(self, token: str) -> Revealed | None:
        """The secret, once: it is deleted as it is read. None if used, expired or unknown."""
        if not well_formed(token):
            return None
        lookup = _lookup(token)
        found = self.state.take_sealed_secret(lookup)
        if found is None:
            return None
        try:
            plain = AESGCM(_key(token)).decrypt(found.nonce, found.sealed,
                                                f"{lookup}\0{found.user}".encode())
        except InvalidTag:  # a row written with another token: never shown
            return None
        return Revealed(found.user, plain.decode())
