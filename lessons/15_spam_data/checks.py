"""Checks for lesson 15: SpamDataset (encoding, truncation, right padding, labels)."""

import random

import torch

from tutor.checks import check, expect_equal, fail, learner, show


class Letters:
    """A toy tokenizer: one id per character (a=1, b=2, ...), so expected rows are easy to read."""

    def encode(self, text):
        return [ord(c) - 96 if c.isalpha() else 27 for c in text.lower()]


PAD = 99


def _dataset(texts, labels, max_length=None):
    return learner("classifier").SpamDataset(texts, labels, Letters(), max_length, pad_token_id=PAD)


def _row(text, length):
    ids = Letters().encode(text)[:length]
    return ids + [PAD] * (length - len(ids))


@check("items are (input_ids of shape (max_length,), label as a scalar), both long")
def item_types():
    ds = _dataset(["win cash", "hi"], [1, 0])
    x, y = ds[0]
    for name, t in (("input_ids", x), ("label", y)):
        if not isinstance(t, torch.Tensor):
            fail(f"the {name} of dataset[0] should be a tensor, got {type(t).__name__}: {show(t)}")
        expect_equal(t.dtype, torch.long, f"dtype of the {name}")
    expect_equal(tuple(y.shape), (), "shape of the label (a scalar tensor)")
    expect_equal(len(ds), 2, "len(dataset)")


@check("max_length=None pads every message to the longest one")
def longest():
    texts = ["win cash now", "hi", "see you at six"]
    ds = _dataset(texts, [1, 0, 0])
    expect_equal(ds.max_length, 14, "dataset.max_length (the longest message: 'see you at six', 14 ids)")
    expect_equal(tuple(ds[0][0].shape), (14,), "shape of every row")


@check("rows are right-padded with pad_token_id")
def padding():
    ds = _dataset(["hi", "win"], [0, 1], max_length=6)
    got = ds[0][0].tolist()
    want = _row("hi", 6)
    if got == [PAD] * 4 + Letters().encode("hi"):
        fail(f"'hi' became {got}: the padding is on the left. Put the message first, then the pad ids: {want}.")
    if got == Letters().encode("hi") + [0] * 4:
        fail(f"'hi' became {got}: padded with 0; pad with pad_token_id ({PAD}): {want}.")
    expect_equal(got, want, f"'hi' padded to max_length=6 with pad_token_id={PAD}")


@check("messages longer than max_length are cut to their first max_length ids")
def truncation():
    ds = _dataset(["congratulations", "ok"], [1, 0], max_length=5)
    got = ds[0][0].tolist()
    if got == Letters().encode("congratulations")[-5:]:
        fail(f"'congratulations' became {got}, its last 5 ids; keep the first max_length ids: {_row('congratulations', 5)}.")
    expect_equal(got, _row("congratulations", 5), "'congratulations' with max_length=5")
    expect_equal(ds.max_length, 5, "dataset.max_length when max_length=5 is given")


@check("labels are kept in order (0 = ham, 1 = spam), on random messages")
def random_messages():
    words = ["free", "prize", "call", "now", "mum", "dinner", "late", "txt", "win", "ok"]
    texts = [" ".join(random.choice(words) for _ in range(random.randint(1, 8))) for _ in range(30)]
    labels = [random.randint(0, 1) for _ in texts]
    length = random.choice([None, 12])
    ds = _dataset(texts, labels, length)
    n = length or max(len(Letters().encode(t)) for t in texts)
    for i, (text, label) in enumerate(zip(texts, labels)):
        x, y = ds[i]
        if x.tolist() != _row(text, n) or y.item() != label:
            fail(f"item {i} for {text!r} (label {label}), max_length={length}:\n"
                 f"  expected {_row(text, n)}, label {label}\n  got      {x.tolist()}, label {y.item()}")
