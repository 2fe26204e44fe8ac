"""What a state database must say to be used as it is, readable without SQLAlchemy or Alembic
(store/marks.py reads a state file with the standard library alone)."""

# the newest revision in migrations/versions: bump it with each new revision (a test holds
# it to Alembic's head)
HEAD = "0003"
MIGRATING = "migrating"  # meta key of a `store migrate` under way (store/transfer.py)
