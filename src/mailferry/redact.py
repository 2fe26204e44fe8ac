"""Secrets kept out of messages: a URL the user wrote, shown back without its password.

Used wherever a URL we could not accept is echoed in an error (command-line URLs,
migration.toml). It works on text that does not parse as a URL too: that is exactly when
it is needed.
"""

from __future__ import annotations

_HIDDEN = "***"


def mask_url(text: str) -> str:
    """`text` with the password part of `scheme://user:password@host...` replaced by ***.

    The user information ends at the last '@' (a password may hold '@', '/' or ':'); the
    password starts at the first ':' after the '//' (or after the start when there is no
    '//'). Without an '@', a ':' followed by something other than a port's digits may still
    be a password written without a host: it is masked too."""
    start = text.find("//")
    start = start + 2 if start >= 0 else 0
    at = text.rfind("@")
    if at >= start:
        userinfo = text[start:at]
        colon = userinfo.find(":")
        if colon < 0:
            return text
        return f"{text[:start]}{userinfo[:colon]}:{_HIDDEN}{text[at:]}"
    end = len(text)
    for stop in "/?#":
        found = text.find(stop, start)
        if found >= 0:
            end = min(end, found)
    authority = text[start:end]
    host_end = authority.find("]") + 1 if authority.startswith("[") else 0  # [IPv6]
    colon = authority.find(":", host_end)
    if colon < 0 or authority[colon + 1:].isdigit():
        return text
    return f"{text[:start]}{authority[:colon]}:{_HIDDEN}{text[end:]}"


def mask_value(value: object) -> object:
    """A configuration value with every string in it masked (for "expected ..., got X")."""
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v) for v in value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    return value
