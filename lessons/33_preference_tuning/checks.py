"""Checks for lesson 33: preference tuning (compute_logprobs, compute_dpo_loss).

The references are the contract's formulas, computed here in float64; tolerances:
values within 1e-5 (absolute) of the reference on float32 inputs, gradients within
1e-5 as well; the loss at the reference is ln 2 within 1e-6.
"""

import math

import torch
import torch.nn.functional as F

from tutor.checks import check, expect_equal, fail, learner, probe


def _dpo():
    return learner("dpo")


# --- references ---------------------------------------------------------------


def _picked(logits, labels, shift=True):
    if shift:
        logits, labels = logits[:, :-1], labels[:, 1:]
    log_probs = F.log_softmax(logits.double(), dim=-1)
    return torch.gather(log_probs, -1, labels.unsqueeze(-1)).squeeze(-1)


def _logprobs(logits, labels, mask=None):
    picked = _picked(logits, labels)
    if mask is None:
        return picked.mean(-1)
    m = mask[:, 1:].double()
    return (picked * m).sum(-1) / m.sum(-1)


def _dpo_loss(mc, mr, rc, rr, beta=0.1):
    logits = (mc.double() - mr.double()) - (rc.double() - rr.double())
    return (-F.logsigmoid(beta * logits).mean(), (mc - rc).double().mean(), (mr - rr).double().mean())


# --- inputs --------------------------------------------------------------------


def _batch(b=3, t=7, vocab=11):
    logits = torch.randn(b, t, vocab) * 3
    labels = torch.randint(0, vocab, (b, t))
    return logits, labels


def _answer_mask(b, t):
    """1 over each row's answer: after a prompt of 0-2 tokens, before 0-2 tokens of padding
    (a row that starts counting at its first token shows a mask cut in one place only)."""
    mask = torch.zeros(b, t)
    for row in range(b):
        start, end = row % 3, t - (row % 3)
        mask[row, start:end] = 1.0
    return mask


def _pairs(b=5):
    """Log-probabilities of a batch of pairs under a model and its reference (negative, as they are)."""
    return [-(torch.rand(b) * 4 + 0.5) for _ in range(4)]


def _close(got, want, atol=1e-5):
    return tuple(got.shape) == tuple(want.shape) and torch.allclose(got.double(), want.double(), atol=atol, rtol=0)


# --- compute_logprobs -------------------------------------------------------------


def _call_logprobs(logits, labels, mask=None, what="compute_logprobs"):
    args = (logits, labels) if mask is None else (logits, labels, mask)
    got = _dpo().compute_logprobs(*args)
    if not isinstance(got, torch.Tensor):
        fail(f"{what} should return a tensor, got {type(got).__name__}")
    if got.dim() == 0 or tuple(got.shape) != (logits.shape[0],):
        fail(f"{what}: expected shape ({logits.shape[0]},), one mean log-probability per sequence, "
             f"got {tuple(got.shape)}")
    return got


def _logprob_mistake(got, logits, labels, mask=None):
    """The mistake that `got` shows, or ''."""
    m = None if mask is None else mask.double()
    unshifted = _picked(logits, labels, shift=False)
    wrong_way = _picked(logits[:, 1:], labels[:, :-1], shift=False)
    picked = _picked(logits, labels)
    probs = torch.gather(F.softmax(logits[:, :-1].double(), -1), -1, labels[:, 1:].unsqueeze(-1)).squeeze(-1)
    if m is None:
        candidates = [
            (unshifted.mean(-1), "the logits are not shifted against the labels: position i's logits score token "
                                 "i + 1, so compare logits[:, :-1] with labels[:, 1:]"),
            (wrong_way.mean(-1), "the shift goes the wrong way: position i's logits score token i + 1, so compare "
                                 "logits[:, :-1] with labels[:, 1:], not logits[:, 1:] with labels[:, :-1]"),
            (picked.sum(-1), "this is the sum over tokens instead of the mean (divide by the number of positions)"),
            (probs.mean(-1), "these are probabilities, not log-probabilities: softmax instead of log_softmax"),
        ]
    else:
        cut = m[:, 1:]
        candidates = [
            ((unshifted * m).sum(-1) / m.sum(-1), "the logits are not shifted against the labels: position i's "
                                                  "logits score token i + 1, so compare logits[:, :-1] with labels[:, 1:]"),
            ((picked * m[:, :-1]).sum(-1) / m[:, :-1].sum(-1), "the mask is not shifted with the labels: it lines up "
                                                               "with labels, so cut it the same way, selection_mask[:, 1:]"),
            (picked.mean(-1), "the selection mask is ignored: the mean must be over the positions the mask keeps"),
            ((picked * cut).sum(-1), "this is the masked sum over tokens instead of the mean (divide by the mask's sum "
                                     "per row)"),
            ((picked * cut).sum(-1) / cut.shape[1], "the masked sum is divided by t - 1: divide by the number of "
                                                    "positions the mask keeps, mask.sum(-1)"),
            ((picked * cut).sum(-1) / m.sum(-1), "the masked sum is divided by the sum of the mask before it was cut: "
                                                 "cut it once, selection_mask[:, 1:], and use it for both"),
        ]
    for value, why in candidates:
        if _close(got, value):
            return why
    return ""


def _expect_logprobs(got, logits, labels, mask, what):
    want = _logprobs(logits, labels, mask)
    if not _close(got, want):
        why = _logprob_mistake(got, logits, labels, mask)
        fail(f"{what}:\n  expected {want.tolist()}\n  got      {got.double().tolist()}" + (f"\nLooks like {why}." if why else ""))


@check("compute_logprobs: the mean log-probability of labels[:, 1:] under logits[:, :-1], one per row")
def logprobs_no_mask():
    for b, t, vocab in ((3, 7, 11), (1, 2, 5), (4, 13, 50)):
        logits, labels = _batch(b, t, vocab)
        got = _call_logprobs(logits, labels, what=f"compute_logprobs(logits {tuple(logits.shape)}, labels)")
        _expect_logprobs(got, logits, labels, None, f"compute_logprobs on logits of shape {tuple(logits.shape)}")


@check("compute_logprobs with a selection mask: shifted with the labels, the mean over the positions it keeps")
def logprobs_mask():
    for b, t, vocab, as_bool in ((4, 9, 13, False), (3, 6, 7, True)):
        logits, labels = _batch(b, t, vocab)
        mask = _answer_mask(b, t)
        given = mask.bool() if as_bool else mask
        got = _call_logprobs(logits, labels, given, what="compute_logprobs(logits, labels, selection_mask)")
        kind = "boolean" if as_bool else "float"
        _expect_logprobs(got, logits, labels, mask, f"compute_logprobs with a {kind} mask {mask.tolist()}")


@check("compute_logprobs: its gradient with respect to the logits is the formula's")
def logprobs_gradient():
    logits, labels = _batch(3, 8, 9)
    mask = _answer_mask(3, 8)
    weights = torch.randn(3)
    grads = probe("input_grads", _dpo().compute_logprobs, [logits.clone().requires_grad_(True), labels, mask], weights)
    if not isinstance(grads, list) or not grads or grads[0] is None:
        fail("no gradient reaches the logits from compute_logprobs: keep the computation in torch (no .item(), "
             ".detach() or .tolist()), so that training can follow it back")
    ref = logits.double().clone().requires_grad_(True)
    (_logprobs(ref, labels, mask) * weights.double()).sum().backward()
    if not _close(grads[0], ref.grad):
        fail("the gradient of compute_logprobs with respect to the logits differs from the formula's "
             f"(largest difference {(grads[0].double() - ref.grad).abs().max().item():.3g})")


# --- compute_dpo_loss ---------------------------------------------------------------


def _call_dpo(*args, what="compute_dpo_loss", **kwargs):
    got = _dpo().compute_dpo_loss(*args, **kwargs)
    if not isinstance(got, tuple) or len(got) != 3:
        fail(f"{what} should return a tuple (loss, chosen_rewards, rejected_rewards), got {type(got).__name__}")
    for name, value in zip(("loss", "chosen_rewards", "rejected_rewards"), got):
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            fail(f"{what}: {name} should be a scalar tensor (the mean over the batch), got {shape}")
    return got


def _dpo_mistake(loss, mc, mr, rc, rr, beta):
    logits = (mc.double() - mr.double()) - (rc.double() - rr.double())
    candidates = [
        (-F.logsigmoid(-beta * logits).mean(), "chosen and rejected are swapped: logits = (model_chosen - "
                                               "model_rejected) - (reference_chosen - reference_rejected)"),
        (-(beta * F.logsigmoid(logits)).mean(), "beta multiplies the log-sigmoid instead of its argument: "
                                                "-logsigmoid(beta * logits), beta inside the sigmoid"),
        (-F.logsigmoid(beta * logits).sum(), "the losses are summed over the batch instead of averaged"),
    ]
    for value, why in candidates:
        if _close(loss, value, atol=1e-6):
            return why
    return ""


@check("compute_dpo_loss is ln 2, with zero rewards, while the model is still the reference")
def dpo_at_reference():
    chosen, rejected, _, _ = _pairs(6)
    loss, chosen_rewards, rejected_rewards = _call_dpo(chosen, rejected, chosen.clone(), rejected.clone(),
                                                       what="compute_dpo_loss with the model equal to the reference")
    if not math.isclose(loss.item(), math.log(2), abs_tol=1e-6):
        fail(f"with the model's log-probabilities equal to the reference's, logits = 0 and the loss is "
             f"-logsigmoid(0) = ln 2 = {math.log(2):.6f}; got {loss.item():.6f}")
    expect_equal((round(chosen_rewards.item(), 6), round(rejected_rewards.item(), 6)), (0.0, 0.0),
                 "(chosen_rewards, rejected_rewards) with the model equal to the reference")


@check("compute_dpo_loss: the loss and rewards are the formula's, for the default beta and others")
def dpo_formula():
    for beta in (None, 0.5, 2.0):
        mc, mr, rc, rr = _pairs(5)
        what = "compute_dpo_loss(...)" if beta is None else f"compute_dpo_loss(..., beta={beta})"
        loss, chosen_rewards, rejected_rewards = _call_dpo(mc, mr, rc, rr, what=what) if beta is None else \
            _call_dpo(mc, mr, rc, rr, beta=beta, what=what)
        want_loss, want_chosen, want_rejected = _dpo_loss(mc, mr, rc, rr, 0.1 if beta is None else beta)
        if not _close(loss, want_loss, atol=1e-6):
            why = _dpo_mistake(loss, mc, mr, rc, rr, 0.1 if beta is None else beta)
            fail(f"{what}: loss expected {want_loss.item():.6f}, got {loss.item():.6f}" + (f"\nLooks like {why}." if why else ""))
        for name, got, want in (("chosen_rewards", chosen_rewards, want_chosen),
                                ("rejected_rewards", rejected_rewards, want_rejected)):
            if not _close(got, want, atol=1e-6):
                hint = ""
                b = 0.1 if beta is None else beta
                if _close(got, want * b, atol=1e-6):
                    hint = "\nThe rewards are scaled by beta: the contract takes the plain difference, mean(model - reference)."
                fail(f"{what}: {name} expected mean(model - reference) = {want.item():.6f}, got {got.item():.6f}{hint}")


@check("compute_dpo_loss: its gradient raises the chosen answer and lowers the rejected one, as the formula's")
def dpo_gradient():
    mc, mr, rc, rr = _pairs(4)
    args = [mc.clone().requires_grad_(True), mr.clone().requires_grad_(True), rc, rr]
    grads = probe("input_grads", _dpo().compute_dpo_loss, args, torch.tensor(1.0), pick=0)
    if not isinstance(grads, list) or len(grads) != 4 or grads[0] is None or grads[1] is None:
        fail("no gradient reaches the model's log-probabilities from the loss: keep the computation in torch")
    ref = [mc.double().clone().requires_grad_(True), mr.double().clone().requires_grad_(True)]
    _dpo_loss(ref[0], ref[1], rc, rr)[0].backward()
    if bool((grads[0] > 0).all()) and bool((grads[1] < 0).all()):
        fail("the gradient lowers the chosen answer's log-probability and raises the rejected one's: chosen and "
             "rejected are swapped (logits = (model_chosen - model_rejected) - (reference_chosen - reference_rejected))")
    for index, name in ((0, "model_chosen_logprobs"), (1, "model_rejected_logprobs")):
        if not _close(grads[index], ref[index].grad, atol=1e-6):
            fail(f"the gradient of the loss with respect to {name} differs from the formula's:\n"
                 f"  expected {ref[index].grad.tolist()}\n  got      {grads[index].double().tolist()}")


@check("compute_dpo_loss: the rewards are detached (numbers to watch, no gradient)")
def rewards_detached():
    mc, mr, rc, rr = _pairs(3)
    _, chosen_rewards, rejected_rewards = _call_dpo(mc.clone().requires_grad_(True), mr.clone().requires_grad_(True),
                                                    rc, rr, what="compute_dpo_loss on log-probabilities with gradients")
    for name, value in (("chosen_rewards", chosen_rewards), ("rejected_rewards", rejected_rewards)):
        if value.requires_grad:
            fail(f"{name} carries a gradient: detach it ((model - reference).detach().mean()); the rewards are for "
                 "watching training, and a graph kept for them holds memory and can leak into a backward pass.")
