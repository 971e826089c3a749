"""Checks for lesson 12: calc_loss_batch and calc_loss_loader, against F.cross_entropy."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from tutor.checks import assert_close, check, expect_equal, fail, learner, place

V = 11


class Bigram(nn.Module):
    """A tiny language model: the logits of the next token depend on the current token only."""

    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(V, V)
        self.grad_enabled = []

    def forward(self, idx):
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.table(idx)


def _train():
    return learner("train")


def _batch(b=3, t=6):
    return torch.randint(0, V, (b, t)), torch.randint(0, V, (b, t))


@check("calc_loss_batch is the mean cross-entropy over every position")
def batch_loss():
    model = Bigram()
    x, y = _batch()
    got = _train().calc_loss_batch(x, y, model, torch.device("cpu"))
    if not isinstance(got, torch.Tensor):
        fail(f"calc_loss_batch should return a tensor (with a graph, for backward()), got {type(got).__name__}")
    expect_equal(tuple(got.shape), (), "shape of the loss (a scalar)")
    logits = model.table(x)
    want = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    assert_close(got, want, "loss on a (3, 6) batch", atol=1e-5, mistakes={
        "the loss is summed over positions; take the mean (F.cross_entropy's default reduction)":
            F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"),
        "the targets are shifted again: the loader's target_batch is already the next token at each position, "
        "compare logits[:, i] with target_batch[:, i]":
            F.cross_entropy(logits[:, :-1].flatten(0, 1), y[:, 1:].flatten()),
        "only the last position is used; every position of every row is a prediction":
            F.cross_entropy(logits[:, -1], y[:, -1]),
        "the loss compares the logits with the inputs, not the targets":
            F.cross_entropy(logits.flatten(0, 1), x.flatten()),
        "the mean is over sequences of summed token losses; average over every token":
            F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum") / x.shape[0],
    })
    if not got.requires_grad:
        fail("the loss has no graph (requires_grad is False): do not call .item() or detach it in calc_loss_batch.")


@check("calc_loss_loader averages the first num_batches batch losses")
def loader_loss():
    model = Bigram()
    x, y = torch.randint(0, V, (10, 5)), torch.randint(0, V, (10, 5))
    loader = DataLoader(TensorDataset(x, y), batch_size=2, shuffle=False)  # 5 batches
    per_batch = [F.cross_entropy(model.table(a).flatten(0, 1), b.flatten()).item() for a, b in loader]
    tr = _train()
    for n, want in ((None, sum(per_batch) / 5), (2, sum(per_batch[:2]) / 2), (9, sum(per_batch) / 5)):
        got = tr.calc_loss_loader(loader, model, torch.device("cpu"), num_batches=n)
        if not isinstance(got, float):
            fail(f"calc_loss_loader should return a float, got {type(got).__name__}; use .item() on each batch loss.")
        if abs(got - want) > 1e-5:
            why = ""
            if n == 2 and min(abs(got - sum(per_batch) / 5), abs(got - sum(per_batch) / 2)) < 1e-5:
                why = " num_batches is ignored: stop after the first num_batches batches."
            elif n == 9 and abs(got - sum(per_batch) / 9) < 1e-5:
                why = " It divides by num_batches although the loader has only 5 batches: use min(num_batches, len(loader))."
            fail(f"calc_loss_loader(num_batches={n}) on a loader of 5 batches: expected {want:.5f}, got {got:.5f}.{why}")


@check("calc_loss_loader runs without gradients and gives nan for an empty loader")
def loader_edge():
    model = place(Bigram())  # where the learner's code runs it: it records the grad mode there
    loader = DataLoader(TensorDataset(*_batch(4, 5)), batch_size=2)
    _train().calc_loss_loader(loader, model, torch.device("cpu"))
    if any(model.grad_enabled):
        fail("the model ran with gradients enabled: evaluate under torch.no_grad() to save memory and time.")
    empty = DataLoader(TensorDataset(torch.zeros(0, 5, dtype=torch.long), torch.zeros(0, 5, dtype=torch.long)), batch_size=2)
    try:
        got = _train().calc_loss_loader(empty, model, torch.device("cpu"))
    except ZeroDivisionError:
        fail("calc_loss_loader raised ZeroDivisionError on an empty loader: return float('nan') instead.")
    if not (isinstance(got, float) and math.isnan(got)):
        fail(f"an empty loader should give float('nan'), got {got!r}")


@check("the loss of a uniform model is ln(vocab_size) (perplexity = vocab_size)")
def uniform():
    model = Bigram()
    with torch.no_grad():
        model.table.weight.zero_()
    got = _train().calc_loss_batch(*_batch(), model, torch.device("cpu")).item()
    if abs(got - math.log(V)) > 1e-5:
        fail(f"with all logits equal the loss must be ln({V}) = {math.log(V):.5f}, got {got:.5f}")
