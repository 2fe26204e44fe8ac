"""Access to the dashboard: one token, given once in the address, then a cookie.

- `GET /any/path?token=T` with the right T (compared in constant time) answers 303 to the
  same path without the token and sets a cookie: HttpOnly (no script reads it),
  SameSite=Strict (no other site's page sends it), Secure under TLS. The cookie holds an
  HMAC of the token, never the token itself.
- Every other request without that cookie gets 401 and a body with no data in it: pages,
  live updates, static files alike. Only /once/… (one-time links, which carry their own
  token) is open.
- Forms that change something (pause/resume a wave) carry a CSRF value, an HMAC of the
  token for another purpose, checked in constant time, and must come from our own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "mailferry_dashboard"
OPEN_PREFIXES = ("/once/",)
DENIED = (b"mailferry dashboard: access denied. Open the address that `mailferry serve` "
          b"printed (it carries the access token).\n")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _derive(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


class Access:
    """What the token allows: a session cookie value and a CSRF value derived from it."""

    def __init__(self, token: str) -> None:
        if len(token) < 16:
            raise ValueError("the dashboard token must have at least 16 characters")
        self._token = token
        self.session = _derive(token, "session")
        self.csrf = _derive(token, "csrf")

    def token_ok(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._token.encode())

    def session_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(),
                                                             self.session.encode())

    def csrf_ok(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(),
                                                             self.csrf.encode())


def same_origin(headers: Headers, secure: bool) -> bool:
    """A browser's POST names its origin; it must be this server (absent: not a browser)."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return origin == f"{'https' if secure else 'http'}://{headers.get('host', '')}"


class TokenGate:
    """ASGI middleware in front of the whole app."""

    def __init__(self, app: ASGIApp, access: Access, *, secure: bool) -> None:
        self.app = app
        self.access = access
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no cookie
            cookies = SimpleCookie()
        morsel = cookies.get(COOKIE)
        if self.access.session_ok(morsel.value if morsel else None):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        given = [value for key, value in query if key == "token"]
        if scope["type"] == "http" and given and self.access.token_ok(given[-1]):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            await _redirect_with_cookie(send, scope["path"] + (f"?{rest}" if rest else ""),
                                        self._cookie())
            return
        await _deny(scope, send)

    def _cookie(self) -> str:
        flags = "; Secure" if self.secure else ""
        return f"{COOKIE}={self.access.session}; Path=/; HttpOnly; SameSite=Strict{flags}"


async def _redirect_with_cookie(send: Send, location: str, cookie: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [
        (b"location", location.encode("latin-1", "replace")),
        (b"set-cookie", cookie.encode()), (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _deny(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(DENIED)).encode()), (b"cache-control", b"no-store"),
        (b"www-authenticate", b'Cookie realm="mailferry"')]})
    await send({"type": "http.response.body", "body": DENIED})
