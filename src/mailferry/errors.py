"""The one error tree of mailferry.

    MailferryError                  root; never raised itself
    +-- ConfigError                 bad input from the user: file/line/key, URL, option -> exit 2
    +-- ServerError                 something a server did or said
    |   +-- ConnectError            cannot reach / TLS / login failed          (account scope)
    |   +-- ConnectionLost          dropped mid-command: retryable             (account scope)
    |   +-- ProtocolError           reply we cannot parse: names the command   (account scope)
    |   +-- CommandFailed           NO/BAD to a command, with the server's words
    +-- StateError                  the state database is unusable

Each carries `retryable`, so runners decide retries by class, not by message text.
"""

from __future__ import annotations

from enum import Enum


class Scope(Enum):
    """What a failure affects: lets a runner skip one message, one folder or one account."""

    MESSAGE = "message"
    FOLDER = "folder"
    ACCOUNT = "account"


class MailferryError(Exception):
    retryable: bool = False
    scope: Scope = Scope.ACCOUNT


class ConfigError(MailferryError):
    """Bad user input. `where` names the file and line, the URL or the option."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ServerError(MailferryError):
    def __init__(self, message: str, *, server: str = "", command: str = "") -> None:
        self.server = server
        self.command = command
        prefix = server + (f" ({command})" if command else "")
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConnectError(ServerError):
    """Cannot connect, TLS failed, or login refused: nothing can be done on this account."""


class ConnectionLost(ServerError):
    """The connection dropped mid-command (or timed out): reconnect and retry."""

    retryable = True


class ProtocolError(ServerError):
    """A reply that does not parse."""


class CommandFailed(ServerError):
    """The server answered NO or BAD; `text` holds its words for the report."""

    def __init__(
        self, message: str, *, server: str = "", command: str = "", text: str = "",
        retryable: bool = False, scope: Scope = Scope.FOLDER,
    ) -> None:
        self.text = text or message
        self.retryable = retryable
        self.scope = scope
        super().__init__(message, server=server, command=command)


class StateError(MailferryError):
    """The state database cannot be opened or is from an incompatible version."""
