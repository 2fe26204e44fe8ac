"""The shared real-world corpus (../shared/corpus/realworld beside the repository): messages
from other projects' test suites, malformed ones included, one folder per project.

A test that needs it fails loudly when it is missing or empty (never skips, never passes on
zero messages): a fidelity test that checked nothing would look the same as one that passed.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "realworld"
MINIMUM = 1000  # the corpus holds 1,032 messages; far fewer means it is not all there


class CorpusMissing(RuntimeError):
    pass


def corpus_files(minimum: int = MINIMUM) -> list[Path]:
    """Every corpus message (`<project>/<name>.eml`), sorted; CorpusMissing if there are
    fewer than `minimum`."""
    files = sorted(CORPUS.glob("*/*.eml")) if CORPUS.is_dir() else []
    if len(files) < minimum:
        raise CorpusMissing(
            f"the shared real-world corpus has {len(files)} messages at {CORPUS} (expected at "
            f"least {minimum}): it lives in ../shared/corpus/realworld beside the repository")
    return files
