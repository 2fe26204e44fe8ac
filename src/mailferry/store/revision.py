"""What a state database must say to be used as it is, readable without SQLAlchemy or Alembic
(store/marks.py reads a state file with the standard library alone)."""

# the newest revision in migrations/versions: bump it with each new revision, and make the
# same change in store/tables.py (tests hold it to Alembic's head, the tables to the
# revisions: tests/store/test_store_head.py)
HEAD = "0004"
# the `meta` schema of the last state files before Alembic: every database carries it in
# `meta` (key 'schema'), written by the baseline revision or by a new database's creation
LEGACY_SCHEMA = 4
MIGRATING = "migrating"  # meta key of a `store migrate` under way (store/transfer.py)
