"""Which appended messages the read-back fetches again: the kinds servers rewrite, decided
from the bytes alone (no server)."""

from __future__ import annotations

import pytest

from mailferry.engine.readback import eight_bit_header, rewrite_classes, rewrite_prone

PLAIN = b"From: a@x\r\nSubject: s\r\n\r\n"


# prone: read back on a target not yet seen keeping an 8-bit header; trusted: on one that was
@pytest.mark.parametrize(("raw", "eight_bit", "prone", "trusted"), [
    (PLAIN + b"text\r\n", False, False, False),
    # 8-bit bytes in the body only (CRLF mail: the header ends at CRLF CRLF)
    (PLAIN + b"caf\xc3\xa9\r\n" * 10, False, False, False),
    (b"From: a@x\nSubject: s\n\ncaf\xc3\xa9\n", False, True, True),  # bare LF
    (b"From: Chlo\xc3\xa9 <c@x>\r\nSubject: s\r\n\r\ntext\r\n", True, True, False),
    (b"From: Chlo\xc3\xa9 <c@x>\nSubject: s\n\ntext\n", True, True, True),  # and bare LF
    (PLAIN + b"a\x00b\r\n", False, True, True),
    (PLAIN + b"no final line end", False, True, True),
    (b"From sender Mon Jan  1 00:00:00 2024\r\n" + PLAIN + b"t\r\n", False, True, True),
])
def test_rewrite_prone(raw: bytes, eight_bit: bool, prone: bool, trusted: bool) -> None:
    assert eight_bit_header(raw) is eight_bit
    assert rewrite_prone(raw) is prone
    assert rewrite_prone(raw, eight_bit=False) is trusted


@pytest.mark.parametrize(("sent", "stored", "classes"), [
    (PLAIN + b"t\r\n", PLAIN + b"t\r\n", []),
    (PLAIN + b"t\r\n", PLAIN.replace(b"\r\n", b"\n") + b"t\n", ["line_endings"]),
    (PLAIN + b"t", PLAIN + b"t\r\n", ["final_newline"]),
    (b"From: Chlo\xc3\xa9\r\n\r\nt\r\n", b"From: ChloXX\r\n\r\nt\r\n", ["eight_bit"]),
    (PLAIN + b"t\r\n", b"X-Added: 1\r\n" + PLAIN + b"t\r\n", ["headers"]),
    (PLAIN + b"t\r\n", PLAIN + b"u\r\n", ["other"]),
])
def test_rewrite_classes(sent: bytes, stored: bytes, classes: list[str]) -> None:
    assert rewrite_classes(sent, stored) == classes
