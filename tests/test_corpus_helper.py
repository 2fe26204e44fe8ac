"""The corpus helper fails loudly: a missing or thinned-out corpus is an error, never a test
that passes on zero messages or a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import corpus


def test_a_missing_or_small_corpus_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "CORPUS", tmp_path / "absent")
    with pytest.raises(corpus.CorpusMissing, match="0 messages"):
        corpus.corpus_files()
    (tmp_path / "few" / "project").mkdir(parents=True)
    (tmp_path / "few" / "project" / "one.eml").write_bytes(b"Subject: x\r\n\r\nx\r\n")
    monkeypatch.setattr(corpus, "CORPUS", tmp_path / "few")
    with pytest.raises(corpus.CorpusMissing, match="1 messages"):
        corpus.corpus_files()
    assert corpus.corpus_files(minimum=1) == [tmp_path / "few" / "project" / "one.eml"]


def test_the_real_corpus_is_there() -> None:
    files = corpus.corpus_files()
    assert len(files) >= corpus.MINIMUM and len({f.parent.name for f in files}) > 5
