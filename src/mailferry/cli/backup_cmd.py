"""`mailferry backup`, `backup --verify`, `restore` and `import mbox|maildir`."""

from __future__ import annotations

from pathlib import Path

import click

from mailferry.backup import (
    COMPRESSIONS,
    Codec,
    backup_mailbox,
    backup_source,
    check_backup,
    mailbox_dirs,
    maildir_source,
    mbox_source,
    read_key,
)
from mailferry.engine import CopyOptions, FolderFilters, MailboxCopy, SourceOpener, connect
from mailferry.errors import ConfigError, ConnectError
from mailferry.imap import Account
from mailferry.store import StateStore

from .accounts import check_reachable, make_account, password_option, tls_options, tls_policy
from .copy_cmd import print_summary
from .leasing import copy_under_lease, lease_options
from .output import make_console, print_json
from .progress import ProgressReporter
from .project_file import DEFAULT_FILE

key_option = click.option("--key-file", type=click.Path(path_type=Path), default=None,
                          help="Encrypt (backup) or decrypt (restore, --verify) with the 32-byte"
                          " key in this file (base64 or hex). See docs/backup.md.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
state_option = click.option("--state", "state_path", type=click.Path(path_type=Path),
                            default=Path("mailferry-state.db"), show_default=True,
                            help="SQLite file that remembers what was restored (re-runs are "
                            "incremental, never duplicate).")


def _key(key_file: Path | None) -> bytes | None:
    return read_key(key_file) if key_file is not None else None


@click.command("backup")
@click.argument("arguments", nargs=-1,
                metavar="SOURCE_URL DIR | --project migration.toml DIR | --verify DIR")
@click.option("--verify", "verify_only", is_flag=True,
              help="Re-hash every file of the backup in DIR against its manifest.")
@click.option("-p", "--project", "migration_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Back up every selected mailbox of this project (source "
              "side, accounts as `sync` builds them): one tree per user under DIR.")
@click.option("--wave", default=None, help="With --project: only the mailboxes of this wave.")
@click.option("--user", "names", multiple=True,
              help="With --project: only this user (repeatable).")
@password_option("source")
@click.option("--compress", type=click.Choice(COMPRESSIONS), default="none", show_default=True,
              help="Compress each stored message.")
@key_option
@tls_options
@json_option
def backup(arguments: tuple[str, ...], verify_only: bool, migration_file: Path | None,
           wave: str | None, names: tuple[str, ...], source_password_file: Path | None,
           compress: str, key_file: Path | None, insecure: bool, allow_plaintext: bool,
           ca_file: str | None, as_json: bool) -> int:
    """Back up one mailbox into DIR, incrementally (a re-run fetches only new messages and
    flag changes; a killed run resumes). `backup --verify DIR` checks a backup: exit 1 if a
    file is missing or corrupt. `backup --project migration.toml DIR` backs up each selected
    user of a project (--wave, --user) into DIR/<user@host>/, one after another; in the
    project's directory, `backup DIR` does that for ./migration.toml."""
    key = _key(key_file)
    if migration_file is None and len(arguments) == 1 and not verify_only \
            and DEFAULT_FILE.is_file():
        migration_file = DEFAULT_FILE  # `mailferry backup DIR` in the project's directory
    if migration_file is not None:
        if verify_only or len(arguments) != 1 or source_password_file is not None:
            raise ConfigError("usage: mailferry backup --project migration.toml [--wave W] "
                              "[--user U] DIR")
        from .verify_project import backup_project
        return backup_project(migration_file, wave, names, Path(arguments[0]),
                              Codec(compress, key), insecure=insecure, as_json=as_json)
    if wave is not None or names:
        raise ConfigError("--wave and --user need --project")
    if verify_only:
        if len(arguments) != 1:
            raise ConfigError("usage: mailferry backup --verify DIR")
        return _verify_backup(Path(arguments[0]), key, as_json)
    if len(arguments) != 2:
        raise ConfigError("usage: mailferry backup SOURCE_URL DIR")
    account = make_account("source", arguments[0], source_password_file,
                           tls_policy(insecure, allow_plaintext, ca_file))
    check_reachable(account)
    summary = backup_mailbox(account, Path(arguments[1]), Codec(compress, key))
    if as_json:
        print_json(summary.to_json())
    else:
        console = make_console()
        for f in summary.folders:
            console.print(f"{f.folder}: {f.status}, {f.fetched} new, "
                          f"{f.flags_updated} flag changes, {f.total} in the backup")
        seconds = summary.seconds or 1e-9
        console.print(f"backup of {summary.source} in {summary.directory}: "
                      f"{summary.total('fetched')} new messages, {summary.total('bytes')} bytes "
                      f"in {summary.seconds:.2f} s ({summary.total('bytes') / seconds / 1e6:.1f}"
                      " MB/s)")
    return 0


def _verify_backup(root: Path, key: bytes | None, as_json: bool) -> int:
    checks = [check_backup(directory, key) for directory in mailbox_dirs(root)]
    if as_json:
        print_json({"ok": all(c.ok for c in checks), "mailboxes": [c.to_json() for c in checks]})
    else:
        console = make_console()
        for check in checks:
            console.print(f"{check.directory}: {check.messages} messages, "
                          f"{check.bytes} bytes re-hashed: {'ok' if check.ok else 'CORRUPT'}")
            for problem in check.problems:
                console.print(f"  {problem.kind}: {problem.file}: "
                              f"{problem.detail}", soft_wrap=True)
            if check.authenticated_now:
                console.print("  manifest authenticated with the key: from now on an edit of "
                              "it shows")
    return 0 if all(c.ok for c in checks) else 1


def _copy_into(opener: SourceOpener, target: Account, state_path: Path, filters: FolderFilters,
               as_json: bool, *, wait_for_lease: bool, lease_ttl: float) -> int:
    """The copy engine from a local source: byte-exact, flags, dates, no duplicates."""
    if not state_path.parent.exists():
        raise ConfigError(f"directory {state_path.parent} does not exist", where="--state")
    options = CopyOptions(filters=filters)
    try:  # both sides open before the state is: a bad target is bad input, nothing written
        sessions = connect(opener, target, options)
    except ConnectError as exc:
        raise ConfigError(str(exc)) from None
    try:
        store = StateStore.open(state_path)
    except BaseException:
        sessions.logout()
        raise
    try:
        console = make_console(stderr=True)
        with ProgressReporter(console) as reporter:
            summary = copy_under_lease(MailboxCopy(opener, target, store, options, reporter),
                                       sessions, wait=wait_for_lease, ttl=lease_ttl,
                                       console=console)
    finally:
        store.close()
    if as_json:
        print_json(summary.to_json())
    else:
        print_summary(summary, make_console())
    return summary.exit_status


def _folder_filters(folders: tuple[str, ...]) -> FolderFilters:
    include = tuple(p for f in folders for p in (f.strip("/"), f.strip("/") + "/*"))
    return FolderFilters(include=include)


@click.command("restore")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("target_url")
@click.option("--folder", "folders", multiple=True, metavar="NAME",
              help="Restore only this folder (and its subfolders); repeatable.")
@click.option("--mailbox", "mailbox_name", default=None,
              help="Which mailbox of a backup that holds several (its directory name).")
@password_option("target")
@key_option
@state_option
@tls_options
@lease_options
@json_option
def restore(directory: Path, target_url: str, folders: tuple[str, ...], mailbox_name: str | None,
            target_password_file: Path | None, key_file: Path | None, state_path: Path,
            insecure: bool, allow_plaintext: bool, ca_file: str | None, wait_for_lease: bool,
            lease_ttl: float, as_json: bool) -> int:
    """Put a backup (or some of its folders) into any IMAP server, with the guarantees of
    `copy`. Exit 1 if a message could not be restored exactly (each one is listed)."""
    found = mailbox_dirs(directory)
    if mailbox_name is not None:
        found = [d for d in found if d.name == mailbox_name]
    if len(found) != 1:
        names = ", ".join(d.name for d in mailbox_dirs(directory))
        raise ConfigError(f"choose one mailbox with --mailbox ({names})", where=str(directory))
    target = make_account("target", target_url, target_password_file,
                          tls_policy(insecure, allow_plaintext, ca_file))
    opener = backup_source(found[0], _key(key_file))
    return _copy_into(opener, target, state_path, _folder_filters(folders), as_json,
                      wait_for_lease=wait_for_lease, lease_ttl=lease_ttl)


@click.group("import")
def import_group() -> None:
    """Put an export from elsewhere (an mbox file, a Maildir) into an IMAP mailbox."""


def _import_command(kind: str) -> click.Command:
    @click.command(kind)
    @click.argument("path", type=click.Path(path_type=Path))
    @click.argument("target_url")
    @click.option("--folder", "folder", default="INBOX", show_default=True,
                  help="Target folder ('/' separates levels); Maildir++ subfolders go below it.")
    @password_option("target")
    @state_option
    @tls_options
    @lease_options
    @json_option
    def command(path: Path, target_url: str, folder: str, target_password_file: Path | None,
                state_path: Path, insecure: bool, allow_plaintext: bool, ca_file: str | None,
                wait_for_lease: bool, lease_ttl: float, as_json: bool) -> int:
        target = make_account("target", target_url, target_password_file,
                              tls_policy(insecure, allow_plaintext, ca_file))
        name = folder.strip("/") or "INBOX"
        opener = mbox_source(path, name) if kind == "mbox" else maildir_source(path, name)
        return _copy_into(opener, target, state_path, FolderFilters(automap=False), as_json,
                          wait_for_lease=wait_for_lease, lease_ttl=lease_ttl)

    command.help = (f"Import the {kind} at PATH into TARGET_URL, exactly and without duplicates"
                    " on re-runs. Flags come from " + ("Status:/X-Status: headers, dates from"
                    " the 'From ' lines." if kind == "mbox" else "the file names' info, dates"
                    " from the files' mtimes."))
    return command


import_group.add_command(_import_command("mbox"))
import_group.add_command(_import_command("maildir"))
