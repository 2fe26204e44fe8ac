"""Every table of the state store at the head revision, declared once for all its owners
(state.py, project_state.py, progress.py, ...), which import theirs from here.

A new database (no tables at all) is created from this metadata at the head, without
Alembic (store/upgrade.py); older databases reach the same schema through the revisions in
store/migrations. tests/store/test_store_head.py holds the two equal on SQLite and
PostgreSQL: a new revision changes this metadata and `revision.HEAD` with it.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# the copy state (state.py)
meta_table = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)
pairs = sa.Table(
    "pairs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("target", sa.String, nullable=False),
    sa.UniqueConstraint("source", "target"),
)
folders = sa.Table(
    "folders", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("pair_id", sa.Integer, nullable=False),
    sa.Column("source_name", sa.LargeBinary, nullable=False),  # wire name
    sa.Column("target_name", sa.LargeBinary, nullable=False),
    sa.Column("src_uidvalidity", sa.BigInteger),
    sa.Column("src_uidnext", sa.BigInteger, nullable=False, default=1),
    sa.Column("src_highestmodseq", sa.BigInteger),
    sa.Column("tgt_uidvalidity", sa.BigInteger),
    sa.Column("tgt_uidnext", sa.BigInteger),  # target as we left it: a change there (mail
    sa.Column("tgt_messages", sa.BigInteger),  # deleted, folder restored) is looked at too
    sa.Column("complete", sa.Boolean, nullable=False, default=False),
    sa.Column("synced_at", sa.Float),
    # the foreign key before the unique constraint, in the order revision 0001 wrote them:
    # SQLite keeps the CREATE TABLE's text, and a new file's must be a migrated file's
    sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"]),
    sa.UniqueConstraint("pair_id", "source_name"),
)
messages = sa.Table(
    "messages", metadata,
    sa.Column("folder_id", sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("src_uid", sa.BigInteger, primary_key=True),
    sa.Column("tgt_uid", sa.BigInteger),  # None: skipped duplicate, or no UIDPLUS
    sa.Column("fingerprint", sa.String, nullable=False),
    sa.Column("flags", sa.String, nullable=False),  # space-separated, sorted
    sa.Column("outcome", sa.String, nullable=False),  # a MessageOutcome
    sa.Column("relayed", sa.String),  # fingerprint below the delivery fields, if any
)
foreign = sa.Table(
    "foreign_messages", metadata,
    sa.Column("folder_id", sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("tgt_uid", sa.BigInteger, primary_key=True),
    sa.Column("fingerprint", sa.String, nullable=False),
    sa.Column("flags", sa.String, nullable=False),
    sa.Column("relayed", sa.String),  # fingerprint below the delivery fields, if any
)
failures = sa.Table(
    "failures", metadata,
    sa.Column("folder_id", sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("src_uid", sa.BigInteger, primary_key=True),
    sa.Column("kind", sa.String, nullable=False),  # a FailureKind
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("size", sa.BigInteger),
)
# what read-backs learned of a target folder (engine/readback.py), so later runs into it
# read back only what looks off. Gone with the folder's other rows when either UIDVALIDITY
# changes, and once the server is caught rewriting an ordinary message
target_traits = sa.Table(
    "target_traits", metadata,
    sa.Column("folder_id", sa.ForeignKey("folders.id"), primary_key=True),
    sa.Column("keeps_ordinary", sa.Boolean, nullable=False),  # a sample came back as sent
    sa.Column("keeps_eight_bit", sa.Boolean, nullable=False),  # so did a raw 8-bit header
    sa.Column("at", sa.Float, nullable=False),
)

# project_state.py
mailboxes = sa.Table(
    "project_mailboxes", metadata,
    sa.Column("source_user", sa.String, primary_key=True),
    sa.Column("target_user", sa.String, nullable=False),
    sa.Column("wave", sa.String, nullable=False, default=""),
    sa.Column("department", sa.String, nullable=False, default=""),
    sa.Column("source", sa.String, nullable=False),  # imap://user@host:port
    sa.Column("target", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("passes", sa.Integer, nullable=False, default=0),
    sa.Column("messages", sa.BigInteger, nullable=False, default=0),  # copied, all passes
    sa.Column("bytes", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_messages", sa.BigInteger, nullable=False, default=0),  # last pass
    sa.Column("failed", sa.BigInteger, nullable=False, default=0),  # messages, last pass
    sa.Column("started_at", sa.Float),
    sa.Column("last_sync", sa.Float),  # end of the last pass that finished
    sa.Column("seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("error", sa.String),
    sa.Column("detail", sa.Text),  # JSON: the last pass's folders and failures
)
# Live views add up every mailbox: this index holds what they read, so a tally never reads
# the rows (whose detail JSON is large). Older state files gain it with the baseline.
tally_index = sa.Index("project_mailboxes_tally", mailboxes.c.source_user, mailboxes.c.status,
                       mailboxes.c.messages, mailboxes.c.bytes, mailboxes.c.failed,
                       mailboxes.c.last_sync)
# The last `mailferry verify` of each mailbox (own table: older state files gain it as is)
verifications = sa.Table(
    "project_verifications", metadata,
    sa.Column("source_user", sa.String, primary_key=True),
    sa.Column("verified_at", sa.Float, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("differences", sa.Integer, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON: totals, counts, first differences
)

# progress.py
roster = sa.Table(
    "project_roster", metadata,
    sa.Column("source_user", sa.String, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("target_user", sa.String, nullable=False),
    sa.Column("wave", sa.String, nullable=False),
    sa.Column("department", sa.String, nullable=False),
    sa.Index("project_roster_position", "position"),
    sa.Index("project_roster_wave", "wave", "position"),
    sa.Index("project_roster_department", "department", "position"),
)
roster_meta = sa.Table(
    "project_roster_meta", metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)
mailbox_progress = sa.Table(
    "project_progress", metadata,
    sa.Column("source_user", sa.String, primary_key=True),
    sa.Column("runner", sa.String, nullable=False),  # host:pid of the sync doing the pass
    sa.Column("pass_started_at", sa.Float, nullable=False),
    sa.Column("planned", sa.BigInteger, nullable=False, default=0),  # messages this pass
    sa.Column("scope", sa.BigInteger, nullable=False, default=0),  # largest plan: the mailbox
    sa.Column("copied", sa.BigInteger, nullable=False, default=0),  # this pass, so far
    sa.Column("bytes", sa.BigInteger, nullable=False, default=0),  # this pass, so far
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("project_progress_tally", "source_user", "planned", "scope", "copied", "bytes"),
)
samples = sa.Table(
    "progress_samples", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("runner", sa.String, nullable=False),
    sa.Column("messages", sa.BigInteger, nullable=False),  # copied since the runner's last
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Index("progress_samples_at", "at"),
)
wave_controls = sa.Table(
    "wave_controls", metadata,
    sa.Column("wave", sa.String, primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("changed_at", sa.Float, nullable=False),
    sa.Column("changed_by", sa.String, nullable=False),  # "dashboard 127.0.0.1", "cli"
)

# one_time.py
one_time_secrets = sa.Table(
    "one_time_secrets", metadata,
    sa.Column("lookup", sa.String(64), primary_key=True),
    sa.Column("user", sa.String, nullable=False),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("one_time_secrets_expiry", "expires_at"),
)

# monitoring.py
passes = sa.Table(
    "monitor_passes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),  # epoch seconds, the monitor's clock
    sa.Column("alerts", sa.Integer, nullable=False),  # checks that need a person
    sa.Column("summary", sa.Text, nullable=False),  # JSON: every check of the pass
)
incidents = sa.Table(
    "monitor_incidents", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String, nullable=False),  # check and subject: "probe new", ...
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("resolved_at", sa.Float),
    sa.Column("message", sa.Text, nullable=False),  # as first seen
    sa.Column("last_message", sa.Text, nullable=False),
    sa.Column("opened_sent", sa.String, nullable=False, default=""),  # channels told, "a b"
    sa.Column("resolved_sent", sa.String, nullable=False, default=""),
)
probes = sa.Table(
    "monitor_probes", metadata,
    sa.Column("token", sa.String, primary_key=True),
    sa.Column("sent_at", sa.Float, nullable=False),
    sa.Column("done", sa.Boolean, nullable=False, default=False),  # found everywhere, or lost
    sa.Column("detail", sa.Text, nullable=False),  # JSON: send result, per system where found
)
late_mail = sa.Table(
    "monitor_late_mail", metadata,
    sa.Column("source_user", sa.String, primary_key=True),
    sa.Column("messages", sa.BigInteger, nullable=False),  # copied after cutover, all passes
    sa.Column("last_messages", sa.BigInteger, nullable=False),  # by the last pass
    sa.Column("last_at", sa.Float, nullable=False),
    sa.Column("error", sa.Text),  # the last pass's, in the server's words
)
deliverability_runs = sa.Table(
    "deliverability_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
dmarc_reports = sa.Table(
    "dmarc_reports", metadata,
    sa.Column("org", sa.String, primary_key=True),
    sa.Column("report_id", sa.String, primary_key=True),
    sa.Column("domain", sa.String, nullable=False),
    sa.Column("begin", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("origin", sa.String, nullable=False),  # file name or imap folder + UID
    sa.Column("ingested_at", sa.Float, nullable=False),
)
dmarc_records = sa.Table(
    "dmarc_records", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org", sa.String, nullable=False),
    sa.Column("report_id", sa.String, nullable=False),
    sa.Column("header_from", sa.String, nullable=False),
    sa.Column("source_ip", sa.String, nullable=False),
    sa.Column("messages", sa.BigInteger, nullable=False),
    sa.Column("spf_aligned", sa.Boolean, nullable=False),
    sa.Column("dkim_aligned", sa.Boolean, nullable=False),
    sa.Column("aligned", sa.Boolean, nullable=False),  # DMARC pass: either one aligned
    sa.Column("begin", sa.Float, nullable=False),
    sa.Column("end", sa.Float, nullable=False),
    sa.Column("names", sa.Text, nullable=False),  # JSON: envelope-from and DKIM domains
)

# notices.py
journal = sa.Table(
    "notify_journal", metadata,
    sa.Column("source_user", sa.String, primary_key=True),
    sa.Column("kind", sa.String, primary_key=True),
    sa.Column("about", sa.String, primary_key=True),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("recipient", sa.String, nullable=False),
    sa.Column("message_id", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float),
    sa.Column("error", sa.String),  # the server's answer to the last refusal
)

# jobs.py
queue_jobs = sa.Table(
    "queue_jobs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("source_user", sa.String, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("worker", sa.String),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("finishes", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(16)),
    sa.Column("note", sa.String),  # why it went back to the queue, the last time
    sa.Column("enqueued_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# inventory.py
inventories = sa.Table(
    "project_inventory", metadata,
    sa.Column("source_user", sa.String, primary_key=True),
    sa.Column("taken_at", sa.Float, nullable=False),
    sa.Column("method", sa.String, nullable=False),
    sa.Column("folders", sa.Integer, nullable=False),
    sa.Column("messages", sa.BigInteger, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("error", sa.String),
    sa.Column("detail", sa.Text, nullable=False),  # JSON: [FolderSize, ...]
)

# leases.py
leases = sa.Table(
    "leases", metadata,
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("lease_id", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("machine", sa.String(64), nullable=False),
    sa.Column("run_started_at", sa.Float, nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# the project's tables, parents before children (`store migrate` copies them in this order;
# a run's leases are not the project's state)
PROJECT: tuple[sa.Table, ...] = tuple(t for t in metadata.sorted_tables if t is not leases)
