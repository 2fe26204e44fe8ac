"""The migration project: migration.toml and users.csv, parsing, validation, secrets."""

from mailferry.project.migration import Migration, load_migration
from mailferry.project.monitor import DeliverabilitySettings, MonitorSettings, SmtpLogin
from mailferry.project.secrets import resolve as resolve_secret
from mailferry.project.settings import ProjectSettings, load_project
from mailferry.project.tomlfile import Field, TomlFile, validate_table
from mailferry.project.users import MailboxUser, load_users

__all__ = [
    "DeliverabilitySettings", "Field", "MailboxUser", "Migration", "MonitorSettings",
    "ProjectSettings", "SmtpLogin", "TomlFile", "load_migration", "load_project", "load_users",
    "resolve_secret", "validate_table",
]
