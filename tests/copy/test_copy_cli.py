"""`mailferry copy` as a user runs it: a real process, exit codes, JSON, secrets, TLS."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import Dovecot, FaultProxy, SeedMessage, free_port, imap_login, seed
from testbed.basekit import put_in_folders
from testbed.copykit import folders, mailbox, run_cli
from testbed.dovecot import shared_certs
from testbed.messages import sample_mailbox
from testbed.proxy import Turns

FOLDERS = ["INBOX", "Work", "Work/Clients", "Caf&AOk-"]


def put(server: Dovecot, messages: list[SeedMessage]) -> None:
    conn = imap_login(server.host, server.port, "alice", server.password())
    seed(conn, messages)
    conn.logout()


def test_copy_then_rerun_through_the_cli(source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    put(source, sample_mailbox(60, FOLDERS))
    state = tmp_path / "s.db"
    args = ["copy", source.url(), target.url(), "--state", str(state), "--json"]
    first = run_cli(args, source=source, target=target)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["ok"] and report["totals"]["copied"] == sum(
        sum(c.values()) for c in mailbox(source).values())
    second = run_cli(args, source=source, target=target)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["totals"]["copied"] == 0
    human = run_cli(args[:-1], source=source, target=target)
    assert human.returncode == 0 and "messages/s" in human.stdout


def test_unchanged_folders_cost_one_status_and_no_fetch(source: Dovecot, target: Dovecot,
                                                        tmp_path: Path) -> None:
    put(source, sample_mailbox(40, FOLDERS))
    state = tmp_path / "s.db"
    assert run_cli(["copy", source.url(), target.url(), "--state", str(state)],
                   source=source, target=target).returncode == 0
    with FaultProxy(source.host, source.port, record=True) as src_proxy, \
            FaultProxy(target.host, target.port, record=True) as tgt_proxy:
        rerun = run_cli(["copy", f"imap://alice@127.0.0.1:{src_proxy.port}",
                         f"imap://alice@127.0.0.1:{tgt_proxy.port}", "--state", str(state),
                         "--json"], source=source, target=target)
        assert rerun.returncode == 0, rerun.stderr
    # other URLs are other accounts to the state, so this run starts from nothing: every
    # message is found present by fingerprint, none copied again
    assert json.loads(rerun.stdout)["totals"]["copied"] == 0

    # through proxies from the first run on, so the URLs (the state's keys) stay the same
    state2 = tmp_path / "s2.db"
    with FaultProxy(source.host, source.port, record=True) as src_proxy, \
            FaultProxy(target.host, target.port, record=True) as tgt_proxy:
        urls = [f"imap://alice@127.0.0.1:{src_proxy.port}", f"imap://alice@127.0.0.1:{tgt_proxy.port}"]
        assert run_cli(["copy", *urls, "--state", str(state2)], source=source,
                       target=target).returncode == 0
        src_proxy.sent.clear()
        tgt_proxy.sent.clear()
        rerun = run_cli(["copy", *urls, "--state", str(state2), "--json"], source=source,
                        target=target)
        assert rerun.returncode == 0, rerun.stderr
        source_commands = src_proxy.commands()
        target_commands = tgt_proxy.commands()
    selectable = len(mailbox(source))
    for heavy in ("UID FETCH", "FETCH", "APPEND", "UID SEARCH", "NOOP"):
        assert heavy not in source_commands, source_commands
        assert heavy not in target_commands, target_commands
    # the biggest folder is opened in the login's write, ahead of the LIST (its STATUS is
    # then cheap on Dovecot, and its answer stands in for that folder's STATUS): once a side,
    # the source's EXAMINEd, the target's SELECTed (a copy would take that opening)
    assert source_commands[:3] == ["AUTHENTICATE", "EXAMINE", "LIST"]
    assert target_commands[:3] == ["AUTHENTICATE", "SELECT", "LIST"]
    assert source_commands.count("EXAMINE") == target_commands.count("SELECT") == 1
    assert "SELECT" not in source_commands and "EXAMINE" not in target_commands
    biggest = max(mailbox(source).items(), key=lambda item: sum(item[1].values()))[0]
    assert f'EXAMINE "{biggest}"'.encode() in bytes(src_proxy.sent)
    assert f'SELECT "{biggest}"'.encode() in bytes(tgt_proxy.sent)
    # every folder's STATUS in the LIST's answer (LIST-STATUS), none asked apart
    assert source_commands.count("LIST") == target_commands.count("LIST") == 1
    assert "STATUS" not in source_commands + target_commands
    assert bytes(src_proxy.sent).count(b" STATUS (") == 1 and selectable > 1
    assert {f["status"] for f in json.loads(rerun.stdout)["folders"]} == {"unchanged"}


@pytest.mark.parametrize("case", ["bad-url", "no-password", "unreachable", "wrong-password",
                                  "password-in-url"])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
        case: str, source: Dovecot, target: Dovecot, tmp_path: Path) -> None:
    state = tmp_path / "s.db"
    src_url, tgt_url = source.url(), target.url()
    env: dict[str, str] = {}
    if case == "bad-url":
        src_url = "imap//alice@127.0.0.1"
    elif case == "no-password":
        env["MAILFERRY_SOURCE_PASSWORD"] = ""
    elif case == "unreachable":
        tgt_url = f"imap://alice@127.0.0.1:{free_port()}"
    elif case == "wrong-password":
        env["MAILFERRY_TARGET_PASSWORD"] = "not-the-password"
    elif case == "password-in-url":
        src_url = f"imap://alice:secret@127.0.0.1:{source.port}"
    result = run_cli(["copy", src_url, tgt_url, "--state", str(state)], source=source,
                     target=target, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("mailferry: error:"), result.stderr
    assert "Traceback" not in result.stderr
    assert not state.exists()
    assert "secret" not in result.stderr


@pytest.mark.parametrize("appendlimit", [False, True])
def test_rejected_message_is_reported_with_the_servers_words(
        appendlimit: bool, dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source = dovecot_factory()
    target = dovecot_factory(max_message_size=200_000, advertise_appendlimit=appendlimit)
    small = sample_mailbox(10, ["INBOX"])
    big = SeedMessage(b"Message-ID: <big@x>\r\nSubject: big\r\n\r\n" + b"x" * 300_000, "INBOX")
    put(source, small + [big])
    args = ["copy", source.url(), target.url(), "--state", str(tmp_path / "s.db"), "--json"]
    result = run_cli(args, source=source, target=target)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["totals"]["copied"] == len(small)
    (failure,) = report["failures"]
    # refused by the server, or (when it announces APPENDLIMIT) too large: not even read
    assert failure["kind"] == ("too-large" if appendlimit else "rejected")
    assert failure["message_id"] == "<big@x>"
    # the server's words, or its limit
    expected = "APPENDLIMIT of 200000" if appendlimit else "larger than the maximum size"
    assert expected in failure["reason"]
    # a re-run tries it again and still says so; nothing else is copied twice
    again = run_cli(args, source=source, target=target)
    assert again.returncode == 1
    assert json.loads(again.stdout)["totals"]["copied"] == 0
    assert sum(mailbox(target)["INBOX"].values()) == len(small)


def test_password_never_reaches_logs_state_or_report(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    from testbed import DovecotUser

    secret = "Sup3r-s3cret-passphrase-9f1c"
    source = dovecot_factory(users=[DovecotUser("alice", secret)])
    target = dovecot_factory(users=[DovecotUser("alice", secret)])
    put(source, sample_mailbox(20, ["INBOX", "Work"]))
    state, log = tmp_path / "s.db", tmp_path / "run.log"
    password_file = tmp_path / "pw"
    password_file.write_text(secret + "\n")
    result = run_cli(["copy", source.url(), target.url(), "--state", str(state), "--json",
                      "--log-file", str(log), "--target-password-file", str(password_file)],
                     source=source, env={"MAILFERRY_TARGET_PASSWORD": ""})
    assert result.returncode == 0, result.stderr
    assert log.stat().st_size > 0
    for blob in (result.stdout.encode(), result.stderr.encode(), log.read_bytes(),
                 *(p.read_bytes() for p in tmp_path.glob("s.db*"))):
        assert secret.encode() not in blob


def test_dry_run_prints_the_plan_and_changes_nothing(source: Dovecot, target: Dovecot,
                                                     tmp_path: Path) -> None:
    messages = sample_mailbox(30, ["INBOX", "Work/Clients"])
    put(source, messages)
    before = folders(target)
    state = tmp_path / "s.db"
    result = run_cli(["copy", source.url(), target.url(), "--state", str(state), "--dry-run",
                      "--json"], source=source, target=target)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dry_run"] and plan["totals"]["to_copy"] == len(messages)
    assert set(plan["created"]) == {"Work", "Work/Clients"}
    assert folders(target) == before
    assert sum(sum(c.values()) for c in mailbox(target).values()) == 0
    assert not state.exists()


@pytest.mark.parametrize("scheme", ["imaps", "imap"])
def test_tls_is_verified_by_default(scheme: str, dovecot_factory: Callable[..., Dovecot],
                                    tmp_path: Path) -> None:
    source = dovecot_factory(tls=True)
    target = dovecot_factory(tls=True, self_signed=True)
    put(source, sample_mailbox(5, ["INBOX"]))
    ca = str(shared_certs().ca_cert)
    urls = [source.url(scheme=scheme), target.url(scheme=scheme)]
    state = str(tmp_path / "s.db")
    untrusted = run_cli(["copy", *urls, "--state", state], source=source, target=target)
    assert untrusted.returncode == 2
    assert "certificate not trusted" in untrusted.stderr
    # the source's CA trusted, the target's self-signed certificate still refused
    refused = run_cli(["copy", *urls, "--state", state, "--ca-file", ca], source=source,
                      target=target)
    assert refused.returncode == 2 and str(target.port if scheme == "imap" else
                                           target.imaps_port) in refused.stderr
    insecure = run_cli(["copy", *urls, "--state", state, "--insecure"], source=source,
                       target=target)
    assert insecure.returncode == 0, insecure.stderr


@pytest.mark.parametrize(("count", "without", "greeting"), [
    (6, (), ""), (70, (), ""), (70, ("LIST-STATUS",), ""), (6, (), "mail.example.net ready.")])
def test_an_unchanged_mailbox_costs_the_same_round_trips_whatever_its_folders(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path, count: int,
        without: tuple[str, ...], greeting: str) -> None:
    """Issue 16 §2: over a 50 ms link a no-change re-run is its round trips. Each side: one
    AUTHENTICATE sent together with the LIST and NAMESPACE that the capabilities the state
    file remembers from the last login call for, every folder's STATUS in the LIST's answer
    (LIST-STATUS, RFC 5819) or, without it, all STATUS commands at once, and a LOGOUT nobody
    waits for: 6 folders and 70 cost the same. Only a server whose greeting names Dovecot
    gets the LIST with the login (Courier drops what follows AUTHENTICATE); another greeting
    costs a round trip more, never a hang."""
    source = dovecot_factory(without_capabilities=without, greeting=greeting)
    target = dovecot_factory(without_capabilities=without, greeting=greeting)
    names = [f"Folder{n:02d}" for n in range(count)]
    put_in_folders(source, names, 2 * count)
    turns = (Turns(), Turns())
    with FaultProxy(source.host, source.port, on_up=turns[0].up, on_down=turns[0].down,
                    record=True) as src_proxy, \
            FaultProxy(target.host, target.port, on_up=turns[1].up, on_down=turns[1].down,
                       record=True) as tgt_proxy:
        urls = [f"imap://alice@127.0.0.1:{src_proxy.port}",
                f"imap://alice@127.0.0.1:{tgt_proxy.port}"]
        state = str(tmp_path / "s.db")
        assert run_cli(["copy", *urls, "--state", state], source=source,
                       target=target).returncode == 0
        for proxy in (src_proxy, tgt_proxy):
            proxy.wait_closed()  # the first run's last bytes are not counted as the re-run's
        for side in turns:
            side.reset()
        src_proxy.sent.clear()
        rerun = run_cli(["copy", *urls, "--state", state, "--json"], source=source,
                        target=target)
        assert rerun.returncode == 0, rerun.stderr
        commands = src_proxy.commands()
    assert {f["status"] for f in json.loads(rerun.stdout)["folders"]} == {"unchanged"}
    assert "CAPABILITY" not in commands
    for side in turns:
        login = next(said for said in side.said if b"AUTHENTICATE" in said)
        assert (b"LIST" in login) == (not greeting), login
    extra = 1 if greeting else 0  # the LIST waits for the login's answer
    if without:  # every folder asked, in one window
        # (the folder EXAMINEd with the login is not asked: its EXAMINE's answer serves)
        assert commands.count("STATUS") == len(mailbox(source)) - 1 >= count
        assert commands.count("EXAMINE") == 1
        assert turns[0].count <= 3 + extra, [said[:80] for said in turns[0].said]
        assert turns[1].count <= 3 + extra, [said[:80] for said in turns[1].said]
    else:
        assert commands.count("STATUS") == 0 and b"RETURN (SPECIAL-USE SUBSCRIBED STATUS (" \
            in bytes(src_proxy.sent)
        assert turns[0].count <= 2 + extra, [said[:80] for said in turns[0].said]
        assert turns[1].count <= 2 + extra, [said[:80] for said in turns[1].said]
    assert commands.count("LIST") == 1  # the one sent with the login served
