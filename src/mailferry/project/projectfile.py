"""migration.toml read once, with one view per kind of command.

    ProjectFile.plan    the planner's: check, plan, notify, monitor, autoconfig
                        needs [migration], [source], [target]
    ProjectFile.sync    the sync's: waves, sync, status, report, verify/backup --project, serve
                        needs [source], [target], [users]
    ProjectFile.relay   the relay's: relay run/status/stop
                        needs [relay]

Unknown sections are refused when the file is read; otherwise a view validates only the
sections it reads, when it is first asked for, so a command never requires a section it
does not use. A missing section is a `ConfigError` naming the file and the section.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from mailferry.errors import ConfigError
from mailferry.project.migration import KNOWN_SECTIONS, Migration, build_migration
from mailferry.project.relay import RelaySettings, parse_relay_section
from mailferry.project.settings import ProjectSettings, build_project
from mailferry.project.tomlfile import TomlFile


class ProjectFile:
    def __init__(self, doc: TomlFile) -> None:
        doc.check_sections(KNOWN_SECTIONS)
        self.doc = doc

    @property
    def path(self) -> Path:
        return self.doc.path

    @cached_property
    def plan(self) -> Migration:
        return build_migration(self.doc)

    @cached_property
    def sync(self) -> ProjectSettings:
        # a whole migration brings the planner's view (its dates, for waves and the report)
        return build_project(self.doc, self.plan if "migration" in self.doc.data else None)

    @cached_property
    def relay(self) -> RelaySettings:
        settings = parse_relay_section(self.doc)
        if settings is None:
            raise ConfigError("missing section [relay]", where=str(self.path))
        return settings


def load(path: str | Path) -> ProjectFile:
    """Read migration.toml (a ConfigError names the file and line if it is not TOML)."""
    return ProjectFile(TomlFile.load(path))


def parse(text: str, path: str | Path = "migration.toml") -> ProjectFile:
    """The same from text (tests, `init`)."""
    return ProjectFile(TomlFile.parse(text, path))
