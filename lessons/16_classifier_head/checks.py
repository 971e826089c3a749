"""Checks for lesson 16: the classifier head, through the contract, with toy models."""

import random

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from tutor.checks import check, expect_equal, fail, learner, show

PAD = 0
CFG = {"vocab_size": 30, "context_length": 16, "emb_dim": 12, "n_heads": 2, "n_layers": 3, "drop_rate": 0.0, "qkv_bias": False}


def _c():
    return learner("classifier")


def _padded(lengths, t=8):
    rows = [[random.randint(1, 29) for _ in range(n)] + [PAD] * (t - n) for n in lengths]
    return torch.tensor(rows)


@check("last_token_index finds each row's last real token, not the padding")
def last_index():
    lengths = [3, 8, 1, 5]
    ids = _padded(lengths)
    got = _c().last_token_index(ids, PAD)
    want = [n - 1 for n in lengths]
    if not isinstance(got, torch.Tensor):
        fail(f"last_token_index should return a tensor, got {type(got).__name__}")
    got_list = got.tolist()
    if got_list == lengths:
        fail(f"for rows of {lengths} real tokens you returned {got_list}: the count of real tokens is the index of "
             f"the first padding token. The last real token is one before: {want}.")
    if got_list == [7] * 4:
        fail(f"you returned {got_list}: the last position, which is padding for the shorter rows. Expected {want}.")
    expect_equal(got_list, want, f"last_token_index for rows with {lengths} real tokens (t=8, pad={PAD})")
    expect_equal(got.dtype, torch.long, "dtype")
    # Another padding id, with 0 as a real token: the pad_token_id given is the padding, not 0.
    pad, rows = 7, [[0, 3, 0, 7, 7, 7], [5, 0, 0, 0, 0, 7], [0, 7, 7, 7, 7, 7]]
    got_list = _c().last_token_index(torch.tensor(rows), pad).tolist()
    if got_list != [2, 4, 0]:
        # [5, 5, 5]: the last nonzero id; [3, 1, 4]: the count of nonzero ids minus one.
        why = " Looks like 0 is taken for the padding: compare with pad_token_id." if got_list in ([5, 5, 5], [3, 1, 4]) else ""
        fail(f"last_token_index({rows}, pad_token_id={pad}) gave {got_list}, expected [2, 4, 0].{why}")


@check("make_classifier puts a new num_classes head (with bias) on the same model")
def new_head():
    model = learner("gpt").GPTModel(CFG)
    out = _c().make_classifier(model, num_classes=3, trainable_blocks=1)
    if out is not model:
        fail("make_classifier should change the model in place and return that same model.")
    head = model.out_head
    if not isinstance(head, nn.Linear) or tuple(head.weight.shape) != (3, 12) or head.bias is None:
        fail(f"out_head should be nn.Linear(emb_dim=12, num_classes=3) with bias; got {head}")
    expect_equal(tuple(model(torch.randint(0, 30, (2, 5))).shape), (2, 5, 3), "model output shape after make_classifier")


def _trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


@check("make_classifier trains only the head, final_norm and the last trainable_blocks blocks")
def freezing():
    for blocks in (1, 2, 0):
        model = _c().make_classifier(learner("gpt").GPTModel(CFG), 2, trainable_blocks=blocks)
        got = _trainable(model)
        want = {n for n, _ in model.named_parameters()
                if n.startswith(("out_head.", "final_norm.")) or any(n.startswith(f"trf_blocks.{i}.") for i in range(3 - blocks, 3))}
        if got != want:
            if not any(n.startswith("out_head.") for n in got):
                fail(f"trainable_blocks={blocks}: the new head is frozen. Freeze the old parameters first, then make the head "
                     "(new parameters require grad), or set its requires_grad back to True.")
            if got == {n for n, _ in model.named_parameters()}:
                fail(f"trainable_blocks={blocks}: everything is trainable; freeze all but the head, final_norm and the "
                     "last blocks (param.requires_grad = False).")
            fail(f"trainable_blocks={blocks}: the trainable parameters differ.\n  should train but frozen: "
                 f"{sorted(want - got)[:4]}\n  should be frozen but train: {sorted(got - want)[:4]}")
    for everything in (-1, None):
        model = _c().make_classifier(learner("gpt").GPTModel(CFG), 2, trainable_blocks=everything)
        if _trainable(model) != {n for n, _ in model.named_parameters()}:
            fail(f"trainable_blocks={everything} means: train everything. Some parameters are frozen.")


class Positions(nn.Module):
    """A toy classifier: class logits at position p are (p, -p), so the picked position shows."""

    def forward(self, idx):
        b, t = idx.shape
        p = torch.arange(t, dtype=torch.float).expand(b, t)
        return torch.stack([p, -p], dim=-1)


@check("class_logits reads each row's logits at its last real token")
def logits_at_last():
    lengths = [2, 6, 4]
    got = _c().class_logits(Positions(), _padded(lengths), PAD)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (3, 2):
        fail(f"class_logits should give a (batch, num_classes) = (3, 2) tensor, got {show(got)}")
    picked = got[:, 0].tolist()
    want = [float(n - 1) for n in lengths]
    if picked == [7.0] * 3:
        fail("class_logits reads the last position, which is padding for shorter messages. Under causal attention the "
             "last *real* token is the only one that has seen the whole message: use last_token_index.")
    if picked == [0.0] * 3:
        fail("class_logits reads position 0: under causal attention the first token has seen only itself.")
    expect_equal(picked, want, f"positions read for rows of {lengths} real tokens")


class Fixed(nn.Module):
    """Predicts class 1 for rows whose first token is odd, else class 0."""

    def forward(self, idx):
        one = (idx[:, :1] % 2 == 1).float().expand(idx.shape)
        return torch.stack([1 - one, one], dim=-1) * 3


@check("calc_accuracy_loader counts correct predictions over the examples seen")
def accuracy():
    ids = torch.tensor([[1, 4, 0], [2, 5, 0], [3, 0, 0], [4, 2, 2], [5, 1, 0]])  # predictions 1, 0, 1, 0, 1
    labels = torch.tensor([1, 1, 1, 0, 0])  # correct: yes, no, yes, yes, no
    loader = DataLoader(TensorDataset(ids, labels), batch_size=2, shuffle=False)  # batches of 2, 2, 1
    c = _c()
    got = c.calc_accuracy_loader(loader, Fixed(), torch.device("cpu"), PAD)
    if abs(got - 3 / 5) > 1e-9:
        why = ""
        if abs(got - (1 / 2 + 2 / 2 + 0) / 3) < 1e-9:
            why = " That is the mean of the batches' accuracies; divide the correct count by the examples seen."
        fail(f"accuracy on 5 messages with 3 right (batches of 2, 2, 1): expected 0.6, got {got}.{why}")
    two = c.calc_accuracy_loader(loader, Fixed(), torch.device("cpu"), PAD, num_batches=2)
    if abs(two - 3 / 4) > 1e-9:
        fail(f"with num_batches=2 only the first 4 messages count (3 right): expected 0.75, got {two}.")
    empty = DataLoader(TensorDataset(torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long)), batch_size=2)
    got_empty = c.calc_accuracy_loader(empty, Fixed(), torch.device("cpu"), PAD)
    if got_empty == got_empty:  # not nan
        fail(f"an empty loader should give float('nan'), got {got_empty!r}")


class Lengthy(nn.Module):
    """Class logits (1, p/4) at position p: short messages lean to ham, long ones to spam."""

    def forward(self, idx):
        b, t = idx.shape
        p = torch.arange(t, dtype=torch.float).expand(b, t) / 4
        return torch.stack([torch.ones_like(p), p], dim=-1)


class Words:
    def encode(self, text):
        return [len(w) % 29 + 1 for w in text.split()]


def _p(logits):
    return torch.softmax(torch.tensor(logits), -1).tolist()


@check("classify gives ('spam' or 'ham', the probability of that label) and truncates to max_length")
def classify():
    c = _c()
    cpu = torch.device("cpu")
    long_text = "one two three four five six seven eight nine ten"
    label, prob = c.classify(long_text, Lengthy(), Words(), cpu, 6, PAD)
    want = _p([1.0, 5 / 4])[1]  # truncated to 6 words: read at position 5
    if label == "spam" and abs(prob - _p([1.0, 9 / 4])[1]) < 1e-4:
        fail("the message was not truncated to max_length=6 before classifying (it was read at position 9, not 5).")
    if label == "ham" and abs(prob - want) < 1e-4:
        fail("the labels are swapped: class 1 is 'spam' and class 0 is 'ham'.")
    if (label, round(prob, 4)) != ("spam", round(want, 4)):
        fail(f"a 10-word message with max_length=6: expected ('spam', {want:.4f}), got ({label!r}, {prob})")
    label, prob = c.classify("hi", Lengthy(), Words(), cpu, 6, PAD)
    ham_p = _p([1.0, 0.0])[0]
    if label == "ham" and abs(prob - (1 - ham_p)) < 1e-4:
        fail(f"classify('hi') returned ('ham', {prob:.4f}): that is the probability of spam. "
             f"Return the probability of the label you return: {ham_p:.4f}.")
    if (label, round(prob, 4)) != ("ham", round(ham_p, 4)):
        fail(f"classify('hi'): expected ('ham', {ham_p:.4f}), got ({label!r}, {prob})")
    if not isinstance(prob, float):
        fail(f"the probability should be a Python float (.item()), got {type(prob).__name__}")
