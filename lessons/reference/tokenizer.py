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
    # BEGIN SOLUTION
    pieces = [piece.strip() for piece in re.split(WORD_SPLIT, text)]
    tokens = sorted({piece for piece in pieces if piece})
    vocab = {token: i for i, token in enumerate(tokens)}
    vocab[END_OF_TEXT] = len(vocab)
    vocab[UNKNOWN] = len(vocab)
    return vocab
    # END SOLUTION


class SimpleTokenizer:
    """Word-level tokenizer over a vocabulary from `build_vocab`."""

    def __init__(self, vocab: dict[str, int]):
        # BEGIN SOLUTION
        self.str_to_int = dict(vocab)
        self.int_to_str = {i: s for s, i in vocab.items()}
        # END SOLUTION

    def encode(self, text: str) -> list[int]:
        """Ids of the pieces of `text`; a piece not in the vocabulary becomes <|unk|>."""
        # BEGIN SOLUTION
        unknown = self.str_to_int[UNKNOWN]
        pieces = [piece.strip() for piece in re.split(WORD_SPLIT, text)]
        return [self.str_to_int.get(piece, unknown) for piece in pieces if piece]
        # END SOLUTION

    def decode(self, ids: list[int]) -> str:
        """Join the pieces with single spaces, then drop the space before punctuation."""
        # BEGIN SOLUTION
        text = " ".join(self.int_to_str[i] for i in ids)
        return re.sub(r'\s+([,.:;?!"()\'])', r"\1", text)
        # END SOLUTION


def train_bpe(text: str, vocab_size: int, special_tokens: tuple[str, ...] = (END_OF_TEXT,)) -> dict[bytes, int]:
    """Learn byte-level BPE ranks from `text`.

    Ranks 0..255 are the single bytes. Each step merges the most frequent adjacent
    pair inside a pre-token (ties: the greatest pair); the new token takes the next
    rank. Stops when ranks plus special tokens reach `vocab_size`, or when no pair
    is left. Special tokens split the text and are never merged.
    """
    # BEGIN SOLUTION
    if vocab_size < 256 + len(special_tokens):
        raise ValueError(f"vocab_size must be at least {256 + len(special_tokens)} (256 bytes + special tokens)")
    ranks = {bytes([b]): b for b in range(256)}

    # Count each distinct pre-token once, as a tuple of byte strings.
    chunks = re.split("|".join(map(re.escape, special_tokens)), text) if special_tokens else [text]
    words: Counter[tuple[bytes, ...]] = Counter()
    for chunk in chunks:
        for piece in regex.findall(SPLIT_PATTERN, chunk):
            words[tuple(bytes([b]) for b in piece.encode("utf-8"))] += 1

    while len(ranks) + len(special_tokens) < vocab_size:
        pairs: Counter[tuple[bytes, bytes]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda pair: (pairs[pair], pair))
        merged = best[0] + best[1]
        if merged not in ranks:
            ranks[merged] = len(ranks)
        words = Counter({_merge(word, best, merged): count for word, count in words.items()})
    return ranks
    # END SOLUTION


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
        # BEGIN SOLUTION
        self.ranks = dict(ranks)
        self.special_tokens = dict(special_tokens)
        self.decoder = {i: b for b, i in self.ranks.items()}
        self.decoder.update({i: s.encode("utf-8") for s, i in self.special_tokens.items()})
        self.n_vocab = max(self.decoder) + 1
        # END SOLUTION

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Token ids of `text`; with allowed_special="all", special tokens map to their ids."""
        # BEGIN SOLUTION
        specials = list(self.special_tokens) if allowed_special == "all" else list(allowed_special)
        chunks = [text]
        if specials:
            # Longest first, so that one special token inside another cannot win.
            pattern = "(" + "|".join(map(re.escape, sorted(specials, key=len, reverse=True))) + ")"
            chunks = re.split(pattern, text)
        ids: list[int] = []
        for i, chunk in enumerate(chunks):
            if i % 2 == 1:  # re.split puts the captured special tokens at odd positions
                ids.append(self.special_tokens[chunk])
                continue
            for piece in regex.findall(SPLIT_PATTERN, chunk):
                ids.extend(self._encode_piece(piece.encode("utf-8")))
        return ids
        # END SOLUTION

    def _encode_piece(self, piece: bytes) -> list[int]:
        """Merge the adjacent pair of lowest rank until none is mergeable (tiktoken's rule)."""
        # BEGIN SOLUTION
        if piece in self.ranks:
            return [self.ranks[piece]]
        parts = [piece[i : i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            candidates = [
                (self.ranks[parts[i] + parts[i + 1]], i)
                for i in range(len(parts) - 1)
                if parts[i] + parts[i + 1] in self.ranks
            ]
            if not candidates:
                break
            _rank, i = min(candidates)
            parts[i : i + 2] = [parts[i] + parts[i + 1]]
        return [self.ranks[p] for p in parts]
        # END SOLUTION

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`; bytes that are not valid UTF-8 become U+FFFD."""
        # BEGIN SOLUTION
        return b"".join(self.decoder[i] for i in ids).decode("utf-8", errors="replace")
        # END SOLUTION
