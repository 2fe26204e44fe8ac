"""Fingerprints look at the header only: the text after the first blank line is cut off
before it is normalised (most of the cost of fingerprinting a copy was rewriting bodies that
were then thrown away). The cut must never change a fingerprint already in a state file:
header_block and robust_fingerprint (as issue 20 point 5 made it; kept in memory only) are
compared with their whole-text definitions (below) over the real-world corpus and over
every short mix of line ends, blanks and "From " lines, where a cut in the wrong place
would show."""

from __future__ import annotations

import hashlib
import itertools
import random
import re

from mailferry.engine.fingerprint import (
    BOOKKEEPING_FIELDS,
    HEADER_LIMIT,
    SINGLE_FIELDS,
    header_block,
    robust_fingerprint,
)
from testbed.corpus import corpus_files

_LINE_ENDS = re.compile(rb"\r\n|\r")
_TRAILING_BLANKS = re.compile(rb"[ \t]+\n")
_NUL_LIKE = re.compile(rb"[\x00\x80]")
_HIGH_RUN = re.compile(rb"[X\x80-\xff]+")
_WHITESPACE = re.compile(rb"\s+")


def whole_header_block(raw: bytes) -> bytes:
    text = _LINE_ENDS.sub(b"\n", raw[:HEADER_LIMIT])
    end = (b"\n" + text).find(b"\n\n")
    if end >= 0:
        text = text[:end]
    text = _NUL_LIKE.sub(b"", _TRAILING_BLANKS.sub(b"\n", text))
    return text.rstrip(b"\n") + b"\n"


def whole_robust_fingerprint(raw: bytes) -> str:
    text = _LINE_ENDS.sub(b"\n", raw[:HEADER_LIMIT])
    if text.startswith(b"From "):
        text = text.split(b"\n", 1)[1] if b"\n" in text else b""
    # a line of blanks ends the header, unless a folded line follows
    text = re.sub(rb"\n[ \t]+(?=\n(?![ \t]))", b"\n\n", text).lstrip(b" \t\n")
    while True:  # a first block of bookkeeping only (imap4d) is skipped
        end = text.find(b"\n\n")
        fields = re.split(rb"\n(?![ \t])", _NUL_LIKE.sub(b"", text[: end + 1] if end >= 0
                                                      else text))
        kept = [f for f in fields
                if f.strip() and f.partition(b":")[0].strip().lower() not in BOOKKEEPING_FIELDS]
        if kept or end < 0:
            break
        text = text[end:].lstrip(b" \t\n")
    parsed, once = [], set()
    for field_ in kept:  # as a parsing server keeps them (pymap)
        name, colon, _ = field_.split(b"\n", 1)[0].partition(b":")
        if not colon:
            break
        if name.strip().lower() in SINGLE_FIELDS:
            if name.strip().lower() in once:
                continue
            once.add(name.strip().lower())
        parsed.append(field_)
    block = _WHITESPACE.sub(b"", _HIGH_RUN.sub(b"X", b"\n".join(parsed))).lower()
    block = re.sub(rb":{2,}", b":", block)
    return "r" + hashlib.sha256(block).hexdigest()[:31]


def assert_same(raw: bytes) -> None:
    assert header_block(raw) == whole_header_block(raw), raw[:200]
    assert robust_fingerprint(raw) == whole_robust_fingerprint(raw), raw[:200]


def test_the_corpus_fingerprints_as_before() -> None:
    for path in corpus_files():
        raw = path.read_bytes()
        assert_same(raw)
        assert_same(raw.replace(b"\r\n", b"\n"))
        assert_same(raw.replace(b"\n", b"\r\n"))


def test_every_short_mix_of_line_ends_fingerprints_as_before() -> None:
    pieces = [b"\r\n", b"\n", b"\r", b" ", b"A: 1", b"From x", b"\t"]
    for length in range(1, 6):
        for combination in itertools.product(pieces, repeat=length):
            raw = b"".join(combination)
            assert_same(raw)
            assert_same(raw + b"B: 2\r\n\r\nbody\n")


def test_random_messages_fingerprint_as_before() -> None:
    rng = random.Random(20261201)
    alphabet = [b"\r", b"\n", b"\r\n", b" ", b"\t", b"X-UID: 4", b"Subject: a", b"\x80", b"\x00",
                b"From a@b", b"\xc3\xa9", b"x"]
    for _ in range(4000):
        raw = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        assert_same(raw)


def test_a_header_longer_than_the_limit_is_cut_where_it_was() -> None:
    head = b"X: " + b"a" * (HEADER_LIMIT - 1) + b"\n"
    for tail in (b"\n\nbody", b"\r\rbody", b"\n\rbody", b"\r\n\r\nbody"):
        assert_same(head + tail)
        assert_same(b"From a\n" + head + tail)
        assert_same(head[:-4] + tail)
