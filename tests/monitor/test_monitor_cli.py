"""`mailferry monitor` as a real process: `--once` prints and exits 1 when something needs a
person; the loop serves Prometheus metrics on 127.0.0.1, scraped over HTTP, and stops on
SIGTERM; `status` and the report show the Monitoring section; bad input exits 2 naming the
file and line, with nothing sent."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from testbed.monitorkit import CUTOVER, World
from testbed.net import free_port
from testbed.smtp_sink import SmtpSink


def mailferry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mailferry", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "400"})


NOW = (CUTOVER + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")


def test_once_exits_1_on_an_alert_and_status_and_report_show_it(
        world: Callable[..., World], tmp_path: Path) -> None:
    w = world()
    done = mailferry("monitor", str(w.toml), "--once", "--now", NOW)
    assert done.returncode == 1, done.stderr
    assert "still answers mx1.oldmail.example" in done.stdout  # the stale resolver
    assert "1 need a person" in done.stdout
    status = mailferry("status", str(w.toml))
    assert status.returncode == 0, status.stderr
    assert "Monitoring: last pass" in status.stdout and "1 need a person" in status.stdout
    data = json.loads(mailferry("status", str(w.toml), "--json").stdout)
    monitoring = data["monitoring"]
    assert monitoring["last_pass"]["alerts"] == 1
    assert [i["key"] for i in monitoring["open_incidents"]] == [
        f"dns bank.example @ {w.nameservers[1]}"]
    page = tmp_path / "report.html"
    assert mailferry("report", str(w.toml), "--html", str(page)).returncode == 0
    html = page.read_text()
    assert 'id="monitoring"' in html and "still answers mx1.oldmail.example" in html


def test_the_loop_serves_metrics_and_stops_on_sigterm(world: Callable[..., World]) -> None:
    w = world()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mailferry", "monitor", str(w.toml), "--interval", "1",
         "--metrics-port", str(port), "--now", NOW], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        text = ""
        while "mailferry_monitor_last_pass_timestamp_seconds" not in text or \
                "mailferry_probe_latency_seconds{" not in text:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, text
            with contextlib.suppress(httpx.HTTPError):  # not listening yet
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            time.sleep(0.5)
        lines = {line.split(" ")[0]: line.split(" ")[1] for line in text.splitlines()
                 if line and not line.startswith("#")}
        assert lines['mailferry_dns_resolvers_old_mx{domain="bank.example"}'] == "1.0"
        assert lines["mailferry_monitor_alerts"] == "1.0"
        assert lines['mailferry_probe_arrived{system="new"}'] == "1.0"
        assert lines['mailferry_domain_expiry_days{domain="bank.example"}'] != "0.0"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1  # the last pass had an alert (the stale resolver)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


@pytest.mark.parametrize(("line", "expected"), [
    ('probe_timeout = "soon"', "[monitor] probe_timeout: 'soon': expected seconds"),
    ('alert_smtp_password = "hunter2"', "[monitor] alert_smtp_password: write env:NAME"),
    ('webhook = "ftp://x"', "[monitor] webhook: 'ftp://x' is not an http(s) URL"),
    ('probe_adress = "x@y.example"', "[monitor] probe_adress: unknown key"),
])
def test_bad_monitor_settings_exit_2_with_file_and_line(
        world: Callable[..., World], line: str, expected: str) -> None:
    with SmtpSink() as mx:
        w = world(with_relay=False, mx_port=mx.port, monitor_extra=line + "\n",
                  probe_timeout="", webhook_url="")  # the line under test is the only one
        done = mailferry("monitor", str(w.toml), "--once", "--now", NOW)
        assert mx.received == []  # nothing sent
    assert done.returncode == 2, done.stdout
    number = next(n for n, text in enumerate(w.toml.read_text().splitlines(), 1)
                  if text == line)
    assert f"{w.toml}:{number}: {expected}" in done.stderr
    assert "hunter2" not in done.stderr  # a secret written in the file is never echoed
    assert not (w.root / "state.db").exists()  # nothing written either
