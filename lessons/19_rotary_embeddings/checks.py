"""Checks for lesson 19: precompute_rope_params and compute_rope, by formula and by property.

The formula is written here pair by pair in float64; the property is the reason
RoPE exists: after rotating a query at position m and a key at position n, their
dot product depends on m - n only.
"""

import torch

from tutor.checks import assert_close, check, expect_equal, fail, learner, show
from tutor.checks.llama_refs import rope, rope_tables
from tutor.checks.torch_refs import expect_shape


def _llama():
    return learner("llama")


def _table_mistakes(head_dim, base, ctx, which):
    """What a table would be with a common mistake (`which`: 0 for cos, 1 for sin)."""
    def f(angles):
        return (angles.cos() if which == 0 else angles.sin()).float()

    i = torch.arange(head_dim // 2, dtype=torch.float64)
    pos = torch.arange(ctx, dtype=torch.float64)[:, None]
    half = pos * base ** (-2.0 * i / head_dim)
    return {
        "the angles are interleaved (each repeated twice in a row, repeat_interleave): the contract writes them "
        "twice side by side, torch.cat([angles, angles], dim=1), so feature i pairs with i + head_dim // 2":
            lambda: f(half.repeat_interleave(2, dim=1)),
        "the exponent is off: inv_freq = 1 / theta_base ** (torch.arange(0, head_dim, 2) / head_dim), i.e. 2i / head_dim":
            lambda: f(torch.cat([pos * base ** (-i / head_dim)] * 2, dim=1)),
        "the frequencies are not inverted: it is 1 / theta_base ** (2i / head_dim), so the first pair turns fastest":
            lambda: f(torch.cat([pos * base ** (2.0 * i / head_dim)] * 2, dim=1)),
        "cos and sin are returned in the wrong order: return cos, sin": lambda: (half.sin() if which == 0 else half.cos()).float().repeat(1, 2),
    }


@check("precompute_rope_params gives (context_length, head_dim) float32 tables; odd head_dim raises ValueError")
def tables_shape():
    out = _llama().precompute_rope_params(8, 10_000, 16)
    if not isinstance(out, tuple) or len(out) != 2:
        fail(f"precompute_rope_params should return a tuple (cos, sin), got {show(out)}")
    for name, table in zip(("cos", "sin"), out):
        if isinstance(table, torch.Tensor) and tuple(table.shape) == (16, 4):
            fail(f"{name} has shape (16, 4): (context_length, head_dim // 2). Looks like the angles are not written "
                 "twice: angles = torch.cat([angles, angles], dim=1) gives (context_length, head_dim).")
        expect_shape(table, (16, 8), f"{name} of precompute_rope_params(head_dim=8, theta_base=10_000, context_length=16)")
        expect_equal(table.dtype, torch.float32, f"{name}.dtype")
    cos, _ = _llama().precompute_rope_params(4)
    expect_shape(cos, (4096, 4), "cos of precompute_rope_params(4) with the default context_length=4096")
    try:
        _llama().precompute_rope_params(7, 10_000, 4)
    except ValueError:
        pass
    else:
        fail("precompute_rope_params(head_dim=7) should raise ValueError: RoPE rotates pairs of features, "
             "so head_dim must be even.")


@check("the tables hold cos and sin of position * theta_base ** (-2i / head_dim), written twice side by side")
def tables_values():
    for head_dim, base, ctx, atol in ((8, 10_000, 16, 1e-5), (16, 500_000, 64, 1e-5), (64, 10_000, 4096, 2e-3)):
        cos, sin = _llama().precompute_rope_params(head_dim, base, ctx)
        want_cos, want_sin = rope_tables(head_dim, base, ctx)
        what = f"precompute_rope_params({head_dim}, {base}, {ctx})"
        assert_close(cos, want_cos, f"cos of {what}", atol=atol, rtol=0, mistakes=_table_mistakes(head_dim, base, ctx, 0))
        assert_close(sin, want_sin, f"sin of {what}", atol=atol, rtol=0, mistakes=_table_mistakes(head_dim, base, ctx, 1))


def _rope_mistakes(x, cos, sin, offset):
    return {
        "the offset is ignored: position p of x is absolute position offset + p, so use the rows "
        "cos[offset:offset + t] and sin[offset:offset + t]": lambda: rope(x, cos, sin, 0),
        "the rotation goes the wrong way: rotate half is torch.cat([-x2, x1], dim=-1), the minus on the second half":
            lambda: rope(x, cos, sin, offset, sign=-1),
        "cos and sin are swapped: x * cos + rotate_half(x) * sin": lambda: rope(x, sin, cos, offset),
        "RoPE rotates interleaved pairs (features 0 and 1, 2 and 3, ...), as in the RoFormer paper; the contract pairs "
        "feature i with feature i + head_dim // 2 (rotate half: torch.cat([-x2, x1], dim=-1))":
            lambda: rope(x, cos, sin, offset, interleaved=True),
    }


def _interleaved(got_basis, head_dim):
    """Feature 0 of a unit vector rotated: rotate-half moves part of it to feature head_dim/2,
    interleaved pairs move it to feature 1."""
    return abs(got_basis[1].item()) > 1e-3 and abs(got_basis[head_dim // 2].item()) < 1e-6


@check("compute_rope rotates (x[i], x[i + head_dim/2]) by its position's angle, with the offset")
def rope_values():
    cos, sin = rope_tables(8, 10_000, 32)
    basis = torch.zeros(1, 1, 3, 8)
    basis[..., 0] = 1.0
    got = _llama().compute_rope(basis, cos, sin)
    if isinstance(got, torch.Tensor) and got.shape == basis.shape and _interleaved(got[0, 0, 2], 8):
        fail("Looks like RoPE rotates interleaved pairs (features 0 and 1, 2 and 3, ...), as in the RoFormer paper. "
             "The contract uses Llama's rotate-half layout (as in Hugging Face): feature i pairs with feature "
             "i + head_dim // 2, so x1, x2 = the first and second halves, and rotate_half(x) = torch.cat([-x2, x1], dim=-1).\n"
             f"  a unit vector on feature 0 at position 2 became {show(got[0, 0, 2])}")
    for offset in (0, 3, 29):
        x = torch.randn(2, 3, 3, 8)
        before = x.clone()
        got = _llama().compute_rope(x, cos, sin, offset)
        if not torch.equal(x, before):
            fail("compute_rope changed its input x in place; return a new tensor.")
        assert_close(got, rope(x, cos, sin, offset), f"compute_rope on x (2, 3, 3, 8) with offset={offset}",
                     atol=1e-5, mistakes=_rope_mistakes(x, cos, sin, offset))
    got = _llama().compute_rope(torch.randn(1, 2, 5, 8), cos, sin)
    expect_equal(tuple(got.shape), (1, 2, 5, 8), "compute_rope output shape")
    xb = torch.randn(1, 2, 4, 8).bfloat16()
    got = _llama().compute_rope(xb, cos, sin)
    if got.dtype != torch.bfloat16:
        fail(f"compute_rope on bfloat16 x returned {got.dtype}: return the result in x's dtype (.to(x.dtype)); "
             "bf16 times the float32 tables gives float32.")
    assert_close(got.float(), rope(xb.float(), cos, sin).bfloat16().float(), "compute_rope on bfloat16 x", atol=3e-2)


@check("the rotated query-key product depends only on the distance between their positions")
def relative_positions():
    torch.manual_seed(7)
    head_dim, ctx = 16, 64
    cos, sin = _llama().precompute_rope_params(head_dim, 10_000, ctx)
    q, k = torch.randn(head_dim), torch.randn(head_dim)
    rot_q = _llama().compute_rope(q.expand(1, 1, ctx, head_dim).clone(), cos, sin)[0, 0]
    rot_k = _llama().compute_rope(k.expand(1, 1, ctx, head_dim).clone(), cos, sin)[0, 0]
    if not torch.allclose(rot_q.norm(dim=-1), q.norm().expand(ctx), rtol=1e-4):
        p = int((rot_q.norm(dim=-1) - q.norm()).abs().argmax())
        fail(f"a rotation keeps a vector's length, but at position {p} |q| went from {q.norm():.4f} to "
             f"{rot_q[p].norm():.4f}. Is it x * cos + rotate_half(x) * sin, with the same angle for both features of a pair?")
    dots = rot_q @ rot_k.T  # dots[m, n]: query at m, key at n
    for distance in (0, 1, 5, 20):
        along = torch.stack([dots[n + distance, n] for n in range(ctx - distance)])
        if not torch.allclose(along, along[0].expand_as(along), atol=1e-3, rtol=1e-4):
            n = int((along - along[0]).abs().argmax())
            fail(f"q at position {n + distance} and k at {n} (distance {distance}) give q.k = {along[n]:.5f}, but at "
                 f"positions {distance} and 0 (the same distance) q.k = {along[0]:.5f}. With RoPE the product must "
                 "depend only on the distance: rotate both by their own position's angle, pair by pair.")
    assert_close(dots[0, 0], q @ k, "q.k at positions 0 and 0 (no rotation at position 0)", atol=1e-4)
