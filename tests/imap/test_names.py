"""Mailbox names' modified UTF-7 codec gives imapclient's results on every name, valid or
not: a folder's target name is derived from its decoded name, so a codec that decoded some
name differently would put that folder's mail somewhere else than an earlier run did."""

from __future__ import annotations

import random

import pytest
from imapclient import imap_utf7

from mailferry.imap.names import decode_name, encode_name
from testbed import mutf7

NAMES = ["INBOX", "Entw&APw-rfe", "&ZeVnLIqe-", "a&-b", "&-", "&", "x&", "&AOQ", "&AOQ-&AOQ-",
         "A&B&C-", "&Jjo-!", "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "caf\xe9", "\xff&AOQ-"]


def _random_wire(rng: random.Random) -> bytes:
    alphabet = b"&-,+/AOQZeVnLIqeabc \x7f\xe9"
    return bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def _random_name(rng: random.Random) -> str:
    alphabet = "ab &-,/+\t\x7f\xe4\xf6\u65e5\u672c\U0001f600."
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))


def _imapclient_decode(wire: bytes) -> str | type[Exception]:
    if b"&" not in wire:  # mailferry never asked imapclient for these
        return wire.decode("ascii", "replace")
    try:
        return str(imap_utf7.decode(wire))
    except UnicodeDecodeError:
        return UnicodeDecodeError


def _ours(wire: bytes) -> str | type[Exception]:
    try:
        return decode_name(wire)
    except UnicodeDecodeError:
        return UnicodeDecodeError


@pytest.mark.parametrize("wire", [n.encode("latin-1") for n in NAMES])
def test_decoding_matches_imapclient(wire: bytes) -> None:
    assert _ours(wire) == _imapclient_decode(wire)


def test_random_names_and_wire_bytes_match_imapclient_both_ways() -> None:
    rng = random.Random(5)
    for _ in range(20000):
        wire = _random_wire(rng)
        assert _ours(wire) == _imapclient_decode(wire), wire
        name = _random_name(rng)
        expected = (name.encode("ascii") if name.isascii() and "&" not in name
                    else bytes(imap_utf7.encode(name)))
        assert encode_name(name) == expected, name
        assert decode_name(encode_name(name)) == name, name


def test_the_test_beds_independent_codec_agrees() -> None:
    for name in ["Entwürfe", "日本語/メール", "a&b", "Ünïcödé & more", "\U0001f600 mail"]:
        assert encode_name(name).decode("ascii") == mutf7.encode(name)
        assert decode_name(mutf7.encode(name).encode("ascii")) == name
