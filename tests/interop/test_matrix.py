"""The interop matrix (issue 20): `mailferry copy` between ordered pairs of real IMAP servers,
checked independently: every message exact or reported with its class, no duplicates after
a re-run with the same state nor with a fresh state.

Pairs that fail today are listed in KNOWN_FAILING with the issue-20 point that explains each,
as strict xfails: when a fix makes a pair pass, its xfail turns into an error and the entry
must go. The regular suite runs the fast servers on a small mailbox; `make test-interop` runs
every server on the full matrix mailbox (marker `interop`).
"""

from __future__ import annotations

import pytest

from testbed.chroot import ChrootMissing, chroot_path
from testbed.interopkit import require_chroot
from testbed.matrix import CHROOTED, FACTORIES, REGULAR, PairResult, mailferry_pair, seeded
from testbed.matrix_mailbox import MatrixMessage, matrix_mailbox

P1 = "issue 20 point 1: a refused CREATE (imap4d: a folder holding mail gets no children) aborts"
P2 = "issue 20 point 2: STATUS with an unquoted name with spaces (imap4d) aborts the run"
P3 = "issue 20 point 3: no UIDPLUS (imap4d keeps one APPEND into the selected folder): loss"
P4 = "issue 20 point 4: server rewrites unreported (LF bodies, re-folded headers, 8-bit bytes)"
P5 = "issue 20 point 5: duplicates on re-runs against a rewriting server"
P6 = "issue 20 point 6: one refused message fails its whole folder"
P7 = "issue 20 point 7: bare-LF bodies sent as they are (Cyrus refuses them)"
P9 = "issue 20 point 9: behaviours to take in stride"

# (source, target) -> why it fails today; the small mailbox of the regular suite
KNOWN_FAILING_SMALL: dict[tuple[str, str], str] = {}
# the full matrix mailbox (make test-interop), as bench/interop_matrix.py measured it
# (docs/interop.md has the matrix)
KNOWN_FAILING: dict[tuple[str, str], str] = {}


def _pairs(servers: tuple[str, ...] | list[str],
           known: dict[tuple[str, str], str]) -> list[object]:
    def marks(pair: tuple[str, str]) -> list[pytest.MarkDecorator]:
        if pair in known:
            return [pytest.mark.xfail(strict=True, reason=known[pair])]
        return []

    return [pytest.param(source, target, id=f"{source}->{target}", marks=marks((source, target)))
            for source in servers for target in servers if source != target]


def _check_pair(source: str, target: str, box: list[MatrixMessage]) -> PairResult:
    for name in (source, target):
        if name in CHROOTED:
            try:
                chroot_path(name)
            except ChrootMissing as exc:
                require_chroot(exc)
    with seeded(source, box) as seeded_source:
        result = mailferry_pair(source, seeded_source.server, seeded_source.snapshot, target)
    return result


def _explain(result: PairResult) -> str:
    first = result.first
    return (f"{result.source} -> {result.target}: exit "
            f"{first.exit_status if first else None}, differences {result.differences}, "
            f"reported {first.reported if first else {}}, keywords dropped "
            f"{first.keywords_dropped if first else 0}, unreported "
            f"{result.unreported}, duplicates {result.dup_same_state}/{result.dup_fresh_state}"
            f", source messages changed {result.source_changed}"
            f"{', ' + first.note if first and first.note else ''}\n  "
            + "\n  ".join(result.examples))


@pytest.mark.parametrize(("source", "target"), _pairs(REGULAR, KNOWN_FAILING_SMALL))
def test_pair_small_mailbox(source: str, target: str) -> None:
    result = _check_pair(source, target, matrix_mailbox(generated=20, corpus=16))
    assert result.source_messages > 30  # the source really holds the mailbox
    assert result.passes, _explain(result)


@pytest.mark.interop
@pytest.mark.parametrize(("source", "target"), _pairs(list(FACTORIES), KNOWN_FAILING))
def test_pair_matrix_mailbox(source: str, target: str) -> None:
    result = _check_pair(source, target, matrix_mailbox(generated=60, corpus=200))
    assert result.source_messages > 150
    assert result.passes, _explain(result)


def _flat(box: list[MatrixMessage]) -> list[MatrixMessage]:
    """Top-level folders only, no 2043 dates: what imap4d and Dovecot both hold as given."""
    return [m for m in box if len(m.folder) == 1 and m.internaldate.year < 2030]


def test_imap4d_source_with_spaces_in_folder_names() -> None:
    """imap4d answers `* STATUS Old Mail 2003 (...)` unquoted (issue 20 point 2): read as
    the folder asked for (wire.parse_status), the copy goes through and is exact. (It also
    answers `UID SEARCH UID 1:*` with an empty SEARCH: the engine lists a folder with
    `UID SEARCH ALL`.)"""
    result = _check_pair("imap4d", "dovecot-slash", _flat(matrix_mailbox(generated=24, corpus=8)))
    assert result.first is not None and result.first.exit_status == 0, _explain(result)
    assert result.matched == result.source_messages > 10, _explain(result)
    assert set(result.differences) == set(), _explain(result)
    assert (result.dup_same_state, result.dup_fresh_state) == (0, 0)


def test_a_target_without_uidplus_keeps_every_message() -> None:
    """imap4d (no UIDPLUS) keeps one APPEND per selected folder: mailferry said "copied 20",
    exited 0, and the target held one message per folder (issue 20 point 3). Now it appends
    with no folder selected and finds each message afterwards by its fingerprint."""
    result = _check_pair("dovecot-slash", "imap4d", _flat(matrix_mailbox(generated=24, corpus=8)))
    assert result.first is not None and result.first.copied == result.source_messages
    assert result.differences.get("missing", 0) == 0, _explain(result)
