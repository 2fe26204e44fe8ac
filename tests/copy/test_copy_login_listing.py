"""A re-run sends its first LIST with the login, as the capabilities the state file remembers
from the last login call for (issue 16 §2: a round trip less per side). That must never cost
a result: a refused login is still one refused login and exit 2, and capabilities that no
longer hold cost one more LIST, never a stale or wrong listing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from testbed import Dovecot, FaultProxy, imap_login, seed
from testbed.copykit import mailbox, run_cli
from testbed.messages import sample_mailbox


def _put(server: Dovecot, count: int, seed_value: int = 0) -> None:
    conn = imap_login(server.host, server.port, "alice", server.password())
    seed(conn, sample_mailbox(count, ["INBOX", "Work"], seed=seed_value))
    conn.logout()


def _remembered(state: Path) -> dict[str, str]:
    with sqlite3.connect(state) as db:
        return dict(db.execute("SELECT key, value FROM meta WHERE key LIKE 'capabilities %'"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_refused_login_with_the_listing_alongside_is_one_refusal_and_exit_2(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    _put(source, 6)
    state = tmp_path / "s.db"
    args = ["copy", source.url(), target.url(), "--state", str(state), "--json"]
    assert run_cli(args, source=source, target=target).returncode == 0
    remembered = _remembered(state)
    assert set(remembered) == {f"capabilities {source.url()}", f"capabilities {target.url()}"}
    assert all("LIST-STATUS" in caps.split() for caps in remembered.values())
    before, held = _digest(state), mailbox(target)
    for side in ("SOURCE", "TARGET"):
        refused = run_cli(args, source=source, target=target,
                          env={f"MAILFERRY_{side}_PASSWORD": "not-the-password"})
        assert refused.returncode == 2, (refused.stdout, refused.stderr)
        assert "refused" in refused.stderr and "Traceback" not in refused.stderr
        assert "not-the-password" not in refused.stderr + refused.stdout
    assert source.refused_logins("alice") == 1 and target.refused_logins("alice") == 1
    assert _digest(state) == before and mailbox(target) == held


def test_capabilities_that_no_longer_hold_cost_a_listing_never_a_result(
        source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    _put(source, 6)
    state = tmp_path / "s.db"
    with FaultProxy(source.host, source.port, record=True) as proxy:
        url = f"imap://alice@127.0.0.1:{proxy.port}"
        args = ["copy", url, target.url(), "--state", str(state), "--json"]
        assert run_cli(args, source=source, target=target).returncode == 0
        # as if the server had offered neither LIST-EXTENDED nor LIST-STATUS last time
        with sqlite3.connect(state) as db:
            db.execute("UPDATE meta SET value = 'IMAP4rev1 SASL-IR AUTH=PLAIN' "
                       "WHERE key = ?", (f"capabilities {url}",))
        _put(source, 3, seed_value=7)  # and mail arrived since
        proxy.sent.clear()
        rerun = run_cli(args, source=source, target=target)
        commands = proxy.commands()
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["totals"]["copied"] == 3
    assert mailbox(target) == mailbox(source)  # every message once, flags and all
    # the LIST and LSUB sent with the (first) login did not serve: listed again, as offered
    # now; the folders' own connections sent none
    assert commands.count("LSUB") == 1 and commands.count("LIST") >= 3
    assert "LIST-STATUS" in _remembered(state)[f"capabilities {url}"].split()
