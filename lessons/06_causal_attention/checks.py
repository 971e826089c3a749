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
    check_dropout_rate,
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
    check_dropout_rate(lambda t, p: _make(t, t, 16, p), "CausalAttention")

