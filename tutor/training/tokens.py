"""The tokenizer stage: the learner's BPE, proven equal to tiktoken, then fast encoding.

The learner's `train_bpe` learns the ranks on a sample of the training text. Their
`BPETokenizer` must then give exactly what `tiktoken.Encoding` gives with those
ranks on held-out text; once it does, tiktoken (written in Rust) encodes the whole
corpus. Encoded corpora are cached, keyed by the corpus, the ranks and the settings.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tutor.data.corpus import Corpus
from tutor.engine.paths import data_home
from tutor.training.learner import LearnerCodeError, explain

EOT = "<|endoftext|>"
PROBE_CHARS = 20_000
TICK_SECONDS = 5.0


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


def train_tokenizer(tokenizer_module, corpus: Corpus, vocab_size: int, sample_chars: int, report: Callable[[str], None]):
    """Ranks from the learner's train_bpe, checked against tiktoken; returns (ranks, specials, encoding)."""
    import tiktoken

    text = corpus.train_text()
    sample = sample_text(text, sample_chars)
    report(f"Training your BPE tokenizer: vocab_size={vocab_size} on {len(sample):,} characters")
    started = time.monotonic()
    try:
        ranks = with_ticker("train_bpe", lambda: tokenizer_module.train_bpe(sample, vocab_size, (EOT,)), report)
    except Exception as exc:  # noqa: BLE001
        raise LearnerCodeError(f"train_bpe failed: {explain(exc)}") from None
    report(f"train_bpe learned {len(ranks):,} ranks in {time.monotonic() - started:.1f} s")
    specials = {EOT: len(ranks)}
    encoding = tiktoken.Encoding("learner", pat_str=tokenizer_module.SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=specials)
    probe = corpus.val_text()[:PROBE_CHARS] + f"\n{EOT}\n" + text[:2000]
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
    return ranks, specials, encoding


def encode_cached(encoding, ranks: dict[bytes, int], corpus: Corpus, split: str):
    """The split's token ids as a 1-D int64 tensor, cached under the data folder."""
    import numpy as np
    import torch

    digest = hashlib.sha256()
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        digest.update(token + b"\xff" + str(rank).encode())
    key = hashlib.sha256(f"{corpus.sha256}|{digest.hexdigest()}|{split}|v1".encode()).hexdigest()[:24]
    path = data_home() / "cache" / f"{corpus.name}-{split}-{key}.npy"
    if path.is_file():
        try:
            return torch.from_numpy(np.load(path, allow_pickle=False).astype(np.int64))
        except (ValueError, OSError):
            path.unlink(missing_ok=True)
    text_path: Path = corpus.train_path if split == "train" else corpus.val_path
    ids: list[int] = []
    with open(text_path, encoding="utf-8") as f:  # a block at a time: a large corpus is never one string
        while block := f.read(1 << 20):
            rest = f.readline()  # end the block at a line break, so no word is cut in two
            ids.extend(encoding.encode_ordinary(block + rest))
    dtype = np.uint16 if encoding.n_vocab <= 2**16 else np.int32
    array = np.asarray(ids, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array, allow_pickle=False)
    tmp.replace(path)
    return torch.from_numpy(array.astype(np.int64))
