"""`mailferry copy SOURCE_URL TARGET_URL`: one mailbox, imapsync-style."""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailferry.engine import (
    CopyOptions,
    CopySummary,
    MailboxCopy,
    MirrorCap,
    MirrorReport,
    SessionPair,
    SourceOpener,
    both,
    connect,
    imap_source,
    unchanged_summary,
)
from mailferry.errors import ConfigError, MailferryError
from mailferry.imap import Account, expect_capabilities
from mailferry.store import FolderMarks

from .accounts import (
    folder_filters,
    folder_options,
    make_account,
    master_option,
    message_filter,
    message_options,
    password_option,
    tls_options,
    tls_policy,
)
from .leasing import copy_under_lease, lease_options
from .output import (
    Column,
    human_size,
    line,
    make_console,
    may_draw_on_stderr,
    print_json,
    print_rows,
    progress_reporter,
    styled,
)

if TYPE_CHECKING:
    from rich.console import Console


@click.command("copy")
@click.argument("source_url")
@click.argument("target_url")
@password_option("source")
@password_option("target")
@master_option("source")
@master_option("target")
@click.option("--state", "state_path", type=click.Path(path_type=Path),
              default=Path("mailferry-state.db"), show_default=True,
              help="SQLite file that remembers what was copied (re-runs are incremental).")
@folder_options
@message_options
@click.option("--skip-duplicates", is_flag=True,
              help="Copy one message per fingerprint per folder (clean up duplicates).")
@click.option("--all-mail", type=click.Choice(["unfiled", "copy"]), default="unfiled",
              show_default=True,
              help="A Gmail-style \\All folder: copy only messages no other folder holds "
                   "(archived mail), or copy it whole (every message once more).")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--mirror", is_flag=True,
              help="Mirror mode: our copies follow the source's moves and deletions (only "
                   "messages mailferry paired; never the source).")
@click.option("--mirror-cap", default="10%", show_default=True, metavar="N|P%",
              help="Removals per folder above which a mirror pass stops (a percentage of "
                   "the folder, at least 10 messages, or a number).")
@click.option("--force", is_flag=True, help="Mirror mode: go on above the cap.")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Folders copied at once (each on its own pair of connections).")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=None,
              help="Messages per APPEND round trip (lower it for servers that limit commands)."
                   "  [default: 100; up to 400 to a target over 12.5 ms away]")
@click.option("--append-streams", type=click.IntRange(1, 8), default=3, show_default=True,
              help="Sessions a folder of 20 batches or more is appended through, each batch "
                   "held until the one before is stored (UIDs keep the source's order); 1: "
                   "one session per folder.")
@click.option("--max-message-size", type=click.IntRange(1), default=256 << 20,
              show_default=True, metavar="BYTES",
              help="Larger messages are listed as too large and never read into memory (the "
                   "target's APPENDLIMIT lowers this).")
@click.option("--command-timeout", type=click.FloatRange(1), default=300.0, show_default=True,
              metavar="SECONDS", help="Give up on a server's answer after this long (plus 1 s "
              "per 16 KB it sends): a server that trickles cannot stall the run.")
@click.option("--compress", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="COMPRESS=DEFLATE (RFC 4978) where a server offers it; "
              "auto: not to a loopback address (no link to save there).")
@tls_options
@lease_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--log-file", type=click.Path(path_type=Path), default=None,
              help="Write a detailed log here.")
def copy(source_url: str, target_url: str, source_password_file: Path | None,
         target_password_file: Path | None, source_master: str | None,
         target_master: str | None, state_path: Path, maps: tuple[str, ...],
         include: tuple[str, ...], exclude: tuple[str, ...], exclude_special: tuple[str, ...],
         no_automap: bool, max_age: float | None, min_age: float | None,
         max_size: int | None, skip_duplicates: bool, all_mail: str, dry_run: bool, mirror: bool,
         mirror_cap: str, force: bool, workers: int,
         batch_size: int | None, append_streams: int, max_message_size: int,
         command_timeout: float, compress: str, insecure: bool,
         allow_plaintext: bool, ca_file: str | None, wait_for_lease: bool, lease_ttl: float,
         as_json: bool, log_file: Path | None) -> int:
    """Copy every folder of one mailbox to another, exactly and incrementally.

    URLs are imap://user@host:port (STARTTLS when offered; plain only to loopback) or
    imaps://user@host:port. Passwords come from MAILFERRY_SOURCE_PASSWORD and
    MAILFERRY_TARGET_PASSWORD or the --*-password-file options.
    """
    tls = tls_policy(insecure, allow_plaintext, ca_file)
    source_account = make_account("source", source_url, source_password_file, tls,
                                  master=source_master)
    target_account = make_account("target", target_url, target_password_file, tls,
                                  master=target_master)
    options = CopyOptions(
        filters=folder_filters(maps, include, exclude, exclude_special, no_automap,
                           message_filter(max_age, min_age, max_size)),
        skip_duplicates=skip_duplicates, all_mail=all_mail, dry_run=dry_run, workers=workers,
        mirror=mirror, mirror_cap=parse_cap(mirror_cap, "--mirror-cap"), force=force,
        batch_messages=batch_size, append_streams=append_streams,
        max_message_size=max_message_size,
        command_timeout=command_timeout, compress=compress)
    if not state_path.parent.exists():
        raise ConfigError(f"directory {state_path.parent} does not exist", where="--state")
    if log_file is not None:
        logging.basicConfig(filename=str(log_file), level=logging.DEBUG,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    source = imap_source(source_account)
    marks = (None if dry_run or mirror else
             FolderMarks.read(state_path, source.name, str(target_account.endpoint)))
    loading = _Loading()
    if marks is not None:
        for endpoint, capabilities in marks.capabilities.items():
            # each LIST goes out with the login, after the opening of the biggest folder
            expect_capabilities(endpoint, capabilities, open_first=marks.open_first(endpoint),
                                writable=marks.opens_writable(endpoint),
                                on_slow_open=loading.start)
    # a refusal: exit 2, nothing written. A run without marks will copy: the store and the
    # copying half of the engine load while both logins wait on the network
    if marks is None:
        sessions, _ = both(lambda: connect(source, target_account, options), _load_copying,
                           cleanup=lambda _: None)  # (the loading never fails)
    else:
        sessions = connect(source, target_account, options)
    summary = _unchanged(source, target_account, options, sessions, marks)
    if summary is None:
        from mailferry.store import StateStore  # SQLAlchemy: only when there is work

        try:
            store = StateStore.open(state_path, readonly=dry_run)
            if not dry_run:
                store.remember_capabilities(sessions.capabilities())
        except BaseException:
            sessions.logout()
            raise
        try:
            with progress_reporter() as reporter:
                summary = copy_under_lease(
                    MailboxCopy(source, target_account, store, options, reporter), sessions,
                    wait=wait_for_lease, ttl=lease_ttl)
        finally:
            store.close()
    logging.getLogger("mailferry.copy").info(
        "copy %s -> %s: %d copied, %d failed", source_account.endpoint, target_account.endpoint,
        summary.total("copied"),
        summary.total("failed"))
    if as_json:
        print_json(summary.to_json())
    else:
        print_summary(summary, make_console())
    return summary.exit_status


class _Loading:
    """`_load_copying` on a thread, started at most once: while a server is slow to answer a
    re-run's first look (reading a folder again: new mail, so work is likely), SQLAlchemy's
    0.15-0.2 s are spent in its wait rather than after it. A run that turns out unchanged
    exits without waiting for it (a daemon thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        logging.getLogger("mailferry.copy").debug(
            "a server is slow to answer the first look (reading a folder again): the store"
            " loads meanwhile")
        threading.Thread(target=_load_copying, name="load-copying", daemon=True).start()


def _load_copying() -> None:
    """Imports only (SQLAlchemy alone ~0.2 s of a first run, rich's progress bars ~40 ms):
    nothing is opened or written."""
    bars = ("mailferry.cli.progress",) if may_draw_on_stderr() else ()
    with contextlib.suppress(Exception):  # the run's own import then says what is wrong
        for module in ("mailferry.store.state", "mailferry.engine.sync",
                       "mailferry.engine.appender", *bars):
            importlib.import_module(module)


def _unchanged(source: SourceOpener, target: Account, options: CopyOptions,
               sessions: SessionPair, marks: FolderMarks | None) -> CopySummary | None:
    """A re-run's first look: nothing changed since the state file's marks, by LIST and
    STATUS alone (engine.unchanged_summary). It writes nothing, so it takes no lease and
    opens no store: SQLAlchemy is never imported (it took longer than the whole re-run over a
    50 ms link). Else None (and the sessions stay usable, or are dropped after an error:
    the copy reconnects)."""
    if marks is None:  # (none is read for --dry-run or --mirror)
        return None
    try:
        summary = unchanged_summary(source, target, options, sessions, marks)
    except MailferryError:
        sessions.drop()
        return None
    if summary is not None:
        sessions.logout()
    return summary


def parse_cap(value: str, where: str) -> MirrorCap:
    try:
        return MirrorCap.parse(value)
    except ValueError as exc:
        raise ConfigError(str(exc), where=where) from None


def print_mirror(report: MirrorReport, console: Console, *, dry_run: bool) -> None:
    """Every move and removal of a mirror pass, one line each (also in the log)."""
    if not report.enabled:
        if report.note:
            console.print(f"mirror: {report.note}")
        return
    verb = "would be " if dry_run else ""
    for action in report.actions:
        where = f" -> {action.to}" if action.to else ""
        console.print(f"mirror: {verb}{action.action} {action.folder}{where}: "
                      f"Message-ID {action.message_id or '(none)'}, date "
                      f"{action.date or '(none)'}")
    console.print(f"mirror: {report.count('moved')} {verb}moved, {report.count('removed')} "
                  f"{verb}removed, {report.repaired} re-paired")
    for problem in (report.note, report.stopped, report.error):
        if problem:
            console.print(f"mirror: {problem}")


def print_summary(summary: CopySummary, console: Console) -> None:
    title = "Dry run: nothing changed" if summary.dry_run else "Copy summary"
    columns = (["to_copy", "present", "duplicates_skipped"] if summary.dry_run else
               ["copied", "present", "duplicates_skipped", "failed", "flags_updated"])
    print_rows(console, f"{title}  {summary.source} -> {summary.target}",
               [Column("source folder"), Column("target folder"), Column("status"),
                *[Column(c.replace("_", " "), "right") for c in columns],
                Column("note", wrap=True)],
               [[folder.source, folder.target, folder.status,
                 *[str(getattr(folder, c)) for c in columns], folder.error or folder.note]
                for folder in summary.folders])
    print_mirror(summary.mirror, console, dry_run=summary.dry_run)
    for note in summary.notes:
        console.print(line(styled("note", "yellow"), f": {note}"))
    if summary.dry_run:
        console.print("folders to create: " + (", ".join(summary.created) or "none"))
        console.print(f"messages to copy: {summary.total('to_copy')}")
        return
    copied, seconds = summary.total("copied"), summary.seconds
    rate = copied / seconds if seconds else 0.0
    console.print(
        f"folders: {len([f for f in summary.folders if f.status != 'excluded'])}"
        f"  created: {len(summary.created)}  copied: {copied}"
        f"  already present: {summary.total('present')}"
        f"  duplicates skipped: {summary.total('duplicates_skipped')}"
        f"  in other folders: {summary.total('in_other_folders')}"
        f"  failed: {summary.total('failed')}  size: {human_size(summary.total('bytes'))}"
        f"  seconds: {seconds:.2f}  messages/s: {rate:.0f}")
    dropped = summary.keywords_dropped
    if dropped:
        console.print("keywords the target does not accept (not copied): " +
                      ", ".join(f"{k} x{n}" for k, n in sorted(dropped.items())))
    normalised = [f for f in summary.failures if f.kind == "normalised"]
    if normalised:
        console.print(line(styled(f"{len(normalised)} messages stored with CRLF line endings",
                                  "yellow"), " where the source had bare LF/CR (text "
                           "unchanged; all listed in --json)"))
    for failure in summary.failures:
        if failure.kind != "normalised":
            size = "size unknown" if failure.size is None else human_size(failure.size)
            console.print(line(styled(failure.kind, "red"), f" {failure.folder} UID "
                               f"{failure.uid} ({failure.message_id or 'no Message-ID'}, "
                               f"{size}): {failure.reason}"))
