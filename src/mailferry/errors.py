"""The one error tree of mailferry.

    MailferryError                  root; never raised itself
    +-- ConfigError                 bad input from the user: file/line/key, URL, option -> exit 2
    +-- ServerError                 something a server did or said
    |   +-- ConnectError            cannot reach the server or log in                    retried
    |   |   +-- AuthenticationFailed  login refused ([AUTHENTICATIONFAILED], NO to LOGIN) never
    |   |   +-- CertificateError    TLS certificate not trusted                          never
    |   |   +-- InsecureConnection  no TLS offered to a non-loopback host                never
    |   +-- ConnectionLost          dropped mid-command                                  retried
    |   |   +-- CommandTimeout      no complete answer before the command's deadline     retried
    |   +-- IncompleteAnswer        a FETCH answer left out or repeated messages         retried
    |   +-- ProtocolError           reply we cannot parse: names the command             never
    |   +-- CommandFailed           NO/BAD to a command, with the server's words         never
    |       +-- TryAgainLater       [UNAVAILABLE], [INUSE], throttling; `delay` if said  retried
    |       +-- AuthorizationFailed [AUTHORIZATIONFAILED]: no right to this mailbox      never
    +-- StateError                  the state database is unusable                      never
    +-- MailboxBusy                 another run holds the target mailbox's lease: skipped never
    +-- LeaseLost                   our lease expired or was taken over: stop writing   never

Whether an error is worth retrying is a property of its class (`retryable`), never of its
message or of where it was caught: `engine.RetryPolicy` is the one place that acts on it.
"""

from __future__ import annotations

from typing import ClassVar


class MailferryError(Exception):
    retryable: ClassVar[bool] = False


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
    """Cannot connect, or the connection broke while logging in, or the server said to log
    in later: maybe the next try works. `delay`: the seconds the server asked us to wait."""

    retryable = True

    def __init__(self, message: str, *, server: str = "", command: str = "",
                 delay: float | None = None) -> None:
        self.delay = delay
        super().__init__(message, server=server, command=command)


class AuthenticationFailed(ConnectError):
    """The server refused the credentials. Never retried: a retry cannot fix a password, and
    repeated failed logins can lock the account at the old provider."""

    retryable = False


class CertificateError(ConnectError):
    """The server's TLS certificate is not trusted."""

    retryable = False


class InsecureConnection(ConnectError):
    """The password would cross the network in clear text."""

    retryable = False


class ConnectionLost(ServerError):
    """The connection dropped mid-command: reconnect and retry."""

    retryable = True


class CommandTimeout(ConnectionLost):
    """The server did not finish its answer before the command's deadline (one that trickles
    a byte now and then never trips a per-read timeout)."""


class IncompleteAnswer(ServerError):
    """A FETCH answer that does not hold every message asked for exactly once: nothing past
    the gap counts as copied, and the folder is tried again."""

    retryable = True


class ProtocolError(ServerError):
    """A reply that does not parse."""


class CommandFailed(ServerError):
    """The server answered NO or BAD; `text` holds its words for the report."""

    def __init__(self, message: str, *, server: str = "", command: str = "",
                 text: str = "") -> None:
        self.text = text or message
        super().__init__(message, server=server, command=command)


class TryAgainLater(CommandFailed):
    """A refusal the server says is temporary (busy, throttled). `delay`: the seconds it asked
    us to wait, when it said (Microsoft's "Suggested Backoff Time")."""

    retryable = True

    def __init__(self, message: str, *, server: str = "", command: str = "", text: str = "",
                 delay: float | None = None) -> None:
        self.delay = delay
        super().__init__(message, server=server, command=command, text=text)


class AuthorizationFailed(CommandFailed):
    """Logged in, but not allowed to act as / on this mailbox."""


class StateError(MailferryError):
    """The state database cannot be opened or is from an incompatible version."""


class MailboxBusy(MailferryError):
    """Another run holds the lease on the target mailbox ("in progress elsewhere")."""

    def __init__(self, message: str, *, holder: str = "", same_run: bool = False) -> None:
        self.holder = holder  # "host pid N, a run started ..."
        self.same_run = same_run  # another lane of this very run holds it
        super().__init__(message)


class LeaseLost(MailferryError):
    """This run's lease on a mailbox expired or was taken over: nothing more is written."""
