"""Alembic's entry point for the state store: always run by mailferry.store.upgrade on a
connection it opened and locked (never from alembic's own command line against a URL)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=context.config.attributes.get(
    "metadata"), render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():  # inside the caller's locked transaction
    context.run_migrations()
