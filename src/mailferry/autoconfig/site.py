"""What `mailferry autoconfig` serves and writes: the project's client settings, and the
login of each address in users.csv (an address not in it gets the generic answer from
autoconfig, 404 from Autodiscover and for a profile: nobody is told who exists)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailferry.autoconfig.formats import (
    ClientSettings,
    autodiscover_response,
    mobileconfig,
    mozilla_config,
)
from mailferry.project import MailboxUser, load, load_users

MOZILLA_PATHS = ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")
AUTODISCOVER_PATHS = ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml")
MOBILECONFIG_TYPE = "application/x-apple-aspen-config"


@dataclass(frozen=True)
class Site:
    settings: ClientSettings
    users: dict[str, MailboxUser]  # target address (lowercase) -> user

    @classmethod
    def load(cls, path: str | Path) -> Site:
        project_file = load(path)
        users = load_users(project_file.sync.users_file)
        return cls(ClientSettings.of(project_file.plan),
                   {u.target_user.lower(): u for u in users if "@" in u.target_user})

    def user(self, address: str) -> MailboxUser | None:
        return self.users.get(address.strip().lower())

    def mozilla(self, address: str | None) -> bytes:
        user = self.user(address) if address else None
        return mozilla_config(self.settings, user.target_user if user else "%EMAILADDRESS%")

    def autodiscover(self, address: str) -> bytes | None:
        user = self.user(address)
        return autodiscover_response(self.settings, user.target_user) if user else None

    def profile(self, address: str) -> bytes | None:
        user = self.user(address)
        if user is None:
            return None
        return mobileconfig(self.settings, user.target_user, user.target_user,
                            user.name or user.target_user)

    def write(self, directory: Path) -> list[Path]:
        """The static files: the autoconfig XML at both well-known paths, one Autodiscover
        answer and one profile per user (for a web server that serves files)."""
        files: dict[Path, bytes] = {}
        for url in MOZILLA_PATHS:
            files[directory / url.lstrip("/")] = self.mozilla(None)
        for address, user in sorted(self.users.items()):
            answer = self.autodiscover(address)
            profile = self.profile(address)
            assert answer is not None and profile is not None
            files[directory / "autodiscover" / f"{user.target_user}.xml"] = answer
            files[directory / "mobileconfig" / f"{user.target_user}.mobileconfig"] = profile
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return sorted(files)
