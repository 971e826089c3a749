"""Independent references for the tensor lessons, and the common mistakes as variants.

`attention_reference` uses torch's own `F.scaled_dot_product_attention` on the
learner module's weights. `attention_variant` recomputes the same attention with
one mistake switched on, so a check can say which mistake the learner's output
reproduces. Used only inside the check worker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from tutor.checks import fail, probe, refuse_tensor_subclass, show


def projections(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(F.linear(x, l.weight, l.bias) for l in (module.W_query, module.W_key, module.W_value))  # type: ignore[return-value]


def _split(y: torch.Tensor, heads: int, interleaved: bool = False, transpose: bool = True) -> torch.Tensor:
    b, t, d = y.shape
    if interleaved:  # head j takes features j, j+h, j+2h, ...
        return y.view(b, t, d // heads, heads).permute(0, 3, 1, 2)
    if not transpose:  # a view straight to (b, h, t, hd): tokens and features get mixed
        return y.reshape(b, heads, t, d // heads)
    return y.view(b, t, heads, d // heads).transpose(1, 2)


def _merge(y: torch.Tensor, interleaved: bool = False) -> torch.Tensor:
    b, h, t, hd = y.shape
    if interleaved:
        return y.permute(0, 2, 3, 1).reshape(b, t, h * hd)
    return y.transpose(1, 2).reshape(b, t, h * hd)


def attention_reference(module: nn.Module, x: torch.Tensor, *, heads: int = 1, causal: bool = False, out_proj: bool = False) -> torch.Tensor:
    """The correct output, from torch's fused attention on the module's own weights."""
    q, k, v = (_split(y, heads) for y in projections(module, x))
    out = _merge(F.scaled_dot_product_attention(q, k, v, is_causal=causal))
    if out_proj:
        out = F.linear(out, module.out_proj.weight, module.out_proj.bias)
    return out


def attention_variant(
    module: nn.Module,
    x: torch.Tensor,
    *,
    heads: int = 1,
    causal: bool = False,
    out_proj: bool = False,
    scale: str = "sqrt_head",
    softmax_dim: int = -1,
    future: int = 0,
    mask: str = "neg_inf",
    interleaved: bool = False,
    merge_interleaved: bool | None = None,
    split_transpose: bool = True,
) -> torch.Tensor:
    """Attention with one deliberate mistake (see the keyword arguments)."""
    q, k, v = projections(module, x)
    d_in, d_out = x.shape[-1], q.shape[-1]
    q, k, v = (_split(y, heads, interleaved, split_transpose) for y in (q, k, v))
    t, head_dim = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1)
    blocked = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1 + future)
    if causal and mask == "neg_inf":
        scores = scores.masked_fill(blocked, float("-inf"))
    elif causal and mask == "zero":
        scores = scores.masked_fill(blocked, 0.0)
    divisor = {"sqrt_head": math.sqrt(head_dim), "none": 1.0, "head": float(head_dim), "sqrt_d_out": math.sqrt(d_out), "sqrt_d_in": math.sqrt(d_in)}[
        scale
    ]
    weights = torch.softmax(scores / divisor, dim=softmax_dim)
    if causal and mask == "after_softmax":
        weights = weights.masked_fill(blocked, 0.0)
    out = _merge(weights @ v, interleaved if merge_interleaved is None else merge_interleaved)
    if out_proj and hasattr(module, "out_proj"):
        out = F.linear(out, module.out_proj.weight, module.out_proj.bias)
    return out


def attention_mistakes(
    module: nn.Module, x: torch.Tensor, *, heads: int = 1, causal: bool = False, out_proj: bool = False
) -> dict[str, Callable[[], torch.Tensor]]:
    """{description of a mistake: what the output would be with it}."""
    base = dict(heads=heads, causal=causal, out_proj=out_proj)
    head_word = "head_dim" if heads > 1 else "d_out"

    def v(**kw):
        return lambda: attention_variant(module, x, **{**base, **kw})

    found: dict[str, Callable[[], torch.Tensor]] = {
        f"the scores are not scaled: divide them by sqrt({head_word}) before the softmax": v(scale="none"),
        f"the scores are divided by {head_word} itself; divide by its square root, sqrt({head_word})": v(scale="head"),
        "the softmax runs over the wrong axis: it must normalise over the keys (dim=-1), so each query's weights sum to 1": v(softmax_dim=-2),
        "the scores are scaled by sqrt(d_in), the input width; use the width of the keys": v(scale="sqrt_d_in"),
    }
    if heads > 1:
        found["the scores are scaled by sqrt(d_out); with several heads, use sqrt(head_dim) = sqrt(d_out / num_heads)"] = v(scale="sqrt_d_out")
        found[
            "the heads are interleaved: head j must take the contiguous features j*head_dim:(j+1)*head_dim (view as (b, t, num_heads, head_dim))"
        ] = v(interleaved=True)
        found["out_proj is not applied: pass the concatenated heads through self.out_proj"] = v(out_proj=False)
        found[
            "the heads are split with a view straight to (b, num_heads, t, head_dim), which mixes tokens with "
            "features: view as (b, t, num_heads, head_dim), then .transpose(1, 2)"
        ] = v(split_transpose=False)
        found[
            "the heads are split interleaved but merged back contiguously: the merge must undo the split "
            "(split with view(b, t, num_heads, head_dim).transpose(1, 2), merge with transpose(1, 2) then reshape)"
        ] = v(interleaved=True, merge_interleaved=False)
    if causal:
        found["the mask lets one future token through: mask every position j > i (torch.triu(..., diagonal=1))"] = v(future=1)
        found["the mask is applied after the softmax: set masked scores to -inf *before* the softmax, so each row still sums to 1"] = v(
            mask="after_softmax"
        )
        found["masked scores are set to 0, not -inf: exp(0) = 1 still gives the future some weight"] = v(mask="zero")
        found["there is no causal mask: position i must not attend to positions after i"] = v(causal=False)
    else:
        found["a causal mask is applied: SelfAttention lets every token see every token"] = v(causal=True)
    return found


def check_batch_independent(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, what: str) -> None:
    """Each row of a batch must give what it gives alone; catches dims mixed by a transpose."""
    together = fn(x)
    for i in range(x.shape[0]):
        alone = fn(x[i : i + 1])
        if alone.shape[1:] != together.shape[1:] or not torch.allclose(together[i : i + 1], alone, atol=1e-5, rtol=1e-4):
            fail(
                f"{what}: item {i} of a batch of {x.shape[0]} gives another result than the same item alone.\n"
                "Batch items are getting mixed: it is right for a batch of one but not for more. Check each "
                "transpose/view/reshape keeps the batch dimension first (e.g. transpose(1, 2), not a permute "
                "that moves dim 0)."
            )


def check_causal(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, what: str) -> None:
    """Changing tokens after position i must not change any output at positions <= i."""
    base = fn(x)
    t = x.shape[1]
    for cut in range(1, t):
        changed = x.clone()
        changed[:, cut:] = torch.randn_like(changed[:, cut:]) * 3
        out = fn(changed)
        diff = (out[:, :cut] - base[:, :cut]).abs().amax(dim=(0, 2))
        if (diff > 1e-5).any():
            pos = int(torch.nonzero(diff > 1e-5)[0])
            fail(
                f"{what}: changing only the tokens from position {cut} on changed the output at position {pos}.\n"
                f"Position {pos} can see the future: it must attend to positions <= {pos} only."
            )


def check_dropout_modes(module: nn.Module, x: torch.Tensor, what: str, train_hint: str) -> None:
    """eval() must make dropout a no-op (two calls agree); train() must not (two calls differ)."""
    module.eval()
    if not torch.equal(module(x), module(x)):
        fail(f"{what}: in eval() mode two calls on the same input differ: dropout must be off in eval() (nn.Dropout is).")
    module.train()
    if torch.equal(module(x), module(x)):
        fail(f"{what}: in train() mode with dropout 0.5 two calls gave the same output: {train_hint}")


def check_dropout_on_weights(make: Callable[[int, float], nn.Module], what: str) -> None:
    """Dropout must act on the attention weights, not on the context vectors or the output.

    With x = the identity and orthogonal value weights (and an identity out_proj, if
    any), the eval() output recovers the attention weights exactly, so a train()
    output shows what dropout did: weights dropped and the rest scaled by 1/(1-p)."""
    t, p = 12, 0.5
    m = make(t, p)
    values = torch.linalg.qr(torch.randn(t, t))[0]  # orthogonal: its inverse is its transpose, exactly
    _see_through(m, values.T)
    x = torch.eye(t).unsqueeze(0)
    m.eval()
    weights = m(x)[0] @ values.T
    m.train()
    out = m(x)[0]
    zeros = out == 0
    partial = zeros.any(dim=1) & ~zeros.all(dim=1)
    if partial.any():
        fail(
            f"{what}: some outputs are exactly zero while others in the same row are not: dropout is applied to "
            "the context vectors (or the values, or the output), not to the attention weights. Apply it to the "
            "weights, before weights @ values."
        )
    dropped = out @ values.T
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))
    kept = dropped[causal].abs() > 1e-4
    expected_kept = weights[causal] / (1 - p)
    if kept.all():
        fail(f"{what}: in train() mode no attention weight was dropped: apply nn.Dropout to the attention weights.")
    if not torch.allclose(dropped[causal][kept], expected_kept[kept], atol=1e-3, rtol=1e-3):
        fail(f"{what}: the kept attention weights should be the eval() weights scaled by 1/(1-p), as nn.Dropout does; they are not.")
    share = 1 - kept.float().mean().item()
    if not 0.2 < share < 0.8:
        fail(f"{what}: with dropout={p}, {share:.0%} of the attention weights were dropped; expected about {p:.0%}.")


def _see_through(m: nn.Module, value_weight: torch.Tensor) -> None:
    """W_value set to `value_weight` with no bias, and out_proj (if any) to the identity: fed the
    identity, the module's output is then the attention weights times `value_weight`."""
    t = value_weight.shape[0]
    values = {"W_value.weight": value_weight}
    if m.W_value.bias is not None:
        values["W_value.bias"] = torch.zeros(t)
    if hasattr(m, "out_proj"):
        values.update({"out_proj.weight": torch.eye(t), "out_proj.bias": torch.zeros(t)})
    set_weights(m, values)


def check_dropout_rate(make: Callable[[int, float], nn.Module], what: str) -> None:
    """Dropout at a rate other than 0.5 (the usual example): the rate given must be the rate used.
    Seen through the module (see `_see_through`), train() scales each kept weight by 1/(1-p)."""
    t, p = 12, 0.2
    m = make(t, p)
    _see_through(m, torch.eye(t))
    x = torch.eye(t).unsqueeze(0)
    with torch.no_grad():
        weights = m.eval()(x)[0]
        dropped = m.train()(x)[0]
    kept = (dropped.abs() > 1e-6) & (weights.abs() > 1e-6)
    scale = (dropped[kept] / weights[kept]).median().item() if kept.any() else float("nan")
    if not abs(scale - 1 / (1 - p)) <= 1e-3:
        used = 1 - 1 / scale if scale > 1 else 0.0
        fail(f"{what} with dropout={p}: the kept attention weights are scaled by {scale:.4g}, not 1/(1-{p}) = "
             f"{1 / (1 - p):.4g}, as if the dropout rate were {used:.2g}: the dropout rate given is ignored. "
             "Build nn.Dropout(dropout) with the argument, not a fixed rate.")


class Counting(nn.Module):
    """Stands in for a learner's submodule (a dropout, say) to count how often forward uses it;
    passes its input through unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


def check_grads_reach(module: nn.Module, inputs: torch.Tensor | list[Any], what: str) -> dict[str, Any]:
    """Every trainable parameter gets a finite, non-zero gradient from a random weighting
    of module(*inputs); measured where the module lives (tutor.checks.probes.grads).
    Returns the probe's findings (the inputs as they were after the call, among them)."""
    found = probe("grads", module, inputs if isinstance(inputs, list) else [inputs])
    grads = found.get("grads") if isinstance(found, dict) else None
    if not isinstance(grads, dict):
        fail(f"{what}: the gradients could not be measured.")
    dead = [n for n, g in grads.items()
            if not isinstance(g, torch.Tensor) or not torch.isfinite(g).all() or g.abs().sum() == 0]
    if dead:
        fail(f"{what}: no gradient reaches {', '.join(map(str, dead[:6]))}. Is each parameter used in forward (and not detached)?")
    return found


def expect_linear(layer: object, d_in: int, d_out: int, bias: bool, name: str) -> None:
    if not isinstance(layer, nn.Linear):
        fail(f"{name} should be an nn.Linear, got {type(layer).__name__}")
    if tuple(layer.weight.shape) != (d_out, d_in):
        fail(f"{name} should be nn.Linear({d_in}, {d_out}): its weight has shape {tuple(layer.weight.shape)}, expected {(d_out, d_in)}")
    if (layer.bias is not None) != bias:
        fail(f"{name} should have bias={bias}, but {'has' if layer.bias is not None else 'has no'} bias")


def randomise(module: nn.Module, std: float = 0.5) -> nn.Module:
    """Give every parameter random values, drawn here, so that ones/zeros initialisations
    hide nothing and the learner's side cannot choose weights that make any answer right."""
    values = {name: torch.randn(tuple(p.shape), dtype=p.dtype) * std for name, p in module.named_parameters()}
    set_weights(module, values)
    return module


def set_weights(module: nn.Module, values: dict[str, torch.Tensor]) -> None:
    """Copy `values` (named as named_parameters names them) into the module's parameters.
    Judged, the module lives in the learner's child: the judge keeps these values as its
    own record of them (tutor.checks.remote.load_weights)."""
    from tutor.checks.remote import is_remote, load_weights

    if is_remote(module):
        load_weights(module, values)
        return
    params = dict(module.named_parameters())
    with torch.no_grad():
        for name, value in values.items():
            params[name].copy_(value)


def expect_shape(t: object, shape: tuple[int, ...], what: str) -> None:
    refuse_tensor_subclass(t, what)
    if not isinstance(t, torch.Tensor):
        fail(f"{what}: expected a tensor, got {type(t).__name__}: {show(t)}")
    if tuple(t.shape) != tuple(shape):
        fail(f"{what}: expected shape {tuple(shape)}, got {tuple(t.shape)}")
