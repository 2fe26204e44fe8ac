"""Realistic generated messages for tests, the demo and the benchmarks (deterministic)."""

from __future__ import annotations

import base64
import datetime as dt
import random
from email.utils import format_datetime

from testbed.seed import SeedMessage

WORDS = [
    "invoice", "meeting", "budget", "quarterly", "report", "review", "draft", "contract",
    "shipment", "delay", "customer", "support", "ticket", "roadmap", "migration", "backup",
    "server", "holiday", "schedule", "lunch", "approval", "signature", "payroll", "audit",
    "release", "notes", "hiring", "interview", "Straße", "café", "naïve", "résumé", "東京",
    "données",
]
PEOPLE = ["Ana Silva <ana@old.example>", "Bo Chen <bo@old.example>",
          "Chloé Martin <chloe@partner.example>", "Dmitri Ivanov <dmitri@vendor.example>",
          "Eve Adams <eve@old.example>", "Farah Khan <farah@client.example>"]
KEYWORDS = ["$Label1", "$Forwarded", "$MDNSent", "Work", "$NotJunk", "$Important"]


def make_message(rng: random.Random, n: int, *, size: int = 2000, message_id: bool = True,
                 date: dt.datetime | None = None, attachment: int = 0) -> bytes:
    date = date or dt.datetime(2016, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        minutes=rng.randrange(10 * 365 * 24 * 60))
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
    headers = [
        f"From: {rng.choice(PEOPLE)}",
        f"To: {rng.choice(PEOPLE)}",
        f"Subject: {subject}",
        f"Date: {format_datetime(date)}",
    ]
    if message_id:
        headers.append(f"Message-ID: <{n}.{rng.getrandbits(40):x}@old.example>")
    headers.append("MIME-Version: 1.0")
    text_lines = []
    while sum(len(x) + 2 for x in text_lines) < size:
        text_lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 14))))
    text = "\r\n".join(text_lines)
    if not attachment:
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
        return ("\r\n".join(headers) + "\r\n\r\n" + text + "\r\n").encode()
    boundary = f"=_b{n}"
    headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
    blob = rng.randbytes(attachment)
    encoded = base64.encodebytes(blob).replace(b"\n", b"\r\n").decode()
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f'Content-Disposition: attachment; filename="file{n}.bin"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--{boundary}--\r\n")
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def random_flags(rng: random.Random) -> tuple[str, ...]:
    flags = []
    if rng.random() < 0.7:
        flags.append("\\Seen")
    if rng.random() < 0.1:
        flags.append("\\Flagged")
    if rng.random() < 0.15:
        flags.append("\\Answered")
    if rng.random() < 0.2:
        flags.append(rng.choice(KEYWORDS))
    return tuple(flags)


def sample_mailbox(count: int, folders: list[str], *, seed: int = 7,
                   sizes: tuple[int, int] = (1500, 20000)) -> list[SeedMessage]:
    """`count` messages spread over `folders` (wire names), with flags, keywords, 10 years of
    dates, a few duplicates and messages without Message-ID."""
    rng = random.Random(seed)
    out: list[SeedMessage] = []
    for n in range(count):
        folder = folders[0] if rng.random() < 0.4 else rng.choice(folders)
        date = dt.datetime(2016, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=rng.randrange(10 * 365 * 24 * 3600))
        raw = make_message(rng, n, size=rng.randint(*sizes), message_id=rng.random() > 0.05,
                           date=date)
        message = SeedMessage(raw, folder, random_flags(rng), date.replace(microsecond=0))
        out.append(message)
        if rng.random() < 0.02:
            out.append(message)  # a genuine duplicate
    return out
