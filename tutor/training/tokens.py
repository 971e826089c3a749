"""The tokenizer stage: the learner's BPE, proven equal to tiktoken, then fast encoding.

The learner's `train_bpe` learns the ranks on a sample of the training text. Their
`BPETokenizer` must then give exactly what `tiktoken.Encoding` gives with those
ranks on held-out text; once it does, tiktoken (written in Rust) encodes the whole
corpus. Encoded corpora are cached, keyed by the corpus, the ranks and the settings.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable

from tutor.core.locations import cache_dir
from tutor.data.corpus import Corpus
from tutor.learner import LearnerCodeError, encoding_from_ranks, explain

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


def train_tokenizer(tokenizer_module, corpus: Corpus, vocab_size: int, sample_chars: int, report: Callable[[str], None]):
    """Ranks from the learner's train_bpe, checked against tiktoken; returns (ranks, specials, encoding)."""
    sample = sample_file(corpus.train_path, sample_chars)
    report(f"Training your BPE tokenizer: vocab_size={vocab_size} on {len(sample):,} characters")
    started = time.monotonic()
    try:
        ranks = with_ticker("train_bpe", lambda: tokenizer_module.train_bpe(sample, vocab_size, (EOT,)), report)
    except Exception as exc:  # noqa: BLE001
        raise LearnerCodeError(f"train_bpe failed: {explain(exc)}") from None
    report(f"train_bpe learned {len(ranks):,} ranks in {time.monotonic() - started:.1f} s")
    specials = {EOT: len(ranks)}
    encoding = encoding_from_ranks(tokenizer_module.SPLIT_PATTERN, ranks, specials)
    probe = corpus.head("val", PROBE_CHARS) + f"\n{EOT}\n" + corpus.head("train", 2000)
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
