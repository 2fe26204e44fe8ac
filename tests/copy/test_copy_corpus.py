"""Every real-world message of the shared corpus through `mailferry copy`, checked one by one."""

from __future__ import annotations

import hashlib
import imaplib
from collections.abc import Callable
from pathlib import Path

from mailferry.engine import fingerprint
from mailferry.store import StateStore
from testbed import Dovecot, imap_login
from testbed.copykit import run_copy
from testbed.corpus import corpus_files


def _bodies(conn: imaplib.IMAP4, folder: str, item: str) -> dict[int, bytes]:
    typ, _ = conn.select(folder, readonly=True)
    assert typ == "OK"
    typ, data = conn.uid("FETCH", "1:*", f"(UID {item})")
    assert typ == "OK"
    out = {}
    for part in data:
        if isinstance(part, tuple):
            uid = int(part[0].split(b"UID ")[1].split()[0])
            out[uid] = part[1]
    return out


def test_every_corpus_message_arrives_byte_identical_or_is_reported(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source, target = dovecot_factory(), dovecot_factory()
    conn = imap_login(source.host, source.port, "alice", "alice-pw")
    refused_by_source: list[str] = []
    files = corpus_files()
    for directory in sorted({f.parent.name for f in files}):
        conn.create(directory)
    for path in files:
        raw = path.read_bytes()
        try:
            typ, _ = conn.append(path.parent.name, None, None, raw)
        except imaplib.IMAP4.error:
            typ = "NO"
        if typ != "OK":
            refused_by_source.append(path.name)
    state = tmp_path / "state.db"
    summary = run_copy(source, target, state)
    reported = {(f.folder, f.uid): f for f in summary.failures}

    store = StateStore.open(state)
    pair = store.pair_id(summary.source, summary.target)
    tgt = imap_login(target.host, target.port, "alice", "alice-pw")
    checked = 0
    for directory in sorted({f.parent.name for f in files}):
        src_bodies = _bodies(conn, directory, "BODY.PEEK[]")
        tgt_bodies = _bodies(tgt, directory, "BODY.PEEK[]")
        tgt_headers = _bodies(tgt, directory, "BODY.PEEK[HEADER]")
        folder = store.folder(pair, directory.encode())
        assert folder is not None
        mapped = store.mapped(folder.id)
        for uid, body in src_bodies.items():
            failure = reported.get((directory, uid))
            if failure is not None and failure.kind == "rejected":
                assert failure.reason, "a rejection must carry the server's words"
                assert uid not in mapped
                continue
            assert uid in mapped, f"{directory} UID {uid} silently missing"
            stored = tgt_bodies[mapped[uid].tgt_uid]  # type: ignore[index]
            if hashlib.sha256(stored).digest() != hashlib.sha256(body).digest():
                assert failure is not None and failure.kind == "altered", (
                    f"{directory} UID {uid}: bytes differ and nothing was reported")
            # the fingerprint from BODY[] here equals the one from the target's BODY[HEADER]
            assert fingerprint(body) == fingerprint(tgt_headers[mapped[uid].tgt_uid])  # type: ignore[index]
            checked += 1
    store.close()
    tgt.logout()
    conn.logout()
    assert checked + len([f for f in summary.failures if f.kind == "rejected"]) \
        == len(files) - len(refused_by_source)
    print(f"corpus: {len(files)} files, {len(refused_by_source)} refused by the source server,"
          f" {checked} checked, {len(summary.failures)} reported: "
          f"{sorted({(f.kind, f.reason[:60]) for f in summary.failures})}")
    # a second run copies nothing and reports the same
    again = run_copy(source, target, state)
    assert again.total("copied") == 0
