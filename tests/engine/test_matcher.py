"""The matcher, by tables: source messages against a target pool as multisets, exact
fingerprints first, then relayed twins (the same message stored by two receiving servers,
each with its own delivery fields on top). No server needed."""

from __future__ import annotations

import pytest

from mailferry.engine import Decision, Match, Matcher, MessageKey, relayed_fingerprint
from mailferry.engine.fingerprint import below_delivery_fields, body_digest, header_block

ORIGINAL = (b"From: Sender <s@outside.example>\r\nTo: alice@bank.example\r\n"
            b"Subject: quarterly figures\r\nDate: Mon, 3 Mar 2025 09:00:00 +0000\r\n")
OLD_TRACE = (b"Return-Path: <s@outside.example>\r\nDelivered-To: alice@bank.example\r\n"
             b"Received: from relay.bank.example\r\n\tby old.bank.example with LMTP id 1A\r\n"
             b"\t; Mon, 3 Mar 2025 09:00:02 +0000\r\n")
NEW_TRACE = (b"Return-Path: <s@outside.example>\r\nDelivered-To: alice@bank.example\r\n"
             b"Received: from relay.bank.example\r\n\tby new.example.net with LMTP id 9Z\r\n"
             b"\t; Mon, 3 Mar 2025 09:00:03 +0000\r\n"
             b"Authentication-Results: new.example.net; spf=pass\r\n"
             b"X-Spam-Status: No, score=-0.1\r\n")
RELAY = b"Received: from mx.outside.example\r\n\tby relay.bank.example (mailferry) id 77\r\n"

# name -> raw message: the same message as each side stored it, and some that are not it
MESSAGES = {
    "A": b"Message-ID: <a@x>\r\n" + ORIGINAL + b"\r\nbody a\r\n",
    "A-old": OLD_TRACE + RELAY + b"Message-ID: <a@x>\r\n" + ORIGINAL + b"\r\nbody a\r\n",
    "A-new": NEW_TRACE + RELAY + b"Message-ID: <a@x>\r\n" + ORIGINAL + b"\r\nbody a\r\n",
    "B": b"Message-ID: <b@x>\r\n" + ORIGINAL + b"\r\nbody b\r\n",
    "B-new": NEW_TRACE + RELAY + b"Message-ID: <b@x>\r\n" + ORIGINAL + b"\r\nbody b\r\n",
    "C": b"Message-ID: <c@x>\r\n" + ORIGINAL + b"\r\nbody c\r\n",
    # no Message-ID: told apart by the rest of the header block
    "N1-old": OLD_TRACE + ORIGINAL + b"X-Cron: job 1\r\n\r\ndisk full\r\n",
    "N1-new": NEW_TRACE + ORIGINAL + b"X-Cron: job 1\r\n\r\ndisk full\r\n",
    "N2-new": NEW_TRACE + ORIGINAL + b"X-Cron: job 2\r\n\r\ndisk full\r\n",
    # a signature is the sender's, not a delivery field: different ones never pair
    "S1": b"DKIM-Signature: v=1; b=one\r\nMessage-ID: <s@x>\r\n" + ORIGINAL + b"\r\nsigned\r\n",
    "S2": b"DKIM-Signature: v=1; b=two\r\nMessage-ID: <s@x>\r\n" + ORIGINAL + b"\r\nsigned\r\n",
    # delivery fields and nothing else
    "T-only": OLD_TRACE + b"\r\nno header of its own\r\n",
}

P, C, E, D = Decision.PRESENT, Decision.COPY, Decision.ELSEWHERE, Decision.DUPLICATE


def key(name: str) -> MessageKey:
    return MessageKey.of(MESSAGES[name])


def run(pool: list[str], sources: list[str], **rules: object) -> list[tuple[Decision, int | None,
                                                                              bool]]:
    matcher = Matcher(**rules)  # type: ignore[arg-type]
    for uid, name in enumerate(pool, start=101):
        matcher.add_target(uid, key(name), "")
    return [(m.decision, m.target_uid, m.relayed) for m in matcher.match([key(n) for n in sources])]


@pytest.mark.parametrize(("pool", "sources", "rules", "expected"), [
    # k source messages with one fingerprint, j in the pool: exactly k-j copies
    (["A", "B", "B"], ["A", "A", "B", "B", "B", "C"], {},
     [(P, 101, False), (C, None, False), (P, 102, False), (P, 103, False), (C, None, False),
      (C, None, False)]),
    # --skip-duplicates: one per fingerprint, counting what the pool holds
    (["B"], ["A", "A", "B", "B"], {"skip_duplicates": True},
     [(C, None, False), (D, None, False), (P, 101, False), (D, None, False)]),
    # an \All folder: what another folder brought is not copied again
    ([], ["A", "B"], {"elsewhere": frozenset({MessageKey.of(MESSAGES["A"]).exact})},
     [(E, None, False), (C, None, False)]),
    # dual delivery: the old server's copy pairs with the new server's, to be confirmed
    (["A-new"], ["A-old"], {}, [(P, 101, True)]),
    (["A-new", "B-new"], ["A-old", "C"], {},
     [(P, 101, True), (C, None, False)]),
    # exact matches go first across the batch: the exact twin keeps its pool message
    (["A-new"], ["A-old", "A-new"], {}, [(C, None, False), (P, 101, False)]),
    # two deliveries in the source, one in the pool: one copy
    (["A-new"], ["A-old", "A-old"], {}, [(P, 101, True), (C, None, False)]),
    # without Message-ID the rest of the header block still tells them apart
    (["N2-new", "N1-new"], ["N1-old"], {}, [(P, 102, True)]),
    (["N2-new"], ["N1-old"], {}, [(C, None, False)]),
    # never paired: different signatures, or nothing below the delivery fields
    (["S2"], ["S1"], {}, [(C, None, False)]),
    (["T-only"], ["T-only"], {}, [(P, 101, False)]),
    (["A-new"], ["A"], {}, [(C, None, False)]),  # no delivery fields on one side: no pair
])
def test_decisions(pool: list[str], sources: list[str], rules: dict[str, object],
                   expected: list[tuple[Decision, int | None, bool]]) -> None:
    assert run(pool, sources, **rules) == expected


def test_a_refuted_pairing_returns_the_pool_message() -> None:
    matcher = Matcher()
    matcher.add_target(7, key("A-new"), "\\Seen")
    (first,) = matcher.match([key("A-old")])
    assert first == Match(P, 7, relayed=True) and len(matcher) == 0
    assert matcher.refute(first) == Match(C)
    assert len(matcher) == 1 and matcher.flags_of(7) == "\\Seen"
    assert matcher.match([key("A-new")]) == [Match(P, 7)]


def test_keys_from_the_store_match_keys_from_messages() -> None:
    stored = MessageKey(key("A-new").exact, relayed=key("A-new").relayed)
    matcher = Matcher()
    matcher.add_target(1, stored, "")
    assert matcher.match([key("A-old")]) == [Match(P, 1, relayed=True)]


@pytest.mark.parametrize(("raw", "left"), [
    (MESSAGES["A-old"], b"Message-ID: <a@x>\nFrom: Sender"),
    (b"Received: a\n b\nX-Spam-Score: 1\nARC-Seal: i=1\nSubject: s\nReceived: later\n\nx",
     b"Subject: s\nReceived: later\n"),
    (b"Subject: s\nReceived: x\n\n", None),  # nothing leads: nothing to strip
    (b"Received: x\nReturn-Path: <>\n\nbody", None),  # nothing but delivery fields
])
def test_what_is_left_below_the_delivery_fields(raw: bytes, left: bytes | None) -> None:
    rest = below_delivery_fields(header_block(raw))
    if left is None:
        assert rest is None
    else:
        assert rest is not None and rest.startswith(left)


def test_relayed_fingerprint_and_body_digest_ignore_only_what_servers_change() -> None:
    old, new = header_block(MESSAGES["A-old"]), header_block(MESSAGES["A-new"])
    assert old != new and relayed_fingerprint(old) == relayed_fingerprint(new)
    assert body_digest(MESSAGES["A-old"]) == body_digest(MESSAGES["A-new"])
    assert body_digest(MESSAGES["A-old"].replace(b"\r\n", b"\n")) == body_digest(
        MESSAGES["A-new"])
    assert body_digest(MESSAGES["A-old"]) != body_digest(MESSAGES["B-new"])


# -- through a server's rewrite (issue 20 point 5) --------------------------------------------

EIGHT_BIT = (b"From: J\xc3\xbcrgen <j@x>\r\nSubject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln und"
             b" einer sehr langen Betreffzeile\r\nMessage-ID: <k@x>\r\n\r\nbody k\r\n")
FROM_LINE = b"From j@x Mon Jan  1 00:00:00 2024\r\n"
# (what the source holds, what the target stored)
REWRITES = {
    "Cyrus: 8-bit header bytes replaced by X": (EIGHT_BIT, EIGHT_BIT.replace(
        b"\xc3\xbc", b"XX").replace(b"\xc3\x9f", b"XX").replace(b"\xc3\xb6", b"XX")),
    "pymap: LF, re-folded, leading From line dropped": (FROM_LINE + EIGHT_BIT, EIGHT_BIT.replace(
        b"\r\n", b"\n").replace(b" und einer", b" und\n einer")),
    "imap4d: bookkeeping fields injected": (EIGHT_BIT, EIGHT_BIT.replace(
        b"\r\n\r\n", b"\r\nStatus: RO\r\nX-UID: 4\r\nX-IMAPbase: 1 4\r\n\r\n")),
}


@pytest.mark.parametrize(("source", "stored"), list(REWRITES.values()), ids=list(REWRITES))
def test_a_message_the_target_rewrote_is_present(source: bytes, stored: bytes) -> None:
    matcher = Matcher()
    matcher.add_target(5, MessageKey.of(stored), "")
    assert MessageKey.of(stored).exact != MessageKey.of(source).exact
    assert matcher.match([MessageKey.of(source)]) == [Match(P, 5, rewritten=True)]


def test_exact_matches_go_before_rewritten_ones_and_different_messages_never_pair() -> None:
    matcher = Matcher()
    matcher.add_target(1, MessageKey.of(REWRITES["imap4d: bookkeeping fields injected"][1]), "")
    matcher.add_target(2, MessageKey.of(EIGHT_BIT), "")
    other = EIGHT_BIT.replace(b"<k@x>", b"<k2@x>")
    assert matcher.match([MessageKey.of(other), MessageKey.of(EIGHT_BIT),
                          MessageKey.of(EIGHT_BIT)]) == [
        Match(C), Match(P, 2), Match(P, 1, rewritten=True)]
