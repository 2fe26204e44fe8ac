"""Writes main_0b77f16_state.db: a state file as mailferry's code before Alembic (main at
0b77f16, `meta` schema 4) left it, with rows in every table, for the upgrade-in-place and
`store migrate` tests. Run once with that code on the path, never by the tests:
    PYTHONPATH=<checkout at 0b77f16>/src python tests/store/data/make_main_state.py OUT.db
"""

from __future__ import annotations

import sys

from mailferry.status import FailureKind, MailboxStatus, MessageOutcome
from mailferry.store import (
    ForeignMessage,
    MailboxProgress,
    MappedMessage,
    MonitorState,
    NoticeJournal,
    PassOutcome,
    ProjectState,
    RosterEntry,
    SealedSecret,
    StateStore,
)


def main(path: str) -> None:
    store = StateStore.open(path)
    for user in ("u001", "u002", "ünï"):
        pair = store.pair_id(f"imap://{user}@127.0.0.1:1143", f"imap://{user}@127.0.0.1:2143")
        for name in (b"INBOX", b"Sent", b"&AOQ-rger/Sub"):
            folder = store.start_folder(pair, name, name.replace(b"/", b"."), 1700000000, 42)
            store.record(folder.id, [MappedMessage(uid, uid + 100, f"fp{uid}-{user}",
                                                   "\\Seen" if uid % 2 else "",
                                                   MessageOutcome.COPIED,
                                                   "relayed" if uid % 7 == 0 else None)
                                     for uid in range(1, 60)])
            store.add_foreign(folder.id, {900: ForeignMessage("fpx", None, "\\Flagged")})
            store.record_failure(folder.id, 77, FailureKind.TOO_LARGE, "NO [LIMIT] too big",
                                 size=40_000_000)
            store.finish_folder(folder, src_uidnext=60, src_highestmodseq=1234,
                                tgt_uidnext=160, tgt_messages=59, complete=True)
    with store.leases.acquire("imap://u001@127.0.0.1:2143"):
        pass
    store.close()
    with ProjectState.open(path) as state:
        state.sync_roster([RosterEntry(u, u, "pilot" if u == "u001" else "w1", "it")
                           for u in ("u001", "u002", "ünï")])
        for user in ("u001", "u002", "ünï"):
            state.start(source_user=user, target_user=user, wave="w1", department="it",
                        source=f"imap://{user}@127.0.0.1:1143",
                        target=f"imap://{user}@127.0.0.1:2143")
            state.finish(user, PassOutcome(MailboxStatus.SYNCED, 177, 123456, 1, 3.5, None,
                                           [{"name": "INBOX", "copied": 59}],
                                           [{"uid": 77, "reason": "too big"}]))
        state.record_progress("host:1", [MailboxProgress("u001", 1.0, 177, 177, 123456)],
                              177, 123456)
        state.set_wave_paused("w1", True, "cli")
        state.record_verification(source_user="u001", target_user="u001", wave="w1",
                                  department="it", source="imap://u001@127.0.0.1:1143",
                                  target="imap://u001@127.0.0.1:2143",
                                  result={"ok": True, "differences": 0})
        state.put_sealed_secret(SealedSecret("look", "u001", b"\x00\x01nonce", b"\xffsealed",
                                             1.0, 4_000_000_000.0))
    with MonitorState.open(path) as monitor:
        monitor.record_pass(1.0, 1, {"checks": ["dns"]})
        monitor.open_incident("probe new", "probe lost", 2.0)
        monitor.add_probe("tok", 3.0, {"sent": True})
        monitor.add_late_mail("u002", 3, 4.0, None)
        monitor.record_deliverability(5.0, {"ok": True})
    with NoticeJournal.open(path) as journal:
        journal.begin(source_user="u001", kind="wave", about="2026-12-12T20:00",
                      recipient="u001@example.org", message_id="<m1@x>")
        journal.sent(source_user="u001", kind="wave", about="2026-12-12T20:00")


if __name__ == "__main__":
    main(sys.argv[1])
