"""Reading the target folder: what it holds (fingerprints of the messages we did not put
there) and, to confirm a relayed pairing, the digests of some bodies."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mailferry.engine.fingerprint import body_digest, hides_header
from mailferry.engine.ledger import flags_key
from mailferry.engine.matcher import MessageKey
from mailferry.engine.source import uid_chunks
from mailferry.imap import FetchItem, ImapSession, uid_set
from mailferry.store import ForeignMessage

HEADER_FETCH_CHUNK = 500


def target_inventory(target: ImapSession, known: set[int], uids: list[int] | None = None,
                     ) -> tuple[set[int], dict[int, ForeignMessage], dict[int, str],
                                dict[int, int]]:
    """Every UID of the selected target folder (`uids` if they came with the SELECT), the
    messages among them not in `known` (their fingerprints from BODY[HEADER]), those
    messages' robust fingerprints (kept in memory only: the state store keeps the exact
    one) and their RFC822.SIZE."""
    present = set(target.uid_search_all() if uids is None else uids)
    unknown = sorted(present - known)
    found: dict[int, ForeignMessage] = {}
    robust: dict[int, str] = {}
    sizes: dict[int, int] = {}
    for start in range(0, len(unknown), HEADER_FETCH_CHUNK):
        chunk = unknown[start:start + HEADER_FETCH_CHUNK]
        items = [item for item in target.uid_fetch(uid_set(chunk),
                                                   b"(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])")
                 if item.uid is not None and item.header is not None and item.uid in present]
        sizes.update((item.uid, item.size) for item in items
                     if item.uid is not None and item.size is not None)
        for uid, flags, key in target_keys(target, items):
            found[uid] = ForeignMessage(key.exact, key.relayed, flags_key(flags))
            if key.robust is not None:
                robust[uid] = key.robust
    return present, found, robust, sizes


def target_keys(target: ImapSession, items: Iterable[FetchItem],
                ) -> Iterator[tuple[int, tuple[str, ...], MessageKey]]:
    """(UID, flags, key) of each fetched header; a header of nothing but bookkeeping fields
    (imap4d), or an empty one (pymap), hides the real one in the text: those messages are
    keyed by their BODY[]."""
    hidden: dict[int, tuple[str, ...]] = {}
    for item in items:
        assert item.uid is not None and item.header is not None
        if hides_header(item.header):
            hidden[item.uid] = item.flags or ()
        else:
            yield item.uid, item.flags or (), MessageKey.of(item.header)
    for chunk in uid_chunks(sorted(hidden)):
        for item in target.uid_fetch(chunk, b"(UID BODY.PEEK[])"):
            if item.uid in hidden and item.body is not None:
                yield item.uid, hidden[item.uid], MessageKey.of(item.body)


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
