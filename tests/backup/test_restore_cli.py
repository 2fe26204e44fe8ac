"""`mailferry restore` as users run it: a subset of folders, a key, re-runs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from testbed import Dovecot
from testbed.backupkit import mailbox, put, run_cli
from testbed.messages import sample_mailbox


def test_restore_a_subset_with_a_key_then_rerun(source: Dovecot, target: Dovecot,
                                                tmp_path: Path) -> None:
    put(source, sample_mailbox(40, ["INBOX", "Work", "Work/Clients", "Private"]))
    key = tmp_path / "k"
    key.write_text("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=\n")  # base64, 32 bytes
    root = tmp_path / "b"
    done = run_cli(["backup", source.url(), str(root), "--compress", "gzip", "--key-file",
                    str(key)], source=source)
    assert done.returncode == 0, done.stderr
    args = ["restore", str(root), target.url(), "--folder", "Work", "--key-file", str(key),
            "--state", str(tmp_path / "s.db"), "--json"]
    first = run_cli(args, target=target)
    assert first.returncode == 0, first.stderr
    original, restored = mailbox(source), mailbox(target)
    assert restored["Work"] == original["Work"]
    assert restored["Work/Clients"] == original["Work/Clients"]
    assert "Private" not in restored and not restored["INBOX"]
    again = run_cli(args, target=target)
    assert again.returncode == 0 and json.loads(again.stdout)["totals"]["copied"] == 0

    other = tmp_path / "other"
    other.write_text("11" * 32)
    wrong = run_cli([*args[:6], str(other)], target=target)
    assert wrong.returncode == 2 and "not the key" in wrong.stderr
    no_key = run_cli(args[:5], target=target)
    assert no_key.returncode == 2 and "encrypted" in no_key.stderr
    nothing = run_cli(["restore", str(tmp_path), target.url()], target=target)
    assert nothing.returncode == 2 and "no mailferry backup" in nothing.stderr
