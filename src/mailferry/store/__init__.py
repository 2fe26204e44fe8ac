"""Durable copy state (SQLAlchemy Core; SQLite by default)."""

from mailferry.store.state import (
    FailureRecord,
    FolderState,
    ForeignMessage,
    MappedMessage,
    StateStore,
)

__all__ = ["FailureRecord", "FolderState", "ForeignMessage", "MappedMessage", "StateStore"]
