"""How `mailferry serve` runs: TLS, the token from the environment or the project, and no
plain http on another address."""

from __future__ import annotations

import signal
import ssl

import httpx
import pytest

from testbed.dovecot import shared_certs
from testbed.webkit import SyncedProject, cli, serving

TOKEN = "a-long-enough-token-from-the-environment"


def test_tls_with_a_token_from_the_environment(synced: SyncedProject) -> None:
    certs = shared_certs()
    with serving(synced.toml, "--cert", str(certs.server_cert), "--key",
                 str(certs.server_key), env={"MAILFERRY_DASHBOARD_TOKEN": TOKEN}) as served:
        assert served.base.startswith("https://127.0.0.1:")
        assert served.token is None  # printed as "…": a token someone set stays unprinted
        trust = ssl.create_default_context(cafile=str(certs.ca_cert))
        with httpx.Client(base_url=served.base, verify=trust, timeout=30) as client:
            first = client.get("/", params={"token": TOKEN})
            assert first.status_code == 303
            assert "Secure" in first.headers["set-cookie"]
            assert "HttpOnly" in first.headers["set-cookie"]
            assert client.get("/").status_code == 200
        output = served.output()
    assert TOKEN not in output


def test_a_token_from_the_projects_secret_file(synced: SyncedProject) -> None:
    toml = synced.toml.parent / "with-token.toml"
    (synced.toml.parent / "dashboard.token").write_text(TOKEN + "\n")
    toml.write_text(synced.toml.read_text() + '\n[dashboard]\ntoken = "file:dashboard.token"\n')
    with serving(toml) as served:
        assert served.token is None
        with served.login(TOKEN) as client:
            assert client.get("/failures").status_code == 200
        assert TOKEN not in served.output()


def test_plain_http_on_another_address_is_refused(synced: SyncedProject) -> None:
    done = cli("serve", str(synced.toml), "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert done.returncode == 2 and "--cert" in done.stderr
    inline = synced.toml.parent / "inline-token.toml"
    inline.write_text(synced.toml.read_text() + '\n[dashboard]\ntoken = "hunter2-hunter2-x"\n')
    done = cli("serve", str(inline), "--port", "0", timeout=60)
    assert done.returncode == 2 and "env:NAME or file:PATH" in done.stderr
    assert "hunter2" not in done.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_with_a_live_page_open_ends_the_stream_quietly_with_status_0(
        synced: SyncedProject, stop: signal.Signals) -> None:
    """A browser tab left open holds a live stream: Ctrl-C (or systemd's SIGTERM) must
    still end serve cleanly, the stream closed properly rather than cut after the graceful
    timeout with a traceback, and with exit status 0 (not "Aborted!", 1)."""
    with serving(synced.toml, "--tick", "0.5") as served, served.login() as client, \
            client.stream("GET", "/events") as events:
        lines = events.iter_lines()
        assert next(lines) == "event: update"  # the stream is live
        served.process.send_signal(stop)
        rest = list(lines)  # raises if the server cut the stream instead of ending it
        assert served.process.wait(60) == 0
    assert rest == [] or all(line.startswith(("data:", ":", "event:")) or not line
                             for line in rest)
    errors = served.err.read_text()
    assert "Traceback" not in errors and "ERROR" not in errors, errors
