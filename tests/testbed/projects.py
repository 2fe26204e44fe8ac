"""Project files for `mailferry sync` and friends: migration.toml, users.csv, secrets.csv,
written the way a user writes them (text), so the tests go through the real loader."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def migration_section(cutover: str, *, name: str = "bank", zone: str = "Europe/Berlin") -> str:
    """A [migration] section (a whole migration: its cutover and zone matter)."""
    return (f'[migration]\nname = "{name}"\ndomains = ["bank.example"]\n'
            f'timezone = "{zone}"\ncutover = {cutover}\n\n')


def write_sync_project(root: Path, source_port: int, target_port: int,
                       users: Sequence[tuple[str, str, str]], *, head: str = "",
                       extra: str = "", waves: dict[str, str] | None = None) -> Path:
    """migration.toml (password logins on both sides of 127.0.0.1; `head` before, `extra`
    after), users.csv and secrets.csv. `users`: (name, source password, target password),
    each user named alike on both sides; `waves`: user -> wave."""
    (root / "migration.toml").write_text(f"""{head}\
[source]
imap = "imap://127.0.0.1:{source_port}"
auth = "password"

[target]
imap = "imap://127.0.0.1:{target_port}"
auth = "password"

[users]
file = "users.csv"
secrets = "secrets.csv"

[sync]
state = "state.db"
backoff = 0.05
{extra}""")
    (root / "users.csv").write_text("source_user,target_user,department,wave\n" + "".join(
        f"{name},{name},,{(waves or {}).get(name, '')}\n" for name, _, _ in users))
    (root / "secrets.csv").write_text("user,source_password,target_password\n" + "".join(
        f"{name},{source},{target}\n" for name, source, target in users))
    return root / "migration.toml"
