"""Baseline: the state store as mailferry 0.1 left it (its `meta` schema 4).

Every table is created if missing, so a new database gets all of them, and a state file
written before Alembic (by `copy`, `sync`, `monitor`, `notify`: each created only its own
tables) keeps its rows and gains the others. Files at meta schema 2 or 3 first get the
columns those versions lacked. The tables are written out here, not taken from the live
metadata, so later revisions change them from this fixed point.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mailferry.store.revision import LEGACY_SCHEMA

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# what turned an older state file into the next `meta` schema version
LEGACY_STEPS = {
    2: [  # v3: the relayed fingerprint of foreign messages (taken again: forget them), and
        # the size of failed messages (a too-large one is tried again if the cap grows)
        "ALTER TABLE foreign_messages ADD COLUMN relayed VARCHAR",
        "DELETE FROM foreign_messages",
        "ALTER TABLE failures ADD COLUMN size BIGINT",
    ],
    3: [  # v4: the relayed fingerprint of copied messages (a late relay twin replaces ours)
        "ALTER TABLE messages ADD COLUMN relayed VARCHAR",
    ],
}


def legacy_versions(conn: sa.Connection) -> None:
    """A state file from before Alembic, at `meta` schema 2 or 3: bring it to 4 first."""
    if not sa.inspect(conn).has_table("meta"):
        return
    row = conn.exec_driver_sql("SELECT value FROM meta WHERE key = 'schema'").first()
    if row is None:
        return
    version = int(row[0])
    if version > LEGACY_SCHEMA:
        raise RuntimeError(
            f"state database has schema {version}, this mailferry knows {LEGACY_SCHEMA}"
        )
    while version in LEGACY_STEPS:
        for statement in LEGACY_STEPS[version]:
            conn.exec_driver_sql(statement)
        version += 1
    conn.exec_driver_sql(f"UPDATE meta SET value = '{LEGACY_SCHEMA}' WHERE key = 'schema'")


def upgrade() -> None:
    legacy_versions(op.get_bind())
    op.create_table(
        "deliverability_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_table(
        "dmarc_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org", sa.String(), nullable=False),
        sa.Column("report_id", sa.String(), nullable=False),
        sa.Column("header_from", sa.String(), nullable=False),
        sa.Column("source_ip", sa.String(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("spf_aligned", sa.Boolean(), nullable=False),
        sa.Column("dkim_aligned", sa.Boolean(), nullable=False),
        sa.Column("aligned", sa.Boolean(), nullable=False),
        sa.Column("begin", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("names", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_table(
        "dmarc_reports",
        sa.Column("org", sa.String(), nullable=False),
        sa.Column("report_id", sa.String(), nullable=False),
        sa.Column("domain", sa.String(), nullable=False),
        sa.Column("begin", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("ingested_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("org", "report_id"),
        if_not_exists=True,
    )
    op.create_table(
        "leases",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("lease_id", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("machine", sa.String(length=64), nullable=False),
        sa.Column("run_started_at", sa.Float(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        if_not_exists=True,
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        if_not_exists=True,
    )
    op.create_table(
        "monitor_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("opened_at", sa.Float(), nullable=False),
        sa.Column("resolved_at", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("last_message", sa.Text(), nullable=False),
        sa.Column("opened_sent", sa.String(), nullable=False),
        sa.Column("resolved_sent", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_table(
        "monitor_late_mail",
        sa.Column("source_user", sa.String(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("last_messages", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("source_user"),
        if_not_exists=True,
    )
    op.create_table(
        "monitor_passes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_table(
        "monitor_probes",
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("token"),
        if_not_exists=True,
    )
    op.create_table(
        "notify_journal",
        sa.Column("source_user", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("about", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("source_user", "kind", "about"),
        if_not_exists=True,
    )
    op.create_table(
        "one_time_secrets",
        sa.Column("lookup", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("lookup"),
        if_not_exists=True,
    )
    op.create_index(
        "one_time_secrets_expiry",
        "one_time_secrets",
        ["expires_at"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "target"),
        if_not_exists=True,
    )
    op.create_table(
        "progress_samples",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        if_not_exists=True,
    )
    op.create_index(
        "progress_samples_at", "progress_samples", ["at"], unique=False, if_not_exists=True
    )

    op.create_table(
        "project_mailboxes",
        sa.Column("source_user", sa.String(), nullable=False),
        sa.Column("target_user", sa.String(), nullable=False),
        sa.Column("wave", sa.String(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("last_messages", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("last_sync", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("source_user"),
        if_not_exists=True,
    )
    op.create_index(
        "project_mailboxes_tally",
        "project_mailboxes",
        ["source_user", "status", "messages", "bytes", "failed", "last_sync"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "project_progress",
        sa.Column("source_user", sa.String(), nullable=False),
        sa.Column("runner", sa.String(), nullable=False),
        sa.Column("pass_started_at", sa.Float(), nullable=False),
        sa.Column("planned", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.BigInteger(), nullable=False),
        sa.Column("copied", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("source_user"),
        if_not_exists=True,
    )
    op.create_index(
        "project_progress_tally",
        "project_progress",
        ["source_user", "planned", "scope", "copied", "bytes"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "project_roster",
        sa.Column("source_user", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("target_user", sa.String(), nullable=False),
        sa.Column("wave", sa.String(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("source_user"),
        if_not_exists=True,
    )
    op.create_index(
        "project_roster_department",
        "project_roster",
        ["department", "position"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "project_roster_position", "project_roster", ["position"], unique=False, if_not_exists=True
    )
    op.create_index(
        "project_roster_wave",
        "project_roster",
        ["wave", "position"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "project_roster_meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        if_not_exists=True,
    )
    op.create_table(
        "project_verifications",
        sa.Column("source_user", sa.String(), nullable=False),
        sa.Column("verified_at", sa.Float(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source_user"),
        if_not_exists=True,
    )
    op.create_table(
        "wave_controls",
        sa.Column("wave", sa.String(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.Float(), nullable=False),
        sa.Column("changed_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("wave"),
        if_not_exists=True,
    )
    op.create_table(
        "folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.LargeBinary(), nullable=False),
        sa.Column("target_name", sa.LargeBinary(), nullable=False),
        sa.Column("src_uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("src_uidnext", sa.BigInteger(), nullable=False),
        sa.Column("src_highestmodseq", sa.BigInteger(), nullable=True),
        sa.Column("tgt_uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("tgt_uidnext", sa.BigInteger(), nullable=True),
        sa.Column("tgt_messages", sa.BigInteger(), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["pairs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pair_id", "source_name"),
        if_not_exists=True,
    )
    op.create_table(
        "failures",
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("src_uid", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["folders.id"],
        ),
        sa.PrimaryKeyConstraint("folder_id", "src_uid"),
        if_not_exists=True,
    )
    op.create_table(
        "foreign_messages",
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("tgt_uid", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("flags", sa.String(), nullable=False),
        sa.Column("relayed", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["folders.id"],
        ),
        sa.PrimaryKeyConstraint("folder_id", "tgt_uid"),
        if_not_exists=True,
    )
    op.create_table(
        "messages",
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("src_uid", sa.BigInteger(), nullable=False),
        sa.Column("tgt_uid", sa.BigInteger(), nullable=True),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("flags", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("relayed", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["folder_id"],
            ["folders.id"],
        ),
        sa.PrimaryKeyConstraint("folder_id", "src_uid"),
        if_not_exists=True,
    )
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.String))
    if op.get_bind().execute(sa.select(meta.c.value).where(meta.c.key == "schema")).first() is None:
        op.bulk_insert(meta, [{"key": "schema", "value": str(LEGACY_SCHEMA)}])


def downgrade() -> None:
    raise NotImplementedError("the state store is upgraded only")
