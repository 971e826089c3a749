"""Checks for lesson 5: SelfAttention, against torch's scaled_dot_product_attention."""

import random

import torch

from tutor.checks import assert_close, check, fail, learner
from tutor.checks.torch_refs import attention_mistakes, attention_reference, check_batch_independent, check_grads_reach, expect_linear, expect_shape


def _make(d_in, d_out, **kw):
    return learner("attention").SelfAttention(d_in, d_out, **kw)


@check("W_query, W_key, W_value are nn.Linear(d_in, d_out, bias=qkv_bias)")
def projections():
    for bias in (False, True):
        m = _make(3, 5, qkv_bias=bias)
        for name in ("W_query", "W_key", "W_value"):
            expect_linear(getattr(m, name, None), 3, 5, bias, f"SelfAttention(3, 5, qkv_bias={bias}).{name}")


@check("output equals softmax(Q Kᵀ / sqrt(d_out)) V on random inputs")
def matches_reference():
    for bias in (False, True):
        b, t, d_in, d_out = 2, random.randint(3, 6), 3, 4
        m = _make(d_in, d_out, qkv_bias=bias)
        x = torch.randn(b, t, d_in) * 2
        got = m(x)
        expect_shape(got, (b, t, d_out), f"SelfAttention({d_in}, {d_out}) on x of shape {(b, t, d_in)}")
        assert_close(got, attention_reference(m, x), f"SelfAttention({d_in}, {d_out}, qkv_bias={bias}) on x {tuple(x.shape)}",
                     mistakes=attention_mistakes(m, x))


@check("each item of a batch is attended on its own")
def batch_independent():
    m = _make(4, 6)
    check_batch_independent(m, torch.randn(3, 5, 4), "SelfAttention(4, 6)")


@check("works for one token and for long sequences")
def lengths():
    m = _make(4, 4)
    for t in (1, 64):
        x = torch.randn(2, t, 4)
        assert_close(m(x), attention_reference(m, x), f"SelfAttention(4, 4) with t={t}")


@check("gradients reach W_query, W_key and W_value; the input is left unchanged")
def gradients():
    m = _make(3, 4, qkv_bias=True)
    x = torch.randn(2, 5, 3)
    found = check_grads_reach(m, x, "SelfAttention")
    if not torch.equal(found["inputs"][0], x):
        fail("SelfAttention changed its input x in place; compute new tensors instead.")
