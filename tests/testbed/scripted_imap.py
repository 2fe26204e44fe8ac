"""A small scripted IMAP server: a real TCP server on 127.0.0.1, for what no real server does
on demand (repeat a UID, leave a message out, announce a 2 GB literal, trickle a byte a
second, die in the middle of a MULTIAPPEND, refuse a login in a given way).

It speaks enough IMAP4rev1 to be a source or a target: CAPABILITY, LOGIN, AUTHENTICATE
PLAIN, LIST, LSUB, STATUS, SELECT, EXAMINE, UNSELECT, CLOSE, UID SEARCH, UID FETCH, UID STORE,
APPEND (LITERAL+, MULTIAPPEND, APPENDUID when UIDPLUS is announced), CREATE, SUBSCRIBE,
UNSUBSCRIBE, NOOP, LOGOUT. Mail lives in memory (`server.folders(user)`, and the names
subscribed: `server.subscriptions(user)`), so tests read back what arrived without another
client.

Behaviour is scripted per command: `server.script("UID FETCH", hook)` makes every UID FETCH
call `hook(command)`; the hook may answer anything through `command.send(...)`, or run the
normal behaviour with `command.default()`, or edit the normal answer first:

    def repeat_uid_2(command: Command) -> None:
        answers = command.fetch_answers()          # [(uid, b"* 2 FETCH (...)\\r\\n"), ...]
        command.send(*(a for _, a in answers), *(a for uid, a in answers if uid == 2))
        command.ok()

Nothing here imports mailferry: the server is never checked with the code it tests.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Token = bytes | list["Token"]  # a literal is a Literal (bytes)
DEFAULT_DATE = "01-Jan-2024 10:00:00 +0000"
CAPABILITIES = "IMAP4rev1 LITERAL+ UIDPLUS MULTIAPPEND"


class Literal(bytes):
    """A literal argument (as opposed to an atom or quoted string)."""


@dataclass
class ScriptedMessage:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)
    internaldate: str = DEFAULT_DATE


@dataclass
class ScriptedFolder:
    name: str
    uidvalidity: int = 1
    messages: list[ScriptedMessage] = field(default_factory=list)
    uidnext: int = 1

    @property
    def highest(self) -> int:
        """What "*" stands for in a UID set."""
        return max((m.uid for m in self.messages), default=0)

    def add(self, raw: bytes, flags: set[str] | None = None,
            internaldate: str = DEFAULT_DATE) -> ScriptedMessage:
        message = ScriptedMessage(self.uidnext, raw, set(flags or ()), internaldate)
        self.uidnext += 1
        self.messages.append(message)
        return message


def tokenize(parts: list[bytes], literals: list[bytes]) -> list[Token]:
    """Arguments of a command line: atoms (BODY.PEEK[HEADER] kept whole), quoted strings,
    literals (as Literal) and parenthesised lists."""
    root: list[Token] = []
    stack = [root]
    for index, text in enumerate(parts):
        pos = 0
        while pos < len(text):
            char = text[pos:pos + 1]
            if char in (b" ", b"\r", b"\n"):
                pos += 1
            elif char == b"(":
                child: list[Token] = []
                stack[-1].append(child)
                stack.append(child)
                pos += 1
            elif char == b")":
                stack.pop()
                pos += 1
            elif char == b'"':
                end = pos + 1
                out = bytearray()
                while text[end:end + 1] != b'"':
                    if text[end:end + 1] == b"\\":
                        end += 1
                    out += text[end:end + 1]
                    end += 1
                stack[-1].append(bytes(out))
                pos = end + 1
            elif char == b"{":
                stack[-1].append(Literal(literals[index]))
                pos = len(text)
            else:
                end, depth = pos, 0
                while end < len(text):
                    c = text[end:end + 1]
                    depth += (c == b"[") - (c == b"]")
                    if depth <= 0 and c in b" ()\r\n":
                        break
                    end += 1
                stack[-1].append(text[pos:end])
                pos = end
    return root


def uid_set_members(spec: bytes, highest: int) -> set[int]:
    members: set[int] = set()
    for piece in spec.split(b","):
        low, _, high = piece.partition(b":")
        a = highest if low == b"*" else int(low)
        b = a if not high else (highest if high == b"*" else int(high))
        members.update(range(min(a, b), max(a, b) + 1))
    return members


def quoted(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _header(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        pos = raw.find(sep)
        if pos >= 0:
            return raw[:pos + len(sep)]
    return raw


Hook = Callable[["Command"], None]


class Command:
    """One client command, for a hook: its tag, name (`UID FETCH`), arguments and helpers."""

    def __init__(self, conn: _Connection, tag: bytes, name: str, args: list[Token]) -> None:
        self.conn = conn
        self.server = conn.server
        self.tag = tag
        self.name = name
        self.args = args

    def send(self, *chunks: bytes) -> bool:
        """Write to the client; False once it went away."""
        try:
            for chunk in chunks:
                self.conn.sock.sendall(chunk)
            return True
        except OSError:
            return False

    def ok(self, text: str = "done") -> None:
        self.send(self.tag + b" OK " + text.encode() + b"\r\n")

    def no(self, text: str) -> None:
        self.send(self.tag + b" NO " + text.encode() + b"\r\n")

    def default(self) -> None:
        self.conn.standard(self)

    def close(self) -> None:
        """Drop the connection (a crash, as the client sees it)."""
        self.conn.closing = True
        with contextlib.suppress(OSError):
            self.conn.sock.shutdown(socket.SHUT_RDWR)

    @property
    def folder(self) -> ScriptedFolder:
        assert self.conn.selected is not None
        return self.conn.selected

    @property
    def literals(self) -> list[bytes]:
        """The literals among the arguments: an APPEND's messages."""
        return [bytes(arg) for arg in self.args if isinstance(arg, Literal)]

    def fetch_answers(self) -> list[tuple[int, bytes]]:
        """The normal answer to this UID FETCH, one (uid, response) per message."""
        spec, items = self.args[0], self.args[1]
        assert isinstance(spec, bytes)
        folder = self.folder
        wanted = uid_set_members(spec, folder.highest)
        names = [i.upper() for i in (items if isinstance(items, list) else [items])
                 if isinstance(i, bytes)]
        answers = []
        for seq, message in enumerate(folder.messages, 1):
            if message.uid in wanted:
                answers.append((message.uid, fetch_response(seq, message, names)))
        return answers


def dies_on_append_of(marker: bytes) -> Hook:
    """An APPEND hook: the server crashes (pymap's `* BYE [SERVERBUG]`, the connection
    dropped) on a message holding `marker`, keeping the messages before it in that APPEND."""
    def hook(command: Command) -> None:
        bodies = command.literals
        if not any(marker in body for body in bodies):
            command.default()
            return
        name = command.args[0]
        folder = command.server.folder(name.decode() if isinstance(name, bytes) else "INBOX")
        for body in bodies[:[marker in b for b in bodies].index(True)]:
            folder.add(body)
        command.send(b"* BYE [SERVERBUG] Unhandled server error.\r\n")
        command.close()
    return hook


def fetch_response(seq: int, message: ScriptedMessage, names: list[bytes]) -> bytes:
    parts = [b"UID %d" % message.uid]
    for name in names:
        if name == b"FLAGS":
            parts.append(b"FLAGS (" + " ".join(sorted(message.flags)).encode() + b")")
        elif name == b"INTERNALDATE":
            parts.append(b"INTERNALDATE " + quoted(message.internaldate))
        elif name == b"RFC822.SIZE":
            parts.append(b"RFC822.SIZE %d" % len(message.raw))
        elif name in (b"BODY.PEEK[]", b"BODY[]", b"BODY.PEEK[HEADER]", b"BODY[HEADER]",
                      b"BODY.PEEK[TEXT]", b"BODY[TEXT]"):
            section = name.split(b"[", 1)[1].rstrip(b"]")
            data = message.raw
            if section == b"HEADER":
                data = _header(message.raw)
            elif section == b"TEXT":
                data = message.raw[len(_header(message.raw)):]
            parts.append(b"BODY[%s] {%d}\r\n%s" % (section, len(data), data))
    return b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts))


class _Connection(socketserver.BaseRequestHandler):
    server: ScriptedImap  # type: ignore[assignment]

    def setup(self) -> None:
        self.sock: socket.socket = self.request
        self.file = self.sock.makefile("rb")
        self.user: str | None = None
        self.selected: ScriptedFolder | None = None
        self.closing = False
        self.server.connections.append(self.sock)

    def handle(self) -> None:
        greeting = f"* OK [CAPABILITY {self.server.capabilities}] {self.server.greeting}\r\n"
        with contextlib.suppress(OSError):
            self.sock.sendall(greeting.encode())
            while not self.closing:
                read = self._read_command()
                if read is None:
                    return
                tag, name, args = read
                self.server.commands.append((self.user, name))
                command = Command(self, tag, name, args)
                hook = self.server.hooks.get(name)
                if hook is not None:
                    hook(command)
                else:
                    self.standard(command)

    def _read_command(self) -> tuple[bytes, str, list[Token]] | None:
        parts: list[bytes] = []
        literals: list[bytes] = []
        line = self.file.readline()
        while True:
            if not line:
                return None
            parts.append(line)
            marker = re.search(rb"\{(\d+)(\+?)\}\r\n$", line)
            if not marker:
                break
            if not marker.group(2):
                self.sock.sendall(b"+ go ahead\r\n")
            literals.append(self.file.read(int(marker.group(1))))
            line = self.file.readline()
        tokens = tokenize(parts, literals)
        tag = tokens[0] if tokens and isinstance(tokens[0], bytes) else b"*"
        words = [t.upper() if isinstance(t, bytes) else b"" for t in tokens[1:3]]
        name, rest = (words[0].decode(), tokens[2:]) if words else ("", [])
        if name == "UID" and len(words) > 1:
            name, rest = f"UID {words[1].decode()}", tokens[3:]
        return tag, name, rest

    # -- the normal behaviour ---------------------------------------------------------------

    def standard(self, command: Command) -> None:
        handler = getattr(self, "_" + command.name.lower().replace(" ", "_"), None)
        if handler is None:
            command.send(command.tag + b" BAD unknown command\r\n")
            return
        handler(command)

    def _capability(self, command: Command) -> None:
        command.send(f"* CAPABILITY {self.server.capabilities}\r\n".encode())
        command.ok()

    def _noop(self, command: Command) -> None:
        command.ok()

    def _logout(self, command: Command) -> None:
        command.send(b"* BYE bye\r\n")
        command.ok()
        self.closing = True

    def _login(self, command: Command) -> None:
        user, password = (a.decode() if isinstance(a, bytes) else "" for a in command.args[:2])
        self._authenticated(command, user, password)

    def _authenticate(self, command: Command) -> None:
        initial = command.args[1] if len(command.args) > 1 else None
        if not isinstance(initial, bytes):
            command.send(b"+ \r\n")
            initial = self.file.readline().strip()
        _, user, password = base64.b64decode(initial).decode().split("\0")
        self._authenticated(command, user, password)

    def _authenticated(self, command: Command, user: str, password: str) -> None:
        ok = self.server.users.get(user) == password
        self.server.logins.append((user, ok))
        if ok:
            self.user = user
            command.ok(f"[CAPABILITY {self.server.capabilities}] logged in"
                       if self.server.says_capabilities else "logged in")
        else:
            command.no("[AUTHENTICATIONFAILED] Authentication failed.")

    def _folders(self) -> dict[str, ScriptedFolder]:
        assert self.user is not None
        return self.server.folders(self.user)

    def _list(self, command: Command) -> None:
        for name in self._folders():
            command.send(b'* LIST (\\HasNoChildren) "/" ' + quoted(name) + b"\r\n")
        command.ok()

    def _lsub(self, command: Command) -> None:
        assert self.user is not None
        for name in sorted(self.server.subscriptions(self.user)):
            command.send(b'* LSUB () "/" ' + quoted(name) + b"\r\n")
        command.ok()

    def _folder_arg(self, command: Command) -> ScriptedFolder | None:
        name = command.args[0]
        folder = self._folders().get(name.decode() if isinstance(name, bytes) else "")
        if folder is None:
            command.no("[NONEXISTENT] no such mailbox")
        return folder

    def _status(self, command: Command) -> None:
        folder = self._folder_arg(command)
        if folder is None:
            return
        values = {b"MESSAGES": len(folder.messages), b"UIDNEXT": folder.uidnext,
                  b"UIDVALIDITY": folder.uidvalidity, b"UNSEEN": 0}
        items = command.args[1] if isinstance(command.args[1], list) else []
        text = b" ".join(b"%s %d" % (i.upper(), values.get(i.upper(), 0)) for i in items
                         if isinstance(i, bytes))
        command.send(b"* STATUS " + quoted(folder.name) + b" (" + text + b")\r\n")
        command.ok()

    def _select(self, command: Command, mode: bytes = b"READ-WRITE") -> None:
        folder = self._folder_arg(command)
        if folder is None:
            return
        self.selected = folder
        command.send(b"* %d EXISTS\r\n* 0 RECENT\r\n" % len(folder.messages),
                     b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
                     b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft"
                     b" \\*)] ok\r\n",
                     b"* OK [UIDVALIDITY %d] ok\r\n* OK [UIDNEXT %d] ok\r\n"
                     % (folder.uidvalidity, folder.uidnext))
        command.ok(f"[{mode.decode()}] selected")

    def _examine(self, command: Command) -> None:
        self._select(command, b"READ-ONLY")

    def _unselect(self, command: Command) -> None:
        self.selected = None
        command.ok()

    def _close(self, command: Command) -> None:  # nothing is ever expunged here
        self.selected = None
        command.ok()

    def _uid_search(self, command: Command) -> None:
        folder = command.folder
        uids = [m.uid for m in folder.messages]
        words = [a for a in command.args if isinstance(a, bytes)]
        if len(words) >= 2 and words[-2].upper() == b"UID":
            wanted = uid_set_members(words[-1], folder.highest)
            uids = [u for u in uids if u in wanted]
        command.send(b"* SEARCH" + b"".join(b" %d" % u for u in uids) + b"\r\n")
        command.ok()

    def _uid_fetch(self, command: Command) -> None:
        command.send(*(answer for _, answer in command.fetch_answers()))
        command.ok()

    def _uid_store(self, command: Command) -> None:
        spec, _mode, flags = command.args[:3]
        assert isinstance(spec, bytes)
        folder = command.folder
        wanted = uid_set_members(spec, folder.highest)
        new = {f.decode() for f in flags if isinstance(f, bytes)} if isinstance(
            flags, list) else set()
        for message in folder.messages:
            if message.uid in wanted:
                message.flags = set(new)
        command.ok()

    def _create(self, command: Command) -> None:
        name = command.args[0]
        assert isinstance(name, bytes)
        folders = self._folders()
        if name.decode() in folders:
            command.no("[ALREADYEXISTS] exists")
            return
        folders[name.decode()] = ScriptedFolder(name.decode(), uidvalidity=len(folders) + 1)
        command.ok()

    def _subscribe(self, command: Command) -> None:
        # (any name: RFC 3501 lets a server subscribe one that does not exist)
        assert self.user is not None and isinstance(command.args[0], bytes)
        self.server.subscriptions(self.user).add(command.args[0].decode())
        command.ok()

    def _unsubscribe(self, command: Command) -> None:
        assert self.user is not None and isinstance(command.args[0], bytes)
        self.server.subscriptions(self.user).discard(command.args[0].decode())
        command.ok()

    def _append(self, command: Command) -> None:
        folder = self._folder_arg(command)
        if folder is None:
            return
        flags: set[str] = set()
        date = DEFAULT_DATE
        added: list[int] = []
        for token in command.args[1:]:
            if isinstance(token, list):
                flags = {f.decode() for f in token if isinstance(f, bytes)}
            elif isinstance(token, Literal):
                added.append(folder.add(bytes(token), flags, date).uid)
                flags, date = set(), DEFAULT_DATE
            elif isinstance(token, bytes):
                date = token.decode()
        uids = ",".join(str(u) for u in added)
        if "UIDPLUS" not in self.server.capabilities.split():
            command.ok("appended")
            return
        command.ok(f"[APPENDUID {folder.uidvalidity} {uids}] appended")


class ScriptedImap(socketserver.ThreadingTCPServer):
    """`with ScriptedImap(users={"alice": "pw"}) as server:` ... `server.port`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, users: dict[str, str] | None = None, *,
                 capabilities: str = CAPABILITIES, greeting: str = "scripted server ready",
                 says_capabilities: bool = False) -> None:
        """`greeting` after the capabilities (one naming Dovecot gets commands pipelined
        with the login); `says_capabilities`: the login's OK says them, as Dovecot's does."""
        super().__init__(("127.0.0.1", 0), _Connection)
        self.host = "127.0.0.1"
        self.port: int = self.server_address[1]
        self.users = users or {"alice": "alice-pw"}
        self.capabilities = capabilities
        self.greeting = greeting
        self.says_capabilities = says_capabilities
        self.hooks: dict[str, Hook] = {}
        self.commands: list[tuple[str | None, str]] = []  # (user, command name)
        self.logins: list[tuple[str, bool]] = []  # (user, accepted)
        self.connections: list[socket.socket] = []
        self._mail: dict[str, dict[str, ScriptedFolder]] = {}
        self._subscribed: dict[str, set[str]] = {}
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def folders(self, user: str = "alice") -> dict[str, ScriptedFolder]:
        return self._mail.setdefault(user, {"INBOX": ScriptedFolder("INBOX")})

    def subscriptions(self, user: str = "alice") -> set[str]:
        return self._subscribed.setdefault(user, set())

    def folder(self, name: str, user: str = "alice") -> ScriptedFolder:
        folders = self.folders(user)
        if name not in folders:
            folders[name] = ScriptedFolder(name, uidvalidity=len(folders) + 1)
        return folders[name]

    def script(self, command: str, hook: Hook) -> None:
        self.hooks[command.upper()] = hook

    def url(self, user: str = "alice") -> str:
        return f"imap://{user}@{self.host}:{self.port}"

    def start(self) -> ScriptedImap:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        for sock in self.connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def __enter__(self) -> ScriptedImap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
