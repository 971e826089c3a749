"""Checks for lesson 11: generate, with toy models whose next token is known."""

import torch
import torch.nn as nn

from tutor.checks import check, expect_equal, fail, learner, place

V = 20


class Rule(nn.Module):
    """Next token after a window w: (w[0] + 3 * w[-1] + 1) % V. Records what it was fed."""

    def __init__(self, limit=None):
        super().__init__()
        self.limit, self.lengths, self.grad_enabled, self.training_seen = limit, [], [], []

    @staticmethod
    def next_of(window):
        return (window[0] + 3 * window[-1] + 1) % V

    def forward(self, idx):
        self.lengths.append(idx.shape[1])
        self.grad_enabled.append(torch.is_grad_enabled())
        self.training_seen.append(self.training)
        b, t = idx.shape
        logits = torch.zeros(b, t, V)
        for p in range(t):
            logits[torch.arange(b), p, (idx[:, 0] + 3 * idx[:, p] + 1) % V] = 5.0
        return logits


class Fixed(nn.Module):
    """The same logits for every position of every row."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, idx):
        return self.logits.expand(idx.shape[0], idx.shape[1], -1).clone()


class Counter(nn.Module):
    """Next token = last token + 1."""

    def forward(self, idx):
        return torch.nn.functional.one_hot((idx + 1) % V, V).float() * 5


def _gen(*args, **kw):
    return learner("gpt").generate(*args, **kw)


def _greedy(seq, n, ctx):
    seq = list(seq)
    for _ in range(n):
        seq.append(Rule.next_of(seq[-ctx:]))
    return seq


@check("temperature 0 is greedy: appends max_new_tokens argmax ids as long tensors")
def greedy():
    model = place(Rule())
    idx = torch.tensor([[1, 2], [3, 4]])
    out = _gen(model, idx.clone(), max_new_tokens=5, context_size=100)
    if not isinstance(out, torch.Tensor):
        fail(f"generate should return a tensor, got {type(out).__name__}")
    expect_equal(tuple(out.shape), (2, 7), "shape after 5 new tokens on idx of shape (2, 2)")
    expect_equal(out.dtype, torch.long, "dtype of the ids")
    expect_equal(out.tolist(), [_greedy([1, 2], 5, 100), _greedy([3, 4], 5, 100)], "greedy continuation (toy model)")


@check("feeds the model only the last context_size tokens")
def crops():
    model = place(Rule())
    idx = torch.tensor([[5, 1, 7, 2, 9, 3]])
    out = _gen(model, idx.clone(), max_new_tokens=4, context_size=3)
    if max(model.lengths) > 3:
        fail(f"with context_size=3 the model was fed {max(model.lengths)} tokens: crop with idx[:, -context_size:].")
    want = _greedy([5, 1, 7, 2, 9, 3], 4, 3)
    if out[0].tolist() != want:
        if out[0].tolist() == _first_window([5, 1, 7, 2, 9, 3], 4, 3):
            fail("the model was fed the FIRST context_size tokens; it must see the LAST ones: idx[:, -context_size:].")
        fail(f"generate(context_size=3) on [5, 1, 7, 2, 9, 3]\n  expected {want}\n  got      {out[0].tolist()}")


def _first_window(seq, n, ctx):
    seq = list(seq)
    for _ in range(n):
        seq.append(Rule.next_of(seq[:ctx]))
    return seq


@check("temperature divides the logits before sampling with torch.multinomial")
def temperature():
    logits = [2.0, 1.0, 0.0, -1.0]
    n = 6000
    out = _gen(Fixed(logits), torch.zeros(n, 1, dtype=torch.long), max_new_tokens=1, context_size=4, temperature=2.0)
    freq = torch.bincount(out[:, -1], minlength=4).float() / n
    want = torch.softmax(torch.tensor(logits) / 2.0, -1)
    if (freq - want).abs().max() > 0.03:
        times = torch.softmax(torch.tensor(logits) * 2.0, -1)
        why = ("Looks like the logits are multiplied by the temperature; divide them." if (freq - times).abs().max() < 0.03
               else "Looks like temperature is ignored." if (freq - torch.softmax(torch.tensor(logits), -1)).abs().max() < 0.03
               else "Looks like there is no sampling (always the argmax)." if freq[0] > 0.99 else "")
        fail(f"with logits {logits} and temperature 2, {n} samples gave frequencies {[round(f, 3) for f in freq.tolist()]}, "
             f"expected about {[round(f, 3) for f in want.tolist()]}. {why}".rstrip())


@check("top_k keeps only the k largest logits")
def top_k():
    logits = [0.5, 3.0, 2.5, -1.0, 2.0, 0.0]
    n = 4000
    out = _gen(Fixed(logits), torch.zeros(n, 1, dtype=torch.long), max_new_tokens=1, context_size=4, temperature=1.0, top_k=3)
    seen = set(out[:, -1].tolist())
    if not seen <= {1, 2, 4}:
        fail(f"with top_k=3 only ids 1, 2, 4 (the three largest logits) may be sampled; got also {sorted(seen - {1, 2, 4})}. "
             "Set every logit below the k-th largest to -inf before the softmax.")
    freq = torch.bincount(out[:, -1], minlength=6).float() / n
    want = torch.softmax(torch.tensor([-1e9, 3.0, 2.5, -1e9, 2.0, -1e9]), -1)
    if (freq - want).abs().max() > 0.04:
        fail(f"top_k=3 frequencies {[round(f, 3) for f in freq.tolist()]}, expected about {[round(f, 3) for f in want.tolist()]}")
    one = _gen(Fixed(logits), torch.zeros(50, 1, dtype=torch.long), max_new_tokens=1, context_size=4, temperature=5.0, top_k=1)
    if set(one[:, -1].tolist()) != {1}:
        fail("top_k=1 must always give the argmax (id 1 here), whatever the temperature.")


@check("stops when every row's new token is eos_id, without appending it")
def eos():
    out = _gen(Counter(), torch.tensor([[2]]), max_new_tokens=10, context_size=4, eos_id=5)
    got = out[0].tolist()
    if got == [2, 3, 4, 5]:
        fail("generate appended eos_id and then stopped: stop before appending it, so the output is [2, 3, 4].")
    if got[:4] == [2, 3, 4, 5] and len(got) > 4:
        fail(f"generate went on after eos_id: got {got}, expected [2, 3, 4] (the next token 5 is eos_id).")
    expect_equal(got, [2, 3, 4], "generate(Counter, [[2]], eos_id=5): the next ids are 3, 4, then 5 = eos_id")
    both = _gen(Counter(), torch.tensor([[2], [0]]), max_new_tokens=4, context_size=4, eos_id=5)
    expect_equal(both.tolist(), [[2, 3, 4, 5, 6], [0, 1, 2, 3, 4]],
                 "two rows where only one reaches eos_id: keep going (stop only when every row's new token is eos)")


@check("runs without gradients and leaves model.training as it was")
def modes():
    for training in (True, False):
        model = place(Rule())
        model.train(training)
        _gen(model, torch.tensor([[1, 2]]), max_new_tokens=2, context_size=8)
        if any(model.grad_enabled):
            fail("the model ran with gradients enabled: wrap the loop in torch.no_grad().")
        if model.training != training:
            fail(f"model.training was {training} before generate and {model.training} after: restore it "
                 "(remember model.training, call model.eval(), and model.train(was_training) at the end).")
