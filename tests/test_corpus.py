"""Corpora: the offline default, and clear errors for files that are not usable text."""

from __future__ import annotations

import pytest

from tutor.data import corpus as corpus_mod
from tutor.data.corpus import CorpusError, check_text_file, file_corpus, load_corpus


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"hello\x00\x01\x02 world", "looks binary"),
        ("caf\u00e9 au lait".encode("latin-1"), r"is not valid UTF-8 \(byte 3"),
        ("ends mid-character \u00e9".encode("utf-8")[:-1], "ends in the middle of a character"),
    ],
    ids=["empty", "binary", "latin1", "truncated"],
)
def test_bad_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        file_corpus(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        check_text_file(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match="is not a file"):
        check_text_file(tmp_path)


def test_a_character_split_across_read_blocks_is_fine(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_mod, "CHUNK", 7)
    path = tmp_path / "ok.txt"
    path.write_text("ab" + "\u00e9\u65e5\U0001f44b" * 50, encoding="utf-8")
    assert check_text_file(path) == path.stat().st_size


def test_file_corpus_splits_by_document_and_is_cached(tmp_path, monkeypatch):
    docs = [f"Document {i}. " + "word " * 500 for i in range(40)]
    path = tmp_path / "book.txt"
    path.write_text("\n\n".join(docs), encoding="utf-8")
    corpus = file_corpus(path)
    assert corpus.documents >= 20 and corpus.val_chars > 0 and corpus.train_chars > 10 * corpus.val_chars
    assert "Document 19." in corpus.val_text() and "Document 19." not in corpus.train_text()

    def split_again(*args, **kwargs):
        raise AssertionError("the same file was split again instead of read from the cache")

    monkeypatch.setattr(corpus_mod, "_write", split_again)
    assert file_corpus(path) == corpus
    path.write_text("\n\n".join(docs[:30]), encoding="utf-8")  # a changed file is not served from the cache
    with pytest.raises(AssertionError, match="split again"):
        file_corpus(path)


@pytest.mark.slow  # builds the whole default corpus
def test_default_corpus_is_built_offline_from_python_docs():
    corpus = load_corpus("pydoc")
    assert corpus.train_chars > 500_000 and corpus.val_chars > 20_000
    assert corpus.documents > 500
    assert "def " in corpus.train_text() or "class " in corpus.train_text()
    assert load_corpus("pydoc").sha256 == corpus.sha256


def test_unknown_corpus():
    with pytest.raises(CorpusError, match="no corpus named"):
        load_corpus("nonesuch")
