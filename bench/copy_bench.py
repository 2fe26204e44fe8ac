"""Copy benchmark: mailferry against mbsync and Dovecot's dsync on the same mailbox.

Generates a realistic mailbox on a throwaway source Dovecot (default ~5,000 messages,
~330 MB, 15 nested and non-ASCII folders, sizes 2 KB-25 MB, flags, keywords, 10 years of
dates, duplicates, messages without Message-ID), then times, alternating the tools, each
copying it to its own fresh account on a target Dovecot:
  mailferry copy (initial, then a no-change re-run), mbsync (CopyArrivalDate yes), and
  dsync pulling over IMAP (`doveadm backup -R` with imapc:).
Prints msgs/s, MB/s, peak RSS and whether each copy is exact (every folder's multiset of
(sha256 of BODY[], flags, INTERNALDATE) equal to the source's), and mailferry's ratios.
Only 127.0.0.1 is used. Run: `make bench` or `.venv/bin/python bench/copy_bench.py --help`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from mailferry.imap import (  # noqa: E402
    Account,
    AppendMessage,
    Credentials,
    TlsPolicy,
    parse_mailbox_url,
    session_for,
)
from testbed import Dovecot, DovecotUser, SeedMessage, snapshot  # noqa: E402
from testbed.memory import peak_rss_mb  # noqa: E402
from testbed.messages import make_message, random_flags  # noqa: E402

FOLDERS = ["INBOX", "Sent", "Drafts", "Archive", "Archive/2016", "Archive/2017",
           "Archive/2018", "Work", "Work/Clients", "Work/Clients/Acme", "Work/Projekte",
           "Caf&AOk-", "&ZeVnLIqe-/&MEowbzBI-", "Lists", "Lists/dovecot"]
PASSWORD = "bench-pw"


def compile_bytecode() -> None:
    """mailferry's modules compiled once, as an installed wheel's are: where
    PYTHONDONTWRITEBYTECODE is set, each timed run would compile them again (~50 ms of every
    start, none of the peers' cost)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True,
                   stdout=subprocess.DEVNULL)


def generate(count: int, seed: int = 2026) -> list[SeedMessage]:
    """Sizes: most 2-50 KB, ~3% 0.2-2 MB, ~0.2% 10-25 MB (about 330 MB for 5,000)."""
    rng = random.Random(seed)
    out: list[SeedMessage] = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.002:
            size = rng.randint(10_000_000, 25_000_000)
        elif roll < 0.032:
            size = rng.randint(200_000, 2_000_000)
        else:
            size = int(rng.lognormvariate(9.6, 0.7)) + 2000
            size = min(size, 50_000)
        date = dt.datetime(2016, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=rng.randrange(10 * 365 * 24 * 3600))
        attachment = max(0, size - 3000) * 3 // 4 if size > 60_000 else 0
        raw = make_message(rng, n, size=min(size, 40_000), message_id=rng.random() > 0.04,
                           date=date, attachment=attachment)
        folder = "INBOX" if rng.random() < 0.35 else rng.choice(FOLDERS)
        message = SeedMessage(raw, folder, random_flags(rng), date)
        out.append(message)
        if rng.random() < 0.01:
            out.append(message)
    return out


def seed_fast(server: Dovecot, user: str, messages: list[SeedMessage]) -> None:
    """Seeding through mailferry's MULTIAPPEND session (the tools under test read it back
    through their own clients)."""
    account = Account(parse_mailbox_url(f"imap://{user}@127.0.0.1:{server.port}"),
                      Credentials(user, PASSWORD), TlsPolicy())
    session = session_for(account)
    by_folder: dict[str, list[SeedMessage]] = {}
    for message in messages:
        by_folder.setdefault(message.folder, []).append(message)
    for folder, items in by_folder.items():
        if folder != "INBOX":
            session.create_mailbox(folder.encode(), subscribe=True)
        for start in range(0, len(items), 50):
            batch = [AppendMessage(m.raw, m.flags, m.internaldate.strftime(
                "%d-%b-%Y %H:%M:%S +0000")) for m in items[start:start + 50]]
            for result in session.append(folder.encode(), batch):
                assert result.error is None, result.error
    session.logout()


@dataclass
class Run:
    tool: str
    seconds: float
    peak_rss_mb: float
    exact: str
    messages: int
    megabytes: float

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.megabytes / self.seconds if self.seconds else 0.0


def timed(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of one child process. The peak is VmHWM polled from
    /proc (wait4's ru_maxrss would count the pages the child inherited from this process
    before exec). What earlier steps wrote is flushed to disk first: the seeding's and the
    last tool's copy's writeback (hundreds of MB) would otherwise land on whichever tool
    runs next (one both-far run took 3.8 s against 2.9 s so)."""
    os.sync()
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, peak_rss_mb(proc.pid))
            time.sleep(0.02)
        seconds = time.monotonic() - started
        out.seek(0)
        output = out.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}):\n{output[-3000:]}")
    return seconds, peak, output


def compare(source: dict, target: dict, strip_header: bytes | None = None) -> str:  # type: ignore[type-arg]
    """'exact' or a short description of what differs."""
    missing = [f for f in source if f not in target]
    if missing:
        return f"folders missing: {missing[:3]}"
    diffs = []
    for folder, content in source.items():
        got = target[folder]
        if got == content:
            continue
        shas = {s for s, _, _ in content}
        got_shas = {s for s, _, _ in got}
        flags = {(s, f) for s, f, _ in content}
        got_flags = {(s, f) for s, f, _ in got}
        if shas != got_shas:
            diffs.append("bytes differ")
        elif flags != got_flags:
            diffs.append("flags/keywords differ")
        elif sum(content.values()) != sum(got.values()):
            diffs.append("duplicates collapsed or added")
        else:
            diffs.append("INTERNALDATE differs")
    return "exact" if not diffs else ", ".join(sorted(set(diffs)))


def run_mailferry(source: Dovecot, target: Dovecot, user: str, workdir: Path,
                  ) -> tuple[tuple[float, float, str], tuple[float, float, str]]:
    state = workdir / f"{user}.db"
    env = {**os.environ, "MAILFERRY_SOURCE_PASSWORD": PASSWORD,
           "MAILFERRY_TARGET_PASSWORD": PASSWORD}
    args = [str(REPO / ".venv/bin/mailferry"), "copy",
            f"imap://alice@127.0.0.1:{source.port}", f"imap://{user}@127.0.0.1:{target.port}",
            "--state", str(state), "--json"]
    first = timed(args, env)
    report = json.loads(first[2][first[2].index("{"):])
    assert report["totals"]["failed"] == 0, report["failures"][:3]
    second = timed(args, env)
    return first, second


def mbsync_config(source_port: int, target_port: int, user: str, workdir: Path,
                  extra: str = "") -> Path:
    """An mbsync configuration pulling alice's mailbox into `user`'s (`extra`: more lines
    for both accounts, e.g. "PipelineDepth 50")."""
    state = workdir / f"mbsync-{user}"
    state.mkdir()
    config = workdir / f"mbsyncrc-{user}"
    accounts = "".join(f"""
IMAPAccount {name}
Host 127.0.0.1
Port {port}
User {login}
Pass {PASSWORD}
SSLType None
AuthMechs LOGIN
{extra}

IMAPStore {name}
Account {name}
""" for name, port, login in (("src", source_port, "alice"), ("dst", target_port, user)))
    config.write_text(f"""{accounts}
Channel copy
Far :src:
Near :dst:
Patterns *
Create Near
Sync Pull
SyncState {state}/
CopyArrivalDate yes
""")
    config.chmod(0o600)
    return config


def run_mbsync(source: Dovecot, target: Dovecot, user: str,
               workdir: Path) -> tuple[float, float, str]:
    config = mbsync_config(source.port, target.port, user, workdir)
    return timed(["mbsync", "-q", "-c", str(config), "copy"])


def run_dsync(source: Dovecot, target: Dovecot, user: str) -> tuple[float, float, str]:
    return timed([
        "doveadm", "-c", str(target.base / "dovecot.conf"),
        "-o", "imapc_host=127.0.0.1", "-o", f"imapc_port={source.port}",
        "-o", "imapc_user=alice", "-o", f"imapc_password={PASSWORD}",
        "-o", "imapc_features=rfc822.size fetch-headers modseq",
        "-o", "mail_prefetch_count=20",
        "backup", "-R", "-u", user, "imapc:"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the tools this often")
    parser.add_argument("--tools", default="mailferry,mbsync,dsync")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    compile_bytecode()
    tools = options.tools.split(",")
    users = [DovecotUser(f"{tool[:2]}{n}", PASSWORD) for tool in tools
             for n in range(options.rounds)]
    workdir = Path(tempfile.mkdtemp(prefix="mf-bench-"))
    messages = generate(options.messages)
    total_mb = sum(len(m.raw) for m in messages) / 1e6
    print(f"mailbox: {len(messages)} messages, {total_mb:.0f} MB, {len(FOLDERS)} folders")
    with Dovecot(users=[DovecotUser("alice", PASSWORD)]) as source, \
            Dovecot(users=users) as target:
        started = time.monotonic()
        seed_fast(source, "alice", messages)
        print(f"seeded in {time.monotonic() - started:.1f}s")
        expected = snapshot(source.host, source.port, "alice", PASSWORD)
        runs: list[Run] = []
        for round_number in range(options.rounds):
            order = tools if round_number % 2 == 0 else list(reversed(tools))
            for tool in order:
                user = f"{tool[:2]}{round_number}"
                if tool == "mailferry":
                    first, rerun = run_mailferry(source, target, user, workdir)
                    got = snapshot(target.host, target.port, user, PASSWORD)
                    runs.append(Run("mailferry", first[0], first[1], compare(expected, got),
                                    len(messages), total_mb))
                    runs.append(Run("mailferry re-run", rerun[0], rerun[1], "-", 0, 0.0))
                elif tool == "mbsync":
                    seconds, rss, _ = run_mbsync(source, target, user, workdir)
                    got = snapshot(target.host, target.port, user, PASSWORD)
                    runs.append(Run("mbsync", seconds, rss, compare(expected, got),
                                    len(messages), total_mb))
                elif tool == "dsync":
                    seconds, rss, _ = run_dsync(source, target, user)
                    got = snapshot(target.host, target.port, user, PASSWORD)
                    runs.append(Run("dsync (imapc)", seconds, rss, compare(expected, got),
                                    len(messages), total_mb))
                print(f"  {runs[-1].tool if tool != 'mailferry' else 'mailferry'}: done",
                      flush=True)
    best: dict[str, Run] = {}
    for run in runs:
        if run.tool not in best or run.seconds < best[run.tool].seconds:
            best[run.tool] = run
    print(f"\n{'tool':<18}{'seconds':>9}{'msgs/s':>9}{'MB/s':>8}{'peak RSS MB':>13}  copy")
    for run in best.values():
        print(f"{run.tool:<18}{run.seconds:>9.2f}{run.msgs_per_s:>9.0f}{run.mb_per_s:>8.1f}"
              f"{run.peak_rss_mb:>13.0f}  {run.exact}")
    ours = best.get("mailferry")
    if ours:
        for name, run in best.items():
            if name.startswith("mailferry"):
                continue
            print(f"mailferry is {run.seconds / ours.seconds:.2f}x as fast as {name}")
    if options.json:
        options.json.write_text(json.dumps([run.__dict__ | {"msgs_per_s": run.msgs_per_s,
                                                            "mb_per_s": run.mb_per_s}
                                            for run in best.values()], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
