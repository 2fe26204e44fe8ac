"""Fingerprints and the fields read from a header block, by tables (found by mutation
testing: each row fails when one operator or constant in engine/fingerprint.py changes)."""

from __future__ import annotations

import pytest

from mailferry.engine.fingerprint import (
    HEADER_LIMIT,
    below_delivery_fields,
    body_digest,
    header_block,
    message_id,
    relayed_fingerprint,
    subject,
)


@pytest.mark.parametrize(("raw", "block"), [
    # the blank line ends the block; what follows is the body
    (b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore", b"A: 1\nB: 2\n"),
    # a message that starts with the blank line has an empty header block
    (b"\r\nbody: not a header\r\n", b"\n"),
    (b"\n\nX: y\n", b"\n"),
    # bare CR and bare LF are line ends as CRLF is
    (b"A: 1\rB: 2\r\rbody", b"A: 1\nB: 2\n"),
    # no blank line: the whole text is the block, trailing line ends made one
    (b"A: 1\r\nB: 2\r\n\r\n", b"A: 1\nB: 2\n"),
    (b"A: 1\nB: 2", b"A: 1\nB: 2\n"),
    # trailing blanks go, inner ones stay; NUL and 0x80 go
    (b"A: x y \t\r\nB: \x00z\x80\r\n\r\n", b"A: x y\nB: z\n"),
    # only line ends are trimmed at the end of the block, not other blank bytes
    (b"A: 1\r\nB:\t", b"A: 1\nB:\t\n"),
])
def test_header_block(raw: bytes, block: bytes) -> None:
    assert header_block(raw) == block


def test_header_block_is_cut_at_the_limit() -> None:
    long_header = b"X: " + b"a" * (HEADER_LIMIT + 10) + b"\r\n\r\nbody"
    assert header_block(long_header) == b"X: " + b"a" * (HEADER_LIMIT - 3) + b"\n"


@pytest.mark.parametrize(("raw", "wanted"), [
    (b"Message-ID: <a@x>\r\n\r\n", "<a@x>"),
    (b"message-id:<a@x>\r\n\r\n", "<a@x>"),
    (b"Message-ID:\r\n <folded@x>\r\nSubject: s\r\n\r\n", "<folded@x>"),
    (b"Message-ID: <a\r\n\t b@x>\r\n\r\n", "<a b@x>"),  # folding whitespace becomes one blank
    (b"Message-ID: <\xff@x>\r\n\r\n", "<\ufffd@x>"),  # undecodable bytes are replaced
    (b"Message-ID:   \r\n\r\n", None),  # empty
    (b"Subject: no id\r\n\r\nMessage-ID: <in-body@x>\r\n", None),  # body lines are no header
    (b"X-Message-ID: <x@x>\r\n\r\n", None),
])
def test_message_id(raw: bytes, wanted: str | None) -> None:
    assert message_id(raw) == wanted


@pytest.mark.parametrize(("raw", "wanted"), [
    (b"Subject: hello\r\n\r\n", "hello"),
    (b"SUBJECT:hello\r\n\r\n", "hello"),
    (b"Subject: a\r\n  folded\tline\r\nX: y\r\n\r\n", "a folded line"),
    (b"Subject: caf\xc3\xa9 \xff\r\n\r\n", "caf\u00e9 \ufffd"),
    (b"Subject: " + b"s" * 300 + b"\r\n\r\n", "s" * 200),
    (b"X-Subject: nope\r\n\r\n", None),
    (b"From: a\r\n\r\nSubject: in the body\r\n", None),
])
def test_subject(raw: bytes, wanted: str | None) -> None:
    assert subject(raw) == wanted


TRACE = b"Return-Path: <a@x>\nReceived: from a\n\tby b\nX-Spam-Score: 1\n"


@pytest.mark.parametrize(("block", "rest"), [
    (TRACE + b"Subject: s\nFrom: f\n", b"Subject: s\nFrom: f\n"),
    # a field name is matched without case, and only before the first colon
    (b"RECEIVED: x: y\nSubject: s\n", b"Subject: s\n"),
    (b"Subject: received: x\nReceived: y\n", None),  # the run must start at the top
    # a line without a colon ends the run (and is not a delivery field)
    (b"Received: a\nnot a field\nSubject: s\n", b"not a field\nSubject: s\n"),
    (b"no colon at all\nSubject: s\n", None),
    # prefixes: any X-Spam-*, X-Rspamd-*, ... field
    (b"X-Rspamd-Queue-Id: 1\nX-Virus-Scanned: yes\nSubject: s\n", b"Subject: s\n"),
    # nothing left below the run, or only blank lines
    (TRACE, None),
    (TRACE + b"\n\n", None),
    (b"", None),
])
def test_below_delivery_fields(block: bytes, rest: bytes | None) -> None:
    assert below_delivery_fields(block) == rest


def test_relayed_fingerprint_ignores_the_run_and_nothing_else() -> None:
    old = relayed_fingerprint(b"Received: by old\nSubject: s\n")
    assert old is not None and old == relayed_fingerprint(b"Delivered-To: a\nReceived: by new"
                                                          b"\n\tfolded\nSubject: s\n")
    assert old != relayed_fingerprint(b"Received: by old\nSubject: t\n")
    assert relayed_fingerprint(b"Subject: s\n") is None


@pytest.mark.parametrize(("a", "b", "same"), [
    (b"A: 1\r\n\r\nbody\r\nline", b"B: 2\n\nbody\nline", True),  # headers never count
    (b"A: 1\r\rbody", b"A: 1\n\nbody", True),  # CR CR ends a header block too
    (b"A: 1\r\n\r\nnul\x00here", b"A: 1\r\n\r\nnul\x80here", True),
    (b"A: 1\r\n\r\nbody", b"A: 1\r\n\r\nbodY", False),
    (b"no header end", b"", True),  # nothing below a header block: the empty text
    (b"no header end", b"A: 1\r\n\r\n", True),
    (b"A: 1\r\n\r\nnul\x00here", b"A: 1\r\n\r\nnulhere", True),  # NUL dropped, not replaced
])
def test_body_digest(a: bytes, b: bytes, same: bool) -> None:
    assert (body_digest(a) == body_digest(b)) is same
