"""The migration project: migration.toml and users.csv, parsing, validation, secrets."""

from mailferry.project.tomlfile import Field, TomlFile, validate_table

__all__ = ["Field", "TomlFile", "validate_table"]
