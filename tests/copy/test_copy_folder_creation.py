"""A first copy creates the target's folders in one round trip, whatever their number: every
CREATE and then every SUBSCRIBE in one write (a target 50 ms away spent 1.5 s creating 15
folders one by one, and the SUBSCRIBEs once waited for the CREATEs' answers). A folder the
server refuses still gets the one-by-one path, with its hierarchy rules and the server's
words, and is left unsubscribed; the others go on. A connection lost after the CREATEs and
before the SUBSCRIBEs leaves no folder unsubscribed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mailferry.engine import CopyOptions, CopySummary, MailboxCopy, imap_source
from mailferry.imap import Account, Credentials, TlsPolicy, parse_mailbox_url
from mailferry.store import StateStore
from testbed import Dovecot, FaultProxy, imap_login
from testbed.basekit import put
from testbed.copykit import account, folders, mailbox, run_cli, subscriptions
from testbed.messages import sample_mailbox
from testbed.proxy import Turns
from testbed.scripted_imap import Command, ScriptedImap


def test_thirty_new_folders_are_created_and_subscribed_in_one_turn(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source, target = dovecot_factory(), dovecot_factory()
    names = ([f"Projects/P{n:02d}" for n in range(12)]
             + [f"Clients/C{n:02d}/Mail" for n in range(8)] + ["Caf&AOk-", "Caf&AOk-/Re&AOc-us"])
    _seed(source, names, len(names) * 2, names)
    turns = Turns()
    with FaultProxy(target.host, target.port, on_up=turns.up, on_down=turns.down) as proxy:
        done = run_cli(["copy", source.url(), f"imap://alice@127.0.0.1:{proxy.port}",
                        "--state", str(tmp_path / "s.db")], source=source, target=target)
    assert done.returncode == 0, done.stderr
    (turn,) = [said for said in turns.said if b" CREATE " in said]
    assert b" SUBSCRIBE " in turn and turns.with_verb(b"SUBSCRIBE") == 1, [
        said[:200] for said in turns.said]
    # each SUBSCRIBE behind its folder's CREATE (a server that checks the name finds it)
    assert turn.index(b' SUBSCRIBE "Projects/P00"') > turn.index(b' CREATE "Projects/P11"')
    got = mailbox(target)  # (it also holds the source's \Noselect parents, as folders)
    for name, messages in mailbox(source).items():  # every message, flags and all
        assert got[name] == messages, name
    assert set(folders(target)) >= set(folders(source))
    assert subscriptions(target) >= subscriptions(source)


def test_a_refused_create_among_many_fails_that_folder_alone(
        source: Dovecot, tmp_path: Path) -> None:
    names = ["Alpha", "Refused", "Refused/Child", "Zeta"]
    _seed(source, names, 12, ["INBOX", *names])
    target = ScriptedImap()

    def refuse(command: Command) -> None:
        if command.args[0] == b"Refused":
            command.no("[CANNOT] this name is reserved here")
        else:
            command.default()

    target.script("CREATE", refuse)
    summary = _copy_into(target, source, tmp_path)
    by_folder = {f.source: f for f in summary.folders}
    assert by_folder["Refused"].status == "failed"
    assert "this name is reserved here" in (by_folder["Refused"].error or "")
    held = target.folders()
    want = mailbox(source)
    for name in ("INBOX", "Alpha", "Refused/Child", "Zeta"):
        assert by_folder[name].status != "failed", (name, by_folder[name].error)
        assert len(held[name].messages) == len(want[name]), name
    assert "Refused" not in held
    # its SUBSCRIBE went out with the CREATEs, and was taken back: no name is left
    # subscribed that the target does not hold
    subscribed = target.subscriptions()
    assert "Refused" not in subscribed and {"Alpha", "Refused/Child", "Zeta"} <= subscribed


def _seed(source: Dovecot, names: list[str], count: int, spread: list[str]) -> None:
    """`names` created and subscribed in the source, then `count` messages over `spread`."""
    conn = imap_login(source.host, source.port, "alice", source.password())
    for name in names:
        conn.create(name)
        conn.subscribe(name)
    conn.logout()
    put(source, sample_mailbox(count, spread))


def _copy_into(target: ScriptedImap, source: Dovecot, tmp_path: Path) -> CopySummary:
    store = StateStore.open(tmp_path / "s.db")
    try:
        with target:
            return MailboxCopy(imap_source(account(source)), _account(target), store,
                               CopyOptions()).run()
    finally:
        store.close()


def _account(server: ScriptedImap) -> Account:
    return Account(parse_mailbox_url(server.url()), Credentials("alice", "alice-pw"), TlsPolicy())


def test_a_connection_lost_between_the_creates_and_the_subscribes_subscribes_them_after(
        source: Dovecot, tmp_path: Path) -> None:
    # the CREATEs were carried out, the first SUBSCRIBE cut the connection: the retry finds
    # the folders there, unsubscribed, and subscribes them (not created twice, none left out)
    names = ["Alpha", "Beta", "Beta/Gamma"]
    _seed(source, names, 9, ["INBOX", *names])
    target = ScriptedImap()
    cut: list[bytes] = []

    def cut_once(command: Command) -> None:
        if cut:
            command.default()
            return
        assert isinstance(command.args[0], bytes)
        cut.append(command.args[0])
        command.close()

    target.script("SUBSCRIBE", cut_once)
    summary = _copy_into(target, source, tmp_path)
    assert len(cut) == 1 and set(target.folders()) >= set(names)
    assert {f.status for f in summary.folders} == {"synced"}, summary.to_json()
    held, want = target.folders(), mailbox(source)
    for name in ("INBOX", *names):
        assert len(held[name].messages) == len(want[name]), name
    assert set(names) <= set(subscriptions(source)) <= target.subscriptions()
