"""Checks for lesson 8: LayerNorm, GELU, FeedForward, against torch's own ops."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tutor.checks import as_built, assert_close, check, expect_equal, fail, learner
from tutor.checks.torch_refs import check_grads_reach, expect_linear, expect_shape, randomise

CFG = {"vocab_size": 50, "context_length": 8, "emb_dim": 12, "n_heads": 3, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": False}


def _layers():
    return learner("layers")


def _norm_mistakes(norm, x):
    scale, shift = norm.scale.detach(), norm.shift.detach()
    mean = x.mean(-1, keepdim=True)
    return {
        "the variance is unbiased (divides by n-1); LayerNorm uses the biased variance: var(unbiased=False)":
            lambda: scale * (x - mean) / torch.sqrt(x.var(-1, keepdim=True, unbiased=True) + 1e-5) + shift,
        "eps is missing: divide by sqrt(var + 1e-5), so a row of equal values cannot divide by zero":
            lambda: scale * (x - mean) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False)) + shift,
        "eps is added outside the square root: it is sqrt(var + eps), not sqrt(var) + eps":
            lambda: scale * (x - mean) / (torch.sqrt(x.var(-1, keepdim=True, unbiased=False)) + 1e-5) + shift,
        "the statistics are taken over the wrong dimension: normalise over the last dimension (the features of each token)":
            lambda: scale * (x - x.mean(-2, keepdim=True)) / torch.sqrt(x.var(-2, keepdim=True, unbiased=False) + 1e-5) + shift,
        "scale and shift are swapped or unused: return scale * normalised + shift":
            lambda: (x - mean) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5),
    }


@check("LayerNorm has parameters scale (ones) and shift (zeros)")
def norm_params():
    with as_built():  # the weights its __init__ gives it
        norm = _layers().LayerNorm(6)
    for name, value in (("scale", 1.0), ("shift", 0.0)):
        p = getattr(norm, name, None)
        if not isinstance(p, nn.Parameter):
            fail(f"LayerNorm(6).{name} should be an nn.Parameter (so the optimiser trains it), got {type(p).__name__}")
        expect_shape(p, (6,), f"LayerNorm(6).{name}")
        if not torch.all(p == value):
            fail(f"LayerNorm(6).{name} should start as all {value:g}, got {p.tolist()}")


@check("LayerNorm equals F.layer_norm (eps=1e-5, biased variance, last dimension)")
def norm_matches():
    norm = randomise(_layers().LayerNorm(8))
    for x in (torch.randn(3, 5, 8) * 4 + 2, torch.randn(2, 3, 8) * 1e-3):
        want = F.layer_norm(x, (8,), norm.scale.detach(), norm.shift.detach(), eps=1e-5)
        assert_close(norm(x), want, f"LayerNorm(8) on x of shape {tuple(x.shape)} (std {x.std():.2g})",
                     atol=1e-4, mistakes=_norm_mistakes(norm, x))
    x = torch.full((1, 2, 8), 3.0)
    assert_close(norm(x), F.layer_norm(x, (8,), norm.scale.detach(), norm.shift.detach(), eps=1e-5),
                 "LayerNorm on a row of equal values (variance 0)", hint="Add eps inside the square root.")


@check("GELU is the tanh approximation (equals F.gelu(approximate='tanh'))")
def gelu():
    x = torch.linspace(-6, 6, 241)
    got = _layers().GELU()(x)
    exact = F.gelu(x)
    assert_close(got, F.gelu(x, approximate="tanh"), "GELU on -6..6", atol=1e-6, rtol=1e-5, mistakes={
        "this is the exact GELU (with erf); the contract and GPT-2 use the tanh approximation "
        "0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))": exact,
        "this is ReLU; GELU is smooth and slightly negative for small negative x": F.relu(x),
        "the factor 0.5 is missing": 2 * F.gelu(x, approximate="tanh"),
        "the cubic term is missing: it is x + 0.044715*x**3 inside the tanh":
            0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * x)),
        "this is the sigmoid approximation x*sigmoid(1.702x); use the tanh one": x * torch.sigmoid(1.702 * x),
    })


@check("FeedForward.layers is Linear(d, 4d), GELU, Linear(4d, d)")
def ff_structure():
    ff = _layers().FeedForward(CFG)
    layers = getattr(ff, "layers", None)
    if not isinstance(layers, nn.Sequential):
        fail(f"FeedForward(cfg).layers should be an nn.Sequential, got {type(layers).__name__}")
    expect_equal(len(layers), 3, "number of modules in FeedForward.layers")
    d = CFG["emb_dim"]
    expect_linear(layers[0], d, 4 * d, True, "layers[0]")
    expect_linear(layers[2], 4 * d, d, True, "layers[2]")
    x = torch.linspace(-4, 4, 50)
    if not torch.allclose(layers[1](x), F.gelu(x, approximate="tanh"), atol=1e-5):
        fail(f"layers[1] should be the GELU of this lesson (tanh approximation), got {type(layers[1]).__name__}")


@check("FeedForward maps (b, t, d) to (b, t, d), the same network on every token")
def ff_forward():
    ff = _layers().FeedForward(CFG)
    x = torch.randn(2, 5, CFG["emb_dim"])
    l0, l2 = ff.layers[0], ff.layers[2]
    want = F.linear(F.gelu(F.linear(x, l0.weight, l0.bias), approximate="tanh"), l2.weight, l2.bias)
    assert_close(ff(x), want, "FeedForward on x of shape (2, 5, 12)")
    check_grads_reach(ff, x, "FeedForward")
