"""Checks for lesson 27: int8 weights (quantize_per_channel, dequantize, Int8Linear, quantize_model).

The reference is the contract's formula, written out here; tolerances: a weight's
round trip is within half a step (scale / 2) of the float weight, and one step
off is accepted where w / scale lies within float32 rounding of a half.
"""

import torch
import torch.nn as nn

from tutor.checks import assert_close, call_keeping_args, check, expect_equal, fail, learner, place, probe


def _q():
    return learner("quantize")


def _formula(w):
    scale = w.abs().amax(dim=1) / 127.0
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8)
    return q, scale


def _weights(out=7, inp=13, spread=1.0):
    """Rows of very different sizes (a scale per row matters), one row of zeros, odd shapes."""
    w = torch.randn(out, inp) * spread
    w = w * torch.logspace(-3, 2, out)[:, None]
    w[out // 2] = 0.0
    return w


def _quantize(w, what, after=None):
    """The learner's (q, scale) for w; `after` (a list), if given, receives w as it is after the call."""
    got, (w_after,) = call_keeping_args(_q().quantize_per_channel, w)
    if after is not None:
        after.append(w_after)
    if not isinstance(got, tuple) or len(got) != 2:
        fail(f"{what} should return a tuple (q, scale), got {type(got).__name__}")
    q, scale = got
    if not isinstance(q, torch.Tensor) or not isinstance(scale, torch.Tensor):
        fail(f"{what} should return two tensors, got {type(q).__name__} and {type(scale).__name__}")
    return q, scale


def _scale_mistakes(w, scale):
    """The mistake a wrong scale shows, or ''."""
    rows = w.abs().amax(dim=1)
    nonzero = rows > 0
    if scale.numel() == 1 or (scale.dim() == 1 and scale.numel() == w.shape[0] and torch.allclose(scale, scale[0].expand_as(scale))):
        if torch.allclose(scale.flatten()[0], w.abs().max() / 127, rtol=1e-5):
            return ("One scale for the whole matrix (per tensor): each row (output channel) needs its own, "
                    "scale[i] = max(abs(w[i])) / 127, or the small rows lose all their precision.")
    if scale.shape == (w.shape[0],) and torch.allclose(scale[nonzero], rows[nonzero] / 128, rtol=1e-5):
        return "The scale divides by 128: the contract maps the row's largest magnitude to 127 (int8 -127..127, symmetric)."
    if scale.shape == (w.shape[0],) and torch.allclose(scale[nonzero], rows[nonzero] / 255, rtol=1e-5):
        return "The scale divides by 255: symmetric int8 has 127 steps on each side of zero, so divide by 127."
    if scale.shape == (w.shape[1],):
        return "The scale is per column (per input): the contract takes one per row, the output channel, max over dim=1."
    return ""


@check("quantize_per_channel: one scale per row (absmax / 127), q int8 and rounded to the nearest step")
def per_channel():
    for spread in (1.0, 1e4):
        w = _weights(spread=spread)
        after = []
        q, scale = _quantize(w, f"quantize_per_channel(w of shape {tuple(w.shape)})", after)
        if not torch.equal(after[0], w):
            fail("quantize_per_channel changed the float weight it was given: work on a copy (w / scale makes a new tensor).")
        want_q, want_scale = _formula(w)
        if tuple(scale.shape) != (w.shape[0],) or not torch.allclose(scale.float(), want_scale, rtol=1e-5):
            why = _scale_mistakes(w, scale.float())
            if not why and scale.numel() == w.shape[0] and bool((scale[w.shape[0] // 2] == 0).item()):
                why = "A row of zeros gets scale 0 (then w / scale is 0/0 = NaN): give it scale 1.0."
            fail(f"scale for w of shape {tuple(w.shape)}: expected shape ({w.shape[0]},), "
                 f"max(abs(w[i])) / 127 per row.\n  expected {want_scale[:4].tolist()}...\n  got      {scale.flatten()[:4].tolist()}..."
                 + (f"\n{why}" if why else ""))
        expect_equal(scale.dtype, torch.float32, "scale's dtype")
        if q.dtype != torch.int8:
            fail(f"q should be torch.int8, got {q.dtype}: convert with .to(torch.int8) after rounding and clamping.")
        expect_equal(tuple(q.shape), tuple(w.shape), "q's shape (the weight's)")
        ratio = w / want_scale[:, None]
        off = (q.int() - want_q.int()).abs()
        near_half = ((ratio - ratio.floor()) - 0.5).abs() < 1e-4
        bad = (off > 1) | ((off == 1) & ~near_half)
        if bad.any():
            if torch.equal(q, torch.trunc(ratio).clamp(-127, 127).to(torch.int8)):
                fail("q is w / scale cut towards zero (int() or .to(torch.int8) alone truncates): round to the nearest step "
                     "first, torch.round(w / scale[:, None]).")
            if torch.equal(q, torch.floor(ratio).clamp(-127, 127).to(torch.int8)):
                fail("q is floor(w / scale): round to the nearest step with torch.round, not down.")
            i, j = [int(v) for v in bad.nonzero()[0]]
            fail(f"q[{i}, {j}] = {int(q[i, j])}, expected round({float(ratio[i, j]):.4f}) = {int(want_q[i, j])}")


@check("quantize_per_channel: a row of zeros, huge values and the extremes stay in -127..127")
def edges():
    w = torch.tensor([[0.0, 0.0, 0.0], [3e38, -3e38, 1.0], [1.0, -1.0, 0.5], [-2.0, 1.0, 2.0]])
    q, scale = _quantize(w, "quantize_per_channel on a row of zeros and float32's largest values")
    if not torch.isfinite(scale).all():
        fail(f"scale holds {scale.tolist()}: a row of zeros needs scale 1.0 (not 0: w / 0 is NaN), and huge rows a finite one.")
    expect_equal(float(scale[0]), 1.0, "the scale of an all-zero row")
    if q.dtype != torch.int8:
        fail(f"q should be torch.int8, got {q.dtype}")
    expect_equal(q[0].tolist(), [0, 0, 0], "q of an all-zero row")
    expect_equal(q[1].tolist(), [127, -127, 0], "q of a row of float32's largest values (127 and -127 at the ends)")
    expect_equal(q[2].tolist(), [127, -127, 64], "q of [1, -1, 0.5] (0.5 * 127 = 63.5 rounds to even: 64)")
    if int(q.min()) < -127:
        fail("q reaches -128: the symmetric range is -127..127 (clamp after rounding).")


@check("dequantize: each row of q times its scale, as float32; a round trip is within half a step")
def round_trip():
    square = _weights(6, 6)
    sq_q, sq_scale = _formula(square)
    got = _q().dequantize(sq_q, sq_scale)
    if not isinstance(got, torch.Tensor):
        fail(f"dequantize should return a tensor, got {type(got).__name__}")
    if torch.allclose(got.float(), sq_q.float() * sq_scale[None, :]) and not torch.allclose(got.float(), sq_q.float() * sq_scale[:, None]):
        fail("dequantize multiplies each column by a scale (q * scale broadcasts along the last dimension): "
             "scale[i] belongs to row i, so multiply by scale[:, None].")
    w = _weights(9, 17)
    want_q, want_scale = _formula(w)
    got = _q().dequantize(want_q, want_scale)
    expect_equal(got.dtype, torch.float32, "dequantize's dtype")
    assert_close(got, want_q.float() * want_scale[:, None], "dequantize(q, scale)", atol=0, rtol=1e-6)
    q, scale = _quantize(w, "quantize_per_channel")
    back = _q().dequantize(q, scale)
    err = (back - w).abs()
    limit = want_scale[:, None] / 2 + 1e-6 * w.abs()
    if (err > limit).any():
        i, j = [int(v) for v in (err > limit).nonzero()[0]]
        fail(f"the round trip w -> (q, scale) -> dequantize moves w[{i}, {j}] = {float(w[i, j]):.6g} by {float(err[i, j]):.3g}, "
             f"more than half a step ({float(want_scale[i]) / 2:.3g})")


def _linear(bias=True, inp=13, out=11):
    layer = nn.Linear(inp, out, bias=bias)
    with torch.no_grad():
        layer.weight.mul_(torch.logspace(-2, 1, out)[:, None])
        if bias:
            layer.bias.normal_()
    return layer


@check("Int8Linear.from_linear: int8 weight and scales as buffers, the bias kept, the float layer untouched")
def from_linear():
    Int8Linear = _q().Int8Linear
    for bias in (True, False):
        layer = place(_linear(bias))  # where from_linear runs, so that a change to it shows
        before = {k: v.clone() for k, v in layer.state_dict().items()}
        m = Int8Linear.from_linear(layer)
        if not isinstance(m, nn.Module):
            fail(f"Int8Linear.from_linear should return an nn.Module, got {type(m).__name__}")
        for k, v in layer.state_dict().items():
            if not torch.equal(v, before[k]):
                fail(f"Int8Linear.from_linear changed the float layer's {k}: quantize a copy, leave the source as it was.")
        buffers = dict(m.named_buffers())
        for name, dtype in (("weight_int8", torch.int8), ("scale", torch.float32)):
            if name not in buffers:
                fail(f"Int8Linear has no buffer {name!r} (buffers: {sorted(buffers)}): register it with "
                     "self.register_buffer, so that it moves with .to() and is saved, but is not trained.")
            expect_equal(buffers[name].dtype, dtype, f"the buffer {name}'s dtype")
        want_q, want_scale = _formula(layer.weight.detach())
        expect_equal(tuple(m.weight_int8.shape), (11, 13), "weight_int8's shape (out_features, in_features)")
        assert_close(m.scale, want_scale, "Int8Linear.scale", atol=0, rtol=1e-5)
        expect_equal((getattr(m, "in_features", None), getattr(m, "out_features", None)), (13, 11), "(in_features, out_features)")
        if bias and getattr(m, "bias", None) is None:
            fail("Int8Linear.from_linear dropped the bias: keep a copy of linear.bias (the output is shifted without it).")
        if not bias and getattr(m, "bias", None) is not None:
            fail("Int8Linear.from_linear of a layer without a bias should have bias None")
        if bias:
            assert_close(m.bias.detach(), layer.bias.detach(), "Int8Linear.bias", atol=0, rtol=0)
            if probe("same_tensor", m, "bias", layer, "bias"):
                fail("Int8Linear.bias is the float layer's own tensor: keep a copy (.detach().clone()).")
        if any(p.dtype.is_floating_point and p.shape == layer.weight.shape for p in m.parameters()):
            fail("Int8Linear keeps a float weight as a parameter: keep only weight_int8 and scale, or nothing is saved.")


@check("Int8Linear.forward: what the linear layer gives with the dequantized weight, in x's dtype")
def forward():
    layer = _linear(True)
    m = _q().Int8Linear.from_linear(layer)
    x = torch.randn(3, 5, 13)
    got = m(x)
    want_q, want_scale = _formula(layer.weight.detach())
    want = torch.nn.functional.linear(x, want_q.float() * want_scale[:, None], layer.bias.detach())
    if tuple(got.shape) != (3, 5, 11):
        fail(f"Int8Linear on x of shape (3, 5, 13) gave shape {tuple(got.shape)}, expected (3, 5, 11)")
    no_bias = torch.nn.functional.linear(x, want_q.float() * want_scale[:, None])
    if torch.allclose(got, no_bias, atol=1e-5):
        fail("Int8Linear.forward leaves out the bias: F.linear(x, weight, bias).")
    raw = torch.nn.functional.linear(x, want_q.float(), layer.bias.detach())
    if torch.allclose(got, raw, atol=1e-4):
        fail("Int8Linear.forward uses the int8 values as weights without their scales: dequantize first.")
    assert_close(got, want, "Int8Linear(x)", atol=1e-5, rtol=1e-5)
    full = layer(x)
    if (got - full).abs().max() > (want_scale.max() * x.abs().sum(-1).max() / 2 + 1e-4):
        fail("Int8Linear(x) is further from the float layer than half a step per weight allows")
    half = m(x.to(torch.bfloat16))
    expect_equal(half.dtype, torch.bfloat16, "Int8Linear's output dtype for a bfloat16 input (the input's)")


def _small_gpt():
    gpt = learner("gpt")
    cfg = {"vocab_size": 50, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0, "qkv_bias": True}
    return gpt.GPTModel(cfg).eval(), cfg


@check("quantize_model: every nn.Linear but those in skip becomes an Int8Linear, in place, names kept; logits stay close")
def whole_model():
    q = _q()
    model, cfg = _small_gpt()
    idx = torch.randint(0, cfg["vocab_size"], (2, 6))
    with torch.no_grad():
        before = model(idx)
    linear_names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    got = q.quantize_model(model)
    if got is not model:
        fail("quantize_model should change the model in place and return that same model")
    kinds = {n: type(m).__name__ for n, m in model.named_modules() if n in linear_names}
    if kinds.get("out_head") != "Linear":
        fail("quantize_model quantized out_head, which skip names by default: the output head stays float "
             "(its errors go straight into every logit).")
    missing = [n for n in linear_names if n != "out_head" and not isinstance(model.get_submodule(n), q.Int8Linear)]
    if missing:
        fail(f"quantize_model left these nn.Linear layers as they were: {missing[:4]}: replace every one, however deep "
             "(model.named_modules() gives the dotted name; set the new module on its parent).")
    with torch.no_grad():
        after = model(idx)
    err = (after - before).abs().max().item()
    if not err < 0.05 * before.abs().max().item() + 1e-3:
        fail(f"the quantized model's logits moved by {err:.3g}, far more than int8 rounding explains")
    model2, _ = _small_gpt()
    q.quantize_model(model2, skip=("trf_blocks.0.att.W_query",))
    kinds = {n: type(model2.get_submodule(n)).__name__ for n in linear_names}
    if kinds["trf_blocks.0.att.W_query"] != "Linear" or kinds["out_head"] == "Linear":
        fail(f"quantize_model(model, skip=('trf_blocks.0.att.W_query',)) should keep exactly that layer float (and "
             f"quantize out_head, no longer skipped); got {kinds['trf_blocks.0.att.W_query']} and {kinds['out_head']}")
