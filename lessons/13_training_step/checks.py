"""Checks for lesson 13: lr_at and train_step."""

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tutor.checks import check, fail, learner, place, probe

V = 11


def _lr(step, **kw):
    return learner("train").lr_at(step, **kw)


def _formula(step, peak_lr, warmup_steps, total_steps, min_lr=0.0):
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    p = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (peak_lr - min_lr) * (1 + math.cos(math.pi * p))


@check("lr_at warms up linearly: peak_lr * (step + 1) / warmup_steps")
def warmup():
    kw = dict(peak_lr=6e-4, warmup_steps=10, total_steps=100, min_lr=6e-5)
    for step in (0, 4, 9):
        got, want = _lr(step, **kw), _formula(step, **kw)
        if not math.isclose(got, want, rel_tol=1e-9):
            why = (
                " Warm-up is off by one: step 0 already takes a step, so use (step + 1) / warmup_steps."
                if math.isclose(got, 6e-4 * step / 10)
                else ""
            )
            fail(f"lr_at({step}, peak_lr=6e-4, warmup_steps=10, ...): expected {want:.6g}, got {got:.6g}.{why}")


@check("lr_at decays with a half cosine from peak_lr to min_lr")
def decay():
    kw = dict(peak_lr=1.0, warmup_steps=10, total_steps=110, min_lr=0.1)
    for step in (10, 35, 60, 85, 109):
        got, want = _lr(step, **kw), _formula(step, **kw)
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
            p = (step - 10) / 100
            why = ""
            if math.isclose(got, 0.5 * (1 + math.cos(math.pi * p)), rel_tol=1e-9):
                why = " min_lr is ignored: the decay goes to min_lr, not to 0."
            elif math.isclose(got, 0.1 + 0.45 * (1 + math.cos(2 * math.pi * p)), rel_tol=1e-9):
                why = " The cosine runs a full period: use cos(pi * p), half a period from peak to min."
            elif math.isclose(got, 1.0 - 0.9 * p, rel_tol=1e-9):
                why = " The decay is linear; it should follow a half cosine."
            fail(f"lr_at({step}, peak_lr=1, warmup_steps=10, total_steps=110, min_lr=0.1): expected {want:.6g}, got {got:.6g}.{why}")


@check("lr_at is min_lr from total_steps on, and has no warm-up when warmup_steps == 0")
def ends():
    kw = dict(peak_lr=1.0, warmup_steps=10, total_steps=110, min_lr=0.1)
    for step in (110, 111, 500):
        if not math.isclose(_lr(step, **kw), 0.1, rel_tol=1e-9):
            fail(f"lr_at({step}) with total_steps=110 should be min_lr=0.1, got {_lr(step, **kw):.6g}")
    try:
        got = _lr(0, peak_lr=1.0, warmup_steps=0, total_steps=100)
    except ZeroDivisionError:
        fail("lr_at with warmup_steps=0 divided by zero: with no warm-up, step 0 is already in the decay (lr = peak_lr).")
    if not math.isclose(got, 1.0):
        fail(f"lr_at(0, warmup_steps=0) should be peak_lr = 1.0, got {got:.6g}")


class Bigram(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(V, V)
        self.out = nn.Linear(V, V)

    def forward(self, idx):
        return self.out(self.table(idx))


def _batch():
    return torch.randint(0, V, (4, 6)), torch.randint(0, V, (4, 6))


def _fresh_grads(model, x, y):
    twin = copy.deepcopy(model)
    twin.zero_grad()
    loss = F.cross_entropy(twin(x).flatten(0, 1), y.flatten())
    loss.backward()
    return loss.item(), [p.grad.clone() for p in twin.parameters()]


def _step(model, opt, x, y, **kw):
    return learner("train").train_step(model, opt, x, y, torch.device("cpu"), **kw)


@check("train_step zeroes old gradients, steps, and returns the loss as a float")
def one_step():
    model, (x, y) = Bigram(), _batch()
    before = [p.detach().clone() for p in model.parameters()]
    want_loss, grads = _fresh_grads(model, x, y)
    model, opt = place((model, torch.optim.SGD(model.parameters(), lr=0.1)))
    probe("fill_grads", model, 5.0)  # stale gradients from some earlier step
    got = _step(model, opt, x, y, max_grad_norm=None)
    if not isinstance(got, float):
        fail(f"train_step should return the loss as a float (loss.item()), got {type(got).__name__}")
    if abs(got - want_loss) > 1e-5:
        fail(f"train_step returned {got:.5f}; the loss of the batch before the step is {want_loss:.5f}")
    deltas = [p.detach() - b for p, b in zip(model.parameters(), before)]
    if all(d.abs().max() == 0 for d in deltas):
        fail("the parameters did not change: call optimizer.step() after loss.backward().")
    stale = [-0.1 * (g + 5.0) for g in grads]
    if all(torch.allclose(d, s, atol=1e-5) for d, s in zip(deltas, stale)):
        fail("the update used old gradients plus new ones: gradients are not zeroed. Call optimizer.zero_grad() first.")
    if not all(torch.allclose(d, -0.1 * g, atol=1e-5) for d, g in zip(deltas, grads)):
        fail("with SGD(lr=0.1) and no clipping, each parameter should move by -0.1 * its gradient; it did not.")


@check("train_step clips the gradient norm before the optimizer step")
def clipping():
    model, (x, y) = Bigram(), _batch()
    before = [p.detach().clone() for p in model.parameters()]
    _, grads = _fresh_grads(model, x, y)
    full = torch.sqrt(sum(g.square().sum() for g in grads)).item()
    model, opt = place((model, torch.optim.SGD(model.parameters(), lr=1.0)))
    _step(model, opt, x, y, max_grad_norm=0.01)
    moved = torch.sqrt(sum((p.detach() - b).square().sum() for p, b in zip(model.parameters(), before))).item()
    if abs(moved - 0.01) > 1e-4:
        if abs(moved - full) < 1e-4:
            fail(
                f"with max_grad_norm=0.01 and SGD(lr=1) the parameters moved by {moved:.4g}, the unclipped gradient norm. "
                "Clip between backward() and optimizer.step(): clipping after the step is too late."
            )
        fail(f"with max_grad_norm=0.01 and SGD(lr=1) the parameters should move by 0.01, they moved by {moved:.4g}.")
    model2 = Bigram()
    before = [p.detach().clone() for p in model2.parameters()]
    _, grads = _fresh_grads(model2, x, y)
    full = torch.sqrt(sum(g.square().sum() for g in grads)).item()
    model2, opt = place((model2, torch.optim.SGD(model2.parameters(), lr=1.0)))
    _step(model2, opt, x, y, max_grad_norm=None)
    moved = torch.sqrt(sum((p.detach() - b).square().sum() for p, b in zip(model2.parameters(), before))).item()
    if abs(moved - full) > 1e-4:
        fail("with max_grad_norm=None there must be no clipping: the update should be the full gradient.")


@check("repeated train_steps with AdamW lower the loss on a fixed batch")
def learns():
    model, (x, y) = Bigram(), _batch()
    model, opt = place((model, torch.optim.AdamW(model.parameters(), lr=0.05)))
    losses = [_step(model, opt, x, y) for _ in range(30)]
    if not losses[-1] < 0.5 * losses[0]:
        fail(f"30 steps on one batch should at least halve the loss: {losses[0]:.3f} -> {losses[-1]:.3f}")
