"""Checks for lesson 3: train_bpe and BPETokenizer.

The check keeps its own BPE trainer, written from the contract, with switches for
the common mistakes. When the learner's ranks differ from the correct ones, the
switches that reproduce them name the mistake.
"""

import random
import re
from collections import Counter

import regex
import tiktoken

from tutor.checks import check, expect_equal, fail, first_difference, learner, show

EOT = "<|endoftext|>"
POOL = ["the", "then", "there", "cat", "hat", "café", "naïve", "Straße", "日本", "語", "👋", "👋🏽",
        "it's", "we'll", "1234", "42", "a", "aa", "aaa", "low", "lower", "lowest", "new", "newer"]


def _train(text, vocab_size, specials=(EOT,), *, tie="max", pretokenize=True, split_specials=True,
           overlapping=True, count_specials=True, split_on=None, counted=None):
    """`split_on` and `counted` stand in for the special tokens given, to reproduce a trainer that
    ignores them (splits on '<|endoftext|>' alone, or counts a fixed number of them)."""
    pattern = learner("tokenizer").SPLIT_PATTERN
    ranks = {bytes([b]): b for b in range(256)}
    split_on = specials if split_on is None else split_on
    chunks = re.split("|".join(map(re.escape, split_on)), text) if (split_on and split_specials) else [text]
    words = Counter()
    for chunk in chunks:
        pieces = regex.findall(pattern, chunk) if pretokenize else [chunk]
        for piece in pieces:
            if piece:
                words[tuple(bytes([b]) for b in piece.encode("utf-8"))] += 1
    budget = vocab_size - ((len(specials) if counted is None else counted) if count_specials else 0)
    while len(ranks) < budget:
        pairs = Counter()
        for word, n in words.items():
            i = 0
            while i < len(word) - 1:
                pairs[(word[i], word[i + 1])] += n
                # Counting non-overlapping occurrences skips the next position after a repeat.
                i += 2 if (not overlapping and word[i] == word[i + 1] and i + 2 < len(word) and word[i + 2] == word[i]) else 1
        if not pairs:
            break
        best_n = max(pairs.values())
        tied = [p for p, n in pairs.items() if n == best_n]  # in the order the pairs were first seen
        best = {"max": max, "min": min, "first": lambda found: found[0]}[tie](tied)
        merged = best[0] + best[1]
        if merged not in ranks:
            ranks[merged] = len(ranks)
        new_words = Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_words[tuple(out)] += n
        words = new_words
    return ranks


VARIANTS = {
    "ties go to the smallest pair; the contract breaks ties towards the lexicographically greatest (left, right) pair": dict(tie="min"),
    "ties go to the pair seen first (as max(pairs, key=pairs.get) does, and the book's bonus code and minbpe): "
    "this course breaks ties towards the lexicographically greatest (left, right) pair": dict(tie="first"),
    "merges cross pre-token boundaries: pre-tokenize each chunk with regex.findall(SPLIT_PATTERN, ...) and count pairs inside each piece only": dict(pretokenize=False),  # noqa: E501
    "the special token is merged like ordinary text: split the text on the special tokens first": dict(split_specials=False),
    "overlapping pairs are undercounted: every adjacent position counts, so 'aaa' holds two ('a', 'a') pairs": dict(overlapping=False),
    "the stopping size ignores the special tokens: stop when len(ranks) + len(special_tokens) == vocab_size": dict(count_specials=False),
}


def _order(ranks):
    return [token for token, _ in sorted(ranks.items(), key=lambda kv: kv[1])]


def _compare_training(text, vocab_size, specials=(EOT,)):
    got = learner("tokenizer").train_bpe(text, vocab_size, specials)
    want = _train(text, vocab_size, specials)
    if not isinstance(got, dict):
        fail(f"train_bpe should return a dict of bytes -> rank, got {type(got).__name__}")
    if got == want:
        return
    for mistake, switches in VARIANTS.items():
        if got == _train(text, vocab_size, specials, **switches):
            fail(f"Looks like {mistake}.\n  text: {text[:80]!r}, vocab_size={vocab_size}")
    got_order, want_order = _order(got), _order(want)
    i = first_difference(got_order, want_order)
    fail(
        f"train_bpe({text[:60]!r}..., vocab_size={vocab_size}) learned other merges.\n"
        f"  {len(want)} ranks expected, {len(got)} returned; first difference at rank {i}:\n"
        f"  expected {show(want_order[i:i + 3])}\n  got      {show(got_order[i:i + 3])}"
    )


def _random_text(n=120):
    words = [random.choice(POOL) for _ in range(n)]
    parts = []
    for w in words:
        parts.append(w)
        parts.append(random.choice([" ", " ", " ", "  ", ", ", ". ", "\n", "!"]))
        if random.random() < 0.04:
            parts.append(EOT)
    return "".join(parts)


@check("train_bpe rejects a vocab_size smaller than 256 bytes + special tokens")
def too_small():
    tok = learner("tokenizer")
    try:
        tok.train_bpe("hello", 256, (EOT,))
    except ValueError:
        pass
    else:
        fail("train_bpe('hello', 256, ('<|endoftext|>',)) should raise ValueError: 256 bytes + 1 special token need 257.")
    ranks = tok.train_bpe("hello", 257, (EOT,))
    expect_equal(len(ranks), 256, "train_bpe('hello', 257) leaves room for the bytes only: number of ranks")
    two = (EOT, "<|pad|>")
    try:
        tok.train_bpe("hello", 257, two)
    except ValueError:
        pass
    else:
        fail(f"train_bpe('hello', 257, {two}) should raise ValueError: 256 bytes + 2 special tokens need 258. "
             "Compare vocab_size with 256 + len(special_tokens), not with a fixed number.")
    ranks = tok.train_bpe("hello", 256, ())
    expect_equal(len(ranks), 256, "train_bpe('hello', 256, ()) (no special tokens: room for the bytes only): number of ranks")


@check("train_bpe: ranks 0..255 are the single bytes in byte order")
def byte_ranks():
    ranks = learner("tokenizer").train_bpe("hello hello", 260, (EOT,))
    for b in range(256):
        if ranks.get(bytes([b])) != b:
            fail(f"rank of the byte {bytes([b])!r} should be {b}, got {ranks.get(bytes([b]))!r}")


@check("train_bpe learns the right merges on small texts (counts, ties, overlaps)")
def small_texts():
    for text, size in [("aaa aaa aaab", 262), ("low lower lowest newer newest", 275), ("ab ab ba ba", 262)]:
        _compare_training(text, size)


@check("train_bpe never merges across pre-tokens or special tokens")
def boundaries():
    _compare_training("x y x y x y.x y<|endoftext|>x y", 270)
    _compare_training(f"hi{EOT}hi{EOT}hi{EOT}hi{EOT}", 265)


@check("train_bpe uses the special tokens it is given, not '<|endoftext|>' alone")
def given_specials():
    specials = ("<|sep|>", "<|pad|>")
    text = "hello<|sep|>hello<|pad|>low<|sep|>lower hello"
    size = 256 + len(specials) + 4
    got = learner("tokenizer").train_bpe(text, size, specials)
    want = _train(text, size, specials)
    if not isinstance(got, dict):
        fail(f"train_bpe should return a dict of bytes -> rank, got {type(got).__name__}")
    if got == want:
        return
    call = f"train_bpe({text!r}, {size}, {specials})"
    if got in (_train(text, size, specials, split_on=(EOT,)), _train(text, size, specials, split_on=(EOT,), counted=1)):
        fail(f"{call} split the text on '<|endoftext|>' only: the special_tokens argument is ignored. "
             "Split on every token of special_tokens (and merge none of them).")
    if got == _train(text, size, specials, counted=1):
        fail(f"{call} stopped one merge late: it counts a single special token; "
             "stop when len(ranks) + len(special_tokens) == vocab_size.")
    _compare_training(text, size, specials)


@check("train_bpe stops at vocab_size (special tokens count) or when no pair is left")
def stopping():
    # This text allows 73 merges, so a limit of 300 (43 merges + 1 special token) is reached, not exhausted.
    text = "It had always been his fate to have his work praised by the people who did not count; lower, newest, naïve café. " * 2
    _compare_training(text, 300)
    _compare_training("ab", 1000)  # one merge, then no pair is left


@check("train_bpe matches on random text with Unicode and the special token")
def random_training():
    for _ in range(3):
        _compare_training(_random_text(), random.randint(300, 360))


def _tiktoken(ranks, specials):
    pattern = learner("tokenizer").SPLIT_PATTERN
    return tiktoken.Encoding("check", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def _setup():
    ranks = _train(_random_text(300), 420)
    specials = {EOT: len(ranks)}
    return ranks, specials, learner("tokenizer").BPETokenizer(dict(ranks), dict(specials)), _tiktoken(ranks, specials)


@check("BPETokenizer.encode never merges across pre-tokens")
def encode_inside_pretokens():
    # "a1" spans two pre-tokens ("a", "1"), so tiktoken never uses it, whatever the text.
    ranks = {bytes([b]): b for b in range(256)}
    ranks[b"a1"] = 256
    specials = {EOT: 257}
    mine = learner("tokenizer").BPETokenizer(dict(ranks), dict(specials))
    for text in ["a1 a1", f"xa1{EOT}a1"]:
        want = _tiktoken(ranks, specials).encode(text, allowed_special="all")
        got = mine.encode(text)
        if got == want:
            continue
        if 256 in got:
            fail(f"encode({text!r}) = {got} merged across pre-token boundaries: the ranks know 'a1', but 'a' and '1' "
                 f"are different pre-tokens, and tiktoken gives {want}. Split each chunk with "
                 "regex.findall(SPLIT_PATTERN, chunk) and encode each piece on its own.")
        expect_equal(got, want, f"encode({text!r}) with ranks that know b'a1'")


@check("BPETokenizer.encode gives exactly what tiktoken gives")
def encode_equals_tiktoken():
    ranks, specials, mine, ref = _setup()
    texts = [_random_text(40) for _ in range(8)] + [
        "Hello wörld 👋🏽 日本語! it's   spaced\n\n  out 123456",
        f"end{EOT}start {EOT} gap",
        "lower newest aaaa",
    ]
    for text in texts:
        want = ref.encode(text, allowed_special="all")
        got = mine.encode(text)
        if got == want:
            continue
        if EOT in text and specials[EOT] not in got:
            fail(f"encode({text[:60]!r}) split '<|endoftext|>' into pieces: it must become the single id {specials[EOT]}.")
        i = first_difference(got, want)
        fail(
            f"encode({text[:60]!r}) differs from tiktoken at position {i}:\n"
            f"  expected {show(want[i:i + 6])} ({[ref.decode_single_token_bytes(t) for t in want[i:i + 3]]})\n"
            f"  got      {show(got[i:i + 6])}\n"
            "tiktoken merges, inside each pre-token, the adjacent pair whose merged bytes have the lowest rank, "
            "again and again; not the leftmost pair, and not in one pass."
        )


@check("BPETokenizer merges the leftmost of two equal pairs first")
def leftmost_first():
    # Ranks that know "aa" but not "aaa": "aaa" must encode as aa, a (tiktoken's order), not a, aa.
    ranks = _train("aa " * 40 + "b", 258)
    aa = ranks.get(b"aa")
    if aa is None:  # pragma: no cover - the training text above always learns "aa" first
        fail("internal: the check's own ranks lack 'aa'")
    specials = {EOT: len(ranks)}
    mine = learner("tokenizer").BPETokenizer(dict(ranks), dict(specials))
    want = _tiktoken(ranks, specials).encode("aaa", allowed_special="all")
    got = mine.encode("aaa")
    if got == want:
        return
    if got == [ranks[b"a"], aa]:
        fail(f"Looks like equal pairs are merged rightmost first: encode('aaa') = {got}, tiktoken gives {want} "
             "(aa, a). Among pairs of the same rank, merge the leftmost.")
    fail(f"encode('aaa') = {got}; tiktoken gives {want} with ranks that know 'aa' (id {aa}) but not 'aaa'.")


@check("BPETokenizer keeps <|endoftext|> as one id")
def special_token():
    _, specials, mine, _ = _setup()
    got = mine.encode(f"a{EOT}b")
    if got.count(specials[EOT]) != 1:
        fail(f"encode('a<|endoftext|>b') = {got}: '<|endoftext|>' should be the single id {specials[EOT]}.")


@check("BPETokenizer.decode inverts encode and replaces invalid UTF-8 like tiktoken")
def decode():
    ranks, specials, mine, ref = _setup()
    for text in [_random_text(30), f"naïve 👋🏽{EOT}日本"]:
        ids = ref.encode(text, allowed_special="all")
        expect_equal(mine.decode(ids), text, f"decode of tiktoken's ids for {text[:40]!r}")
    lone = [ranks["é".encode()[:1]]]  # the first byte of 'é' alone is not valid UTF-8
    expect_equal(mine.decode(lone), ref.decode(lone), f"decode({lone}) (half of 'é')",
                 hint="Join the bytes first, then .decode('utf-8', errors='replace').")


@check("BPETokenizer.n_vocab equals tiktoken's")
def n_vocab():
    ranks, _, mine, ref = _setup()
    expect_equal(mine.n_vocab, ref.n_vocab, "n_vocab (the largest id + 1)")
    # Ids need not be contiguous: a special token placed after a gap.
    specials = {EOT: len(ranks) + 3}
    mine = learner("tokenizer").BPETokenizer(dict(ranks), dict(specials))
    want = _tiktoken(ranks, specials).n_vocab
    if mine.n_vocab != want:
        fail(f"n_vocab is {mine.n_vocab} with {len(ranks)} ranks and special tokens {specials}; tiktoken gives {want}: "
             "n_vocab is the largest id + 1, not a count of the tokens.")
