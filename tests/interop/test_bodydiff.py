"""The checker's classes of body difference, table-driven on byte strings."""

from __future__ import annotations

import pytest

from testbed.bodydiff import classify

MSG = b"From: a@example.org\r\nSubject: hello\r\nMessage-ID: <1@x>\r\n\r\nline one\r\nline two\r\n"

CASES = [
    ("identical", MSG, MSG, ()),
    ("crlf to lf", MSG, MSG.replace(b"\r\n", b"\n"), ("line_endings",)),
    ("lf to crlf", MSG.replace(b"\r\n", b"\n"), MSG, ("line_endings",)),
    ("bare cr normalised", b"A: b\r\n\r\nx\ry\r\n", b"A: b\r\n\r\nx\r\ny\r\n", ("line_endings",)),
    ("final newline added", MSG[:-2], MSG, ("final_newline",)),
    ("final newline removed", MSG, MSG[:-2], ("final_newline",)),
    ("extra final newline", MSG, MSG + b"\r\n", ("final_newline",)),
    ("lf body and final crlf added", MSG[:-2].replace(b"\r\n", b"\n"), MSG,
     ("line_endings", "final_newline")),
    ("8-bit header bytes replaced", MSG.replace(b"hello", "héllo".encode()),
     MSG.replace(b"hello", b"hXXllo"), ("eight_bit",)),
    ("8-bit in the body kept, header replaced",
     MSG.replace(b"hello", "é".encode()).replace(b"line one", "é".encode()),
     MSG.replace(b"hello", b"XX").replace(b"line one", "é".encode()), ("eight_bit",)),
    ("header injected", MSG, b"X-Imported: yes\r\n" + MSG, ("headers",)),
    ("header dropped", MSG, MSG.replace(b"Message-ID: <1@x>\r\n", b""), ("headers",)),
    ("header re-folded", MSG, MSG.replace(b"Subject: hello", b"Subject:\r\n hello"),
     ("headers",)),
    ("from line dropped", b"From a@b Mon Jan  1 00:00:00 2001\r\n" + MSG, MSG, ("from_line",)),
    ("from line dropped, lf bodies", b"From a@b Mon Jan  1 00:00:00 2001\n"
     + MSG.replace(b"\r\n", b"\n"), MSG, ("from_line", "line_endings")),
    ("text changed", MSG, MSG.replace(b"line two", b"line 2"), ("other",)),
    ("everything at once",
     b"From x\n" + MSG.replace(b"hello", "ü".encode()).replace(b"\r\n", b"\n"),
     b"X-New: 1\r\n" + MSG.replace(b"hello", b"XX").replace(b"line two", b"changed"),
     ("from_line", "line_endings", "eight_bit", "headers", "other")),
    ("no header block", b"\r\njust a body\r\n", b"\njust a body\n", ("line_endings",)),
]


@pytest.mark.parametrize(("source", "target", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_classify(source: bytes, target: bytes, expected: tuple[str, ...]) -> None:
    assert classify(source, target) == expected
