"""A migration project for the notice tests: four users in two waves (an English, a French
user in Paris time, a user named `<script>`), the pilot starting in three days, a real SMTP
sink as the submission server, and `mailferry notify` run as a real process."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from testbed.dovecot import shared_certs

ZONE = ZoneInfo("Asia/Kuala_Lumpur")
MAILFERRY = Path(sys.executable).parent / "mailferry"
SMTP_USER, SMTP_PASSWORD = "notifier", "sink-secret-pw"
SCRIPT_NAME = "<script>alert(1)</script>"

USERS = f"""\
source_user,target_user,department,wave,name,language,timezone
ana@old.example,ana@bank.example,sales,pilot,Ana Lima,en,
jean@old.example,jean@bank.example,support,pilot,Jean Dupont,fr,Europe/Paris
x@old.example,x@bank.example,dev,pilot,{SCRIPT_NAME},,
bo@old.example,bo@bank.example,sales,w2,Bo,en,
"""


def pilot_start(days: int = 3) -> dt.datetime:
    today = dt.datetime.now(ZONE).date()
    return dt.datetime.combine(today + dt.timedelta(days=days), dt.time(18, 0), tzinfo=ZONE)


@dataclass
class Project:
    toml: Path
    state: Path

    @property
    def base(self) -> Path:
        return self.toml.parent

    def set_pilot_start(self, start: dt.datetime) -> None:
        """Move the pilot (start and end) in migration.toml."""
        text = self.toml.read_text()
        head, _, rest = text.partition("[waves.pilot]\n")
        lines = rest.split("\n")
        lines[0] = f"start = {start.replace(tzinfo=None).isoformat()}"
        lines[1] = f"end = {(start + dt.timedelta(hours=14)).replace(tzinfo=None).isoformat()}"
        self.toml.write_text(head + "[waves.pilot]\n" + "\n".join(lines))


def write_project(directory: Path, smtp_port: int, *, extra_notify: str = "",
                  start: dt.datetime | None = None, users: str = USERS) -> Project:
    start = start or pilot_start()
    end = start + dt.timedelta(hours=14)
    (directory / "users.csv").write_text(users)
    (directory / "secrets.csv").write_text(
        "user,source_password,target_password\n"
        "ana@old.example,,Ana-New-Pw-1\njean@old.example,,Jean-New-Pw-2\n"
        "x@old.example,,X-New-Pw-3\nbo@old.example,,Bo-New-Pw-4\n")
    toml = directory / "migration.toml"
    toml.write_text(f"""\
[migration]
name = "Bank of Examples"
domains = ["bank.example"]
timezone = "{ZONE.key}"
cutover = {(start + dt.timedelta(days=20)).replace(tzinfo=None).isoformat()}

[source]
imap = "imaps://imap.oldmail.example:993"

[target]
imap = "imaps://imap.newmail.example:993"
smtp = "submission://smtp.newmail.example:587"

[users]
file = "users.csv"
secrets = "secrets.csv"

[filters]
exclude_special = ["\\\\Trash"]
exclude = ["Archive/Old*"]

[waves.pilot]
start = {start.replace(tzinfo=None).isoformat()}
end = {end.replace(tzinfo=None).isoformat()}

[waves.w2]
start = {(start + dt.timedelta(days=30)).replace(tzinfo=None).isoformat()}

[notify]
lead_days = 7
sender = "Bank IT <it@bank.example>"
support = "helpdesk@bank.example, +60 3 1234 5678"
smtp = "submission://127.0.0.1:{smtp_port}"
smtp_user = "{SMTP_USER}"
smtp_password = "env:NOTIFY_SMTP_PASSWORD"
ca_file = "{shared_certs().ca_cert}"
rate = 6000
{extra_notify}
""")
    return Project(toml, directory / "mailferry-state.db")


def notify_env() -> dict[str, str]:
    return {**os.environ, "NOTIFY_SMTP_PASSWORD": SMTP_PASSWORD, "COLUMNS": "200"}


def run_notify(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MAILFERRY), "notify", str(project.toml), *args],
                          capture_output=True, text=True, env=notify_env(), timeout=120)


def start_notify(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(MAILFERRY), "notify", str(project.toml), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=notify_env())


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a notice; both must be there."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()
