"""Independent references for the modern-architecture lessons (18-21), and their mistakes.

Everything here is written from CONTRACT.md's formulas and torch's own ops
(`F.rms_norm`, `F.silu`, `F.scaled_dot_product_attention`), never from the
learner's code: the checks hand it the learner module's weights (by the
contract's parameter names) and compare outputs. The `*_variant` functions
recompute the same thing with one named mistake switched on, so a check can say
which mistake a wrong output reproduces. Used only inside the check worker.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5


# --- lesson 18 ----------------------------------------------------------------


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """torch's RMSNorm, computed in float32 and returned in x's dtype (the contract)."""
    return F.rms_norm(x.float(), (x.shape[-1],), weight.float(), eps).to(x.dtype)


def rms_norm_variant(x: torch.Tensor, weight: torch.Tensor, mistake: str, eps: float = EPS) -> torch.Tensor:
    x = x.double()
    w = weight.double()
    if mistake == "mean_subtracted":  # a LayerNorm without shift
        centred = x - x.mean(-1, keepdim=True)
        return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps) * w
    if mistake == "eps_outside":
        return x / (torch.sqrt(x.pow(2).mean(-1, keepdim=True)) + eps) * w
    if mistake == "no_sqrt":
        return x / (x.pow(2).mean(-1, keepdim=True) + eps) * w
    if mistake == "sum_not_mean":
        return x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * w
    if mistake == "no_weight":
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    if mistake == "std":  # the standard deviation (mean removed, unbiased) instead of the root mean square
        return x / torch.sqrt(x.var(-1, keepdim=True) + eps) * w
    raise ValueError(mistake)


def swiglu(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, w3: torch.Tensor, act=F.silu) -> torch.Tensor:
    """fc3(act(fc1(x)) * fc2(x)), from the three weight matrices."""
    return F.linear(act(F.linear(x, w1)) * F.linear(x, w2), w3)


# --- lesson 19 ----------------------------------------------------------------


def rope_angles(head_dim: int, theta_base: float, positions: torch.Tensor) -> torch.Tensor:
    """(len(positions), head_dim) angles in float64: pair i (features i and i + head_dim/2)
    turns by position * theta_base ** (-2i / head_dim)."""
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    inv_freq = theta_base ** (-2.0 * i / head_dim)
    angles = positions.double()[:, None] * inv_freq[None, :]
    return torch.cat([angles, angles], dim=1)


def rope_tables(head_dim: int, theta_base: float = 10_000, context_length: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """The contract's (cos, sin) tables, in float32, computed from float64 angles."""
    angles = rope_angles(head_dim, theta_base, torch.arange(context_length))
    return angles.cos().float(), angles.sin().float()


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int = 0, *, interleaved: bool = False,
         sign: int = 1) -> torch.Tensor:
    """Rotate-half RoPE written out pair by pair; with `interleaved`, pairs (2i, 2i+1) instead
    (the RoFormer paper's layout); `sign=-1` rotates the wrong way."""
    t, d = x.shape[-2], x.shape[-1]
    half = d // 2
    c = cos[offset : offset + t, :half].double()
    s = sign * sin[offset : offset + t, :half].double()
    xd = x.double()
    if interleaved:
        a, b = xd[..., 0::2], xd[..., 1::2]
        out = torch.stack([a * c - b * s, b * c + a * s], dim=-1).flatten(-2)
    else:
        a, b = xd[..., :half], xd[..., half:]
        out = torch.cat([a * c - b * s, b * c + a * s], dim=-1)
    return out.to(x.dtype)


# --- lesson 20 ----------------------------------------------------------------


def allowed_mask(t: int, window: int | None) -> torch.Tensor:
    """(t, t) bool, True where query i may attend to key j: j <= i, and i - window < j with a window."""
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    ok = j <= i
    if window is not None:
        ok = ok & (j > i - window)
    return ok


def gqa(x: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor, wv: torch.Tensor, wo: torch.Tensor, *, num_heads: int,
        num_kv_groups: int, cos: torch.Tensor, sin: torch.Tensor, window: int | None = None, kv_map: str = "div",
        rope_values: bool = False, rope_on: bool = True, scale: bool = True, causal: bool = True) -> torch.Tensor:
    """Grouped-query attention through F.scaled_dot_product_attention, keys and values expanded
    explicitly to one per query head and an explicit boolean mask. The keyword arguments after
    `window` switch on one mistake each (the defaults are the contract)."""
    b, t, _ = x.shape
    d_out = wq.shape[0]
    hd = d_out // num_heads
    q = F.linear(x, wq).view(b, t, num_heads, hd).transpose(1, 2)
    k = F.linear(x, wk).view(b, t, num_kv_groups, hd).transpose(1, 2)
    v = F.linear(x, wv).view(b, t, num_kv_groups, hd).transpose(1, 2)
    if rope_on:
        q, k = rope(q, cos, sin), rope(k, cos, sin)
    if rope_values:
        v = rope(v, cos, sin)
    group = num_heads // num_kv_groups
    if kv_map == "div":
        index = [j // group for j in range(num_heads)]
    else:  # "mod": the tiled layout, head j -> kv head j % num_kv_groups
        index = [j % num_kv_groups for j in range(num_heads)]
    k, v = k[:, index], v[:, index]
    mask = allowed_mask(t, window) if causal else torch.ones(t, t, dtype=torch.bool)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=None if scale else 1.0)
    return F.linear(out.transpose(1, 2).reshape(b, t, d_out), wo)


def gqa_weights(module: torch.nn.Module) -> tuple[torch.Tensor, ...]:
    return tuple(getattr(module, name).weight.detach() for name in ("W_query", "W_key", "W_value", "out_proj"))


# --- lesson 21 ----------------------------------------------------------------


def llama_forward(params: dict[str, torch.Tensor], cfg: dict, idx: torch.Tensor, *, norms_in_sequence: bool = False,
                  sequential: bool = False) -> torch.Tensor:
    """The whole model as a function of its parameters, by the contract's names.

    `norms_in_sequence` and `sequential` are the two ways of getting Phi's
    parallel block wrong (see lesson 21): both only matter when cfg["parallel"].
    """
    d, h, g = cfg["emb_dim"], cfg["n_heads"], cfg["n_kv_groups"]
    cos, sin = rope_tables(d // h, cfg["rope_base"], cfg["context_length"])
    x = params["tok_emb.weight"][idx]
    for i in range(cfg["n_layers"]):
        p = f"trf_blocks.{i}."

        def att(z: torch.Tensor) -> torch.Tensor:
            return gqa(z, params[p + "att.W_query.weight"], params[p + "att.W_key.weight"], params[p + "att.W_value.weight"],
                       params[p + "att.out_proj.weight"], num_heads=h, num_kv_groups=g, cos=cos, sin=sin,
                       window=cfg.get("window_size"))

        def ff(z: torch.Tensor) -> torch.Tensor:
            return swiglu(z, params[p + "ff.fc1.weight"], params[p + "ff.fc2.weight"], params[p + "ff.fc3.weight"])

        norm1 = params[p + "norm1.weight"]
        if cfg.get("parallel", False):
            hn = rms_norm(x, norm1)
            if norms_in_sequence:
                x = x + att(hn)
                x = x + ff(rms_norm(x, norm1))
            elif sequential:
                x = x + att(hn)
                x = x + ff(hn)
            else:
                x = x + att(hn) + ff(hn)
        else:
            x = x + att(rms_norm(x, norm1))
            x = x + ff(rms_norm(x, params[p + "norm2.weight"]))
    x = rms_norm(x, params["final_norm.weight"])
    return F.linear(x, params["out_head.weight"])


def expected_llama_names(cfg: dict) -> set[str]:
    names = {"tok_emb.weight", "final_norm.weight", "out_head.weight"}
    for i in range(cfg["n_layers"]):
        p = f"trf_blocks.{i}."
        names |= {p + f"att.{n}.weight" for n in ("W_query", "W_key", "W_value", "out_proj")}
        names |= {p + f"ff.{n}.weight" for n in ("fc1", "fc2", "fc3")}
        names.add(p + "norm1.weight")
        if not cfg.get("parallel", False):
            names.add(p + "norm2.weight")
    return names


def kv_cache_bytes_per_token(n_layers: int, n_kv_heads: int, head_dim: int, bytes_per_value: int = 2) -> int:
    """Keys and values of one token across all layers: 2 x layers x kv heads x head_dim values."""
    return 2 * n_layers * n_kv_heads * head_dim * bytes_per_value

