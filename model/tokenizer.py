"""Lessons 2 and 3: from text to token ids.

Lesson 2 builds a word-level tokenizer: a vocabulary of every word and
punctuation mark in a text, with two special tokens. Lesson 3 builds byte-level
byte-pair encoding (BPE), the tokenizer GPT-2 uses, and proves it equal to tiktoken.
"""

import re
from collections import Counter

import regex

# The pre-tokenizer regex of GPT-2 (given): contractions, runs of letters, runs of
# digits, runs of other symbols, each with an optional leading space; then spaces.
SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# Lesson 2 splits on punctuation, double dashes and whitespace, keeping the pieces.
WORD_SPLIT = r'([,.:;?_!"()\']|--|\s)'
END_OF_TEXT = "<|endoftext|>"
UNKNOWN = "<|unk|>"


def build_vocab(text: str) -> dict[str, int]:
    """Map every distinct piece of `text` to an id.

    Pieces: `re.split(WORD_SPLIT, text)`, each stripped, empty ones dropped.
    Ids 0..n-1 go to the sorted unique pieces; then "<|endoftext|>" gets n and
    "<|unk|>" gets n + 1.
    """
    # Lesson 2: your code here (`tutor hint 2` helps).
    raise NotImplementedError("build_vocab is not written yet (lesson 2: Words to ids)")


class SimpleTokenizer:
    """Word-level tokenizer over a vocabulary from `build_vocab`."""

    def __init__(self, vocab: dict[str, int]):
        # Lesson 2: your code here (`tutor hint 2` helps).
        raise NotImplementedError("SimpleTokenizer.__init__ is not written yet (lesson 2: Words to ids)")

    def encode(self, text: str) -> list[int]:
        """Ids of the pieces of `text`; a piece not in the vocabulary becomes <|unk|>."""
        # Lesson 2: your code here (`tutor hint 2` helps).
        raise NotImplementedError("SimpleTokenizer.encode is not written yet (lesson 2: Words to ids)")

    def decode(self, ids: list[int]) -> str:
        """Join the pieces with single spaces, then drop the space before punctuation."""
        # Lesson 2: your code here (`tutor hint 2` helps).
        raise NotImplementedError("SimpleTokenizer.decode is not written yet (lesson 2: Words to ids)")


def train_bpe(text: str, vocab_size: int, special_tokens: tuple[str, ...] = (END_OF_TEXT,)) -> dict[bytes, int]:
    """Learn byte-level BPE ranks from `text`.

    Ranks 0..255 are the single bytes. Each step merges the most frequent adjacent
    pair inside a pre-token (ties: the greatest pair); the new token takes the next
    rank. Stops when ranks plus special tokens reach `vocab_size`, or when no pair
    is left. Special tokens split the text and are never merged.
    """
    # Lesson 3: your code here (`tutor hint 3` helps).
    raise NotImplementedError("train_bpe is not written yet (lesson 3: Byte-pair encoding)")


def _merge(word: tuple[bytes, ...], pair: tuple[bytes, bytes], merged: bytes) -> tuple[bytes, ...]:
    """`word` with each non-overlapping occurrence of `pair`, left to right, replaced (given)."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(merged)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class BPETokenizer:
    """Encodes like `tiktoken.Encoding(pat_str=SPLIT_PATTERN, mergeable_ranks=ranks, ...)`."""

    def __init__(self, ranks: dict[bytes, int], special_tokens: dict[str, int]):
        # Lesson 3: your code here (`tutor hint 3` helps).
        raise NotImplementedError("BPETokenizer.__init__ is not written yet (lesson 3: Byte-pair encoding)")

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Token ids of `text`; with allowed_special="all", special tokens map to their ids."""
        # Lesson 3: your code here (`tutor hint 3` helps).
        raise NotImplementedError("BPETokenizer.encode is not written yet (lesson 3: Byte-pair encoding)")

    def _encode_piece(self, piece: bytes) -> list[int]:
        """Merge the adjacent pair of lowest rank until none is mergeable (tiktoken's rule)."""
        # Lesson 3: your code here (`tutor hint 3` helps).
        raise NotImplementedError("BPETokenizer._encode_piece is not written yet (lesson 3: Byte-pair encoding)")

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`; bytes that are not valid UTF-8 become U+FFFD."""
        # Lesson 3: your code here (`tutor hint 3` helps).
        raise NotImplementedError("BPETokenizer.decode is not written yet (lesson 3: Byte-pair encoding)")
