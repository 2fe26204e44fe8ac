"""Modified UTF-7 mailbox names (RFC 3501 5.1.3), stdlib only: the test bed names folders
without mailferry's or imapclient's codec, so neither is checked with itself."""

from __future__ import annotations

import base64


def encode(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode(name: str) -> str:
    out: list[str] = []
    rest = name
    while rest:
        start = rest.find("&")
        if start < 0:
            out.append(rest)
            break
        out.append(rest[:start])
        end = rest.find("-", start)
        if end < 0:  # not valid modified UTF-7: keep it as it came
            out.append(rest[start:])
            break
        chunk = rest[start + 1:end]
        if not chunk:
            out.append("&")
        else:
            padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
            out.append(base64.b64decode(padded).decode("utf-16-be", errors="replace"))
        rest = rest[end + 1:]
    return "".join(out)
