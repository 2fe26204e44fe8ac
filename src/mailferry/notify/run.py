"""`mailferry notify`: pick the users, work out their due notices, then preview or send.

Sending follows the journal protocol in store/notices.py: begin (committed) -> submit ->
sent (committed). A notice refused with 4xx is tried again after a pause (`retries`
times); a 5xx is recorded for that user and the run goes on; a server that cannot be
used stops the run (what was sent stays sent). The rate limit spaces submissions.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mailferry.errors import ConfigError
from mailferry.notify.due import due_notices
from mailferry.notify.model import NotifyProject
from mailferry.notify.render import Notice, Renderer, preview_name, write_file
from mailferry.notify.submit import Refused, Submitter
from mailferry.project import MailboxUser, load_secrets, resolve_secret
from mailferry.status import MailboxStatus
from mailferry.store import NoticeJournal, NoticeRecord, NoticeState, ProjectState

BACKOFF = 1.0  # seconds before the first retry of a 4xx, doubled each time


@dataclass(frozen=True)
class NoticeOutcome:
    source_user: str
    kind: str
    recipient: str
    status: str  # "sent", "failed", "written"
    error: str | None = None


@dataclass
class NotifyResult:
    outcomes: list[NoticeOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[NoticeOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def select_users(project: NotifyProject, users: Sequence[str] = (),
                 waves: Sequence[str] = ()) -> list[MailboxUser]:
    known = {u.source_user for u in project.users}
    unknown = [u for u in users if u not in known]
    if unknown:
        raise ConfigError(f"not in users.csv: {', '.join(unknown)}", where="--user")
    return [u for u in project.users
            if (not users or u.source_user in users) and (not waves or u.wave in waves)]


def journal_records(project: NotifyProject) -> list[NoticeRecord]:
    if not project.settings.sync.has_state():
        return []
    with NoticeJournal.open(project.settings.state_location()) as journal:
        return journal.records()


def verified_users(project: NotifyProject) -> set[str]:
    if not project.settings.sync.has_state():
        return set()
    with ProjectState.open(project.settings.state_location()) as state:
        return {user for user, record in state.records().items()
                if record.status == MailboxStatus.VERIFIED}


def today_in(project: NotifyProject, now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(project.migration.timezone).date()


def due(project: NotifyProject, renderer: Renderer, users: Sequence[MailboxUser],
        today: dt.date) -> list[Notice]:
    """Every notice due today for `users`, rendered (so a template error stops the run
    before anything is sent)."""
    records = journal_records(project)
    verified = verified_users(project)
    notices = []
    for user in users:
        sent = [(r.kind, r.about) for r in records
                if r.source_user == user.source_user and r.state == NoticeState.SENT]
        for notice in due_notices(times=project.times(user), today=today,
                                  lead_days=project.migration.notify.lead_days,
                                  verified=user.source_user in verified, sent=sent):
            notices.append(renderer.notice(user, notice.kind, notice.about, notice.previous))
    return notices


def write_preview(notices: Sequence[Notice], sender: str, directory: Path,
                  now: dt.datetime) -> NotifyResult:
    """What every user would get: NAME.KIND.eml (the message) and NAME.KIND.html."""
    result = NotifyResult()
    for notice in notices:
        name = preview_name(notice.user, notice.kind)
        write_file(directory / f"{name}.eml", notice.message(sender, now).as_bytes())
        write_file(directory / f"{name}.html", notice.html.encode())
        result.outcomes.append(NoticeOutcome(notice.user.source_user, notice.kind,
                                             notice.recipient, "written"))
    return result


def submitter_for(project: NotifyProject) -> Submitter:
    notify = project.migration.notify
    where = str(project.migration.path)
    if notify.smtp is None:
        raise ConfigError("[notify] smtp: the submission server notices go through, e.g. "
                          "\"submission://smtp.example.org:587\"", where=where)
    password = None
    if notify.smtp_user:
        if not notify.smtp_password:
            raise ConfigError("[notify] smtp_user needs smtp_password (env:NAME or file:PATH)",
                              where=where)
        password = resolve_secret(notify.smtp_password, where=f"{where}: [notify] smtp_password",
                           base=project.base)
    ca_file = project.base / notify.ca_file if notify.ca_file else None
    return Submitter(notify.smtp, user=notify.smtp_user, password=password, ca_file=ca_file)


def send(project: NotifyProject, notices: Sequence[Notice], sender: str,
         submitter: Submitter, *, sleep: Callable[[float], None] = time.sleep,
         progress: Callable[[NoticeOutcome], None] = lambda _: None) -> NotifyResult:
    notify = project.migration.notify
    interval = 60.0 / notify.rate
    result = NotifyResult()
    last = -interval
    with NoticeJournal.open(project.settings.state_location()) as journal:
        try:
            for notice in notices:
                key = dict(source_user=notice.user.source_user, kind=str(notice.kind),
                           about=notice.about)
                journal.begin(**key, recipient=notice.recipient, message_id=notice.message_id)
                wait = last + interval - time.monotonic()
                if wait > 0:
                    sleep(wait)
                error = _submit(notice, sender, submitter, notify.retries, sleep)
                last = time.monotonic()
                if error is None:
                    journal.sent(**key)
                    outcome = NoticeOutcome(key["source_user"], key["kind"], notice.recipient,
                                            "sent")
                else:
                    journal.failed(**key, error=error)
                    outcome = NoticeOutcome(key["source_user"], key["kind"], notice.recipient,
                                            "failed", error)
                result.outcomes.append(outcome)
                progress(outcome)
        finally:
            submitter.close()
    return result


def _submit(notice: Notice, sender: str, submitter: Submitter, retries: int,
            sleep: Callable[[float], None]) -> str | None:
    """None when accepted, else the server's last answer. A ServerError propagates."""
    for attempt in range(retries + 1):
        message = notice.message(sender, dt.datetime.now(dt.UTC))
        try:
            submitter.send(message, sender, notice.recipient)
            return None
        except Refused as refusal:
            if not refusal.temporary or attempt == retries:
                return f"{submitter.label}: {refusal}"
            sleep(BACKOFF * 2 ** attempt)
    return None  # not reached: the last attempt returns


def write_letters(project: NotifyProject, renderer: Renderer, users: Sequence[MailboxUser],
                  directory: Path) -> list[Path]:
    """One printable page per user with their new password, readable by the owner only."""
    if project.migration.notify.credentials != "letter":
        raise ConfigError("[notify] credentials is not \"letter\"", where=str(
            project.migration.path))
    if project.settings.secrets_file is None:
        raise ConfigError("[users] secrets: the file with the new passwords",
                          where=str(project.migration.path))
    secrets = load_secrets(project.settings.secrets_file)
    if not directory.exists():  # a new directory is private; an existing one is the admin's
        directory.mkdir(parents=True)
        os.chmod(directory, 0o700)
    written = []
    for user in users:
        password = secrets.get(user.source_user)
        if password is None or not password.target_password:
            raise ConfigError(f"no target_password for {user.source_user}",
                              where=str(project.settings.secrets_file))
        path = directory / f"{preview_name(user, 'letter')}.html"
        write_file(path, renderer.letter(user, password.target_password).encode(), 0o600)
        written.append(path)
    return written

