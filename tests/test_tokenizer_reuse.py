"""A run's tokenizer merges are learned once and reused while the learner's code, the text and
the settings stay the same; a kept file that is broken or hostile is ignored, never trusted."""

from __future__ import annotations

import base64
import importlib.util
import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest

from tutor.core.locations import tokenizers_dir
from tutor.data.corpus import file_corpus
from tutor.training import tokens

REFERENCE = Path(__file__).resolve().parent.parent / "lessons" / "reference" / "tokenizer.py"
VOCAB = 300


def reference():
    spec = importlib.util.spec_from_file_location("reference_tokenizer_for_reuse", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Learner:
    """A learner's model/tokenizer.py (the reference's code, in a folder of its own) that counts
    how often its train_bpe runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "model"
        self.folder.mkdir(parents=True)
        self.file = self.folder / "tokenizer.py"
        self.file.write_text(REFERENCE.read_text())
        self.calls = 0
        ref = reference()

        def train_bpe(*args, **kw):
            self.calls += 1
            return ref.train_bpe(*args, **kw)

        self.module = SimpleNamespace(__file__=str(self.file), SPLIT_PATTERN=ref.SPLIT_PATTERN, train_bpe=train_bpe,
                                      BPETokenizer=ref.BPETokenizer)


@pytest.fixture
def corpus(tmp_path):
    text = "\n".join(f"def function_{i}(value):\n    return value * {i} + other_{i % 7}  # the {i}th line"
                     for i in range(300))
    path = tmp_path / "text.txt"
    path.write_text(text)
    return file_corpus(path)


@pytest.fixture
def learner(tmp_path):
    return Learner(tmp_path / "ws")


def run(learner, corpus, vocab=VOCAB):
    lines: list[str] = []
    result = tokens.learn_tokenizer(learner.module, corpus, vocab, 4000, lines.append)
    return result, "\n".join(lines)


def kept_file() -> Path:
    (path,) = tokenizers_dir().glob("bpe-*.json")
    return path


def test_a_second_run_reuses_the_merges_and_says_so(learner, corpus):
    first, said = run(learner, corpus)
    assert learner.calls == 1 and not first.reused and "learning the tokenizer" in said
    second, said = run(learner, corpus)
    assert learner.calls == 1 and second.reused
    assert f"tokenizer: reused the merges learned on {first.learned_at} (model/tokenizer.py unchanged" in said
    assert second.ranks == first.ranks and second.specials == first.specials
    probe = corpus.head("val", 500)
    assert second.encoding.encode_ordinary(probe) == first.encoding.encode_ordinary(probe)


def test_a_changed_tokenizer_file_text_or_setting_learns_again(learner, corpus, tmp_path):
    run(learner, corpus)
    learner.file.write_text(learner.file.read_text() + "\n# a comment is a change too\n")
    again, said = run(learner, corpus)
    assert learner.calls == 2 and not again.reused and "learning the tokenizer" in said
    run(learner, corpus, vocab=VOCAB + 4)
    assert learner.calls == 3
    other = tmp_path / "other.txt"
    other.write_text(corpus.train_text().replace("value", "amount"))
    run(learner, file_corpus(other))
    assert learner.calls == 4
    run(learner, corpus)  # the first ones are all still kept
    run(learner, corpus, vocab=VOCAB + 4)
    assert learner.calls == 4


def test_a_change_to_a_model_file_the_tokenizer_imports_learns_again(learner, corpus):
    helper = learner.folder / "text_helpers.py"
    helper.write_text("GREETING = 'hello'\n")
    learner.file.write_text("from model.text_helpers import GREETING  # noqa\n" + learner.file.read_text())
    run(learner, corpus)
    run(learner, corpus)
    assert learner.calls == 1
    (learner.folder / "gpt.py").write_text("# not imported by the tokenizer: no change for it\n")
    run(learner, corpus)
    assert learner.calls == 1
    helper.write_text("GREETING = 'hi'\n")
    run(learner, corpus)
    assert learner.calls == 2


def test_the_model_imports_of_a_tokenizer_file():
    code = b"import os\nimport model.a\nfrom model import b, c\nfrom model.d import x\nfrom . import e\nfrom .f import y\nfrom other import g\n"
    assert tokens._model_imports(code) == {"a", "b", "c", "d", "e", "f"}
    assert tokens._model_imports(b"def broken(:\n") == set()


class Hostile:
    def __reduce__(self):
        return (print, ("unpickled!",))


def good_record(path: Path) -> dict:
    return json.loads(path.read_text())


def tampered(record: dict) -> list[tuple[str, bytes]]:
    """Kept files that must all be refused, each named by what is wrong with it."""
    ranks = record["ranks"]

    def dumped(**changes) -> bytes:
        return json.dumps({**record, **changes}).encode()

    return [
        ("a pickle", pickle.dumps(Hostile())),
        ("not UTF-8", b"\xff\xfe" + b"\x00" * 100),
        ("cut short", dumped()[:200]),
        ("a list", json.dumps(ranks).encode()),
        ("too large", b" " * (tokens.MAX_MERGES_BYTES + 10)),
        ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
        ("another format", dumped(format=99)),
        ("another key", dumped(key="0" * 64)),
        ("another vocab_size", dumped(vocab_size=VOCAB + 1)),
        ("ranks as numbers", dumped(ranks=list(range(len(ranks))))),
        ("ranks as a table", dumped(ranks={"a": 1})),
        ("too many ranks", dumped(ranks=ranks + [base64.b64encode(b"x%d" % i).decode() for i in range(VOCAB)])),
        ("too few ranks", dumped(ranks=ranks[:100])),
        ("not base64", dumped(ranks=[*ranks[:-1], "%%%"])),
        ("a repeated token", dumped(ranks=[*ranks[:-1], ranks[0]])),
        ("an empty token", dumped(ranks=[*ranks[:-1], ""])),
        ("a byte missing", dumped(ranks=[base64.b64encode(b"zz").decode(), *ranks[1:]])),
        ("a date that is not text", dumped(learned_at={"when": 1})),
    ]


def test_a_broken_or_hostile_kept_file_is_ignored_with_a_warning_and_learned_again(learner, corpus, capsys):
    first, _ = run(learner, corpus)
    path = kept_file()
    record = good_record(path)
    for what, content in tampered(record):
        path.write_bytes(content)
        before = learner.calls
        again, said = run(learner, corpus)
        assert learner.calls == before + 1, what
        assert not again.reused and again.ranks == first.ranks, what
        assert "Warning: ignored the kept tokenizer merges" in said, what
        assert good_record(path) == {**record, "learned_at": again.learned_at}, what  # written whole again
    assert "unpickled!" not in capsys.readouterr().out
    reused, said = run(learner, corpus)
    assert reused.reused and "Warning" not in said


def test_merges_a_later_run_could_not_read_are_not_kept():
    ranks = {bytes([b]): b for b in range(256)} | {b"x" * (tokens.MAX_TOKEN_BYTES + 1): 256}
    tokens.write_merges(tokenizers_dir() / "bpe-test.json", "k", tokens.Tokenizer(ranks, {}, None, learned_at="now"), VOCAB)
    assert not (tokenizers_dir() / "bpe-test.json").exists()


def test_reuse_can_be_turned_off(learner, corpus):
    tokens.learn_tokenizer(learner.module, corpus, VOCAB, 4000, lambda line: None, reuse=False)
    tokens.learn_tokenizer(learner.module, corpus, VOCAB, 4000, lambda line: None, reuse=False)
    assert learner.calls == 2 and not list(tokenizers_dir().glob("bpe-*.json"))
