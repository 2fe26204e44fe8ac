"""The one URL type: IMAP, SMTP and LMTP servers, a mailbox URL with its user; a bad URL
is a ConfigError that never shows the password."""

from __future__ import annotations

import pytest

from mailferry.errors import ConfigError
from mailferry.urls import ServerURL, schemes_of


@pytest.mark.parametrize(("text", "schemes", "shown", "label", "tls"), [
    ("imaps://imap.example", None, "imaps://imap.example:993", "imap://imap.example:993",
     "implicit"),
    ("imap://127.0.0.1", None, "imap://127.0.0.1:143", "imap://127.0.0.1:143", "starttls"),
    ("submission://smtp.example", schemes_of("smtp"), "submission://smtp.example:587",
     "smtp://smtp.example:587", "starttls"),
    ("smtps://smtp.example", schemes_of("smtp"), "smtps://smtp.example:465",
     "smtp://smtp.example:465", "implicit"),
    ("lmtp://[::1]:2400", ("lmtp",), "lmtp://[::1]:2400", "lmtp://[::1]:2400", "starttls"),
])
def test_server_urls(text: str, schemes: tuple[str, ...] | None, shown: str, label: str,
                     tls: str) -> None:
    url = ServerURL.parse(text, schemes=schemes) if schemes else ServerURL.parse(text)
    assert (str(url), url.label, url.tls, url.user) == (shown, label, tls, None)


def test_a_mailbox_url_keeps_its_user() -> None:
    url = ServerURL.parse("imap://bob%40corp.example@[::1]:1143", user="required")
    assert (url.user, url.host, url.port, url.is_loopback) == ("bob@corp.example", "::1", 1143,
                                                                True)
    assert str(url) == "imap://bob@corp.example@[::1]:1143"  # the lease key's spelling


@pytest.mark.parametrize(("text", "schemes", "user", "words"), [
    ("imap://alice:s3cret-pw@h", None, "required", "credentials"),
    ("smtp://u:s3cret-pw@mx.example", ("smtp",), "forbidden", "credentials"),
    ("imap://alice:s3cret-pw@h:99999", None, "required", "bad port"),
    ("imap://h:143", None, "required", "no user"),
    ("imaps://alice@h", None, "forbidden", "no user here"),
    ("pop3://h", None, "forbidden", "scheme must be one of"),
    ("lmtp://h", schemes_of("smtp"), "forbidden", "scheme must be one of"),
    ("imap://h/INBOX", None, "forbidden", "path"),
    ("imap://", None, "forbidden", "no host"),
])
def test_bad_urls_say_why_and_never_show_the_password(
        text: str, schemes: tuple[str, ...] | None, user: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ServerURL.parse(text, schemes=schemes or schemes_of("imap"),
                        user=user)  # type: ignore[arg-type]
    assert words in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value, ValueError)  # validators turn it into file:line errors
