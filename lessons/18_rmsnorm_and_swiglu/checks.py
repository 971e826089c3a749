"""Checks for lesson 18: RMSNorm and the SwiGLU FeedForward, against F.rms_norm and the formula."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from tutor.checks import as_built, assert_close, check, expect_equal, fail, learner, show
from tutor.checks.llama_refs import rms_norm, rms_norm_variant, swiglu
from tutor.checks.torch_refs import check_grads_reach, expect_linear, expect_shape, randomise, set_weights

CFG = {"vocab_size": 50, "context_length": 8, "emb_dim": 12, "n_heads": 4, "n_kv_groups": 2, "n_layers": 2,
       "hidden_dim": 20, "rope_base": 10_000}


def _llama():
    return learner("llama")


def _norm_mistakes(x, w):
    def v(name):
        return lambda: rms_norm_variant(x, w, name)

    return {
        "the mean is subtracted: RMSNorm divides x itself by its root mean square, with no centring "
        "(that is what LayerNorm does; RMSNorm drops it)": v("mean_subtracted"),
        "eps is added outside the square root: it is sqrt(mean(x**2) + eps), not sqrt(mean(x**2)) + eps": v("eps_outside"),
        "the square root is missing: divide by sqrt(mean(x**2) + eps), the root of the mean square": v("no_sqrt"),
        "the squares are summed, not averaged: take mean(x**2) over the last dimension": v("sum_not_mean"),
        "weight is not applied: multiply the normalised x by self.weight": v("no_weight"),
        "this divides by the standard deviation; RMSNorm uses the root mean square of x, mean(x**2), "
        "without removing the mean": v("std"),
    }


@check("RMSNorm has one parameter, weight (ones); no shift, no bias")
def norm_params():
    with as_built():  # the weights its __init__ gives it
        norm = _llama().RMSNorm(6)
    w = getattr(norm, "weight", None)
    if not isinstance(w, nn.Parameter):
        fail(f"RMSNorm(6).weight should be an nn.Parameter (so the optimiser trains it), got {type(w).__name__}")
    expect_shape(w, (6,), "RMSNorm(6).weight")
    if not torch.all(w == 1):
        fail(f"RMSNorm(6).weight should start as all ones, got {w.tolist()}")
    names = sorted(n for n, _ in norm.named_parameters())
    if names != ["weight"]:
        fail(f"RMSNorm(6) should have exactly one parameter, weight; it has {names}. "
             "Looks like a shift (bias) is left in: RMSNorm only scales.")


@check("RMSNorm equals F.rms_norm (eps=1e-5, mean of squares over the last dimension)")
def norm_matches():
    norm = randomise(_llama().RMSNorm(8))
    w = norm.weight.detach()
    for x in (torch.randn(3, 5, 8) * 4 + 2, torch.randn(2, 3, 8) * 1e-3):
        assert_close(norm(x), rms_norm(x, w), f"RMSNorm(8) on x of shape {tuple(x.shape)} (std {x.std():.2g})",
                     atol=1e-5, rtol=1e-4, mistakes=_norm_mistakes(x, w))
    zero = torch.zeros(1, 2, 8)
    assert_close(norm(zero), zero, "RMSNorm on a row of zeros", hint="Add eps inside the square root.")
    custom = _llama().RMSNorm(8, eps=0.5)
    x = torch.randn(2, 8) * 0.3
    assert_close(custom(x), rms_norm(x, custom.weight.detach(), 0.5), "RMSNorm(8, eps=0.5)", atol=1e-5,
                 hint="Use the eps given to the constructor (default 1e-5).")


@check("RMSNorm on bf16 input returns bf16, computed in float32 (the weight multiply too)")
def norm_dtype():
    torch.manual_seed(0)
    norm = _llama().RMSNorm(64)
    set_weights(norm, {"weight": torch.randn(64) * 0.5 + 1})
    x = (torch.randn(8, 16, 64) * 3 + 1).bfloat16()
    got = norm(x)
    if not isinstance(got, torch.Tensor):
        fail(f"RMSNorm returned {type(got).__name__}, expected a tensor")
    if got.dtype != torch.bfloat16:
        fail(f"RMSNorm on a bfloat16 x returned {got.dtype}. Return the result in x's dtype: "
             "compute in float32, then .to(x.dtype) at the end (float32 weight times bf16 values gives float32).")
    want = rms_norm(x, norm.weight.detach())
    differ = (got != want).float().mean().item()
    if differ > 0.02:
        fail(f"RMSNorm on bfloat16 input: {differ:.0%} of the values differ from the float32 computation "
             "rounded to bf16. Looks like it is computed in bf16: convert x with x.float() first, normalise and "
             "multiply by weight in float32, and only then convert back with .to(x.dtype).\n"
             f"  expected {show(want)}\n  got      {show(got)}")
    x32 = torch.randn(2, 3, 64)
    expect_equal(norm(x32).dtype, torch.float32, "RMSNorm output dtype for float32 input")


@check("FeedForward has fc1, fc2 (emb_dim -> hidden_dim) and fc3 (hidden_dim -> emb_dim), no biases")
def ff_structure():
    ff = _llama().FeedForward(CFG)
    d, hidden = CFG["emb_dim"], CFG["hidden_dim"]
    for name, (a, b) in (("fc1", (d, hidden)), ("fc2", (d, hidden)), ("fc3", (hidden, d))):
        expect_linear(getattr(ff, name, None), a, b, False, f"FeedForward(cfg).{name}")
    names = sorted(n for n, _ in ff.named_parameters())
    expect_equal(names, ["fc1.weight", "fc2.weight", "fc3.weight"], "FeedForward's parameter names")


@check("FeedForward is SwiGLU: fc3(silu(fc1(x)) * fc2(x)), the same network on every token")
def ff_forward():
    ff = _llama().FeedForward(CFG)
    x = torch.randn(2, 5, CFG["emb_dim"]) * 2
    w1, w2, w3 = (getattr(ff, n).weight.detach() for n in ("fc1", "fc2", "fc3"))
    got = ff(x)
    assert_close(got, swiglu(x, w1, w2, w3), "FeedForward on x of shape (2, 5, 12)", atol=1e-5, mistakes={
        "the gate is on the wrong branch: SiLU goes on fc1's output, which gates fc2's: fc3(silu(fc1(x)) * fc2(x))":
            lambda: swiglu(x, w2, w1, w3),
        "this is GELU, not SiLU: the gate of SwiGLU is F.silu (x * sigmoid(x))":
            lambda: swiglu(x, w1, w2, w3, act=lambda z: F.gelu(z, approximate="tanh")),
        "this is GELU (exact), not SiLU: the gate of SwiGLU is F.silu (x * sigmoid(x))":
            lambda: swiglu(x, w1, w2, w3, act=F.gelu),
        "this uses ReLU; SwiGLU's gate is F.silu": lambda: swiglu(x, w1, w2, w3, act=F.relu),
        "the gate is a plain sigmoid: SiLU is x * sigmoid(x) (F.silu)": lambda: swiglu(x, w1, w2, w3, act=torch.sigmoid),
        "fc2 is unused: without it there is no gate; multiply silu(fc1(x)) by fc2(x) before fc3":
            lambda: F.linear(F.silu(F.linear(x, w1)), w3),
        "silu is applied to the product: only fc1's branch goes through SiLU, fc3(silu(fc1(x)) * fc2(x))":
            lambda: F.linear(F.silu(F.linear(x, w1) * F.linear(x, w2)), w3),
        "the two branches are added: SwiGLU multiplies them, silu(fc1(x)) * fc2(x)":
            lambda: F.linear(F.silu(F.linear(x, w1)) + F.linear(x, w2), w3),
    })
    one = ff(x[:, 2:3])
    assert_close(one, got[:, 2:3], "FeedForward on one token alone vs inside the sequence", atol=1e-5,
                 hint="The feed-forward must treat each token on its own.")
    check_grads_reach(ff, x, "FeedForward")
