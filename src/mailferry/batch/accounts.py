"""Login details for every mailbox of a project, built once before anything is copied.

Secrets are resolved here and held only in `Credentials` (which never print them); a
missing password or token is a ConfigError before the first mailbox starts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailferry.errors import ConfigError
from mailferry.imap import Account, Credentials, TlsPolicy
from mailferry.project import (
    MailboxUser,
    ProjectSettings,
    ProviderSettings,
    TokenSource,
    UserSecrets,
    load_secrets,
    resolve_secret,
)
from mailferry.urls import ServerURL


@dataclass
class _Side:
    name: str  # "source" or "target"
    server: ProviderSettings
    master_secret: str | None
    tokens: TokenSource | None

    @property
    def auth(self) -> str:
        return self.server.auth or "password"


class AccountFactory:
    """(source, target) Account for a user, from migration.toml, secrets.csv and tokens."""

    def __init__(self, settings: ProjectSettings, tls: TlsPolicy | None = None) -> None:
        self.settings = settings
        self.tls = tls or TlsPolicy()
        self.sides = [self._side("source", settings.source), self._side("target", settings.target)]
        needs_passwords = any(side.auth == "password" for side in self.sides)
        # without [users] secrets, passwords can only come from a Password column of
        # users.csv (source side): `check` names each user that has none
        self.secrets: dict[str, UserSecrets] = (
            load_secrets(settings.secrets_file)
            if needs_passwords and settings.secrets_file is not None else {})

    def _side(self, name: str, server: ProviderSettings) -> _Side:
        base = self.settings.base
        secret = None
        if server.master_password:
            secret = resolve_secret(server.master_password, base=base,
                             where=self.settings.where(name, "master_password"),
                             key=f"[{name}] master_password")
        tokens = None
        if (server.auth or "password") == "xoauth2":
            tokens = TokenSource(file=base / server.token_file if server.token_file else None,
                                 command=server.token_command)
        return _Side(name, server, secret, tokens)

    def check(self, users: list[MailboxUser],
              sides: tuple[str, ...] = ("source", "target")) -> None:
        """Every selected user has what its login needs on those `sides` (bad input:
        nothing started)."""
        for user in users:
            for side in self.sides:
                if side.auth == "password" and side.name in sides:
                    self._password(side, user)

    def accounts(self, user: MailboxUser) -> tuple[Account, Account]:
        source, target = (self._account(side, user) for side in self.sides)
        return source, target

    def source_account(self, user: MailboxUser) -> Account:
        return self._account(self.sides[0], user)

    def target_account(self, user: MailboxUser) -> Account:
        return self._account(self.sides[1], user)

    def _account(self, side: _Side, user: MailboxUser) -> Account:
        login = user.source_user if side.name == "source" else user.target_user
        endpoint = _endpoint(side.server, login)
        if side.auth == "master":
            assert side.master_secret is not None
            credentials = Credentials(login, side.master_secret, "master",
                                      login_user=side.server.master_user)
        elif side.auth == "xoauth2":
            assert side.tokens is not None
            credentials = Credentials(login, side.tokens.current(login), "xoauth2",
                                      refresh=side.tokens.refresher(login))
        else:
            credentials = Credentials(login, self._password(side, user))
        return Account(endpoint, credentials, self.tls)

    def _password(self, side: _Side, user: MailboxUser) -> str:
        entry = self.secrets.get(user.source_user)
        password = None
        if entry is not None:
            password = entry.source_password if side.name == "source" else entry.target_password
        if not password and side.name == "source":
            password = user.source_password  # users.csv's Password column
        if not password:
            if self.settings.secrets_file is None:
                raise ConfigError(f"[users] secrets: needed for auth = \"password\" (no "
                                  f"{side.name}_password for {user.source_user!r})",
                                  where=str(self.settings.path))
            raise ConfigError(f"no {side.name}_password for {user.source_user!r} (users.csv "
                              f"line {user.line})", where=str(self.settings.secrets_file))
        return password


def account_urls(settings: ProjectSettings, user: MailboxUser) -> tuple[str, str]:
    """`imap://user@host:port` of each side, as the state store keys accounts."""
    return (str(_endpoint(settings.source, user.source_user)),
            str(_endpoint(settings.target, user.target_user)))


def _endpoint(server: ProviderSettings, login: str) -> ServerURL:
    """The provider's IMAP server with one user's login: `imap://login@host:port`."""
    return replace(server.imap[0], user=login)
