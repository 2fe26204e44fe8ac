"""Durable copy state (SQLAlchemy Core; SQLite by default)."""

from mailferry.store.state import FolderState, MappedMessage, StateStore

__all__ = ["FolderState", "MappedMessage", "StateStore"]
