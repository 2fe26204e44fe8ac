"""Pure parts, no sockets: the routes CSV and the spool's recovery from its journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailferry.errors import ConfigError
from mailferry.relay import load_state, parse_routes_csv
from mailferry.relay.spool import Spool, SpooledMessage

BOTH = ("old", "new")


def test_routes_csv_header_comments_case_and_default() -> None:
    table = parse_routes_csv("address,route\n# pilot group\nAlice@Bank.example, both\n\n"
                             "bob@bank.example,new\n", Path("routes.csv"), "old", BOTH)
    assert table.upstreams_for("alice@bank.example") == ("old", "new")
    assert table.upstreams_for("BOB@bank.example") == ("new",)
    assert table.upstreams_for("carol@bank.example") == ("old",)


@pytest.mark.parametrize(("text", "configured", "where", "words"), [
    ("alice@bank.example\n", BOTH, ":1", "expected address,route"),
    ("ok@bank.example,old\nalice,both\n", BOTH, ":2", "not an email address"),
    ("alice@bank.example,sideways\n", BOTH, ":1", "expected one of old, new, both"),
    ("alice@bank.example,both\n", ("old",), ":1", "needs upstream 'new'"),
    ("a@bank.example,old\nA@bank.example,new\n", BOTH, ":2", "listed twice"),
])
def test_routes_csv_errors_name_file_and_line(
    text: str, configured: tuple[str, ...], where: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_routes_csv(text, Path("routes.csv"), "old", configured)
    assert str(caught.value).startswith(f"routes.csv{where}: ")
    assert words in str(caught.value)


def _spooled(spool: Spool, spool_id: str, rcpts: dict[str, list[str]]) -> SpooledMessage:
    message = SpooledMessage(spool_id, "s@outside.example", 1000.0, 0)
    for name, recipients in rcpts.items():
        for recipient in recipients:
            message.route(name, recipient)
    spool.store(message, b"Subject: x\r\n\r\nbody\r\n")
    return message


def test_spool_recovers_outcomes_attempts_and_cut_deliveries(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open_for_accept()
    one = _spooled(spool, "a1", {"old": ["x@bank.example", "y@bank.example"],
                                 "new": ["x@bank.example"]})
    two = _spooled(spool, "b2", {"old": ["z@bank.example"]})
    old_one, new_one = one.deliveries["old"], one.deliveries["new"]
    spool.record_try(old_one)
    spool.record_done(old_one, ["x@bank.example"])  # y deferred below
    old_one.attempts, old_one.next_attempt, old_one.last_error = 1, 2000.0, "451 busy"
    spool.record_defer(old_one)
    spool.record_try(new_one)  # cut by a crash: no outcome
    spool.record_try(two.deliveries["old"])
    spool.record_done(two.deliveries["old"], ["z@bank.example"])
    with open(tmp_path / "journal", "ab") as journal:
        journal.write(b'{"id": "a1", "up": "new", "ev": "do')  # torn by kill -9
    spool.close()

    state = load_state(tmp_path)
    assert set(state) == {"a1", "b2"} and state["b2"].deliveries == {}
    old_left, new_left = state["a1"].deliveries["old"], state["a1"].deliveries["new"]
    assert (old_left.recipients, old_left.attempts, old_left.last_error) == (
        ["y@bank.example"], 1, "451 busy")
    assert new_left.in_flight and new_left.recipients == ["x@bank.example"]

    delivery_side = Spool(tmp_path, tmp_name="tmp-delivery")
    recovered = delivery_side.open_for_delivery(wait=0)
    delivery_side.close()
    assert recovered is not None and set(recovered) == {"a1"}  # b2 was finished: removed
    assert not (tmp_path / "msg" / "b2.msg").exists()
    after_compaction = load_state(tmp_path)["a1"].deliveries
    assert after_compaction["old"].recipients == ["y@bank.example"]
    assert after_compaction["old"].attempts == 1
    assert delivery_side.read_message("a1") == b"Subject: x\r\n\r\nbody\r\n"


def test_one_relay_per_spool(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.open_for_accept()
    with pytest.raises(ConfigError, match="another relay"):
        Spool(tmp_path).open_for_accept()
    first.close()
    second = Spool(tmp_path)
    second.open_for_accept()  # free again once the first one closed
    second.close()


def test_compaction_never_forgets_a_finished_upstream(tmp_path: Path) -> None:
    """old done, new pending: after any number of restarts (each compacts the journal)
    only new is left to do."""
    spool = Spool(tmp_path)
    spool.open_for_accept()
    both = _spooled(spool, "c3", {"old": ["x@bank.example"], "new": ["x@bank.example"]})
    spool.record_try(both.deliveries["old"])
    spool.record_done(both.deliveries["old"], ["x@bank.example"])
    spool.close()
    for _ in range(3):
        delivery_side = Spool(tmp_path, tmp_name="tmp-delivery")
        recovered = delivery_side.open_for_delivery(wait=0)
        delivery_side.close()
        assert recovered is not None
        assert list(recovered["c3"].deliveries) == ["new"]
    assert list(load_state(tmp_path)["c3"].deliveries) == ["new"]
