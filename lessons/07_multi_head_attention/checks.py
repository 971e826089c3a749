"""Checks for lesson 7: MultiHeadAttention."""

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
    check_grads_reach,
    expect_linear,
    expect_shape,
    randomise,
)


def _make(d_in, d_out, context_length, dropout, num_heads, **kw):
    return learner("attention").MultiHeadAttention(d_in, d_out, context_length, dropout, num_heads, **kw)


@check("d_out not divisible by num_heads is refused")
def divisibility():
    try:
        _make(4, 6, 8, 0.0, 4)
    except (ValueError, AssertionError):
        return
    fail("MultiHeadAttention(d_in=4, d_out=6, num_heads=4) should raise ValueError (or AssertionError): "
         "6 features cannot be split into 4 equal heads.")


@check("W_query, W_key, W_value are nn.Linear(d_in, d_out); out_proj is nn.Linear(d_out, d_out) with bias")
def layers():
    for bias in (False, True):
        m = _make(3, 8, 8, 0.0, 2, qkv_bias=bias)
        for name in ("W_query", "W_key", "W_value"):
            expect_linear(getattr(m, name, None), 3, 8, bias, f"MultiHeadAttention(3, 8, ..., qkv_bias={bias}).{name}")
        expect_linear(getattr(m, "out_proj", None), 8, 8, True, "out_proj")


@check("keeps num_heads and head_dim = d_out // num_heads as attributes (lesson 25 reads them)")
def head_attributes():
    for d_out, heads in ((8, 2), (12, 3)):
        m = _make(4, d_out, 8, 0.0, heads)
        for name, want in (("num_heads", heads), ("head_dim", d_out // heads)):
            got = getattr(m, name, None)
            if got != want:
                fail(f"MultiHeadAttention(4, {d_out}, ..., num_heads={heads}).{name} should be {want}, got {got!r}. "
                     f"Keep self.num_heads = num_heads and self.head_dim = d_out // num_heads: lesson 25's "
                     "key-value cache splits the heads with them.")


@check("output equals contiguous heads through torch's attention, concatenated, then out_proj")
def matches_reference():
    for heads in (2, 4):
        m = randomise(_make(6, 8, 8, 0.3, heads, qkv_bias=True), std=0.4).eval()
        x = torch.randn(2, 5, 6)
        got = m(x)
        expect_shape(got, (2, 5, 8), f"MultiHeadAttention(6, 8, num_heads={heads}) on x of shape (2, 5, 6)")
        assert_close(got, attention_reference(m, x, heads=heads, causal=True, out_proj=True),
                     f"MultiHeadAttention(d_in=6, d_out=8, num_heads={heads}) in eval()",
                     mistakes=attention_mistakes(m, x, heads=heads, causal=True, out_proj=True))


@check("each item of a batch is attended on its own")
def batch_independent():
    m = randomise(_make(4, 8, 8, 0.0, 2)).eval()
    check_batch_independent(m, torch.randn(3, 6, 4), "MultiHeadAttention")


@check("no position sees the future; any t <= context_length works")
def causal_and_lengths():
    m = randomise(_make(4, 8, 8, 0.0, 4)).eval()
    check_causal(m, torch.randn(2, 6, 4), "MultiHeadAttention")
    for t in (1, 8):
        x = torch.randn(1, t, 4)
        assert_close(m(x), attention_reference(m, x, heads=4, causal=True, out_proj=True), f"MultiHeadAttention with t={t}")


@check("dropout is off in eval() and on in train(); gradients reach every parameter")
def dropout_and_grads():
    m = _make(4, 8, 8, 0.5, 2, qkv_bias=True)
    x = torch.randn(2, 6, 4)
    check_dropout_modes(m, x, "MultiHeadAttention(dropout=0.5)", "is dropout applied to the attention weights?")
    m.eval()
    check_grads_reach(m, x, "MultiHeadAttention")


@check("dropout acts on each head's attention weights, not on the context vectors, at the rate given")
def dropout_on_weights():
    # One head of width t: the heads' machinery stays, and the weights can be recovered exactly.
    check_dropout_on_weights(lambda t, p: _make(t, t, 16, p, 1), "MultiHeadAttention(dropout=0.5)")
    check_dropout_rate(lambda t, p: _make(t, t, 16, p, 1), "MultiHeadAttention")

