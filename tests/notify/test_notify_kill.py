"""kill -9 in the middle of a run: no notice is lost, and only the one in flight at the
kill (the sink had stored it, the 250 had not reached us) is sent again, same Message-ID."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

from testbed.notifykit import (
    SMTP_PASSWORD,
    SMTP_USER,
    parse,
    run_notify,
    start_notify,
    write_project,
)
from testbed.smtp_sink import SmtpSink

PEOPLE = [f"user{n:02d}@old.example" for n in range(10)]
USERS = "source_user,target_user,department,wave\n" + "".join(
    f"{u},{u.replace('old', 'bank')},dept,pilot\n" for u in PEOPLE)


def wait_for(condition: object, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kill_9_mid_run_repeats_only_the_notice_in_flight(tmp_path: Path) -> None:
    with SmtpSink(tls=True, auth=(SMTP_USER, SMTP_PASSWORD), hold_after=4) as sink:
        project = write_project(tmp_path, sink.port, users=USERS)
        running = start_notify(project)
        try:
            wait_for(lambda: len(sink.received) == 5, "the fifth notice in flight")
            running.send_signal(signal.SIGKILL)
            running.wait(timeout=60)
        finally:
            if running.poll() is None:
                running.kill()
            running.communicate()
        assert running.returncode == -signal.SIGKILL
        in_flight = parse(sink.received[4].data)
        sink.release()
        done = run_notify(project)
        assert done.returncode == 0, done.stderr
        received = [parse(r.data) for r in sink.received]
        counts = Counter(m["To"] for m in received)
        assert sorted(counts) == PEOPLE  # none lost
        assert [u for u, n in counts.items() if n > 1] == [in_flight["To"]]
        assert counts[in_flight["To"]] == 2
        twice = [m for m in received if m["To"] == in_flight["To"]]
        assert twice[0]["Message-ID"] == twice[1]["Message-ID"]
        assert run_notify(project).returncode == 0
        assert len(sink.received) == 11
