from __future__ import annotations

from collections.abc import Iterator

import pytest

from testbed.notifykit import SMTP_PASSWORD, SMTP_USER
from testbed.smtp_sink import SmtpSink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A submission server: STARTTLS with the test CA's certificate, AUTH required."""
    with SmtpSink(tls=True, auth=(SMTP_USER, SMTP_PASSWORD)) as server:
        yield server
