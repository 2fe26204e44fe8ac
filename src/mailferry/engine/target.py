"""Reading the target folder: what it holds (fingerprints of the messages we did not put
there) and, to confirm a relayed pairing, the digests of some bodies."""

from __future__ import annotations

from collections.abc import Iterable

from mailferry.engine.fingerprint import body_digest
from mailferry.engine.ledger import flags_key
from mailferry.engine.matcher import MessageKey
from mailferry.engine.source import uid_chunks
from mailferry.imap import ImapSession, uid_set
from mailferry.store import ForeignMessage

HEADER_FETCH_CHUNK = 500


def target_inventory(target: ImapSession, known: set[int],
                     ) -> tuple[set[int], dict[int, ForeignMessage], dict[int, str]]:
    """Every UID of the selected target folder, the messages among them not in `known`
    (their fingerprints from BODY[HEADER]), and those messages' robust fingerprints (kept
    in memory only: the state store keeps the exact one)."""
    present = set(target.uid_search_all())
    unknown = sorted(present - known)
    found: dict[int, ForeignMessage] = {}
    robust: dict[int, str] = {}
    for start in range(0, len(unknown), HEADER_FETCH_CHUNK):
        chunk = unknown[start:start + HEADER_FETCH_CHUNK]
        for item in target.uid_fetch(uid_set(chunk), b"(UID FLAGS BODY.PEEK[HEADER])"):
            if item.uid is None or item.header is None or item.uid not in present:
                continue
            key = MessageKey.of(item.header)
            found[item.uid] = ForeignMessage(key.exact, key.relayed, flags_key(item.flags or ()))
            if key.robust is not None:
                robust[item.uid] = key.robust
    return present, found, robust


def target_body_digests(target: ImapSession, uids: Iterable[int],
                        ) -> dict[int, tuple[str, str]]:
    """(`body_digest`, flags) of each target message asked for (those still there)."""
    wanted = sorted(set(uids))
    digests: dict[int, tuple[str, str]] = {}
    for chunk in uid_chunks(wanted):
        for item in target.uid_fetch(chunk, b"(UID FLAGS BODY.PEEK[])"):
            if item.uid is not None and item.body is not None:
                digests[item.uid] = (body_digest(item.body), flags_key(item.flags or ()))
    return digests
