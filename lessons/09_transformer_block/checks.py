"""Checks for lesson 9: TransformerBlock (pre-norm, residual shortcuts)."""

import torch
import torch.nn as nn

from tutor.checks import assert_close, check, expect_equal, fail, learner
from tutor.checks.torch_refs import Counting, attention_reference, check_causal, check_dropout_modes, check_grads_reach, randomise

CFG = {"vocab_size": 50, "context_length": 8, "emb_dim": 12, "n_heads": 3, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": False}


def _block(**over):
    return learner("layers").TransformerBlock({**CFG, **over})


def _mistakes(b, x):
    att, ff, n1, n2 = b.att, b.ff, b.norm1, b.norm2
    return {
        "this is post-norm (norm after the residual add); GPT-2 uses pre-norm: x + att(norm1(x)), then x + ff(norm2(x))":
            lambda: (lambda h: n2(h + ff(h)))(n1(x + att(x))),
        "the attention residual is missing: x = x + att(norm1(x)), keep the x +":
            lambda: (lambda h: h + ff(n2(h)))(att(n1(x))),
        "the feed-forward residual is missing: x = x + ff(norm2(x)), keep the x +":
            lambda: ff(n2(x + att(n1(x)))),
        "the shortcut adds the normalised x; add the block's input x itself: x + att(norm1(x))":
            lambda: (lambda h: h + ff(n2(h)))(n1(x) + att(n1(x))),
        "the feed-forward reads the block's input instead of the output of the attention step":
            lambda: x + att(n1(x)) + ff(n2(x)),
        "norm1 and norm2 are swapped": lambda: (lambda h: h + ff(n1(h)))(x + att(n2(x))),
    }


@check("has att, ff, norm1, norm2 and drop_shortcut of the right kinds")
def attributes():
    lay, att = learner("layers"), learner("attention")
    b = _block(drop_rate=0.25)
    for name, kind in (("att", att.MultiHeadAttention), ("ff", lay.FeedForward), ("norm1", lay.LayerNorm),
                       ("norm2", lay.LayerNorm), ("drop_shortcut", nn.Dropout)):
        if not isinstance(getattr(b, name, None), kind):
            fail(f"TransformerBlock(cfg).{name} should be a {kind.__name__}, got {type(getattr(b, name, None)).__name__}")
    expect_equal(b.drop_shortcut.p, 0.25, "drop_shortcut.p with cfg['drop_rate'] = 0.25")
    expect_equal(tuple(b.att.W_query.weight.shape), (12, 12), "att.W_query.weight shape (d_in = d_out = emb_dim)")


@check("att is built from cfg: n_heads heads, qkv_bias and drop_rate")
def attention_from_cfg():
    for qkv_bias in (True, False):
        b = _block(qkv_bias=qkv_bias)
        has_bias = getattr(getattr(b.att, "W_query", None), "bias", None) is not None
        if has_bias != qkv_bias:
            fail(f"with cfg['qkv_bias'] = {qkv_bias}, att.W_query {'has no' if qkv_bias else 'has a'} bias: "
                 "pass qkv_bias=cfg['qkv_bias'] to MultiHeadAttention.")
    b = randomise(_block(n_heads=3), 0.5).eval()
    x = torch.randn(2, 5, 12)
    with torch.no_grad():
        got = b.att(x)
        if not torch.allclose(got, attention_reference(b.att, x, heads=3, causal=True, out_proj=True), atol=1e-5):
            for heads in (1, 2, 4, 6, 12):
                if torch.allclose(got, attention_reference(b.att, x, heads=heads, causal=True, out_proj=True), atol=1e-5):
                    fail(f"with cfg['n_heads'] = 3, att splits into {heads} head(s): pass num_heads=cfg['n_heads'].")
            fail("att does not compute 3-head causal attention with cfg['n_heads'] = 3: "
                 "build it as MultiHeadAttention(emb_dim, emb_dim, context_length, drop_rate, n_heads, qkv_bias).")
    b = _block(drop_rate=0.5)
    b.drop_shortcut = nn.Identity()  # what varies now is the attention's own dropout
    b.train()
    if torch.equal(b(x), b(x)):
        fail("with cfg['drop_rate'] = 0.5 and drop_shortcut aside, two train() calls gave the same output: "
             "the attention's dropout is off. Pass dropout=cfg['drop_rate'] to MultiHeadAttention.")


@check("forward is pre-norm with two residual shortcuts")
def forward():
    b = _block()
    randomise(b.norm1, 0.7), randomise(b.norm2, 0.7)
    b.eval()
    x = torch.randn(2, 6, 12)
    with torch.no_grad():
        h = x + b.att(b.norm1(x))
        want = h + b.ff(b.norm2(h))
        assert_close(b(x), want, "TransformerBlock on x of shape (2, 6, 12)", atol=1e-5, mistakes=_mistakes(b, x))


@check("the block is causal and keeps the shape for any t <= context_length")
def causal():
    b = _block().eval()
    check_causal(b, torch.randn(2, 6, 12), "TransformerBlock")
    for t in (1, 8):
        out = b(torch.randn(1, t, 12))
        expect_equal(tuple(out.shape), (1, t, 12), f"output shape for t={t}")



@check("drop_shortcut is used on both branches: on in train(), off in eval(); gradients reach every parameter")
def dropout_and_grads():
    b = _block(drop_rate=0.5)
    x = torch.randn(2, 6, 12)
    b.drop_shortcut = Counting()
    counting = b.drop_shortcut  # judged, the child's copy: it counts where forward runs
    b(x)
    if counting.calls != 2:
        fail(f"forward used drop_shortcut {counting.calls} time(s); apply drop_shortcut to each branch, "
             "once after attention and once after the feed-forward, before adding the shortcut.")
    check_dropout_modes(_block(drop_rate=0.5), x, "TransformerBlock(drop_rate=0.5)", "apply drop_shortcut to each branch.")
    b = _block().eval()
    check_grads_reach(b, x, "TransformerBlock")
