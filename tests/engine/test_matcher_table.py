"""Matcher rows mutation testing asked for: a refuted pairing returns its pool message to
both indexes (exact and below the delivery fields); fingerprints already copied count as
held for --skip-duplicates."""

from __future__ import annotations

from mailferry.engine import Decision, Match, Matcher, MessageKey

TRACE = b"Received: by new.example with LMTP id 1\r\nDelivered-To: a@x\r\n"
OTHER_TRACE = b"Received: by old.example with LMTP id 2\r\n"
MESSAGE = b"Message-ID: <m@x>\r\nSubject: s\r\n\r\nbody\r\n"


def test_a_refuted_pairing_can_be_paired_again_either_way() -> None:
    matcher = Matcher()
    matcher.add_target(7, MessageKey.of(TRACE + MESSAGE), "")
    (proposed,) = matcher.match([MessageKey.of(OTHER_TRACE + MESSAGE)])
    assert proposed == Match(Decision.PRESENT, 7, relayed=True)
    assert matcher.refute(proposed) == Match(Decision.COPY) and len(matcher) == 1
    # back below the delivery fields: another delivery of it pairs again
    (again,) = matcher.match([MessageKey.of(OTHER_TRACE + MESSAGE)])
    assert again == Match(Decision.PRESENT, 7, relayed=True) and len(matcher) == 0
    matcher.refute(again)
    # and back in the exact index
    assert matcher.match([MessageKey.of(TRACE + MESSAGE)]) == [Match(Decision.PRESENT, 7)]
    assert matcher.refute(Match(Decision.COPY)) == Match(Decision.COPY)  # nothing to return


def test_fingerprints_already_copied_make_duplicates_when_skipping() -> None:
    held = MessageKey.of(MESSAGE)
    matcher = Matcher(skip_duplicates=True)
    matcher.add_known([held.exact])
    assert matcher.match([held, MessageKey.of(b"Subject: new\r\n\r\n")]) == [
        Match(Decision.DUPLICATE), Match(Decision.COPY)]
    plain = Matcher()
    plain.add_known([held.exact])
    assert plain.match([held]) == [Match(Decision.COPY)]
