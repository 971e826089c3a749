"""Pretraining corpora: the offline default, any UTF-8 file, and downloads.

Every corpus becomes two plain-text files, train.txt and val.txt, split by
document (never mid-document), plus meta.json with its name, source, sizes and
checksum, under <data home>/corpora/<name>/.

The default corpus needs no network: it is assembled on this machine from the
documentation that every Python install carries (the `pydoc_data` topics of the
language reference and the docstrings of the standard library), cleaned,
deduplicated, and split 95/5 by document.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import sysconfig
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from tutor.core.atomic import clean_stale_temporaries, temporary_beside, write_text_atomic
from tutor.core.locations import corpora_dir, inside
from tutor.core.safe_read import FileRefused, open_regular

DEFAULT = "pydoc"
VAL_EVERY = 20  # one document in 20 goes to validation
CHUNK = 1 << 20
SKIP_PARTS = {"test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo", "__pycache__"}


class CorpusError(Exception):
    """A corpus that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Corpus:
    name: str
    source: str
    train_chars: int
    val_chars: int
    sha256: str
    documents: int
    root: str

    @property
    def train_path(self) -> Path:
        return Path(self.root) / "train.txt"

    @property
    def val_path(self) -> Path:
        return Path(self.root) / "val.txt"

    def train_text(self) -> str:
        return self.train_path.read_text(encoding="utf-8")

    def val_text(self) -> str:
        return self.val_path.read_text(encoding="utf-8")

    def head(self, split: str, chars: int) -> str:
        """The first `chars` characters of a split, without reading the rest."""
        with open(self.train_path if split == "train" else self.val_path, encoding="utf-8") as f:
            return f.read(chars)


def list_corpora() -> list[Corpus]:
    found = []
    for meta in sorted(corpora_dir().glob("*/meta.json")):
        try:
            found.append(Corpus(**json.loads(meta.read_text(encoding="utf-8"))))
        except (ValueError, TypeError):
            continue
    return found


def load_corpus(name: str) -> Corpus:
    """A corpus by name; the default one is built on first use."""
    meta = corpora_dir() / name / "meta.json"
    if meta.is_file():
        try:
            corpus = Corpus(**json.loads(meta.read_text(encoding="utf-8")))
            if corpus.train_path.is_file() and corpus.val_path.is_file():
                return corpus
        except (ValueError, TypeError):
            pass
    if name == DEFAULT:
        return build_default_corpus()
    raise CorpusError(f"no corpus named {name!r}; `tutor data list` shows the corpora you have")


# --- writing a corpus ------------------------------------------------------


def _write(name: str, source: str, documents: Iterator[str]) -> Corpus:
    """Split documents into train/val (every VAL_EVERY-th to val) and write them atomically.

    Under the corpus's lock, to temporaries of this process's own: two first runs that
    build the same corpus at once both end with the same whole files."""
    from filelock import FileLock

    try:
        root = inside(corpora_dir(), name)
    except ValueError as exc:
        raise CorpusError(str(exc)) from None
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock", timeout=3600):
        clean_stale_temporaries(root)
        with temporary_beside(root / "train.txt") as train_tmp, temporary_beside(root / "val.txt") as val_tmp:
            counts, digest = _split(documents, train_tmp, val_tmp)
            if counts["train"] == 0:
                raise CorpusError(f"the corpus {name!r} has no text to train on")
            train_tmp.replace(root / "train.txt")
            val_tmp.replace(root / "val.txt")
        corpus = Corpus(name=name, source=source, train_chars=counts["train"], val_chars=counts["val"],
                        sha256=digest, documents=counts["docs"], root=str(root))
        write_text_atomic(root / "meta.json", json.dumps(asdict(corpus), indent=2))
    return corpus


def _split(documents: Iterator[str], train_path: Path, val_path: Path) -> tuple[dict[str, int], str]:
    digest = hashlib.sha256()
    counts = {"train": 0, "val": 0, "docs": 0}
    with open(train_path, "w", encoding="utf-8") as train, open(val_path, "w", encoding="utf-8") as val:
        for i, doc in enumerate(documents):
            digest.update(doc.encode("utf-8"))
            target, key = (val, "val") if i % VAL_EVERY == VAL_EVERY - 1 else (train, "train")
            text = doc.rstrip() + "\n\n"
            target.write(text)
            counts[key] += len(text)
            counts["docs"] += 1
    if counts["val"] == 0 and counts["train"]:  # a single (small) document: hold out its last tenth
        text = train_path.read_text(encoding="utf-8")
        cut = text.rfind("\n", 0, int(len(text) * 0.9)) + 1 or int(len(text) * 0.9)
        train_path.write_text(text[:cut], encoding="utf-8")
        val_path.write_text(text[cut:], encoding="utf-8")
        counts["train"], counts["val"] = cut, len(text) - cut
    return counts, digest.hexdigest()


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\t", "    ")
    text = re.sub(r"[ \u00a0]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _python_docs() -> Iterator[str]:
    """Language-reference topics, then standard-library docstrings, deduplicated."""
    seen: set[str] = set()

    def fresh(text: str) -> bool:
        key = hashlib.sha1(text.encode("utf-8")).hexdigest()
        if key in seen:
            return False
        seen.add(key)
        return True

    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip it
        topics = {}
    for _name, text in sorted(topics.items()):
        text = _clean(text)
        if len(text) > 200 and fresh(text):
            yield text
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if SKIP_PARTS & set(path.relative_to(stdlib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    doc = _clean(doc)
                    if fresh(doc):
                        yield doc


def build_default_corpus() -> Corpus:
    corpus = _write(DEFAULT, "Python's own documentation on this machine (pydoc_data topics and standard-library docstrings)", _python_docs())
    if corpus.train_chars < 100_000:
        raise CorpusError("this Python install carries too little documentation for the default corpus; use --corpus FILE")
    return corpus


# --- a corpus from a file --------------------------------------------------


def _open_source(path: Path) -> IO[bytes]:
    """A text file from outside, opened only if it is a regular file (a link to /dev/zero or a FIFO
    is refused, even one swapped in after the first check); it is then read in blocks of CHUNK."""
    try:
        return open_regular(path)
    except FileRefused as exc:
        raise CorpusError(str(exc)) from None
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None


def check_text_file(path: Path) -> int:
    """Validate a UTF-8 text file without reading it whole; returns its size in bytes."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CorpusError(f"{path} does not exist")
    if not path.is_file():
        raise CorpusError(f"{path} is not a file")
    size = path.stat().st_size
    if size == 0:
        raise CorpusError(f"{path} is empty: a corpus needs text to train on")
    offset = 0
    with _open_source(path) as f:
        carry = b""
        while block := f.read(CHUNK):
            if b"\x00" in block:
                at = offset + block.index(b"\x00")
                raise CorpusError(f"{path} looks binary (a NUL byte at byte {at}), not text; give a UTF-8 text file")
            data = carry + block
            try:
                data.decode("utf-8")
                carry = b""
            except UnicodeDecodeError as exc:
                if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
                    carry = data[exc.start:]  # a character split across blocks
                else:
                    raise CorpusError(
                        f"{path} is not valid UTF-8 (byte {offset - len(carry) + exc.start}: {exc.reason}). "
                        "Convert it first, e.g. iconv -f latin1 -t utf-8"
                    ) from None
            offset += len(block)
        if carry:
            raise CorpusError(f"{path} is not valid UTF-8: it ends in the middle of a character")
    return size


def _file_documents(path: Path) -> Iterator[str]:
    """Documents of a text file: blocks separated by blank lines, read a chunk at a time."""
    with io.TextIOWrapper(_open_source(path), encoding="utf-8") as f:
        doc: list[str] = []
        size = 0
        while line := f.readline(CHUNK):  # bounded: a file may be one endless line
            if line.strip() or not doc:
                doc.append(line)
                size += len(line)
            if (not line.strip() and size > 2000) or size > CHUNK:
                yield "".join(doc)
                doc, size = [], 0
        if doc and "".join(doc).strip():
            yield "".join(doc)


def file_corpus(path: Path, name: str | None = None, source: str | None = None) -> Corpus:
    """A corpus from any UTF-8 text file, cached by the file's checksum."""
    path = Path(path).expanduser().resolve()
    check_text_file(path)
    digest = hashlib.sha256()
    with _open_source(path) as f:
        while block := f.read(CHUNK):
            digest.update(block)
    name = name or f"file-{path.stem[:40]}-{digest.hexdigest()[:10]}"
    existing = corpora_dir() / name / "meta.json"
    if existing.is_file():
        corpus = load_corpus(name)
        if corpus.source == (source or str(path)):
            return corpus
    return _write(name, source or str(path), _file_documents(path))
