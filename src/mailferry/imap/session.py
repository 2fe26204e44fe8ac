"""One IMAP connection: TLS, login, commands, streaming FETCH, pipelined (MULTI)APPEND.

The session composes the I/O-free protocol (protocol.py: tags, framing, tagged status to
errors; results.py: typed results) with the transport (transport.py: socket, TLS, deadline,
the one place OS errors are mapped). What is left here is policy: which command for which
capability, login fallbacks, the write guard, retrying a refused MULTIAPPEND message by
message. Hand-written rather than on imaplib or imapclient: docs/imap-client.md.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from types import TracebackType

from mailferry.errors import (
    AuthenticationFailed,
    CommandFailed,
    ConnectError,
    ConnectionLost,
    InsecureConnection,
    MailferryError,
    ProtocolError,
    TryAgainLater,
)
from mailferry.imap import results
from mailferry.imap.address import Account, Credentials, TlsPolicy, WriteGuard
from mailferry.imap.protocol import (
    AppendMessage,
    Arg,
    Frame,
    ImapProtocol,
    Literal,
    Tagged,
    append_args,
    astring,
    flag_list,
    is_bye,
    is_continuation,
    plain_sasl,
    refusal,
    tagged_reply,
    transient_code,
    xoauth2_sasl,
)
from mailferry.imap.results import AppendResult, Selected
from mailferry.imap.transport import (
    SessionLimits,
    Transport,
    link_meter,
    round_trip,
    tls_context,
)
from mailferry.imap.wire import FetchItem, ListEntry, Namespace, Response, parse_fetch
from mailferry.urls import ServerURL

STATUS_WINDOW = 200  # STATUS commands in flight at once (~12 KB out, ~25 KB back)
# endpoint -> the capabilities its server announced after the last login a state file
# remembers: the LIST of a first look can then go out with the next login (`_login_listing`)
_EXPECTED: dict[str, frozenset[str]] = {}
# endpoint -> the folder that first look opens before its LIST, and whether read-write (SELECT:
# the target's, for the copy to take) or read-only (EXAMINE) (`expect_capabilities`)
_OPEN_FIRST: dict[str, tuple[bytes, bool]] = {}
# endpoint -> what to do while that opening's answer is slow to come (`expect_capabilities`)
_ON_SLOW_OPEN: dict[str, Callable[[], object]] = {}
# how long an EXAMINE's answer may lag the login's before the server counts as reading the
# folder anew: 3.6-5.6 ms for 100,000 messages settled, 160-360 ms within a second of new
# mail. Well above the first: on a busy machine a quick answer may come late
SLOW_OPEN = 0.05
# commands that leave the selected mailbox as it is: an `_Opened` answer stays good across them
_KEEP_SELECTED = frozenset({"LIST", "LSUB", "STATUS", "NAMESPACE", "NOOP", "CAPABILITY", "ID",
                            "ENABLE", "COMPRESS", "UID SEARCH", "UID FETCH"})


@dataclass
class PendingAppend:
    """A MULTIAPPEND sent whose answer is not read yet (ImapSession.append_begin)."""

    tag: bytes
    mailbox: bytes
    messages: Sequence[AppendMessage]
    answer: Tagged | None = None
    held: bool = False  # sent but its final CRLF: the server has stored nothing for it yet


@dataclass
class _SelectAhead:
    """A SELECT or EXAMINE and its folder's UID SEARCH, sent by `select_ahead`, and the
    flag changes asked behind them (`fetch`: its UID FETCH's arguments); `answers` once read
    (each command's untagged responses and tagged reply)."""

    mailbox: bytes
    readonly: bool
    tags: list[bytes]
    answers: list[tuple[list[Response], Tagged]] | None = None
    opened: _Opened | None = None  # the EXAMINE went with the login: only the SEARCH is sent
    fetch: tuple[Arg, ...] | None = None


def _is_fetch(head: bytes) -> bool:
    """`* n FETCH (...)`: a message's FETCH item, asked for or not."""
    return head.startswith(b"* ") and b" FETCH " in head[:40].upper()


def _is_expunge(head: bytes) -> bool:
    """`* n EXPUNGE`: the n-th message of the selected mailbox is gone."""
    words = head.split(None, 3)
    return (len(words) >= 3 and words[0] == b"*" and words[1].isdigit()
            and words[2].upper() == b"EXPUNGE")


def _exists(head: bytes) -> int | None:
    """`* n EXISTS`: the mailbox holds n messages now."""
    words = head.split(None, 3)
    if (len(words) >= 3 and words[0] == b"*" and words[1].isdigit()
            and words[2].upper() == b"EXISTS"):
        return int(words[1])
    return None


def _is_gone(head: bytes) -> bool:
    """An EXPUNGE, or `* VANISHED ...` (QRESYNC): a message gone from the mailbox."""
    return _is_expunge(head) or head[:11].upper() == b"* VANISHED "


@dataclass
class _Fetched:
    """The answer of a UID FETCH sent ahead (`select_ahead`'s `changed_flags`), kept for the
    `uid_fetch` with the same arguments if it is the next command."""

    args: tuple[Arg, ...]
    untagged: list[Response]
    answer: Tagged


@dataclass
class _Opened:
    """A mailbox opened in the login's write (`expect_capabilities`' `open_first`), its
    answer kept while it stays selected: it stands in for the folder's STATUS (RFC 3501
    6.3.10: not to be asked of the selected mailbox) and for the next `select_with_uids` (or,
    read-write, `select`) of it. Its message count drops with each EXPUNGE the server reports
    meanwhile and ignores EXISTS: a floor for the UIDs a later SEARCH finds (`ImapSource.uids`
    checks it), as a server may run the SEARCH, then tell of new mail it did not see (Dovecot
    does). `moved`: the server told of mail that came or went since; a read-write opening
    then no longer stands for the folder as it is (`ImapSession.select`)."""

    mailbox: bytes
    selected: Selected
    readonly: bool = True
    moved: bool = False

    def follow(self, head: bytes) -> None:
        if _is_expunge(head):
            self.selected = replace(self.selected, exists=max(0, self.selected.exists - 1))
        count = _exists(head)
        if _is_gone(head) or (count is not None and count != self.selected.exists):
            self.moved = True

    def status(self, listed: dict[str, int]) -> dict[str, int]:
        """The folder's STATUS items from the EXAMINE's answer; from `listed` (a STATUS
        answer) only what EXAMINE does not say (SIZE, and UIDNEXT or HIGHESTMODSEQ where a
        server leaves them out)."""
        found = {**listed, "MESSAGES": self.selected.exists,
                 "UIDVALIDITY": self.selected.uidvalidity}
        if self.selected.uidnext is not None:
            found["UIDNEXT"] = self.selected.uidnext
        if self.selected.highestmodseq is not None:
            found["HIGHESTMODSEQ"] = self.selected.highestmodseq
        return found


def expect_capabilities(endpoint: str, capabilities: frozenset[str], *,
                        open_first: bytes | None = None, writable: bool = False,
                        on_slow_open: Callable[[], object] | None = None) -> None:
    """What `endpoint` (str of its ServerURL) said after its last login, for this process;
    `open_first`: a folder to EXAMINE (`writable`: SELECT) in the same write, before the
    LIST. On Dovecot a STATUS of a big folder that is not selected opens it anew (a
    LIST-STATUS took 55 ms with 100,000 messages, EXAMINE and then LIST-STATUS 4 ms), and
    within a second of new mail it rescans the whole Maildir at each opening (150-200 ms): a
    delta then opened it twice (bench/huge_folder_bench.py). The target's is a SELECT, so
    the copy's own SELECT of it can be a NOOP instead (`select`). `on_slow_open`: called
    once, on the thread logging in, when that opening's answer has not come SLOW_OPEN after
    the login's: the server is reading the folder again, a sign of new mail (it must not
    block: the answer waits)."""
    _EXPECTED[endpoint] = capabilities
    _OPEN_FIRST.pop(endpoint, None)
    _ON_SLOW_OPEN.pop(endpoint, None)
    if open_first is not None:
        _OPEN_FIRST[endpoint] = (open_first, writable)
    if on_slow_open is not None:
        _ON_SLOW_OPEN[endpoint] = on_slow_open


# an APPEND tells the link's speed (LinkMeter) when it carries this much, this much a message
_TIMED_APPEND = 1 << 20
_TIMED_APPEND_EACH = 32 << 10
# commands that change a mailbox: each piece of them is sent only if the write guard allows
_WRITES = frozenset({"APPEND", "STORE", "UID STORE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
                     "UNSUBSCRIBE", "EXPUNGE", "UID EXPUNGE", "COPY", "UID COPY", "MOVE",
                     "UID MOVE"})


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
        # STATUS answers the last LIST returned (LIST-STATUS), until another command runs
        self._listed: dict[bytes, dict[str, int]] = {}
        # the LIST sent with the login and its answer, until another command runs
        self._prelisted: tuple[list[tuple[bytes, tuple[Arg, ...]]], list[Response]] | None = None
        self._protocol = ImapProtocol(str(endpoint))
        self._transport: Transport | None = None
        self._compress_refused = False
        self._keeps_input = False  # what the client sends after AUTHENTICATE reaches imapd
        self._holds_appends = False  # held APPENDs stay unstored until they end (appends_held)
        self._pending: PendingAppend | None = None  # answered before anything else is sent
        self._ahead: _SelectAhead | None = None  # likewise; kept for `select_with_uids`
        self._fetched: _Fetched | None = None  # its UID FETCH's answer, for `uid_fetch`
        self._opened: _Opened | None = None  # the login's EXAMINE, while still selected

    # -- connection ----------------------------------------------------------------------

    def connect(self) -> ImapSession:
        where = str(self.endpoint)
        self._protocol = ImapProtocol(where)
        meter = (link_meter(self.endpoint.host, self.endpoint.port)
                 if self.limits.compress == "auto" else None)
        self._transport = Transport.connect(self.endpoint.host, self.endpoint.port,
                                            self.limits, where, meter)
        try:
            if self.endpoint.implicit_tls:
                self._start_tls()
            greeting = self._read_response()
            if not greeting.head.startswith((b"* OK", b"* PREAUTH")):
                raise ConnectError(f"refused: {greeting.head.strip().decode(errors='replace')}",
                                   server=where)
            self.capabilities = results.capabilities_in(greeting.head) or frozenset()
            self._keeps_input = _keeps_input_after_login(greeting.head)
            self._holds_appends = _holds_appends(greeting.head)
            if not self.endpoint.implicit_tls:
                if "STARTTLS" in self.capabilities:
                    self.command(b"STARTTLS")
                    self._start_tls()
                    self.capabilities = frozenset()
                elif not (self.endpoint.is_loopback or self.tls.allow_plaintext):
                    raise InsecureConnection(
                        "offers no STARTTLS: refusing to send the password in clear text to a"
                        " non-loopback host (use imaps://, or --allow-plaintext if you must)",
                        server=where)
            self._login()
            self._compress()
        except ConnectionLost as exc:
            self.close()
            raise ConnectError(f"connection lost while logging in: {exc}", server=where) from None
        except MailferryError:
            self.close()
            raise
        return self

    def _compress(self) -> None:
        """COMPRESS=DEFLATE (RFC 4978) where offered and wanted (SessionLimits.compress):
        "auto" once this process measured the link to this server slow (LinkMeter), at
        login or before a FETCH or APPEND (nothing else is in flight then)."""
        mode = self.limits.compress
        if ("COMPRESS=DEFLATE" not in self.capabilities or mode == "never" or self.compressed
                or self._compress_refused or (mode == "auto" and not self._link_slow())):
            return
        try:
            self.command(b"COMPRESS", b"DEFLATE")
        except CommandFailed:  # [COMPRESSIONACTIVE] (TLS compression) or refused: go on plain
            self._compress_refused = True
            return
        self._connected("COMPRESS").start_deflate(self._protocol.restart_reading())

    @property
    def compressed(self) -> bool:
        return self._transport is not None and self._transport.compressed

    @property
    def round_trip(self) -> float | None:
        """Seconds: the shortest wait yet, over this process's sessions with this server,
        from a command to its answer's first bytes (transport.RoundTrip); None before any."""
        return round_trip(self.endpoint.host, self.endpoint.port).shortest

    def _link_slow(self) -> bool:
        meter = self._transport.meter if self._transport is not None else None
        return meter is not None and meter.verdict() is True

    @property
    def measuring_link(self) -> bool:
        """Whether "auto" compression still waits for the link to show its speed: a long
        FETCH is then better sent in growing pieces, so COMPRESS can start between them."""
        meter = self._transport.meter if self._transport is not None else None
        return (meter is not None and not self.compressed
                and "COMPRESS=DEFLATE" in self.capabilities and meter.verdict() is None)

    def _start_tls(self) -> None:
        self._connected("STARTTLS").start_tls(tls_context(self.tls.verify, self.tls.ca_file),
                                              self.endpoint.host)
        self._protocol.restart_reading()

    def _login(self) -> None:
        if not self.capabilities:
            self._refresh_capabilities()
        creds = self.credentials
        mechanism = creds.mechanism
        try:
            if mechanism == "xoauth2":
                tagged = self._xoauth2(creds.secret)
            elif mechanism == "master" or "AUTH=PLAIN" in self.capabilities:
                authzid = creds.user if mechanism == "master" else ""
                authcid = (creds.login_user or creds.user) if mechanism == "master" else creds.user
                plain = plain_sasl(authzid, authcid, creds.secret)
                # the first session only: the others (workers) would list for nothing
                expected = _EXPECTED.pop(str(self.endpoint), None)
                if expected and "SASL-IR" in self.capabilities and self._keeps_input:
                    tagged = self._login_listing(plain, expected)
                else:
                    tagged = self._authenticate(b"PLAIN", plain)
            else:
                _, tagged = self.command(b"LOGIN", astring(creds.user), astring(creds.secret),
                                         name="LOGIN")
        except TryAgainLater as exc:
            if exc.delay is None and not transient_code(exc.text):
                # hopeful words alone ("failed, try again") after a NO to LOGIN: a refusal,
                # and retrying refused logins locks accounts at the old provider
                raise AuthenticationFailed(f"login as {creds.user!r} refused: {exc.text}",
                                           server=str(self.endpoint)) from None
            raise ConnectError(f"login as {creds.user!r}: {exc.text}",  # busy: log in later
                               server=str(self.endpoint), delay=exc.delay) from None
        except CommandFailed as exc:
            raise AuthenticationFailed(f"login as {creds.user!r} refused: {exc.text}",
                                       server=str(self.endpoint)) from None
        # they change after login; most servers say the new ones in the OK (a round trip
        # saved: over a 50 ms link a no-change re-run is its round trips)
        after = results.capabilities_in(tagged.text)
        if after is None:
            self._refresh_capabilities()
        else:
            self.capabilities = after

    def _xoauth2(self, token: str) -> Tagged:
        try:
            return self._authenticate(b"XOAUTH2", xoauth2_sasl(self.credentials.user, token))
        except CommandFailed:
            if self.credentials.refresh is None:
                raise
            fresh = self.credentials.refresh()
            return self._authenticate(b"XOAUTH2", xoauth2_sasl(self.credentials.user, fresh))

    def _authenticate(self, mechanism: bytes, message: bytes) -> Tagged:
        initial = base64.b64encode(message)
        if "SASL-IR" in self.capabilities:
            return self.command(b"AUTHENTICATE", mechanism, initial, name="AUTHENTICATE")[1]
        # the initial response goes as the answer to the server's "+", like a literal's data
        tag = self._protocol.next_tag("AUTHENTICATE")
        self._start([b"%s AUTHENTICATE %s\r\n" % (tag, mechanism)])
        response = self._read_response()
        if is_continuation(response.head):
            self._send([initial + b"\r\n"])
            response = self._read_response()
        return self._finish(tag, first=response)[1]

    def _login_listing(self, plain: bytes, expected: frozenset[str]) -> Tagged:
        """AUTHENTICATE PLAIN (SASL-IR) and, in the same write, the LIST (and NAMESPACE) that
        the capabilities this server announced after its last login call for: a round trip
        less for a re-run's first look (bench/wan_bench.py). The answer is kept for one
        `list_folders(at_login=True)` if the capabilities after this login ask for the same
        commands; a refusal of the login raises as always (the LIST, refused too, is moot)."""
        listing = self._list_commands(expected)
        opening, writable = _OPEN_FIRST.pop(str(self.endpoint), (None, False))
        opens = (self._select_commands(opening, readonly=not writable, caps=expected)
                 if opening is not None else None)
        examine = opens[0] if opens else None  # (not for a name that needs a literal)
        tags, lines = self._one_write([*([examine] if examine else []), *listing])
        # tagged last, sent first: errors until the login's answer are the login's
        tag, frames = self._protocol.command(b"AUTHENTICATE", (b"PLAIN", base64.b64encode(plain)),
                                             name="AUTHENTICATE", literal_plus=False)
        self._start([b"".join([*frames[0], lines])])
        _, tagged = self._finish(tag)  # a refusal raises; connect() closes the connection
        on_slow = _ON_SLOW_OPEN.pop(str(self.endpoint), None)
        if (examine and on_slow is not None and not self._protocol.reader.buffered
                and not self._connected(examine[0].decode()).has_data(SLOW_OPEN)):
            on_slow()
        # (each kind of untagged response is told apart by its keyword or code)
        replies, untagged = self._read_tagged(tags)
        after = results.capabilities_in(tagged.text)
        if examine and opening is not None:
            examined = replies.pop(tags[0])  # a refusal is no error: the folder is gone
            if (examined.status == b"OK" and after is not None and self._select_commands(
                    opening, readonly=not writable, caps=after) == opens):
                with contextlib.suppress(ProtocolError):  # (no UIDVALIDITY: not kept)
                    self._opened = _Opened(opening, results.selected_from(untagged, examined),
                                           readonly=not writable)
                    # a count told again behind the LIST, or a message gone: mail came or
                    # went while the login's write was answered
                    self._opened.moved = (
                        sum(_exists(r.head) is not None for r in untagged) > 1
                        or any(_is_gone(r.head) for r in untagged))
        try:
            self._raise_refused(replies)
        except CommandFailed:  # the server changed since: the first look lists again
            return tagged
        if after is not None and self._list_commands(after) == listing:
            self._prelisted = (listing, untagged)
        return tagged

    def _refresh_capabilities(self) -> None:
        found = results.capabilities_from(*self.command(b"CAPABILITY"))
        self.capabilities = found or self.capabilities

    def close(self) -> None:
        self._ahead = None
        self._fetched = None
        self._opened = None
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._pending = None

    def logout(self) -> None:
        """LOGOUT, without waiting for its answer: every command before it has been answered,
        so nothing is lost, and a far server's round trip is saved. (A `select_ahead` not
        taken is not waited for: it changed nothing.)"""
        self._ahead = None
        if self._pending is not None and self._pending.held:
            self.close()  # the server discards an APPEND cut short: it was never to be stored
            return
        with contextlib.suppress(MailferryError):
            if self._transport is not None:
                _, frames = self._protocol.command(b"LOGOUT", (), name="LOGOUT",
                                                   literal_plus=False)
                self._start(frames[0])
        self.close()

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.logout()

    # -- commands: protocol bytes through the transport ------------------------------------

    def _connected(self, command: str) -> Transport:
        if self._transport is None:
            raise ConnectionLost("not connected", server=str(self.endpoint), command=command)
        return self._transport

    def _start(self, frame: Frame) -> None:
        """Send the first frame of a new command; its deadline starts now. An APPEND in
        flight is answered first: its answer must not be taken for this command's. (A held
        one cannot be: ending it is the caller's decision, `append_release`.)"""
        if self._pending is not None:
            if self._pending.held:
                raise RuntimeError("a command sent behind a held APPEND")
            self._settle()
        if self._ahead is not None and self._ahead.answers is None:
            self._read_ahead(self._ahead)
        self._fetched = None  # taken by the next command or never
        if self._protocol.command_name not in _KEEP_SELECTED:
            self._opened = None
        if self._protocol.command_name != "STATUS":
            self._listed = {}  # LIST-STATUS answers stand only until something else runs
        if self._protocol.command_name != "COMPRESS":  # (changes no mailbox)
            self._prelisted = None
        self._connected(self._protocol.command_name).start_command()
        self._send(frame)

    def _send(self, frame: Frame) -> None:
        name = self._protocol.command_name
        transport = self._connected(name)
        guard = self.write_guard
        if guard is None or name not in _WRITES:
            transport.send(frame, name)
            return
        for piece in frame:
            try:
                guard.check()
            except MailferryError:
                self.close()  # mid-command: dropping the connection makes the server discard it
                raise
            transport.send((piece,), name)

    def _read_response(self, max_literal: int | None = None) -> Response:
        """One response, literals read by length (never parsed); a literal above
        `max_literal` (default: the session's cap) is skipped and stands as SkippedLiteral."""
        cap = self.limits.max_literal if max_literal is None else max_literal
        protocol = self._protocol
        name = protocol.command_name
        transport = self._connected(name)
        while (response := protocol.next_response(cap)) is None:
            reader = protocol.reader
            if reader.literal_wanted:  # received whole, into the bytes the caller gets
                reader.literal_read(transport.read_literal(reader.literal_wanted, reader.drain,
                                                           name))
            elif (view := reader.into()) is not None:  # a literal above the cap: dropped
                with view:
                    reader.received_into(transport.read_into(view, name, reader.state))
            else:
                reader.receive_data(transport.read(name, reader.state))
        if self._opened is not None:
            self._opened.follow(response.head)
        return response

    def _lost(self, head: bytes) -> ConnectionLost:
        """The server said BYE: the connection is over."""
        self.close()
        return ConnectionLost(f"connection lost: {head.strip().decode(errors='replace')}",
                              server=str(self.endpoint), command=self._protocol.command_name)

    def _run(self, tag: bytes, frames: Sequence[Frame]) -> Response | None:
        """Send a command's frames, each after the server's "+" for the one before. Returns
        the response that ended it early (the tagged refusal), if one did; untagged responses
        met while waiting for a "+" are dropped (nothing needs them)."""
        self._start(frames[0])
        for frame in frames[1:]:
            while True:
                response = self._read_response()
                head = response.head
                if is_continuation(head):
                    break
                if tagged_reply(head, tag) is not None:
                    return response
                if is_bye(head):
                    raise self._lost(head)
            self._send(frame)
        return None

    def _finish(self, tag: bytes, first: Response | None = None) -> tuple[list[Response], Tagged]:
        """Read up to the tagged reply of `tag`: the untagged responses and a tagged OK; a
        NO/BAD raises the error its words call for."""
        untagged: list[Response] = []
        response = first or self._read_response()
        while True:
            head = response.head
            tagged = tagged_reply(head, tag)
            if tagged is not None:
                if tagged.status != b"OK":
                    raise self._protocol.failure(tagged)
                return untagged, tagged
            if is_bye(head):
                raise self._lost(head)
            if head.startswith(b"*"):
                untagged.append(response)
            response = self._read_response()

    def _complete(self, tag: bytes, frames: Sequence[Frame]) -> tuple[list[Response], Tagged]:
        early = self._run(tag, frames)
        untagged, tagged = self._finish(tag, first=early)
        if early is not None:  # an OK before the server took all of the command
            raise self._protocol.violation("the server ended the command before its last"
                                           " literal")
        return untagged, tagged

    def command(self, verb: bytes, *args: Arg, name: str | None = None,
                ) -> tuple[list[Response], Tagged]:
        """Run one command: its untagged responses and the tagged OK (NO/BAD raise)."""
        tag, frames = self._protocol.command(verb, args, name=name or verb.decode(),
                                             literal_plus="LITERAL+" in self.capabilities)
        return self._complete(tag, frames)

    # -- mailboxes ---------------------------------------------------------------------------

    def list_folders(self, *, at_login: bool = False,
                     ) -> tuple[list[ListEntry], set[bytes], Namespace]:
        """Every mailbox (with special-use attributes), the subscribed names, the namespace.
        `at_login`: the answer to a LIST sent with the login may serve (a first look, taken
        before any lease: a listing that must be current asks again)."""
        caps = self.capabilities
        extended = "LIST-EXTENDED" in caps and "SPECIAL-USE" in caps
        with_status = extended and "LIST-STATUS" in caps  # RFC 5819: STATUS in the answer
        commands = self._list_commands(caps)
        prelisted, self._prelisted = self._prelisted, None
        if at_login and prelisted is not None and prelisted[0] == commands:
            untagged = prelisted[1]
        else:
            untagged = self._pipelined(commands)  # one round trip for all of them
        entries = results.list_entries(untagged)
        if extended:
            subscribed = results.subscribed_in(entries)
            entries = results.existing(entries)
        else:
            subscribed = {entry.name for entry in results.list_entries(untagged, b"LSUB")}
        if with_status:
            self._listed = results.statuses_of(untagged, [e.name for e in entries])
        namespace = untagged if "NAMESPACE" in caps else None
        return entries, subscribed, results.personal_namespace(namespace, entries)

    def _list_commands(self, caps: frozenset[str]) -> list[tuple[bytes, tuple[Arg, ...]]]:
        extended = "LIST-EXTENDED" in caps and "SPECIAL-USE" in caps
        returns = b"RETURN (SPECIAL-USE SUBSCRIBED"
        if extended and "LIST-STATUS" in caps:
            returns += b" STATUS " + _status_items(caps)
        commands: list[tuple[bytes, tuple[Arg, ...]]] = [
            (b"LIST", (b'""', b'"*"', returns + b")") if extended else (b'""', b'"*"'))]
        if not extended:
            commands.append((b"LSUB", (b'""', b'"*"')))
        if "NAMESPACE" in caps:
            commands.append((b"NAMESPACE", ()))
        return commands

    def _pipelined(self, commands: Sequence[tuple[bytes, tuple[Arg, ...]]]) -> list[Response]:
        """Commands without synchronising literals, sent in one write; the untagged
        responses of them all (each kind is told apart by its keyword)."""
        tags, lines = self._one_write(commands)
        self._start([lines])
        return self._finish_all(tags)

    def _one_write(self, commands: Sequence[tuple[bytes, tuple[Arg, ...]]],
                   ) -> tuple[list[bytes], bytes]:
        """The tags of commands without synchronising literals and their lines, to be sent
        in one write. (`_start` sees only the last one's name: any other that selects drops
        the login's EXAMINE here.)"""
        if any(verb.decode() not in _KEEP_SELECTED for verb, _ in commands):
            self._opened = None
        tags: list[bytes] = []
        lines: list[bytes] = []
        for verb, args in commands:
            tag, frames = self._protocol.command(verb, args, name=verb.decode(),
                                                 literal_plus=False)
            tags.append(tag)
            lines.append(b"".join(frames[0]))
        return tags, b"".join(lines)

    def _status_items(self) -> bytes:
        return _status_items(self.capabilities)

    def status(self, mailbox: bytes) -> dict[str, int]:
        found = results.status_items(self.command(b"STATUS", astring(mailbox),
                                                  self._status_items())[0])
        if found is None:
            raise ProtocolError(f"STATUS {mailbox!r} returned no status",
                                server=str(self.endpoint), command="STATUS")
        return found

    def statuses(self, mailboxes: Sequence[bytes], *, window: int = STATUS_WINDOW,
                 ) -> dict[bytes, dict[str, int]]:
        """STATUS of many mailboxes, `window` commands sent before their answers are read:
        a round trip per window instead of one per mailbox (a no-change re-run over a 50 ms
        link spent most of its time waiting for STATUS answers one by one). The window keeps
        both sides' socket buffers from filling while neither reads. A name that needs a
        synchronising literal goes alone. A refused STATUS raises once its window is read
        (the connection stays in step)."""
        found = {m: self._listed.pop(m) for m in mailboxes if m in self._listed}
        opened = self._opened
        if opened is not None and opened.mailbox in mailboxes and opened.selected.uidnext:
            found.setdefault(opened.mailbox, {})  # its EXAMINE says it all (below)
        mailboxes = [m for m in mailboxes if m not in found]
        items = self._status_items()
        plus = "LITERAL+" in self.capabilities
        alone: list[bytes] = []
        for start in range(0, len(mailboxes), window):
            chunk = mailboxes[start:start + window]
            tags: list[bytes] = []
            lines: list[bytes] = []
            for mailbox in chunk:
                tag, frames = self._protocol.command(b"STATUS", (astring(mailbox), items),
                                                     name="STATUS", literal_plus=plus)
                if len(frames) > 1:  # it would wait for "+" while other answers arrive
                    alone.append(mailbox)
                    continue
                tags.append(tag)
                lines.append(b"".join(frames[0]))
            if not tags:
                continue
            self._start([b"".join(lines)])  # one write: the server gets the window at once
            found.update(results.statuses_of(self._finish_all(tags), chunk))
        for mailbox in alone:
            found[mailbox] = self.status(mailbox)
        missing = [m for m in mailboxes if m not in found]
        if missing:
            raise ProtocolError(f"STATUS {missing[0]!r} returned no status",
                                server=str(self.endpoint), command="STATUS")
        if opened is not None and opened is self._opened and opened.mailbox in found:
            found[opened.mailbox] = opened.status(found[opened.mailbox])
        return found

    def _finish_all(self, tags: list[bytes]) -> list[Response]:
        """Read up to the tagged replies of all of `tags`, in whatever order they come (a
        server may run pipelined commands at once); their untagged responses. The first
        refusal raises once all are in."""
        replies, untagged = self._read_tagged(tags)
        self._raise_refused(replies)
        return untagged

    def _raise_refused(self, replies: dict[bytes, Tagged]) -> None:
        for tagged in replies.values():  # in the order they came
            if tagged.status != b"OK":
                raise self._protocol.failure(tagged)

    def _read_tagged(self, tags: list[bytes]) -> tuple[dict[bytes, Tagged], list[Response]]:
        """The tagged replies of `tags` as they came (OK or not) and the untagged responses."""
        replies: dict[bytes, Tagged] = {}
        untagged = [response for response in self._untagged_until(tags, replies)
                    if response.head.startswith(b"*")]
        return replies, untagged

    def _untagged_until(self, tags: list[bytes], replies: dict[bytes, Tagged],
                        ) -> Iterator[Response]:
        """Every other response, as it comes, until each of `tags` is answered (in whatever
        order: a server may run pipelined commands at once); their tagged replies go into
        `replies`, OK or not."""
        waiting = list(tags)
        while waiting:
            response = self._read_response()
            head = response.head
            for tag in waiting:
                tagged = tagged_reply(head, tag)
                if tagged is not None:
                    waiting.remove(tag)
                    replies[tag] = tagged
                    break
            else:
                if is_bye(head):
                    raise self._lost(head)
                yield response

    def each_mailbox(self, commands: Sequence[tuple[bytes, bytes]],
                     ) -> list[CommandFailed | None] | None:
        """Commands on one mailbox each, (verb, mailbox): CREATE, SUBSCRIBE, UNSUBSCRIBE,
        sent in one write: one round trip for all of them instead of one each (a target
        50 ms away spent 1.5 s creating 15 folders one by one). Per command, in order: None
        when the server said OK, else its refusal, not raised. None when a name needs a
        synchronising literal: the caller then goes one by one."""
        args = [(verb, astring(mailbox)) for verb, mailbox in commands]
        if not args or any(isinstance(arg, Literal) for _, arg in args):
            return None
        tags, lines = self._one_write([(verb, (arg,)) for verb, arg in args])
        self._start([lines])
        replies, _ = self._read_tagged(tags)
        return [None if replies[tag].status == b"OK" else self._protocol.failure(replies[tag])
                for tag in tags]

    def create_mailbox(self, mailbox: bytes, *, subscribe: bool) -> None:
        """CREATE (a mailbox that exists already is fine), SUBSCRIBE if asked."""
        try:
            self.command(b"CREATE", astring(mailbox))
        except CommandFailed as exc:
            if "ALREADYEXISTS" not in exc.text.upper() and "EXISTS" not in exc.text.upper():
                raise
        if subscribe:
            self.subscribe(mailbox)

    def subscribe(self, mailbox: bytes) -> None:
        self.command(b"SUBSCRIBE", astring(mailbox))

    def delete_mailbox(self, mailbox: bytes) -> None:
        self.command(b"DELETE", astring(mailbox))

    def list_matching(self, pattern: bytes) -> list[ListEntry]:
        """LIST "" pattern: the mailboxes as the server describes them, attributes included."""
        return results.list_entries(self.command(b"LIST", b'""', astring(pattern))[0])

    def select(self, mailbox: bytes, *, readonly: bool) -> Selected:
        self._forget_ahead()
        opened = self._opened_as(mailbox, readonly=readonly)
        if opened is not None and not opened.readonly:
            self.command(b"NOOP")  # the server tells of mail that came or went since
            if self._opened is opened and not opened.moved:
                self._opened = None  # the caller has the folder now
                return opened.selected
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
        return results.selected_from(untagged, tagged)

    def select_with_uids(self, mailbox: bytes, *, readonly: bool) -> tuple[Selected, list[int]]:
        """`select` and `uid_search_all` in one write: one round trip where each folder of a
        far source paid two. A failed SELECT or EXAMINE leaves no mailbox selected (RFC 3501
        6.3.1), so the SEARCH behind it fails too and is dropped: the SELECT's error is
        raised, as `select` raises it. Servers run the two in order (the SEARCH depends on
        the SELECT: RFC 3501 5.5); the interop matrix holds every test-bed server to it."""
        verb = b"EXAMINE" if readonly else b"SELECT"
        ahead = self._forget_ahead()  # (its answers read)
        opened = self._opened_as(mailbox, readonly=readonly)
        if ahead is not None and ahead.answers and (ahead.mailbox, ahead.readonly) == (
                mailbox, readonly):
            answers = ahead.answers
            if ahead.fetch is not None:  # the flag changes asked behind: for `uid_fetch`
                answers = answers[:-1]
                self._fetched = self._fetched_ahead(ahead)
            if ahead.opened is not None:  # the EXAMINE went with the login
                (searched, search_answer), = answers
                return self._opened_with(ahead.opened, searched, search_answer)
            (selected, selected_answer), (searched, search_answer) = answers
        elif opened is not None and opened.readonly:
            tags, lines = self._one_write([(b"UID SEARCH", (self._search(b"ALL"),))])
            self._start([lines])
            return self._opened_with(opened, *self._answer_of(tags[0]))
        elif opened is not None:  # read-write: the NOOP of `select` goes in the same write
            tags, lines = self._one_write([(b"NOOP", ()),
                                           (b"UID SEARCH", (self._search(b"ALL"),))])
            self._start([lines])
            (noop, _), (searched, search_answer) = self._answers_of(tags)
            if self._opened is opened and not opened.moved:
                # (its ESEARCH may come before the NOOP's reply: Dovecot runs them at once)
                return self._opened_with(opened, [*noop, *searched], search_answer)
            self._opened = None
            return self.select_with_uids(mailbox, readonly=readonly)
        else:
            commands = self._select_commands(mailbox, readonly=readonly)
            if commands is None:  # a synchronising literal waits for "+": one by one
                return self.select(mailbox, readonly=readonly), self.uid_search_all()
            tags, lines = self._one_write(commands)
            self._start([lines])
            selected, selected_answer = self._answer_of(tags[0])
            searched, search_answer = self._answer_of(tags[1])
        if selected_answer.status != b"OK":
            failure = refusal(verb.decode(), selected_answer.status, selected_answer.text,
                              server=str(self.endpoint))
            if "ALREADYEXISTS" not in failure.text.upper():
                raise failure
            # Dovecot's special-use folder created by a concurrent session (see `select`)
            return self.select(mailbox, readonly=readonly), self.uid_search_all()
        if search_answer.status != b"OK":
            raise refusal("UID SEARCH", search_answer.status, search_answer.text,
                          server=str(self.endpoint))
        return results.selected_from(selected, selected_answer), self._found(searched)

    @staticmethod
    def _fetched_ahead(ahead: _SelectAhead) -> _Fetched | None:
        """The answer of the UID FETCH a `select_ahead` sent last, to be kept for `uid_fetch`;
        None if a message went meanwhile or is going (\\Deleted): its flags may be the
        \\Deleted it goes with, which a FETCH asked once the server told of its EXPUNGE would
        not report (it is asked again then)."""
        assert ahead.fetch is not None and ahead.answers is not None
        # the SEARCH's and the FETCH's (not an EXAMINE's: what comes before its reply may be
        # of the mailbox selected before)
        told = [r for untagged, _ in ahead.answers[0 if ahead.opened else 1:] for r in untagged]
        # told apart by kind, not place: Dovecot runs the FETCH beside the SEARCH, and its
        # items came before the SEARCH's tagged reply
        items = [r for r in told if _is_fetch(r.head)]
        if any(_is_gone(r.head) for r in told) or any(b"\\DELETED" in r.head.upper()
                                                     for r in items):
            return None
        return _Fetched(ahead.fetch, items, ahead.answers[-1][1])

    def _opened_as(self, mailbox: bytes, *, readonly: bool) -> _Opened | None:
        """The login's opening if it is of `mailbox`, as `readonly` as wanted, and still
        selected."""
        opened = self._opened
        return (opened if opened is not None and opened.readonly == readonly
                and opened.mailbox == mailbox else None)

    def _opened_with(self, opened: _Opened, searched: list[Response], answer: Tagged,
                     ) -> tuple[Selected, list[int]]:
        """`select_with_uids`' answer from the login's EXAMINE and a UID SEARCH sent since
        (the count less every EXPUNGE read meanwhile, the SEARCH's too). The caller has the
        folder now: the count is no longer followed."""
        self._opened = None
        if answer.status != b"OK":
            raise refusal("UID SEARCH", answer.status, answer.text, server=str(self.endpoint))
        return opened.selected, self._found(searched)

    def select_ahead(self, mailbox: bytes, *, readonly: bool,
                     changed_flags: tuple[int, int] | None = None) -> None:
        """Send what `select_with_uids` sends and return at once: the next
        `select_with_uids` of this mailbox takes the answers, which are read before any
        other command is sent. So the server's work opening a folder overlaps the caller's:
        a Maildir that new mail touched within the last second or so is rescanned whole at
        each look (Dovecot: 0.25 s at 100,000 messages), and a re-run that found new mail
        loads its state store meanwhile. Any other SELECT or EXAMINE first makes it moot. A
        hint: nothing is sent for a mailbox name that needs a synchronising literal.
        `changed_flags` (last UID, mod-sequence; CONDSTORE): the flags changed since, of UIDs
        up to the last, are asked in the same write, for a `uid_fetch` of exactly that which
        comes right after `select_with_uids` (over a far link, a round trip less)."""
        opened = self._opened_as(mailbox, readonly=readonly)
        commands = self._select_commands(mailbox, readonly=readonly)
        if commands is None:
            return
        self._forget_ahead()
        fetch = None
        if changed_flags is not None and "CONDSTORE" in self.capabilities:
            last, since = changed_flags
            fetch = self._fetch_args(b"1:%d" % last, b"(UID FLAGS)", since)
            commands.append((b"UID FETCH", fetch))
        tags, lines = self._one_write(commands[1:] if opened else commands)
        self._start([lines])
        self._ahead = _SelectAhead(mailbox, readonly, tags, opened=opened, fetch=fetch)

    def _select_commands(self, mailbox: bytes, *, readonly: bool,
                         caps: frozenset[str] | None = None,
                         ) -> list[tuple[bytes, tuple[Arg, ...]]] | None:
        """SELECT or EXAMINE and UID SEARCH ALL, for one write, as `caps` (default: this
        session's capabilities) call for; None for a mailbox name that needs a synchronising
        literal."""
        name = astring(mailbox)
        if isinstance(name, Literal):
            return None
        condstore = "CONDSTORE" in (self.capabilities if caps is None else caps)
        args = (name, b"(CONDSTORE)") if condstore else (name,)
        return [(b"EXAMINE" if readonly else b"SELECT", args),
                (b"UID SEARCH", (self._search(b"ALL"),))]

    def _read_ahead(self, ahead: _SelectAhead) -> None:
        """The answers of a `select_ahead`, read and kept (errors while reading name its
        SELECT or EXAMINE)."""
        name, self._protocol.command_name = (self._protocol.command_name,
                                             "EXAMINE" if ahead.readonly else "SELECT")
        try:
            ahead.answers = self._answers_of(ahead.tags)
        finally:
            self._protocol.command_name = name

    def _answers_of(self, tags: list[bytes]) -> list[tuple[list[Response], Tagged]]:
        """Each tag's untagged responses and tagged reply, the tags answered in any order (a
        server may run pipelined commands at once, RFC 3501 5.5): an untagged response goes
        to the first tag still unanswered when it comes."""
        replies: dict[bytes, Tagged] = {}
        untagged: dict[bytes, list[Response]] = {tag: [] for tag in tags}
        for response in self._untagged_until(tags, replies):
            if response.head.startswith(b"*"):
                untagged[next(t for t in tags if t not in replies)].append(response)
        return [(untagged[tag], replies[tag]) for tag in tags]

    def _forget_ahead(self) -> _SelectAhead | None:
        """The `select_ahead` in flight or answered, no longer kept: its answers read first,
        so they cannot be taken for a later command's."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.answers is None and self._transport is not None:
            self._read_ahead(ahead)
        return ahead

    def _answer_of(self, tag: bytes) -> tuple[list[Response], Tagged]:
        """Up to the tagged reply of `tag`, OK or not, and the untagged responses before it."""
        untagged: list[Response] = []
        while True:
            response = self._read_response()
            head = response.head
            if (tagged := tagged_reply(head, tag)) is not None:
                return untagged, tagged
            if is_bye(head):
                raise self._lost(head)
            if head.startswith(b"*"):
                untagged.append(response)

    def unselect(self, mailbox: bytes) -> None:
        """Leave the selected `mailbox` without expunging anything: UNSELECT (RFC 3691) where
        offered, else EXAMINE it and CLOSE (closing a read-only mailbox expunges nothing)."""
        self._forget_ahead()
        if "UNSELECT" in self.capabilities:
            self.command(b"UNSELECT")
            return
        self.select(mailbox, readonly=True)
        self.command(b"CLOSE")

    # -- messages ----------------------------------------------------------------------------

    def uid_search_all(self) -> list[int]:
        """Every UID of the selected mailbox."""
        return self.uid_search(b"ALL")

    def uid_search(self, criteria: bytes) -> list[int]:
        """UIDs of the selected mailbox matching `criteria` (b"ALL", b"UID 7:*"). With
        ESEARCH the answer is a compact set ("1:90000,90002"), not one number per message
        on a single line."""
        untagged, _ = self.command(b"UID SEARCH", self._search(criteria), name="UID SEARCH")
        return self._found(untagged)

    def _search(self, criteria: bytes) -> bytes:
        return b"RETURN (ALL) " + criteria if "ESEARCH" in self.capabilities else criteria

    def _found(self, untagged: Sequence[Response]) -> list[int]:
        """The UIDs of a `_search` answer."""
        if "ESEARCH" in self.capabilities:
            return results.esearch_uids(untagged)
        return results.search_uids(untagged)

    def uid_fetch(self, uids: bytes, items: bytes, *, changedsince: int | None = None,
                  max_literal: int | None = None) -> Iterator[FetchItem]:
        """Stream FETCH results one message at a time; consume it fully before other commands.
        A body above `max_literal` bytes is skipped: the item then has `oversize` set. The
        answer of the same FETCH sent ahead (`select_ahead`) serves if nothing ran since."""
        fetched, self._fetched = self._fetched, None
        if fetched is not None and fetched.args == self._fetch_args(uids, items, changedsince):
            yield from self._fetched_items(fetched)
            return
        tag = self._fetch_start(uids, items, changedsince)
        yield from self._fetch_items(tag, max_literal)

    def _fetched_items(self, fetched: _Fetched) -> Iterator[FetchItem]:
        if fetched.answer.status != b"OK":
            raise refusal("UID FETCH", fetched.answer.status, fetched.answer.text,
                          server=str(self.endpoint))
        for response in fetched.untagged:
            item = self._fetch_or_pending(response)
            if item is not None:
                yield item

    @staticmethod
    def _fetch_args(uids: bytes, items: bytes, changedsince: int | None) -> tuple[Arg, ...]:
        if changedsince is None:
            return (uids, items)
        return (uids, items, b"(CHANGEDSINCE %d)" % changedsince)

    def uid_fetches_sent(self, asks: Sequence[tuple[bytes, bytes]]) -> Iterator[FetchItem]:
        """UID FETCHes (uids, items) sent now in one write, their answers read as the
        iterator is consumed (whole, before any other command): an APPEND may be sent behind
        them first (append_begin), to be stored while they are answered. A server may answer
        them in any order (RFC 3501 5.5), so their items come mixed: told apart by what each
        carries."""
        self._compress()
        tags, lines = self._one_write([(b"UID FETCH", (uids, items)) for uids, items in asks])
        self._start([lines])
        return self._fetch_answers(tags)

    def _fetch_answers(self, tags: list[bytes]) -> Iterator[FetchItem]:
        """Items until every tag is answered; a refusal is raised once all are (nothing of
        them is left unread for the next command)."""
        replies: dict[bytes, Tagged] = {}
        for response in self._untagged_until(tags, replies):
            item = self._fetch_or_pending(response)
            if item is not None:
                yield item
        self._raise_refused(replies)

    def _fetch_start(self, uids: bytes, items: bytes, changedsince: int | None) -> bytes:
        self._compress()
        tag, frames = self._protocol.command(b"UID FETCH",
                                             self._fetch_args(uids, items, changedsince),
                                             name="UID FETCH", literal_plus=False)
        self._start(frames[0])
        return tag

    def _fetch_items(self, tag: bytes, max_literal: int | None) -> Iterator[FetchItem]:
        while True:
            response = self._read_response(max_literal)
            tagged = tagged_reply(response.head, tag)
            if tagged is not None:
                if tagged.status != b"OK":
                    raise self._protocol.failure(tagged)
                return
            item = self._fetch_or_pending(response)
            if item is not None:
                yield item

    def _fetch_or_pending(self, response: Response) -> FetchItem | None:
        """An untagged response while FETCH answers are awaited: a message's item (None for
        anything else); the answer of an APPEND sent behind them is kept for append_end."""
        head = response.head
        if is_bye(head):
            raise self._lost(head)
        pending = self._pending  # sent behind the FETCH: a server may answer it first
        if pending is not None and (early := tagged_reply(head, pending.tag)) is not None:
            pending.answer = early
            self._pending = None
        elif _is_fetch(head):
            item = parse_fetch(response.tokens())
            if item.uid is not None:  # unsolicited flag updates carry no UID
                return item
        return None

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
        self.command(b"UID STORE", uids, b"FLAGS.SILENT", flag_list(flags), name="UID STORE")

    def append(self, mailbox: bytes, messages: Sequence[AppendMessage]) -> list[AppendResult]:
        """Append messages in one round trip where the server allows it.

        MULTIAPPEND (RFC 3502) is atomic: if the server refuses the batch, each message is
        retried alone so one bad message cannot block the others. Without MULTIAPPEND but
        with LITERAL+, single APPENDs are pipelined; otherwise one at a time.
        """
        if not messages:
            return []
        self._compress()
        meter = self._connected("APPEND").meter
        started = time.perf_counter()
        outcomes = self._append(mailbox, messages)
        if meter is not None:  # large messages: the server's work per message is no matter
            size = sum(len(m.body) for m in messages)
            timed = size >= _TIMED_APPEND and size >= _TIMED_APPEND_EACH * len(messages)
            meter.sent(size, time.perf_counter() - started if timed else None)
        return outcomes

    def _append(self, mailbox: bytes, messages: Sequence[AppendMessage]) -> list[AppendResult]:
        if len(messages) > 1 and "MULTIAPPEND" in self.capabilities:
            try:
                _, tagged = self.command(b"APPEND", *append_args(astring(mailbox), messages))
                return results.append_uids(tagged, len(messages))
            except TryAgainLater:
                raise
            except CommandFailed:
                pass
        return self._append_each(mailbox, messages)

    def _append_each(self, mailbox: bytes, messages: Sequence[AppendMessage],
                     ) -> list[AppendResult]:
        """One APPEND per message: pipelined with LITERAL+, else one at a time."""
        if "LITERAL+" in self.capabilities:  # all sent before any answer is read
            tags = [self._send_append(mailbox, message, plus=True)[0] for message in messages]
            return [self._append_outcome(tag) for tag in tags]
        outcomes = []
        for message in messages:
            tag, early = self._send_append(mailbox, message, plus=False)
            outcomes.append(self._append_outcome(tag, early))
        return outcomes

    def sibling(self) -> ImapSession:
        """Another session to the same server as the same user, logged in (same limits and
        write guard): the appender's held streams (engine/appender.py)."""
        return ImapSession(self.endpoint, self.credentials, self.tls, limits=self.limits,
                           write_guard=self.write_guard).connect()

    def appends_held(self) -> bool:
        """Whether APPENDs can be held (append_begin's `hold`) now: `could_hold_appends`, and
        no link measured by the time APPENDs take."""
        return self.could_hold_appends and not self.measuring_link

    @property
    def could_hold_appends(self) -> bool:
        """Whether APPENDs can be held once "auto" compression has measured the link: a
        server seen to store nothing of a MULTIAPPEND before it ends, other sessions
        appending at once (`_holds_appends`); LITERAL+ sends each message without waiting
        for it, MULTIAPPEND groups them, UIDPLUS says where each went."""
        return self._holds_appends and {"MULTIAPPEND", "LITERAL+", "UIDPLUS"} <= self.capabilities

    def appends_behind(self, count: int) -> bool:
        """Whether `count` messages can go as one MULTIAPPEND sent without waiting for
        anything (append_begin): MULTIAPPEND and LITERAL+ offered, and no link measured by
        the time APPENDs take (an APPEND answered later would time wrong)."""
        return (count > 1 and {"MULTIAPPEND", "LITERAL+"} <= self.capabilities
                and not self.measuring_link)

    def append_begin(self, mailbox: bytes, messages: Sequence[AppendMessage], *,
                     hold: bool = False) -> PendingAppend:
        """Send a MULTIAPPEND (see appends_behind) and return at once: the server stores the
        messages while the caller reads the answer of a command sent before, or decides
        the next batch (a huge folder's copy waited for the server between batches: issue
        16). The answer is read by append_end, or before the next command is sent.

        `hold` (appends_held): all but the command's final CRLF is sent. The server reads
        and stores each message as it comes (Dovecot writes and fsyncs its file) but adds
        none to the mailbox, and assigns no UID, before the command ends: `append_release`
        ends it. Until then no other command may be sent on this session; closing it
        drops the batch (RFC 3502: all of a MULTIAPPEND or nothing)."""
        # no COMPRESS started here: a command may be waiting for its answer (`_compress` reads)
        assert (self.appends_held() if hold else self.appends_behind(len(messages))), \
            "append_begin without appends_behind (appends_held to hold)"
        tag, frames = self._protocol.command(b"APPEND", append_args(astring(mailbox), messages),
                                             name="APPEND", literal_plus=True)
        frame = frames[0]
        assert frame[-1] == b"\r\n"  # (after the last literal, the line's end alone)
        self._start(frame[:-1] if hold else frame)
        meter = self._connected("APPEND").meter
        if meter is not None:  # counted, not timed
            meter.sent(sum(len(m.body) for m in messages), None)
        self._pending = PendingAppend(tag, mailbox, messages, held=hold)
        return self._pending

    def append_release(self, pending: PendingAppend) -> None:
        """End a held APPEND: the server adds its messages to the mailbox now (their UIDs
        follow those of every APPEND answered before)."""
        if self._pending is pending and pending.held:
            pending.held = False
            self._protocol.command_name = "APPEND"
            self._send([b"\r\n"])

    def append_end(self, pending: PendingAppend) -> list[AppendResult]:
        """The outcome of an append_begin, as `append` gives it: a refused MULTIAPPEND is
        retried message by message."""
        self.append_release(pending)
        if self._pending is pending:
            self._protocol.command_name = "APPEND"  # what an error while waiting names
            self._connected("APPEND").start_command()
            self._settle()
        answer = pending.answer
        if answer is None:  # the connection was closed with it in flight
            raise ConnectionLost("connection closed before the APPEND was answered",
                                 server=str(self.endpoint), command="APPEND")
        if answer.status == b"OK":
            return results.append_uids(answer, len(pending.messages))
        failure = refusal("APPEND", answer.status, answer.text, server=str(self.endpoint))
        if isinstance(failure, TryAgainLater):
            raise failure
        return self._append_each(pending.mailbox, pending.messages)

    def _settle(self) -> None:
        """Read up to the answer of the APPEND in flight; the responses before it (EXISTS,
        RECENT) are dropped, as `append` drops them."""
        pending, self._pending = self._pending, None
        if pending is not None and pending.answer is None:
            _, pending.answer = self._answer_of(pending.tag)

    def _send_append(self, mailbox: bytes, message: AppendMessage, *, plus: bool,
                     ) -> tuple[bytes, Response | None]:
        tag, frames = self._protocol.command(b"APPEND", append_args(astring(mailbox), [message]),
                                             name="APPEND", literal_plus=plus)
        return tag, self._run(tag, frames)

    def _append_outcome(self, tag: bytes, first: Response | None = None) -> AppendResult:
        try:
            _, tagged = self._finish(tag, first=first)
        except TryAgainLater as exc:
            return AppendResult(None, exc.text, transient=True, delay=exc.delay)
        except CommandFailed as exc:
            return AppendResult(None, exc.text)
        return results.append_uids(tagged, 1)[0]


def _status_items(caps: frozenset[str]) -> bytes:
    items = b"(MESSAGES UIDNEXT UIDVALIDITY"
    items += b" HIGHESTMODSEQ" if "CONDSTORE" in caps else b""
    return items + (b" SIZE)" if "STATUS=SIZE" in caps else b")")  # RFC 8438


def _holds_appends(greeting: bytes) -> bool:
    """Whether the server's MULTIAPPEND was seen all or nothing, and numbered when it ended,
    while other sessions appended into the folder (tests/interop/test_held_streams.py):
    Dovecot and Cyrus, told by their greetings. pymap stored a batch's first message, then
    refused the batch when another session appended at the same time: the retry doubled
    it. Any other server, or a greeting its admin changed, appends through one session."""
    return b"Dovecot" in greeting or b"Cyrus IMAP" in greeting


def _keeps_input_after_login(greeting: bytes) -> bool:
    """Whether commands sent in the same write as AUTHENTICATE reach the logged-in session.
    RFC 3501 lets a client pipeline them, but a server that hands the logged-in connection to
    another process may drop what it read past the login: Courier's imaplogin execs imapd,
    the LIST was never answered and the interop matrix's copies from Courier (and Cyrus)
    hung. Dovecot's imap-login hands the client's unread input on with the connection, so
    only a greeting that names Dovecot gets the LIST with the login; a greeting its admin
    changed costs a round trip, nothing more."""
    return b"Dovecot" in greeting


def session_for(account: Account, *, timeout: float | None = None,
                limits: SessionLimits | None = None) -> ImapSession:
    """A connected, logged-in session (`timeout`: of silence on the socket)."""
    limits = limits or SessionLimits()
    if timeout is not None:
        limits = replace(limits, read_timeout=timeout)
    return ImapSession(account.endpoint, account.credentials, account.tls, limits=limits,
                       write_guard=account.write_guard).connect()
