"""Checks for lesson 2: build_vocab and SimpleTokenizer."""

import random
import re

from tutor.checks import check, expect_equal, fail, first_difference, learner, show

SPLIT = r'([,.:;?_!"()\']|--|\s)'
WORDS = ["the", "cat", "sat", "on", "a", "mat", "It", "was", "Jack", "Gisburn", "I", "had", "always", "thought", "him", "cheap", "genius"]
PUNCT = [",", ".", "!", "?", ";", ":", "--", '"', "(", ")", "'", "_"]


def _pieces(text):
    return [p.strip() for p in re.split(SPLIT, text) if p.strip()]


def _ref_vocab(text):
    vocab = {t: i for i, t in enumerate(sorted(set(_pieces(text))))}
    vocab["<|endoftext|>"] = len(vocab)
    vocab["<|unk|>"] = len(vocab)
    return vocab


def _random_text(n_words=30, words=WORDS):
    out = []
    for _ in range(n_words):
        out.append(random.choice(words))
        if random.random() < 0.3:
            out.append(random.choice(PUNCT))
    sep = random.choice([" ", "  ", "\n", " \t"])
    return sep.join(out)


def _tok():
    return learner("tokenizer")


def _vocab_mistake(got, text):
    """Name the mistake when build_vocab's result differs from the reference."""
    want = _ref_vocab(text)
    if not isinstance(got, dict):
        return f"build_vocab should return a dict, got {type(got).__name__}"
    if "" in got or any(k != k.strip() for k in got):
        return "the vocabulary holds empty or whitespace pieces: strip each piece and drop the empty ones"
    for special in ("<|endoftext|>", "<|unk|>"):
        if special not in got:
            return f"the vocabulary has no {special!r}: add it after the words"
    words = [t for t in got if t not in ("<|endoftext|>", "<|unk|>")]
    if set(words) != set(want) - {"<|endoftext|>", "<|unk|>"}:
        missing = sorted(set(want) - set(got))[:5]
        extra = sorted(set(got) - set(want))[:5]
        return f"the pieces differ from splitting on {SPLIT!r}: missing {missing}, unexpected {extra}"
    n = len(words)
    if sorted(got.values()) != list(range(n + 2)):
        return f"ids should be exactly 0..{n + 1}, got {sorted(got.values())[:8]}..."
    if got["<|endoftext|>"] != n or got["<|unk|>"] != n + 1:
        return (f"special tokens go last: '<|endoftext|>' = {n} and '<|unk|>' = {n + 1}; "
                f"yours are {got['<|endoftext|>']} and {got['<|unk|>']}")
    order = sorted(words, key=lambda w: got[w])
    if order != sorted(words):
        return f"word ids should follow sorted order (sorted() of the unique pieces); yours start {order[:6]}"
    return None


@check("build_vocab: sorted pieces, then <|endoftext|> and <|unk|>")
def vocab_small():
    text = 'I had always thought Jack Gisburn rather a cheap genius--though a good fellow enough.'
    got = _tok().build_vocab(text)
    mistake = _vocab_mistake(got, text)
    if mistake:
        fail(f"build_vocab({text!r}): {mistake}\n  expected {show(_ref_vocab(text))}\n  got      {show(got)}")


@check("build_vocab matches on random text with punctuation and odd spacing")
def vocab_random():
    for _ in range(10):
        text = _random_text()
        got = _tok().build_vocab(text)
        mistake = _vocab_mistake(got, text)
        if mistake:
            fail(f"build_vocab({text!r}): {mistake}")


@check("encode gives the ids of the pieces, in order")
def encode_known():
    for _ in range(10):
        text = _random_text()
        vocab = _ref_vocab(text)
        tok = _tok().SimpleTokenizer(dict(vocab))
        got = tok.encode(text)
        want = [vocab[p] for p in _pieces(text)]
        if got != want:
            i = first_difference(got, want)
            fail(
                f"encode({text!r}) differs from position {i}:\n  expected {show(want)}\n  got      {show(got)}\n"
                "Split with the same pattern as build_vocab, strip each piece and drop the empty ones."
            )


@check("encode maps unknown words to <|unk|>")
def encode_unknown():
    vocab = _ref_vocab("the cat sat on the mat.")
    tok = _tok().SimpleTokenizer(dict(vocab))
    text = "the dog sat on the sofa."
    want = [vocab.get(p, vocab["<|unk|>"]) for p in _pieces(text)]
    try:
        got = tok.encode(text)
    except KeyError as exc:
        fail(
            f"encode({text!r}) raised KeyError: {exc} is not in the vocabulary.\n"
            f"Unknown pieces must map to the id of '<|unk|>' ({vocab['<|unk|>']}); dict.get(piece, unk_id) does it."
        )
    expect_equal(got, want, f"encode({text!r}) with 'dog' and 'sofa' unknown")


@check("encode keeps <|endoftext|> as one token")
def encode_endoftext():
    vocab = _ref_vocab("the cat sat. the dog ran.")
    tok = _tok().SimpleTokenizer(dict(vocab))
    text = "the cat sat. <|endoftext|> the dog ran."
    want = [vocab[p] for p in _pieces(text)]
    expect_equal(tok.encode(text), want, f"encode({text!r})",
                 hint=f"'<|endoftext|>' is a single piece of the split and has id {vocab['<|endoftext|>']}.")


@check("decode joins with spaces and removes the space before punctuation")
def decode_spacing():
    for text in ['Hello, do you like tea? Yes!', '"It was," he said (quietly). I; we: you\'re', _random_text(12).replace("\n", " ")]:
        vocab = _ref_vocab(text)
        # The vocabulary in reverse insertion order: the ids, not the dict's order, say which piece is which.
        tok = _tok().SimpleTokenizer(dict(reversed(vocab.items())))
        ids = [vocab[p] for p in _pieces(text)]
        want = re.sub(r'\s+([,.:;?!"()\'])', r"\1", " ".join(_pieces(text)))
        got = tok.decode(ids)
        if got != want:
            by_order = dict(enumerate(reversed(vocab)))
            if got == re.sub(r'\s+([,.:;?!"()\'])', r"\1", " ".join(by_order[i] for i in ids)):
                fail(
                    f"decode({show(ids)}) gave {got!r}, expected {want!r}: it numbered the pieces in the dict's order. "
                    "Build the id -> piece map from the vocabulary's (piece, id) pairs: {i: s for s, i in vocab.items()}."
                )
            if got == " ".join(_pieces(text)):
                fail(
                    f"decode({show(ids)}) left a space before punctuation:\n  expected {want!r}\n  got      {got!r}\n"
                    "After joining with spaces, remove the whitespace before each of , . : ; ? ! \" ( ) '."
                )
            fail(f"decode({show(ids)})\n  expected {want!r}\n  got      {got!r}")


@check("decode(encode(text)) gives back normally spaced text")
def roundtrip():
    # No quotes or brackets: the decode rule also removes the space before an opening one.
    text = "The cat sat on the mat. Did it? Yes, said I; it did."
    vocab = _ref_vocab(text)
    tok = _tok().SimpleTokenizer(dict(vocab))
    expect_equal(tok.decode(tok.encode(text)), text, f"decode(encode({text!r}))")
