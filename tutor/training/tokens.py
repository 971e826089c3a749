"""The tokenizer stage: the learner's BPE, proven equal to tiktoken, then fast encoding.

The learner's `train_bpe` learns the ranks on a sample of the training text. Their
`BPETokenizer` must then give exactly what `tiktoken.Encoding` gives with those
ranks on held-out text; once it does, tiktoken (written in Rust) encodes the whole
corpus. Encoded corpora are cached, keyed by the corpus, the ranks and the settings.

Learning the ranks is the slow part of a run's start (a minute with a plain
train_bpe), and it gives the same ranks for the same code, text and settings. So the
ranks that passed the comparison are kept in the data folder (tokenizers/), keyed by
the learner's tokenizer file (and the files of model/ it imports), the sample, the
held-out probe, the settings and the tutor's version: the next run with nothing
changed reuses them. The file is JSON, read back with bounds and type checks; a broken
one is ignored with a warning and learned again.
"""

from __future__ import annotations

import ast
import base64
import binascii
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor import __version__
from tutor.core.atomic import write_text_atomic
from tutor.core.locations import cache_dir, tokenizers_dir
from tutor.data.corpus import Corpus
from tutor.learner import LearnerCodeError, RanksError, encoding_from_ranks, explain

EOT = "<|endoftext|>"
PROBE_CHARS = 20_000
TICK_SECONDS = 5.0


WHOLE_TEXT_BYTES = 64 * 2**20  # a training split larger than this is sampled from the file, not read whole


def sample_file(path, chars: int) -> str:
    """About `chars` characters from 20 places spread across a file (whole lines where
    there are lines), read by seeking: memory stays bounded whatever the file's size.
    Files up to WHOLE_TEXT_BYTES are sampled from their whole text, as sample_text does."""
    import os

    size = os.path.getsize(path)
    if size <= WHOLE_TEXT_BYTES:
        with open(path, encoding="utf-8") as f:
            return sample_text(f.read(), chars)
    pieces, per = [], max(1, chars // 20) * 4  # up to 4 bytes a character
    with open(path, "rb") as f:
        for k in range(20):
            f.seek(k * size // 20)
            if k:
                f.readline(1 << 16)  # to the next line break, if one is near
            pieces.append(f.read(per).decode("utf-8", errors="ignore")[: chars // 20])
    return "\n".join(pieces)


def sample_text(text: str, chars: int) -> str:
    """About `chars` characters taken evenly across the text (whole lines), not just its start."""
    if len(text) <= chars:
        return text
    pieces, step, size = [], len(text) // 20, chars // 20
    for start in range(0, len(text), step):
        begin = text.rfind("\n", 0, start) + 1
        end = text.find("\n", begin + size)
        pieces.append(text[begin : end if end != -1 else None])
        if sum(map(len, pieces)) >= chars:
            break
    return "\n".join(pieces)


def with_ticker(label: str, work: Callable[[], object], report: Callable[[str], None]) -> object:
    """Run `work`, reporting the elapsed time every few seconds (the learner's code gives no progress)."""
    done = threading.Event()

    def tick() -> None:
        started = time.monotonic()
        while not done.wait(TICK_SECONDS):
            report(f"  {label}: still working, {time.monotonic() - started:.0f} s")

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        return work()
    finally:
        done.set()
        thread.join()


@dataclass(frozen=True)
class Tokenizer:
    """A run's tokenizer: the ranks, the special tokens, tiktoken on them, and whether the
    ranks were learned now or reused from an earlier run (learned_at: when they were learned)."""

    ranks: dict[bytes, int]
    specials: dict[str, int]
    encoding: Any
    reused: bool = False
    learned_at: str = ""


def train_tokenizer(tokenizer_module, corpus: Corpus, vocab_size: int, sample_chars: int, report: Callable[[str], None]):
    """Ranks from the learner's train_bpe (or an earlier run's, when nothing changed), checked
    against tiktoken; returns (ranks, specials, encoding)."""
    t = learn_tokenizer(tokenizer_module, corpus, vocab_size, sample_chars, report)
    return t.ranks, t.specials, t.encoding


def learn_tokenizer(tokenizer_module, corpus: Corpus, vocab_size: int, sample_chars: int,
                    report: Callable[[str], None], *, reuse: bool = True) -> Tokenizer:
    """The run's tokenizer: the ranks an earlier run learned with the same tokenizer code, text
    and settings, else the learner's train_bpe on a sample of the corpus, proven equal to tiktoken
    on held-out text and then kept for the next run. Runs that start together (the ranks of a
    multi-process run) learn once: the others wait, then reuse."""
    from filelock import FileLock, Timeout

    sample = sample_file(corpus.train_path, sample_chars)
    probe = corpus.head("val", PROBE_CHARS) + f"\n{EOT}\n" + corpus.head("train", 2000)
    key = merges_key(tokenizer_module, sample, probe, vocab_size) if reuse else None
    if key is None:
        return _learn(tokenizer_module, sample, probe, vocab_size, report)
    path = merges_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only data folder: learn, keep nothing
        return _learn(tokenizer_module, sample, probe, vocab_size, report)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        report("tokenizer: another run is learning the same merges right now; waiting to reuse them")
        lock.acquire()
    try:
        kept = read_merges(path, key, vocab_size, report)
        if kept is not None:
            ranks, learned_at = kept
            report(f"tokenizer: reused the merges learned on {learned_at} ({learner_file(tokenizer_module)} unchanged, "
                   f"same text and vocab_size={vocab_size}): {len(ranks):,} ranks")
            specials = {EOT: len(ranks)}
            try:
                encoding = encoding_from_ranks(tokenizer_module.SPLIT_PATTERN, ranks, specials)
                return Tokenizer(ranks, specials, encoding, reused=True, learned_at=learned_at)
            except RanksError as exc:
                report(f"tokenizer: the kept merges cannot be used ({exc}); learning them again")
        learned = _learn(tokenizer_module, sample, probe, vocab_size, report)
        write_merges(path, key, learned, vocab_size)
        return learned
    finally:
        lock.release()


def _learn(tokenizer_module, sample: str, probe: str, vocab_size: int, report: Callable[[str], None]) -> Tokenizer:
    """The learner's train_bpe on `sample`, then their BPETokenizer against tiktoken on `probe`."""
    report(f"tokenizer: learning the tokenizer with your train_bpe: vocab_size={vocab_size} on {len(sample):,} characters")
    started = time.monotonic()
    try:
        ranks = with_ticker("train_bpe", lambda: tokenizer_module.train_bpe(sample, vocab_size, (EOT,)), report)
    except Exception as exc:  # noqa: BLE001
        raise LearnerCodeError(f"train_bpe failed: {explain(exc)}") from None
    report(f"train_bpe learned {len(ranks):,} ranks in {time.monotonic() - started:.1f} s")
    try:
        specials = {EOT: len(ranks)}
        encoding = encoding_from_ranks(tokenizer_module.SPLIT_PATTERN, ranks, specials)
    except (RanksError, TypeError) as exc:
        raise LearnerCodeError(f"train_bpe returned ranks tiktoken cannot use: {exc}. `tutor check 3` finds "
                               "the mistake") from None
    try:
        mine = tokenizer_module.BPETokenizer(dict(ranks), dict(specials)).encode(probe)
    except Exception as exc:  # noqa: BLE001
        raise LearnerCodeError(f"BPETokenizer.encode failed: {explain(exc)}") from None
    theirs = encoding.encode(probe, allowed_special="all")
    if mine != theirs:
        at = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
        raise LearnerCodeError(
            f"your BPETokenizer and tiktoken disagree at token {at} of {len(probe):,} characters of held-out text; "
            "`tutor check 3` finds the mistake"
        )
    report(f"Your BPETokenizer equals tiktoken on {len(theirs):,} tokens of held-out text")
    return Tokenizer(ranks, specials, encoding, learned_at=time.strftime("%Y-%m-%d %H:%M"))


# --- the merges kept between runs ---------------------------------------------

MERGES_FORMAT = 1
MAX_MERGES_BYTES = 32 * 2**20  # a kept file larger than this is not read
MAX_TOKEN_BYTES = 4096  # no learned token is longer


def learner_file(tokenizer_module) -> str:
    """model/tokenizer.py, as the learner knows the file."""
    path = getattr(tokenizer_module, "__file__", None)
    return f"model/{Path(path).name}" if path else "your tokenizer"


def learner_sources(tokenizer_module) -> dict[str, str] | None:
    """{file name: sha256} of the learner's tokenizer file and of the files of model/ it imports
    (and they import), or None when the file cannot be read (then nothing is kept)."""
    path = getattr(tokenizer_module, "__file__", None)
    if not path:
        return None
    folder, todo, digests = Path(path).parent, [Path(path).name], {}
    while todo:
        name = todo.pop()
        if name in digests or len(digests) > 64:
            continue
        try:
            code = (folder / name).read_bytes()
        except OSError:
            if name == Path(path).name:
                return None
            digests[name] = "missing"
            continue
        digests[name] = hashlib.sha256(code).hexdigest()
        todo.extend(f"{module}.py" for module in _model_imports(code))
    return digests


def _model_imports(code: bytes) -> set[str]:
    """The modules of the learner's model package that a source file imports."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):  # import model.x
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("model.")}
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if node.level == 0 and parts[0] == "model":  # from model import x / from model.x import y
                found |= {alias.name for alias in node.names} if len(parts) == 1 else {parts[1]}
            elif node.level == 1:  # from . import x / from .x import y
                found |= {alias.name for alias in node.names} if not node.module else {parts[0]}
    return {name for name in found if name.isidentifier()}


def merges_key(tokenizer_module, sample: str, probe: str, vocab_size: int) -> str | None:
    """What the learned ranks depend on, as one sha256: the learner's code, the text, the settings
    and this tutor; None when the code cannot be read (the ranks are then learned and not kept)."""
    sources = learner_sources(tokenizer_module)
    if sources is None:
        return None
    what = {"format": MERGES_FORMAT, "tutor": __version__, "sources": sources, "vocab_size": vocab_size,
            "specials": [EOT], "sample": hashlib.sha256(sample.encode("utf-8")).hexdigest(),
            "probe": hashlib.sha256(probe.encode("utf-8")).hexdigest()}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def merges_path(key: str) -> Path:
    return tokenizers_dir() / f"bpe-{key[:32]}.json"


def write_merges(path: Path, key: str, learned: Tokenizer, vocab_size: int) -> None:
    """Keep the ranks for the next run (atomically: a reader finds the old file or the whole new one)."""
    ordered = sorted(learned.ranks.items(), key=lambda kv: kv[1])
    if [rank for _, rank in ordered] != list(range(len(ordered))):
        return  # not 0..n-1: nothing a later run could rebuild exactly
    record = {"format": MERGES_FORMAT, "key": key, "tutor": __version__, "vocab_size": vocab_size,
              "learned_at": learned.learned_at,
              "ranks": [base64.b64encode(token).decode("ascii") for token, _ in ordered]}
    text = json.dumps(record)
    if _parse_merges(text.encode("utf-8"), key, vocab_size)[0]:
        return  # ranks a later run would refuse to read back (say, a token longer than any text has)
    try:
        write_text_atomic(path, text)
    except OSError:
        pass  # a read-only or full data folder: the next run learns them again


def read_merges(path: Path, key: str, vocab_size: int, report: Callable[[str], None]) -> tuple[dict[bytes, int], str] | None:
    """(ranks, when they were learned) from a kept file, or None: none is there, or the one there
    is not what this module writes (then a warning says so, and the ranks are learned again)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_MERGES_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        report(f"Warning: could not read the kept tokenizer merges {path} ({exc.strerror or exc}); learning them again")
        return None
    problem, kept = _parse_merges(raw, key, vocab_size)
    if problem:
        report(f"Warning: ignored the kept tokenizer merges {path}: {problem}; learning them again")
        return None
    return kept


def _parse_merges(raw: bytes, key: str, vocab_size: int) -> tuple[str, Any]:
    """("", (ranks, learned_at)) for a well-formed file of this key, else (what is wrong, None)."""
    if len(raw) > MAX_MERGES_BYTES:
        return f"larger than {MAX_MERGES_BYTES // 2**20} MiB", None
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "not a JSON file", None
    if not isinstance(record, dict) or record.get("format") != MERGES_FORMAT:
        return "not a file of kept merges in this tutor's format", None
    if record.get("key") != key or record.get("vocab_size") != vocab_size:
        return "made for other code, text or settings", None
    learned_at, tokens = record.get("learned_at"), record.get("ranks")
    if not isinstance(learned_at, str) or len(learned_at) > 40 or not learned_at.isprintable():
        return "its date is not a date", None
    if not isinstance(tokens, list) or not 256 <= len(tokens) < vocab_size:
        return f"it should hold 256 to {vocab_size - 1} ranks", None
    ranks: dict[bytes, int] = {}
    for rank, token in enumerate(tokens):
        if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES * 2:
            return f"rank {rank} is not a token", None
        try:
            decoded = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            return f"rank {rank} is not valid base64", None
        if not decoded or len(decoded) > MAX_TOKEN_BYTES or decoded in ranks:
            return f"rank {rank} is empty, too long or repeated", None
        ranks[decoded] = rank
    if any(bytes([b]) not in ranks for b in range(256)):
        return "a single byte has no rank", None
    return "", (ranks, learned_at)


def encode_cached(encoding, ranks: dict[bytes, int], corpus: Corpus, split: str, limit: int | None = None):
    """The split's token ids (at most the first `limit`) as a 1-D int64 tensor.

    The whole split is encoded once, a block at a time, into a compact file of
    uint16/uint32 ids under the data folder (as nanoGPT prepares its data), built
    under a unique temporary name and renamed, under a lock so that two runs do not
    build it twice. Reading maps that file: memory grows with `limit`, never with
    the corpus."""
    import numpy as np
    import torch
    from filelock import FileLock

    digest = hashlib.sha256()
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        digest.update(token + b"\xff" + str(rank).encode())
    key = hashlib.sha256(f"{corpus.sha256}|{digest.hexdigest()}|{split}|v2".encode()).hexdigest()[:24]
    dtype = np.uint16 if encoding.n_vocab <= 2**16 else np.uint32
    path = cache_dir() / f"{corpus.name}-{split}-{key}.{np.dtype(dtype).name}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=3600):
        if not path.is_file():
            _encode_to_file(encoding, corpus.train_path if split == "train" else corpus.val_path, path, dtype)
    ids = np.memmap(path, dtype=dtype, mode="r") if path.stat().st_size else np.zeros(0, dtype=dtype)
    if limit is not None:
        ids = ids[:limit]
    return torch.from_numpy(np.asarray(ids, dtype=np.int64))


def _encode_to_file(encoding, text_path, path, dtype) -> None:
    """Encode a text file a block at a time, appending the ids to a temporary file."""
    import numpy as np

    from tutor.core.atomic import temporary_beside

    with temporary_beside(path) as tmp, open(text_path, encoding="utf-8") as f, open(tmp, "wb") as out:
        while block := f.read(1 << 20):
            rest = f.readline(1 << 16)  # end the block at a line break when one is near, so few words are cut
            np.asarray(encoding.encode_ordinary(block + rest), dtype=dtype).tofile(out)
        out.flush()
        os.fsync(out.fileno())
        out.close()
        os.replace(tmp, path)
