"""One message, as three servers hold it (james-mime4j's "obsolete" test message, after
imap4d normalised "Subject :" and "Date :"): imap4d keeps "Inval\\xecd-Header:", Cyrus keeps
it as "InvalXd-Header:", pymap ends the header above it. A fresh-state re-run must find the
copy on either target: the robust fingerprint matches Cyrus's, its cut one pymap's."""

from __future__ import annotations

from mailferry.engine.fingerprint import robust_fingerprint, robust_fingerprints
from mailferry.engine.matcher import Decision, Matcher, MessageKey

IMAP4D = (b"Subject: The obsolete syntax allow spaces before the colon\r\n       \r\n and also"
          b" empty lines in folding.\r\nDate: Malformed Date.\r\nInval\xecd-Header: this is not"
          b" valid.\r\nHeaderWithWSP: value.\r\nX-UID: 9\r\nStatus: R\r\n\r\nbody\r\n")
CYRUS = IMAP4D.replace(b"\xec", b"X")
PYMAP = (b"Subject: The obsolete syntax allow spaces before the colon       \n and also empty"
         b" lines in folding.\nDate: Malformed Date.\n\nInval\xecd-Header: this is not valid.\n"
         b"HeaderWithWSP: value.\nX-UID: 9\nStatus: R\n\nbody\n")


def test_the_robust_fingerprint_follows_cyrus_and_its_cut_one_pymap() -> None:
    full, cut = robust_fingerprints(IMAP4D)
    assert full == robust_fingerprint(CYRUS) != robust_fingerprint(PYMAP)
    assert cut == robust_fingerprint(PYMAP)
    assert robust_fingerprints(CYRUS)[1] is None  # no 8-bit name: nothing to cut


def test_the_matcher_finds_either_copy() -> None:
    for target in (CYRUS, PYMAP):
        matcher = Matcher()
        stored = MessageKey.of(target)
        matcher.add_target(7, MessageKey(stored.exact, robust=stored.robust), "")
        (match,) = matcher.match([MessageKey.of(IMAP4D)])
        assert (match.decision, match.target_uid, match.rewritten) == (Decision.PRESENT, 7, True)
