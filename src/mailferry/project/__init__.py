"""The migration project: migration.toml and users.csv, validated; secrets by reference.

`load(path)` reads migration.toml once and gives one view per kind of command
(`ProjectFile.plan`, `.sync`, `.relay`; see projectfile.py); each view validates only the
sections it needs. Other packages import only what is exported here.
"""

from mailferry.project.migration import (
    Migration,
    Notify,
    ProviderSettings,
    WaveTimes,
    parse_nameserver,
)
from mailferry.project.monitor import DeliverabilitySettings, MonitorSettings, SmtpLogin
from mailferry.project.projectfile import ProjectFile, load, parse
from mailferry.project.relay import (
    ROUTES,
    RelaySettings,
    parse_duration,
    upstreams_of,
)
from mailferry.project.secrets import (
    REFERENCE_KINDS,
    TokenSource,
    UserSecrets,
    load_secrets,
)
from mailferry.project.secrets import resolve as resolve_secret
from mailferry.project.settings import FolderRules, ProjectSettings, SyncSettings
from mailferry.project.users import MailboxUser, assign_waves, load_users, parse_users
from mailferry.project.windows import (
    WeeklySpan,
    Window,
    in_any_window,
    next_window_start,
    parse_window,
)

__all__ = [
    "REFERENCE_KINDS", "ROUTES", "DeliverabilitySettings", "FolderRules",
    "MailboxUser", "Migration", "MonitorSettings", "Notify", "ProjectFile", "ProjectSettings",
    "ProviderSettings", "RelaySettings", "SmtpLogin", "SyncSettings", "TokenSource",
    "UserSecrets", "WaveTimes", "WeeklySpan", "Window", "assign_waves", "in_any_window",
    "load", "load_secrets", "load_users", "next_window_start", "parse", "parse_duration",
    "parse_nameserver", "parse_users", "parse_window", "resolve_secret", "upstreams_of",
]
