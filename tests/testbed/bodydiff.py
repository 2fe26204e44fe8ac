"""What a server did to a message's bytes: the classes of difference between two BODY[]s.

`classify(source, target)` peels known rewrites off both sides in a fixed order and names
each one that was needed; whatever is left is "other". Classes:

  from_line      a leading mbox "From " line dropped (or added)
  line_endings   CRLF vs bare LF / bare CR
  final_newline  a final line ending added or removed
  eight_bit      raw 8-bit bytes in the header block replaced (Cyrus writes 'X')
  headers        header fields injected, dropped or re-folded
  other          anything else (the body text itself changed)
"""

from __future__ import annotations

import re

CLASSES = ("from_line", "line_endings", "final_newline", "eight_bit", "headers", "other")

_LINE_END = re.compile(rb"\r\n|\r|\n")
_HIGH = re.compile(rb"[\x80-\xff]")


def _without_from_line(raw: bytes) -> bytes:
    return raw.split(b"\n", 1)[1] if b"\n" in raw else b""


def _to_lf(raw: bytes) -> bytes:
    return _LINE_END.sub(b"\n", raw)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body of an LF-only message (the body keeps its leading blank line)."""
    if raw.startswith(b"\n"):
        return b"", raw
    head, sep, body = raw.partition(b"\n\n")
    return head, sep + body


def header_fields(head: bytes) -> list[bytes]:
    """Unfolded fields, whitespace runs collapsed, names lower-cased: what re-folding keeps."""
    unfolded = re.sub(rb"\n[ \t]", b" ", head)
    fields = []
    for line in unfolded.split(b"\n"):
        name, colon, value = line.partition(b":")
        text = name.strip().lower() + colon + b" " + b" ".join(value.split())
        fields.append(text.strip())
    return fields


def classify(source: bytes, target: bytes) -> tuple[str, ...]:
    """The classes of rewrite that turn `source` into `target`; () when identical."""
    found: list[str] = []
    s, t = source, target
    if s.startswith(b"From ") != t.startswith(b"From "):
        found.append("from_line")
        s = _without_from_line(s) if s.startswith(b"From ") else s
        t = _without_from_line(t) if t.startswith(b"From ") else t
    s_ends, t_ends = set(_LINE_END.findall(s)), set(_LINE_END.findall(t))
    if s_ends and t_ends and s_ends != t_ends:
        found.append("line_endings")
    s, t = _to_lf(s), _to_lf(t)
    if s == t:
        return tuple(found)
    if len(s) - len(s.rstrip(b"\n")) != len(t) - len(t.rstrip(b"\n")):
        found.append("final_newline")
        s, t = s.rstrip(b"\n"), t.rstrip(b"\n")
    (s_head, s_body), (t_head, t_body) = _split(s), _split(t)
    if len(_HIGH.findall(s_head)) != len(_HIGH.findall(t_head)):
        found.append("eight_bit")
        s_head, t_head = _HIGH.sub(b"X", s_head), _HIGH.sub(b"X", t_head)
    if s_head != t_head:
        found.append("headers")
    if s_body != t_body:
        found.append("other")
    return tuple(found)
