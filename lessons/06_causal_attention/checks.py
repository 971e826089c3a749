"""Checks for lesson 6: CausalAttention (mask and dropout)."""

import torch

from tutor.checks import assert_close, check, fail, learner
from tutor.checks.torch_refs import (
    attention_mistakes,
    attention_reference,
    check_batch_independent,
    check_causal,
    check_dropout_modes,
    check_dropout_on_weights,
    expect_linear,
    expect_shape,
)


def _make(d_in, d_out, context_length, dropout, **kw):
    return learner("attention").CausalAttention(d_in, d_out, context_length, dropout, **kw)


@check("W_query, W_key, W_value are nn.Linear(d_in, d_out, bias=qkv_bias)")
def projections():
    for bias in (False, True):
        m = _make(3, 5, 8, 0.0, qkv_bias=bias)
        for name in ("W_query", "W_key", "W_value"):
            expect_linear(getattr(m, name, None), 3, 5, bias, f"CausalAttention(3, 5, ...).{name}")


@check("output equals masked attention from torch's scaled_dot_product_attention")
def matches_reference():
    m = _make(3, 4, 8, 0.5).eval()
    x = torch.randn(2, 6, 3) * 2
    got = m(x)
    expect_shape(got, (2, 6, 4), "CausalAttention(3, 4, context_length=8) on x of shape (2, 6, 3)")
    assert_close(got, attention_reference(m, x, causal=True), "CausalAttention in eval() mode",
                 mistakes=attention_mistakes(m, x, causal=True))


@check("no position sees the future (changing later tokens never changes earlier outputs)")
def causal():
    m = _make(4, 4, 10, 0.0).eval()
    check_causal(m, torch.randn(2, 7, 4), "CausalAttention")


@check("works for any t <= context_length, and per batch item")
def lengths():
    m = _make(4, 6, 8, 0.0).eval()
    for t in (1, 5, 8):
        x = torch.randn(2, t, 4)
        try:
            got = m(x)
        except RuntimeError as exc:
            fail(f"CausalAttention(context_length=8) failed on t={t} tokens: {exc}\n"
                 "Slice the mask to the sequence: mask[:t, :t] where t = x.shape[1].")
        assert_close(got, attention_reference(m, x, causal=True), f"CausalAttention with t={t} of context_length=8")
    check_batch_independent(m, torch.randn(3, 5, 4), "CausalAttention")


@check("eval() turns dropout off; train() turns it on")
def dropout_modes():
    check_dropout_modes(_make(4, 4, 8, 0.5), torch.randn(2, 6, 4), "CausalAttention(dropout=0.5)",
                        "is dropout applied to the attention weights?")


@check("dropout acts on the attention weights, not on the output, at the rate given")
def dropout_on_weights():
    check_dropout_on_weights(lambda t, p: _make(t, t, 16, p), "CausalAttention(dropout=0.5)")
    _expect_dropout_rate(lambda t, p: _make(t, t, 16, p), "CausalAttention")


def _kept_scale(m, t):
    """The factor by which train() mode scales the attention weights that dropout keeps.

    With x = the identity, W_value = the identity (no bias) and out_proj = the identity, the
    output is the attention weights themselves, so train() / eval() is 1/(1-p) where kept."""
    with torch.no_grad():
        m.W_value.weight.copy_(torch.eye(t))
        if m.W_value.bias is not None:
            m.W_value.bias.zero_()
        if hasattr(m, "out_proj"):
            m.out_proj.weight.copy_(torch.eye(t))
            m.out_proj.bias.zero_()
        x = torch.eye(t).unsqueeze(0)
        weights = m.eval()(x)[0]
        dropped = m.train()(x)[0]
    kept = (dropped.abs() > 1e-6) & (weights.abs() > 1e-6)
    return (dropped[kept] / weights[kept]).median().item() if kept.any() else float("nan")


def _expect_dropout_rate(make, what):
    """Dropout at a rate other than 0.5 (the usual example): the rate given must be the rate used."""
    t, p = 12, 0.2
    scale = _kept_scale(make(t, p), t)
    if abs(scale - 1 / (1 - p)) > 1e-3:
        used = 1 - 1 / scale if scale > 1 else 0.0
        fail(f"{what} with dropout={p}: the kept attention weights are scaled by {scale:.4g}, not 1/(1-{p}) = "
             f"{1 / (1 - p):.4g}, as if the dropout rate were {used:.2g}: the dropout rate given is ignored. "
             "Build nn.Dropout(dropout) with the argument, not a fixed rate.")
