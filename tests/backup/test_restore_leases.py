"""`restore` and `import` write a target mailbox too: they take its lease first, so they
never run into a sync or copy of the same mailbox (exit 1, "in progress elsewhere")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailferry.store import StateStore
from testbed import Dovecot
from testbed.backupkit import mailbox, put, run_cli
from testbed.messages import sample_mailbox


def _mbox(path: Path) -> Path:
    path.write_bytes(b"".join(
        b"From sender@example.org Sat Jan  3 01:05:34 2004\n" + raw.replace(b"\r\n", b"\n")
        + b"\n" for raw in (m.raw for m in sample_mailbox(12, ["INBOX"]))))
    return path


@pytest.mark.parametrize("command", ["restore", "import"])
def test_restore_and_import_refuse_a_mailbox_another_run_holds(
        command: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    if command == "restore":
        put(source, sample_mailbox(20, ["INBOX", "Work"]))
        root = tmp_path / "backup"
        done = run_cli(["backup", source.url(), str(root)], source=source)
        assert done.returncode == 0, done.stderr
        args = ["restore", str(root), target.url()]
    else:
        args = ["import", "mbox", str(_mbox(tmp_path / "export.mbox")), target.url()]
    state = tmp_path / "state.db"
    args += ["--state", str(state), "--json"]
    store = StateStore.open(state)
    try:
        with store.leases.acquire(target.url()):  # a sync of this mailbox, say
            refused = run_cli(args, target=target)
            assert refused.returncode == 1, refused.stderr
            assert "in progress elsewhere" in refused.stderr
            assert f"pid {os.getpid()}" in refused.stderr
            assert not any(mailbox(target).values())  # nothing written
        done = run_cli(args, target=target)
        assert done.returncode == 0, done.stderr
    finally:
        store.close()
    restored = {name: folder for name, folder in mailbox(target).items() if folder}
    if command == "restore":
        assert restored == {name: f for name, f in mailbox(source).items() if f}
    else:
        assert sum(restored["INBOX"].values()) == 12
