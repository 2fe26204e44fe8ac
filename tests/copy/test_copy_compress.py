"""COMPRESS=DEFLATE (RFC 4978, issue 16 §3): on a thin link the copy sends and receives
fewer bytes, and the mail the target stores is exactly the source's, whatever it holds (the
real-world corpus, malformed messages included). Both Dovecots offer COMPRESS through the
imap_zlib plugin; each sits behind a proxy that counts the bytes on the wire."""

from __future__ import annotations

import imaplib
import json
from collections.abc import Callable
from pathlib import Path

from testbed import Dovecot, DovecotUser, imap_login, seed
from testbed.copykit import mailbox, run_cli
from testbed.corpus import corpus_files
from testbed.link import Link
from testbed.messages import sample_mailbox
from testbed.proxy import FaultProxy


class Wire:
    """Bytes through a proxy, both ways (to the server, or to `link` in front of it)."""

    def __init__(self, server: Dovecot, link: Link | None = None) -> None:
        self.bytes = 0
        upstream = link or server
        self.proxy = FaultProxy(upstream.host, upstream.port, on_up=self._count,
                                on_down=self._count)

    def _count(self, data: bytes) -> None:
        self.bytes += len(data)


def _seed_source(source: Dovecot) -> int:
    seed_conn = imap_login(source.host, source.port, "alice", "alice-pw")
    messages = sample_mailbox(150, ["INBOX", "Work", "Caf&AOk-"])
    seed(seed_conn, messages)
    total = sum(len(m.raw) for m in messages)
    seed_conn.create("Corpus")
    for path in corpus_files()[::4]:  # malformed ones among them: NUL, bare CR/LF, 8-bit
        raw = path.read_bytes()
        try:
            if seed_conn.append("Corpus", None, None, raw)[0] == "OK":
                total += len(raw)
        except imaplib.IMAP4.error:
            pass  # refused by the source server: not part of the mailbox
    seed_conn.logout()
    return total


def _copy(source: Wire, target: Wire, user: str, state: Path, compress: str,
          servers: tuple[Dovecot, Dovecot], *options: str) -> dict[str, object]:
    result = run_cli(["copy", f"imap://alice@127.0.0.1:{source.proxy.port}",
                      f"imap://{user}@127.0.0.1:{target.proxy.port}", "--state", str(state),
                      "--compress", compress, "--json", *options],
                     source=servers[0], env={"MAILFERRY_TARGET_PASSWORD": "pw"})
    assert result.returncode == 0, result.stderr[-2000:]
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


def test_compressed_copy_moves_fewer_bytes_and_stores_the_same_mail(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    source = dovecot_factory(compress=True)
    target = dovecot_factory(compress=True, users=[DovecotUser("plain", "pw"),
                                                   DovecotUser("deflated", "pw")])
    mail_bytes = _seed_source(source)
    expected = mailbox(source)

    plain = (Wire(source), Wire(target))
    _copy(*plain, "plain", tmp_path / "plain.db", "never", (source, target))
    deflated = (Wire(source), Wire(target))
    _copy(*deflated, "deflated", tmp_path / "deflated.db", "always", (source, target))

    assert mailbox(target, "plain") == expected
    assert mailbox(target, "deflated") == expected  # sha256 of each BODY[], flags, dates
    plain_bytes = plain[0].bytes + plain[1].bytes
    deflated_bytes = deflated[0].bytes + deflated[1].bytes
    assert plain_bytes > mail_bytes * 2  # read from the source, written to the target
    assert deflated_bytes < plain_bytes * 0.6, (deflated_bytes, plain_bytes)

    # a re-run through compressed connections finds everything in place
    again = _copy(*deflated, "deflated", tmp_path / "deflated.db", "always", (source, target))
    assert again["totals"]["copied"] == 0  # type: ignore[index]
    assert mailbox(target, "deflated") == expected


def test_auto_leaves_a_fast_link_uncompressed(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """Where the link keeps up, compressing only spends CPU (here: the same machine)."""
    source = dovecot_factory(compress=True)
    target = dovecot_factory(compress=True, users=[DovecotUser("auto", "pw")])
    mail_bytes = _seed_source(source)
    wires = (Wire(source), Wire(target))
    _copy(*wires, "auto", tmp_path / "auto.db", "auto", (source, target))
    assert wires[0].bytes + wires[1].bytes > mail_bytes * 2
    assert mailbox(target, "auto") == mailbox(source)


def test_auto_compresses_once_the_link_proves_slow(
        dovecot_factory: Callable[..., Dovecot], tmp_path: Path) -> None:
    """Both servers behind a 16 Mbit/s link: the first FETCH and APPEND show it, the later
    ones go compressed, and the mail stored is the source's."""
    source = dovecot_factory(compress=True)
    target = dovecot_factory(compress=True, users=[DovecotUser("auto", "pw")])
    seed_conn = imap_login(source.host, source.port, "alice", "alice-pw")
    large = sample_mailbox(200, ["INBOX"], sizes=(40000, 120000))
    seed(seed_conn, large)
    seed_conn.logout()
    mail_bytes = sum(len(m.raw) for m in large)
    with Link(source.host, source.port, delay=0.001, rate=16e6) as source_link, \
            Link(target.host, target.port, delay=0.001, rate=16e6) as target_link:
        wires = (Wire(source, source_link), Wire(target, target_link))
        _copy(*wires, "auto", tmp_path / "auto.db", "auto", (source, target),
              "--batch-size", "25")
    assert mailbox(target, "auto") == mailbox(source)
    # plain, each side moves the mail once (see above); the measured start goes plain
    assert wires[0].bytes < mail_bytes * 0.8, (wires[0].bytes, mail_bytes)
    assert wires[1].bytes < mail_bytes * 0.8, (wires[1].bytes, mail_bytes)
