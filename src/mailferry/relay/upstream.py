"""A small async SMTP/LMTP client for delivering spooled messages to one upstream.

It speaks just what relaying needs: EHLO/LHLO, STARTTLS when offered (certificates
verified unless the settings say otherwise; an upstream with `tls = "required"` gets no
mail without verified TLS), implicit TLS for smtps, MAIL/RCPT/DATA, and
LMTP's one reply per accepted recipient after DATA. Socket and TLS failures are
translated here, once, into `ConnectionLost` (retry later); a connection is reused for
the next message after RSET.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mailferry.errors import ConnectionLost, ProtocolError
from mailferry.urls import ServerURL

TIMEOUT = 60.0  # per reply; RFC 5321 suggests minutes, but a stuck upstream must not stall us
CHUNK = 64 * 1024  # message bytes read and sent at a time: what one delivery holds in memory


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


def dot_stuffed(message: BinaryIO) -> Iterator[bytes]:
    """The DATA payload in chunks: leading dots doubled, CRLF before the terminating dot.
    (The SMTP side refused bare CR and LF, so a dot can only start a line after LF.)"""
    last = b"\n"  # the byte before the chunk: the message starts a line
    tail = b""
    while chunk := message.read(CHUNK):
        stuffed = chunk.replace(b"\n.", b"\n..")
        if last == b"\n" and stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        tail = (tail + chunk)[-2:]
        last = chunk[-1:]
        yield stuffed
    yield (b"" if tail == b"\r\n" else b"\r\n") + b".\r\n"


def is_ascii(message: BinaryIO) -> bool:
    """Whether the rest of `message` is 7-bit (for BODY=8BITMIME); leaves it where it was."""
    start = message.tell()
    try:
        while chunk := message.read(CHUNK):
            if not chunk.isascii():
                return False
        return True
    finally:
        message.seek(start)


class TLSRefused(ConnectionLost):
    """The upstream cannot give the TLS it must: not offered, or not verified."""


class UpstreamClient:
    """One connection to an upstream. Use `deliver()`; it connects on first use."""

    def __init__(self, url: ServerURL, tls: ssl.SSLContext, helo_name: str,
                 timeout: float = TIMEOUT) -> None:
        self.url = url
        self.tls = tls
        self.helo_name = helo_name
        self.timeout = timeout
        self.lmtp = url.scheme == "lmtp"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.extensions: set[str] = set()

    async def deliver(self, mail_from: str, recipients: list[str], message: BinaryIO
                      ) -> dict[str, Reply]:
        """Send one message (read from `message` in chunks); returns the reply that
        decided each recipient's fate."""
        try:
            reset = self._writer is not None  # a reused connection starts with RSET
            if not reset:
                await self._connect()
            return await self._transaction(mail_from, recipients, message, reset=reset)
        except ssl.SSLError as exc:
            await self.close()
            raise TLSRefused(f"TLS failed: {exc}", server=str(self.url)) from exc
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            await self.close()
            raise ConnectionLost(str(exc) or type(exc).__name__, server=str(self.url)) from exc
        except (ConnectionLost, ProtocolError):
            await self.close()
            raise

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        try:
            writer.write(b"QUIT\r\n")
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 2)
        except (TimeoutError, OSError, ssl.SSLError):
            pass

    # -- protocol -------------------------------------------------------------------------

    async def _connect(self) -> None:
        implicit_tls = self.url.scheme == "smtps"
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(
            self.url.host, self.url.port, ssl=self.tls if implicit_tls else None,
            server_hostname=self.url.host if implicit_tls else None), self.timeout)
        greeting = await self._read_reply()
        if not greeting.ok:
            raise ConnectionLost(f"greeting {greeting}", server=str(self.url))
        await self._hello()
        if self.url.tls_required and "STARTTLS" not in self.extensions and not implicit_tls:
            raise TLSRefused("TLS is required for this upstream but it did not offer "
                             "STARTTLS; not delivering in clear text", server=str(self.url))
        if "STARTTLS" in self.extensions and not implicit_tls:
            await self._expect_ok("STARTTLS")
            assert self._writer is not None
            await self._writer.start_tls(self.tls, server_hostname=self.url.host)
            await self._hello()

    async def _hello(self) -> None:
        verb = "LHLO" if self.lmtp else "EHLO"
        reply = await self._command(f"{verb} {self.helo_name}")
        if not reply.ok:
            raise ConnectionLost(f"{verb} refused: {reply}", server=str(self.url))
        self.extensions = {line.split()[0].upper() for line in reply.text.splitlines()[1:]
                           if line.strip()}

    async def _transaction(self, mail_from: str, recipients: list[str], message: BinaryIO, *,
                           reset: bool) -> dict[str, Reply]:
        params = ""
        if "8BITMIME" in self.extensions and not is_ascii(message):
            params += " BODY=8BITMIME"
        if "SMTPUTF8" in self.extensions and not (mail_from + "".join(recipients)).isascii():
            params += " SMTPUTF8"
        commands = (["RSET"] if reset else []) + [f"MAIL FROM:<{mail_from}>{params}"]
        commands += [f"RCPT TO:<{rcpt}>" for rcpt in recipients] + ["DATA"]
        replies = await self._send_commands(commands)
        if reset and not replies.pop(0).ok:
            raise ConnectionLost("RSET refused", server=str(self.url))
        mail, data = replies[0], replies[-1]
        outcome = {rcpt: mail if not mail.ok else reply
                   for rcpt, reply in zip(recipients, replies[1:-1], strict=True)
                   if not (mail.ok and reply.ok)}
        accepted = [rcpt for rcpt in recipients if rcpt not in outcome]
        if data.code != 354:
            return outcome | dict.fromkeys(accepted, data)
        assert self._writer is not None
        # 354 with no recipient accepted (a server that does not follow RFC 2920): end it
        for chunk in dot_stuffed(message) if accepted else [b".\r\n"]:
            self._writer.write(chunk)
            await self._writer.drain()
        if not accepted:
            await self._read_reply()
        elif self.lmtp:  # one reply per accepted recipient, in RCPT order (RFC 2033)
            for rcpt in accepted:
                outcome[rcpt] = await self._read_reply()
        else:
            outcome.update(dict.fromkeys(accepted, await self._read_reply()))
        return outcome

    async def _send_commands(self, commands: list[str]) -> list[Reply]:
        """All at once when the server offers PIPELINING (RFC 2920), else one by one."""
        if "PIPELINING" not in self.extensions:
            return [await self._command(command) for command in commands]
        assert self._writer is not None
        self._writer.write(b"".join(command.encode("utf-8") + b"\r\n" for command in commands))
        await self._writer.drain()
        return [await self._read_reply() for _ in commands]

    async def _expect_ok(self, command: str) -> None:
        reply = await self._command(command)
        if not reply.ok:
            raise ConnectionLost(f"{command} refused: {reply}", server=str(self.url))

    async def _command(self, line: str) -> Reply:
        assert self._writer is not None
        self._writer.write(line.encode("utf-8") + b"\r\n")
        await self._writer.drain()
        return await self._read_reply()

    async def _read_reply(self) -> Reply:
        assert self._reader is not None
        lines = []
        while True:
            raw = await asyncio.wait_for(self._reader.readline(), self.timeout)
            if not raw.endswith(b"\n"):
                raise asyncio.IncompleteReadError(raw, None)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in ("", " ", "-"):
                raise ProtocolError(f"bad reply {line[:80]!r}", server=str(self.url))
            lines.append(line[4:])
            if line[3:4] != "-":
                return Reply(int(line[:3]), "\n".join(lines))
