"""Checks for lesson 20: GroupedQueryAttention, against F.scaled_dot_product_attention.

The reference expands keys and values explicitly (query head j reads key/value
head j // (num_heads // num_kv_groups)) and builds the causal, optionally
windowed, mask itself; it runs for one group, as many groups as heads, and in
between, with and without a window.
"""

import torch

from tutor.checks import assert_close, check, expect_equal, fail, learner
from tutor.checks.llama_refs import gqa, gqa_weights, rope_tables
from tutor.checks.torch_refs import check_batch_independent, check_grads_reach, expect_linear

COS, SIN = rope_tables(4, 10_000, 32)  # head_dim 4 for d_out 16 and 4 heads


def _gqa(d_in=10, d_out=16, heads=4, groups=2, window=None):
    return learner("llama").GroupedQueryAttention(d_in, d_out, heads, groups, window)


def _mistakes(m, x, heads, groups, window):
    w = gqa_weights(m)
    base = dict(num_heads=heads, num_kv_groups=groups, cos=COS, sin=SIN, window=window)

    def v(**kw):
        return lambda: gqa(x, *w, **{**base, **kw})

    found = {
        "query head j is mapped to key/value head j % num_kv_groups (the kv heads tiled with .repeat); query head j "
        "must use kv head j // (num_heads // num_kv_groups): repeat each kv head in a row with "
        "repeat_interleave(group_size, dim=1)": v(kv_map="mod"),
        "RoPE is applied to the values: rotate only the queries and the keys (positions matter for matching, "
        "not for what is read)": v(rope_values=True),
        "RoPE is not applied: rotate queries and keys with compute_rope(..., cos, sin) after the split into heads":
            v(rope_on=False),
        "the scores are not scaled: divide them by sqrt(head_dim) before the softmax": v(scale=False),
        "there is no causal mask: position i must not attend to positions after i": v(causal=False, window=None),
    }
    if window is not None:
        found[f"the window is off by one: it lets position i see {window + 1} positions (i - {window} too); "
              "with window_size = w, keep only i - w < j <= i"] = v(window=window + 1)
        if window > 1:
            found[f"the window is off by one: it lets position i see only {window - 1} positions; with window_size = w, "
                  "keep i - w < j <= i, which is w positions counting i itself"] = v(window=window - 1)
        found["the window is ignored: with window_size = w, block the keys with j <= i - w too"] = v(window=None)
    return found


@check("W_query, W_key, W_value and out_proj have the contract's shapes and no biases; bad head counts raise")
def structure():
    m = _gqa(10, 16, 4, 2)
    expect_linear(getattr(m, "W_query", None), 10, 16, False, "W_query of GroupedQueryAttention(10, 16, 4, 2)")
    for name in ("W_key", "W_value"):
        layer = getattr(m, name, None)
        if isinstance(layer, torch.nn.Linear) and tuple(layer.weight.shape) == (16, 10):
            fail(f"{name} has 16 outputs, one per query head's features; with 2 key/value groups of head_dim 4 it "
                 "should be nn.Linear(d_in, num_kv_groups * head_dim) = nn.Linear(10, 8): that is what saves memory.")
        expect_linear(layer, 10, 8, False, f"{name} of GroupedQueryAttention(10, 16, 4, 2) (num_kv_groups * head_dim = 8)")
    expect_linear(getattr(m, "out_proj", None), 16, 16, False, "out_proj")
    for args, why in (((10, 15, 4, 2), "d_out=15 is not divisible by num_heads=4"),
                      ((10, 16, 4, 3), "num_heads=4 is not divisible by num_kv_groups=3")):
        try:
            learner("llama").GroupedQueryAttention(*args)
        except (ValueError, AssertionError):
            continue
        fail(f"GroupedQueryAttention{args} should raise ValueError: {why}.")


@check("equals scaled_dot_product_attention with expanded keys/values: 1 group, 2 groups, 4 groups (= heads)")
def forward_groups():
    torch.manual_seed(3)
    x = torch.randn(2, 7, 10)
    for groups in (1, 2, 4):
        m = _gqa(groups=groups)
        with torch.no_grad():
            got = m(x, COS, SIN)
            assert_close(got, gqa(x, *gqa_weights(m), num_heads=4, num_kv_groups=groups, cos=COS, sin=SIN),
                         f"GroupedQueryAttention(10, 16, num_heads=4, num_kv_groups={groups}) on x (2, 7, 10)",
                         atol=1e-5, mistakes=_mistakes(m, x, 4, groups, None))
    m = learner("llama").GroupedQueryAttention(16, 16, 8, 2)
    x = torch.randn(1, 6, 16)
    cos, sin = rope_tables(2, 10_000, 6)
    with torch.no_grad():
        assert_close(m(x, cos, sin), gqa(x, *gqa_weights(m), num_heads=8, num_kv_groups=2, cos=cos, sin=sin),
                     "GroupedQueryAttention(16, 16, num_heads=8, num_kv_groups=2), tables of exactly t rows", atol=1e-5,
                     mistakes=_mistakes_for(m, x, 8, 2, cos, sin))


def _mistakes_for(m, x, heads, groups, cos, sin):
    w = gqa_weights(m)
    return {"query head j is mapped to key/value head j % num_kv_groups; it must be j // (num_heads // num_kv_groups)":
            lambda: gqa(x, *w, num_heads=heads, num_kv_groups=groups, cos=cos, sin=sin, kv_map="mod")}


@check("with window_size = w, position i attends only to i - w < j <= i (Mistral's sliding window)")
def forward_window():
    torch.manual_seed(4)
    x = torch.randn(2, 9, 10)
    for groups, window in ((1, 3), (2, 2), (4, 1), (2, 20)):
        m = _gqa(groups=groups, window=window)
        with torch.no_grad():
            assert_close(m(x, COS, SIN), gqa(x, *gqa_weights(m), num_heads=4, num_kv_groups=groups, cos=COS, sin=SIN, window=window),
                         f"GroupedQueryAttention(10, 16, 4, num_kv_groups={groups}, window_size={window}) on x (2, 9, 10)",
                         atol=1e-5, mistakes=_mistakes(m, x, 4, groups, window))
    # The property itself: what lies outside the window cannot change the output.
    m = _gqa(groups=2, window=3).eval()
    with torch.no_grad():
        base = m(x, COS, SIN)
        outside = x.clone()
        outside[:, 2] += 5.0  # position 2 is outside position 5's window of 3 (positions 3, 4, 5)
        if not torch.allclose(m(outside, COS, SIN)[:, 5], base[:, 5], atol=1e-5):
            fail("with window_size=3, changing position 2 changed the output at position 5; position 5 may see "
                 "positions 3, 4 and 5 only (i - w < j <= i). Looks like the window is off by one or missing.")
        inside = x.clone()
        inside[:, 3] += 5.0
        if torch.allclose(m(inside, COS, SIN)[:, 5], base[:, 5], atol=1e-5):
            fail("with window_size=3, changing position 3 did not change the output at position 5; position 5 should "
                 "still see positions 3, 4 and 5. Looks like the window is off by one: keep i - w < j <= i.")


@check("causal, batch items independent, any t up to the tables' rows; gradients reach every weight")
def behaviour():
    m = _gqa(groups=2).eval()
    x = torch.randn(3, 6, 10)
    with torch.no_grad():
        base = m(x, COS, SIN)
        for cut in (1, 3, 5):
            changed = x.clone()
            changed[:, cut:] = torch.randn_like(changed[:, cut:]) * 3
            if not torch.allclose(m(changed, COS, SIN)[:, :cut], base[:, :cut], atol=1e-5):
                fail(f"changing only the positions from {cut} on changed the output before {cut}: "
                     "position i must attend to positions j <= i only.")
        check_batch_independent(lambda z: m(z, COS, SIN), x, "GroupedQueryAttention")
        for t in (1, 32):
            out = m(torch.randn(1, t, 10), COS, SIN)
            expect_equal(tuple(out.shape), (1, t, 16), f"output shape for t={t} (tables of 32 rows)")
    check_grads_reach(m, [x, COS, SIN], "GroupedQueryAttention")
