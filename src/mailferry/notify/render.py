"""Notices and letters rendered from Jinja2 templates: `LANG/subject.txt.j2`,
`LANG/notice.txt.j2` (plain text), `LANG/notice.html.j2` (HTML, autoescaped: a user named
`<script>` is text), `LANG/letter.html.j2`. A project's [notify] templates directory
overrides any of them, file by file; a language needs at least its notice templates."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import jinja2

from mailferry.errors import ConfigError
from mailferry.notify.model import NoticeKind, NotifyProject, notice_context
from mailferry.project import MailboxUser

REQUIRED = ("subject.txt.j2", "notice.txt.j2", "notice.html.j2")


@dataclass(frozen=True)
class Notice:
    user: MailboxUser
    kind: NoticeKind
    about: str  # what it announces: the wave start (ISO), "" for "moved"
    recipient: str
    message_id: str
    subject: str
    text: str
    html: str

    def message(self, sender: str, now: dt.datetime) -> EmailMessage:
        """One multipart/alternative message: plain text first, then HTML."""
        msg = EmailMessage(policy=SMTP)
        msg["From"] = sender
        msg["To"] = self.recipient
        msg["Subject"] = self.subject
        msg["Date"] = email.utils.format_datetime(now)
        # the same notice always has the same Message-ID: a repeat is recognisable
        msg["Message-ID"] = self.message_id
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(self.text)
        msg.add_alternative(self.html, subtype="html")
        return msg


class Renderer:
    def __init__(self, project: NotifyProject) -> None:
        self.project = project
        loaders: list[jinja2.BaseLoader] = []
        override = project.migration.notify.templates
        if override:
            directory = project.base / override
            if not directory.is_dir():
                raise ConfigError(f"templates directory {directory} does not exist",
                                  where=str(project.migration.path))
            loaders.append(jinja2.FileSystemLoader(directory))
        loaders.append(jinja2.PackageLoader("mailferry.notify", "templates"))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                                default_for_string=False),
            keep_trailing_newline=True)
        self._check_languages()

    def _check_languages(self) -> None:
        """Every user's language has its templates: nobody gets a notice in a language
        they were not promised, and a missing file is found before anything is sent."""
        known = set(self.env.list_templates())
        for user in self.project.users:
            language = self.project.language(user)
            missing = [n for n in REQUIRED if f"{language}/{n}" not in known]
            if missing:
                raise ConfigError(
                    f"language {language!r}: no template {language}/{missing[0]} (shipped: "
                    "en, fr; add it to the [notify] templates directory)",
                    where=f"{self.project.settings.users_file}:{user.line}")

    def _render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f"{name}:{line}" if line else name
            raise ConfigError(f"template error: {exc.message}", where=where) from None

    def notice(self, user: MailboxUser, kind: NoticeKind, about: str,
               previous: dt.datetime | None = None) -> Notice:
        context = notice_context(self.project, user, kind, previous)
        language = context["language"]
        subject = " ".join(self._render(f"{language}/subject.txt.j2", context).split())
        context["subject"] = subject
        return Notice(
            user=user, kind=kind, about=about, recipient=self.project.address(user),
            message_id=_message_id(user, kind, about, self.sender_domain),
            subject=subject, text=self._render(f"{language}/notice.txt.j2", context),
            html=self._render(f"{language}/notice.html.j2", context))

    def letter(self, user: MailboxUser, password: str) -> str:
        context = notice_context(self.project, user, NoticeKind.BEFORE)
        context.update(subject=user.target_user, password=password)
        return self._render(f"{context['language']}/letter.html.j2", context)

    @property
    def sender(self) -> str:
        sender = self.project.migration.notify.sender
        if not sender:
            raise ConfigError("[notify] sender: who the notices come from, e.g. "
                              "\"IT <it@example.org>\"", where=str(self.project.migration.path))
        return sender

    @property
    def sender_domain(self) -> str:
        address = email.utils.parseaddr(self.sender)[1]
        return address.rpartition("@")[2] or self.project.migration.domains[0]


def _message_id(user: MailboxUser, kind: NoticeKind, about: str, domain: str) -> str:
    digest = hashlib.sha256(f"{user.source_user}\0{kind}\0{about}".encode()).hexdigest()[:24]
    return f"<notice.{kind}.{digest}@{domain}>"


def preview_name(user: MailboxUser, kind: str) -> str:
    """A file name for a user's notice: readable, and safe whatever the address holds."""
    safe = "".join(c if c.isalnum() or c in "@._-" else "_" for c in user.source_user)
    return f"{safe}.{kind}"


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    temp.chmod(mode)
    temp.replace(path)
