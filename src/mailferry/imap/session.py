"""One IMAP connection: TLS, login, commands, streaming FETCH, pipelined (MULTI)APPEND.

Hand-written on a socket rather than on imaplib or imapclient, for reasons measured in
docs/imap-client.md: imapclient's response parser costs ~6x the CPU of reading literals by length,
and imaplib can neither MULTIAPPEND, pipeline APPENDs with LITERAL+, nor stream a FETCH
(it holds the whole response). Everything protocol-shaped that can be pure lives in
`wire.py`; socket and TLS errors are translated to mailferry errors in one place here.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from types import TracebackType

from mailferry.errors import (
    AuthenticationFailed,
    AuthorizationFailed,
    CertificateError,
    CommandFailed,
    CommandTimeout,
    ConnectError,
    ConnectionLost,
    InsecureConnection,
    MailferryError,
    ProtocolError,
    TryAgainLater,
)
from mailferry.imap.address import Account, Credentials, TlsPolicy, WriteGuard
from mailferry.imap.reader import (
    ConnectionClosed,
    DeadlinePassed,
    Reader,
    SessionLimits,
    SkippedLiteral,
)
from mailferry.imap.wire import (
    FetchItem,
    ListEntry,
    Namespace,
    Response,
    astring,
    parse_fetch,
    parse_uid_set,
    quote,
    response_code,
)
from mailferry.urls import ServerURL

log = logging.getLogger("mailferry.imap")
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r\n$")
MAX_LINE = 8 << 20  # a plain SEARCH answer for 1M messages is ~7 MB on one line
# response codes (RFC 5530) after which trying again later may succeed, and those that say
# it will not (whatever words follow them)
_TRANSIENT_CODES = {"UNAVAILABLE", "INUSE", "THROTTLED"}
_LASTING_CODES = {"AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED", "EXPIRED", "PRIVACYREQUIRED",
                  "CONTACTADMIN", "NOPERM", "LIMIT", "OVERQUOTA", "ALREADYEXISTS", "NONEXISTENT",
                  "CANNOT", "CLIENTBUG", "TRYCREATE", "TOOBIG"}
_TRANSIENT_WORDS = re.compile(rb"try again|temporar|throttl|too many|later|backoff", re.I)
# Microsoft 365: "Request is throttled. Suggested Backoff Time: 92415 milliseconds"
_SUGGESTED_BACKOFF = re.compile(rb"suggested backoff time:\s*(\d+)\s*milli", re.I)
# commands that change a mailbox: each piece of them is sent only if the write guard allows
_WRITES = frozenset({"APPEND", "STORE", "UID STORE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
                     "UNSUBSCRIBE", "EXPUNGE", "UID EXPUNGE", "COPY", "UID COPY", "MOVE",
                     "UID MOVE"})


@dataclass(frozen=True)
class AppendMessage:
    body: bytes
    flags: tuple[str, ...] = ()
    internaldate: str | None = None  # as FETCH INTERNALDATE gave it: passed on verbatim


@dataclass(frozen=True)
class AppendResult:
    uid: int | None  # APPENDUID, when the server has UIDPLUS
    error: str | None = None  # the server's words when it refused this message
    transient: bool = False  # "try again later"
    delay: float | None = None  # the wait the server suggested, if it did


@dataclass(frozen=True)
class Tagged:
    status: bytes  # OK / NO / BAD
    text: bytes

    @property
    def code(self) -> tuple[str, bytes] | None:
        return response_code(self.text)


@dataclass(frozen=True)
class Selected:
    uidvalidity: int
    uidnext: int | None
    exists: int
    permanent_flags: frozenset[str]
    highestmodseq: int | None


class ImapSession:
    def __init__(self, endpoint: ServerURL, credentials: Credentials, tls: TlsPolicy,
                 *, limits: SessionLimits | None = None,
                 write_guard: WriteGuard | None = None) -> None:
        self.endpoint = endpoint
        self.credentials = credentials
        self.tls = tls
        self.limits = limits or SessionLimits()
        self.write_guard = write_guard
        self.capabilities: frozenset[str] = frozenset()
        self._sock: socket.socket | None = None
        self._reader: Reader | None = None
        self._tag = 0

    # -- connection ----------------------------------------------------------------------

    def connect(self) -> ImapSession:
        where = str(self.endpoint)
        try:
            raw = socket.create_connection((self.endpoint.host, self.endpoint.port),
                                           timeout=self.limits.read_timeout)
        except OSError as exc:
            raise ConnectError(f"cannot connect: {exc.strerror or exc}", server=where) from None
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._attach(raw)
        try:
            if self.endpoint.implicit_tls:
                self._start_tls(raw)
            greeting = self._read_response()
            if not greeting.head.startswith((b"* OK", b"* PREAUTH")):
                raise ConnectError(f"refused: {greeting.head.strip().decode(errors='replace')}",
                                   server=where)
            self._capabilities_from(greeting.head)
            if not self.endpoint.implicit_tls:
                if "STARTTLS" in self.capabilities:
                    self.command(b"STARTTLS")
                    self._start_tls(raw)
                    self.capabilities = frozenset()
                elif not (self.endpoint.is_loopback or self.tls.allow_plaintext):
                    raise InsecureConnection(
                        "offers no STARTTLS: refusing to send the password in clear text to a"
                        " non-loopback host (use imaps://, or --allow-plaintext if you must)",
                        server=where)
            self._login()
        except ConnectionLost as exc:
            self.close()
            raise ConnectError(f"connection lost while logging in: {exc}", server=where) from None
        except MailferryError:
            self.close()
            raise
        return self

    def _attach(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = Reader(sock, self.limits)  # a new one after STARTTLS

    def _start_tls(self, raw: socket.socket) -> None:
        context = ssl.create_default_context(cafile=self.tls.ca_file)
        if not self.tls.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        raw.settimeout(self.limits.read_timeout)
        try:
            wrapped = context.wrap_socket(raw, server_hostname=self.endpoint.host)
        except ssl.SSLCertVerificationError as exc:
            raise CertificateError(
                f"TLS certificate not trusted: {exc.verify_message} (--insecure to skip the"
                " check, at your own risk)", server=str(self.endpoint)) from None
        except (ssl.SSLError, OSError) as exc:
            raise ConnectError(f"TLS handshake failed: {exc}", server=str(self.endpoint)) from None
        self._attach(wrapped)

    def _login(self) -> None:
        if not self.capabilities:
            self._refresh_capabilities()
        creds = self.credentials
        mechanism = creds.mechanism
        try:
            if mechanism == "xoauth2":
                self._xoauth2(creds.secret)
            elif mechanism == "master" or "AUTH=PLAIN" in self.capabilities:
                authzid = creds.user if mechanism == "master" else ""
                authcid = (creds.login_user or creds.user) if mechanism == "master" else creds.user
                blob = f"{authzid}\0{authcid}\0{creds.secret}".encode()
                self._authenticate(b"PLAIN", base64.b64encode(blob))
            else:
                self.command(b"LOGIN", astring(creds.user), astring(creds.secret),
                             name="LOGIN")
        except TryAgainLater as exc:
            if exc.delay is None and not _transient_code(exc.text):
                # hopeful words alone ("failed, try again") after a NO to LOGIN: a refusal,
                # and retrying refused logins locks accounts at the old provider
                raise AuthenticationFailed(f"login as {creds.user!r} refused: {exc.text}",
                                           server=str(self.endpoint)) from None
            raise ConnectError(f"login as {creds.user!r}: {exc.text}",  # busy: log in later
                               server=str(self.endpoint), delay=exc.delay) from None
        except CommandFailed as exc:
            raise AuthenticationFailed(f"login as {creds.user!r} refused: {exc.text}",
                                       server=str(self.endpoint)) from None
        self._refresh_capabilities()  # they change after login

    def _xoauth2(self, token: str) -> None:
        blob = f"user={self.credentials.user}\x01auth=Bearer {token}\x01\x01".encode()
        try:
            self._authenticate(b"XOAUTH2", base64.b64encode(blob))
        except CommandFailed:
            if self.credentials.refresh is None:
                raise
            fresh = self.credentials.refresh()
            blob = f"user={self.credentials.user}\x01auth=Bearer {fresh}\x01\x01".encode()
            self._authenticate(b"XOAUTH2", base64.b64encode(blob))

    def _authenticate(self, mechanism: bytes, initial: bytes) -> None:
        if "SASL-IR" in self.capabilities:
            self.command(b"AUTHENTICATE", mechanism, initial, name="AUTHENTICATE")
            return
        tag = self._send([b"AUTHENTICATE " + mechanism], "AUTHENTICATE")
        response = self._read_response()
        if not response.head.startswith(b"+"):
            self._finish(tag, first=response)
            return
        self._write(initial + b"\r\n")
        self._finish(tag)

    def _capabilities_from(self, text: bytes) -> bool:
        code = response_code(text)
        if code and code[0] == "CAPABILITY":
            self.capabilities = frozenset(code[1].decode().upper().split())
            return True
        return False

    def _refresh_capabilities(self) -> None:
        untagged, tagged = self.command(b"CAPABILITY")
        for response in untagged:
            if response.head.upper().startswith(b"* CAPABILITY"):
                self.capabilities = frozenset(response.head.decode().upper().split()[2:])
        self._capabilities_from(tagged.text)

    def list_folders(self) -> tuple[list[ListEntry], set[bytes], Namespace]:
        """Every mailbox (with special-use attributes), the subscribed names, the namespace."""
        from mailferry.imap.mailboxes import mailbox_listing, personal_namespace

        entries, subscribed = mailbox_listing(self)
        return entries, subscribed, personal_namespace(self, entries)

    def status(self, mailbox: bytes) -> dict[str, int]:
        from mailferry.imap.mailboxes import mailbox_status

        return mailbox_status(self, mailbox)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._sock is not None:
                self._sock.close()
        self._sock = None
        self._reader = None

    def logout(self) -> None:
        with contextlib.suppress(MailferryError):
            if self._sock is not None:
                self.command(b"LOGOUT")
        self.close()

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.logout()

    # -- low level ------------------------------------------------------------------------

    def _lost(self, exc: BaseException, command: str) -> ConnectionLost:
        self.close()
        return ConnectionLost(f"connection lost: {exc}", server=str(self.endpoint),
                              command=command)

    def _write(self, data: bytes, command: str = "") -> None:
        if self._sock is None:
            raise ConnectionLost("not connected", server=str(self.endpoint), command=command)
        if self.write_guard is not None and command in _WRITES:
            try:
                self.write_guard.check()
            except MailferryError:
                self.close()  # mid-command: dropping the connection makes the server discard it
                raise
        # sendall's timeout bounds the whole call: allow for the size at the minimum rate
        limits = self.limits
        self._sock.settimeout(max(limits.read_timeout,
                                  limits.command_timeout + len(data) / max(1, limits.min_rate)))
        try:
            self._sock.sendall(data)
        except (OSError, ssl.SSLError) as exc:
            raise self._lost(exc, command) from None

    def _reading(self, command: str) -> Reader:
        if self._reader is None:
            raise ConnectionLost("not connected", server=str(self.endpoint), command=command)
        return self._reader

    def _readline(self, command: str) -> bytes:
        reader = self._reading(command)
        try:
            line = reader.readline(MAX_LINE)
        except DeadlinePassed as exc:
            self.close()
            raise CommandTimeout(str(exc), server=str(self.endpoint), command=command) from None
        except (OSError, ssl.SSLError, ValueError, ConnectionClosed) as exc:
            raise self._lost(exc, command) from None
        if not line.endswith(b"\n"):
            raise ProtocolError(f"line longer than {MAX_LINE} bytes", server=str(self.endpoint),
                                command=command)
        return line

    def _read_response(self, command: str = "", max_literal: int | None = None) -> Response:
        """One response, literals read by length (never parsed); a literal above
        `max_literal` (default: the session's cap) is skipped and stands as SkippedLiteral."""
        cap = self.limits.max_literal if max_literal is None else max_literal
        line = self._readline(command)
        response = Response([line])
        while True:
            match = _LITERAL_AT_END.search(line)
            if not match:
                return response
            size = int(match.group(1))
            reader = self._reading(command)
            try:
                if size > cap:
                    reader.skip(size)
                    response.literals.append(SkippedLiteral(size))
                else:
                    response.literals.append(reader.read_exact(size))
            except DeadlinePassed as exc:
                self.close()
                raise CommandTimeout(str(exc), server=str(self.endpoint),
                                     command=command) from None
            except (OSError, ssl.SSLError, ValueError, ConnectionClosed) as exc:
                raise self._lost(exc, command) from None
            line = self._readline(command)
            response.parts.append(line)

    def _next_tag(self, name: str) -> bytes:
        self._tag += 1
        if self._reader is not None:
            self._reader.start_command()
        log.debug("%s: %s", self.endpoint, name)  # the name only: arguments may be secrets
        return b"M%d" % self._tag

    def _send(self, pieces: Sequence[bytes], name: str) -> bytes:
        """Send a command whose arguments need no synchronizing literal."""
        tag = self._next_tag(name)
        self._write(tag + b" " + b"".join(pieces) + b"\r\n", name)
        return tag

    def _finish(self, tag: bytes, first: Response | None = None,
                name: str = "") -> tuple[list[Response], Tagged]:
        untagged: list[Response] = []
        response = first or self._read_response(name)
        while True:
            head = response.head
            if head.startswith(tag + b" "):
                status, _, text = head[len(tag) + 1:].rstrip(b"\r\n").partition(b" ")
                tagged = Tagged(status.upper(), text)
                if tagged.status != b"OK":
                    raise self._failed(name, tagged)
                return untagged, tagged
            if head.startswith(b"* BYE"):
                raise self._lost(EOFError(head.strip().decode(errors="replace")), name)
            if head.startswith(b"*"):
                untagged.append(response)
            response = self._read_response(name)

    def _failed(self, name: str, tagged: Tagged) -> CommandFailed:
        return refusal(name, tagged.status, tagged.text, server=str(self.endpoint))

    def command(self, verb: bytes, *args: bytes, name: str | None = None,
                ) -> tuple[list[Response], Tagged]:
        """Run one command whose arguments need no synchronizing literal."""
        label = name or verb.decode()
        pieces = [verb] + [b" " + a for a in args]
        if any(b"}\r\n" in a for a in args) and "LITERAL+" not in self.capabilities:
            return self._command_sync_literals(b"".join(pieces), label)
        tag = self._send(pieces, label)
        return self._finish(tag, name=label)

    def _command_sync_literals(self, line: bytes, name: str) -> tuple[list[Response], Tagged]:
        # Without LITERAL+: send up to each literal marker, wait for the server's "+".
        pieces = re.split(rb"\{(\d+)\+\}\r\n", line)
        tag = self._next_tag(name)
        self._write(tag + b" " + pieces[0] + b"{%d}\r\n" % int(pieces[1]), name)
        for pos in range(1, len(pieces) - 1, 2):
            response = self._read_response(name)
            if not response.head.startswith(b"+"):
                return self._finish(tag, first=response, name=name)
            rest = pieces[pos + 1]
            more = b"{%d}\r\n" % int(pieces[pos + 2]) if pos + 2 < len(pieces) else b"\r\n"
            self._write(rest + more, name)
        return self._finish(tag, name=name)

    # -- mailbox commands ---------------------------------------------------------------

    def select(self, mailbox: bytes, *, readonly: bool) -> Selected:
        verb = b"EXAMINE" if readonly else b"SELECT"
        args = [astring(mailbox)]
        if "CONDSTORE" in self.capabilities:
            args.append(b"(CONDSTORE)")
        try:
            untagged, tagged = self.command(verb, *args)
        except CommandFailed as exc:
            # Dovecot auto-creates special-use folders on first access and a concurrent
            # session can lose that race: the folder exists now, so once more
            if "ALREADYEXISTS" not in exc.text.upper():
                raise
            untagged, tagged = self.command(verb, *args)
        return _selected_from(untagged, tagged)

    def unselect(self, mailbox: bytes) -> None:
        """Leave the selected `mailbox` without expunging anything: UNSELECT (RFC 3691) where
        offered, else EXAMINE it and CLOSE (closing a read-only mailbox expunges nothing)."""
        if "UNSELECT" in self.capabilities:
            self.command(b"UNSELECT")
            return
        self.select(mailbox, readonly=True)
        self.command(b"CLOSE")

    def uid_search_all(self) -> list[int]:
        """Every UID of the selected mailbox."""
        return self.uid_search(b"ALL")

    def uid_search(self, criteria: bytes) -> list[int]:
        """UIDs of the selected mailbox matching `criteria` (b"ALL", b"UID 7:*"). With
        ESEARCH the answer is a compact set ("1:90000,90002"), not one number per message
        on a single line."""
        if "ESEARCH" in self.capabilities:
            untagged, _ = self.command(b"UID SEARCH", b"RETURN (ALL) " + criteria,
                                       name="UID SEARCH")
            for response in untagged:
                words = response.head.split()
                if len(words) > 1 and words[1].upper() == b"ESEARCH":
                    upper = [w.upper() for w in words]
                    if b"ALL" in upper:
                        return parse_uid_set(words[upper.index(b"ALL") + 1])
            return []
        untagged, _ = self.command(b"UID SEARCH", criteria, name="UID SEARCH")
        uids: list[int] = []
        for response in untagged:
            head = response.head
            if head.upper().startswith(b"* SEARCH"):
                uids.extend(int(x) for x in head.split()[2:] if x.isdigit())
        return uids

    def uid_fetch(self, uids: bytes, items: bytes, *, changedsince: int | None = None,
                  max_literal: int | None = None) -> Iterator[FetchItem]:
        """Stream FETCH results one message at a time; consume it fully before other commands.
        A body above `max_literal` bytes is skipped: the item then has `oversize` set."""
        suffix = b" (CHANGEDSINCE %d)" % changedsince if changedsince is not None else b""
        tag = self._send([b"UID FETCH ", uids, b" ", items, suffix], "UID FETCH")
        while True:
            response = self._read_response("UID FETCH", max_literal)
            head = response.head
            if head.startswith(tag + b" "):
                status, _, text = head[len(tag) + 1:].rstrip(b"\r\n").partition(b" ")
                if status.upper() != b"OK":
                    raise self._failed("UID FETCH", Tagged(status.upper(), text))
                return
            if head.startswith(b"* BYE"):
                raise self._lost(EOFError(head.strip().decode(errors="replace")), "UID FETCH")
            if head.startswith(b"* ") and b" FETCH " in head[:40].upper():
                item = parse_fetch(response.tokens())
                if item.uid is not None:  # unsolicited flag updates carry no UID
                    yield item

    def uid_expunge(self, uids: bytes) -> None:
        """Remove exactly these messages (UIDPLUS), not every \\Deleted one."""
        self.command(b"UID STORE", uids, b"+FLAGS.SILENT", b"(\\Deleted)", name="UID STORE")
        self.command(b"UID EXPUNGE", uids, name="UID EXPUNGE")

    def uid_move(self, uids: bytes, mailbox: bytes) -> None:
        """RFC 6851 MOVE: atomic on the server, the message keeps its flags and date."""
        self.command(b"UID MOVE", uids, astring(mailbox), name="UID MOVE")

    def uid_copy(self, uids: bytes, mailbox: bytes) -> None:
        self.command(b"UID COPY", uids, astring(mailbox), name="UID COPY")

    def uid_store_flags(self, uids: bytes, flags: Sequence[str]) -> None:
        flag_list = b"(" + " ".join(flags).encode() + b")"
        self.command(b"UID STORE", uids, b"FLAGS.SILENT", flag_list, name="UID STORE")

    def append(self, mailbox: bytes, messages: Sequence[AppendMessage]) -> list[AppendResult]:
        """Append messages in one round trip where the server allows it.

        MULTIAPPEND (RFC 3502) is atomic: if the server refuses the batch, each message is
        retried alone so one bad message cannot block the others. Without MULTIAPPEND but
        with LITERAL+, single APPENDs are pipelined; otherwise one at a time.
        """
        if not messages:
            return []
        if len(messages) > 1 and "MULTIAPPEND" in self.capabilities:
            try:
                return self._multiappend(mailbox, messages)
            except TryAgainLater:
                raise
            except CommandFailed:
                pass
        if "LITERAL+" in self.capabilities:
            return self._pipelined_appends(mailbox, messages)
        return [self._append_one(mailbox, m) for m in messages]

    def _append_pieces(self, message: AppendMessage, plus: bool) -> list[bytes]:
        marker = b"{%d+}\r\n" if plus else b"{%d}\r\n"
        head = b" (" + " ".join(message.flags).encode() + b")"
        if message.internaldate:
            head += b" " + quote(message.internaldate)
        return [head + b" " + marker % len(message.body), message.body]

    def _multiappend(self, mailbox: bytes, messages: Sequence[AppendMessage]) -> list[AppendResult]:
        plus = "LITERAL+" in self.capabilities
        if not plus:
            return self._multiappend_sync(mailbox, messages)
        tag = self._next_tag("APPEND")
        self._write(tag + b" APPEND " + astring(mailbox), "APPEND")
        for message in messages:
            for piece in self._append_pieces(message, plus=True):
                self._write(piece, "APPEND")
        self._write(b"\r\n", "APPEND")
        _, tagged = self._finish(tag, name="APPEND")
        return _append_uids(tagged, len(messages))

    def _multiappend_sync(self, mailbox: bytes, messages: Sequence[AppendMessage],
                          ) -> list[AppendResult]:
        tag = self._next_tag("APPEND")
        self._write(tag + b" APPEND " + astring(mailbox), "APPEND")
        for message in messages:
            head, body = self._append_pieces(message, plus=False)
            self._write(head, "APPEND")
            response = self._read_response("APPEND")
            if not response.head.startswith(b"+"):
                self._finish(tag, first=response, name="APPEND")
                raise ProtocolError("APPEND ended before its last message",
                                    server=str(self.endpoint), command="APPEND")
            self._write(body, "APPEND")
        self._write(b"\r\n", "APPEND")
        _, tagged = self._finish(tag, name="APPEND")
        return _append_uids(tagged, len(messages))

    def _pipelined_appends(self, mailbox: bytes, messages: Sequence[AppendMessage],
                           ) -> list[AppendResult]:
        tags: list[bytes] = []
        for message in messages:
            tag = self._next_tag("APPEND")
            self._write(tag + b" APPEND " + astring(mailbox), "APPEND")
            for piece in self._append_pieces(message, plus=True):
                self._write(piece, "APPEND")
            self._write(b"\r\n", "APPEND")
            tags.append(tag)
        return [self._append_outcome(tag) for tag in tags]

    def _append_one(self, mailbox: bytes, message: AppendMessage) -> AppendResult:
        tag = self._next_tag("APPEND")
        head, body = self._append_pieces(message, plus=False)
        self._write(tag + b" APPEND " + astring(mailbox) + head, "APPEND")
        response = self._read_response("APPEND")
        if not response.head.startswith(b"+"):
            return self._append_outcome(tag, first=response)
        self._write(body + b"\r\n", "APPEND")
        return self._append_outcome(tag)

    def _append_outcome(self, tag: bytes, first: Response | None = None) -> AppendResult:
        try:
            _, tagged = self._finish(tag, first=first, name="APPEND")
        except TryAgainLater as exc:
            return AppendResult(None, exc.text, transient=True, delay=exc.delay)
        except CommandFailed as exc:
            return AppendResult(None, exc.text)
        return _append_uids(tagged, 1)[0]


def _append_uids(tagged: Tagged, count: int) -> list[AppendResult]:
    code = tagged.code
    if code and code[0] == "APPENDUID":
        fields = code[1].split()
        if len(fields) == 2:
            uids = parse_uid_set(fields[1])
            if len(uids) == count:
                return [AppendResult(uid) for uid in uids]
    return [AppendResult(None) for _ in range(count)]


def _selected_from(untagged: list[Response], tagged: Tagged) -> Selected:
    uidvalidity = uidnext = highestmodseq = None
    exists = 0
    permanent: frozenset[str] = frozenset()
    for response in untagged + [Response([b"* " + tagged.status + b" " + tagged.text])]:
        head = response.head
        code = response_code(head)
        if code:
            name, rest = code
            if name == "UIDVALIDITY":
                uidvalidity = _number(rest, name)
            elif name == "UIDNEXT":
                uidnext = _number(rest, name)
            elif name == "HIGHESTMODSEQ":
                highestmodseq = _number(rest, name)
            elif name == "PERMANENTFLAGS":
                permanent = frozenset(rest.decode().strip("()").split())
        words = head.split()
        if len(words) >= 3 and words[2].upper() == b"EXISTS":
            exists = _number(words[1], "EXISTS")
    if uidvalidity is None:
        raise ProtocolError("SELECT/EXAMINE without UIDVALIDITY")
    return Selected(uidvalidity, uidnext, exists, permanent, highestmodseq)


def _number(text: bytes, what: str) -> int:
    if not text.strip().isdigit():
        raise ProtocolError(f"{what} is not a number: {bytes(text)[:100]!r}")
    return int(text)


def refusal(command: str, status: bytes, text: bytes, *, server: str) -> CommandFailed:
    """The error for a NO/BAD, by what the server said: a response code decides (RFC 5530);
    without one, throttling words mean "try again later"."""
    words = text.decode("utf-8", "replace").strip()
    message = f"{status.decode(errors='replace')} {words}"
    code = response_code(text)
    name = code[0] if code else ""
    if name == "AUTHORIZATIONFAILED":
        return AuthorizationFailed(message, server=server, command=command, text=words)
    if name in _TRANSIENT_CODES or (name not in _LASTING_CODES
                                    and _TRANSIENT_WORDS.search(text)):
        suggested = _SUGGESTED_BACKOFF.search(text)
        delay = int(suggested.group(1)) / 1000 if suggested else None
        return TryAgainLater(message, server=server, command=command, text=words, delay=delay)
    return CommandFailed(message, server=server, command=command, text=words)


def _transient_code(words: str) -> bool:
    code = response_code(words.encode("utf-8", "replace"))
    return code is not None and code[0] in _TRANSIENT_CODES


def session_for(account: Account, *, timeout: float | None = None,
                limits: SessionLimits | None = None) -> ImapSession:
    """A connected, logged-in session (`timeout`: of silence on the socket)."""
    limits = limits or SessionLimits()
    if timeout is not None:
        limits = replace(limits, read_timeout=timeout)
    return ImapSession(account.endpoint, account.credentials, account.tls, limits=limits,
                       write_guard=account.write_guard).connect()
