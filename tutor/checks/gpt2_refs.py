"""Independent references for the real-weights lessons (24-25).

`gpt2_state_dict` makes a tiny random checkpoint in the Hugging Face `gpt2`
layout (its names, its orientations: `Conv1D` weights `(in, out)`, the fused
`c_attn`), and `gpt2_forward` runs GPT-2 as a function of such a state dict,
written from the model's definition with torch's own ops (`F.layer_norm`,
`F.gelu(approximate="tanh")`, `F.scaled_dot_product_attention`), never from the
learner's code. Used only inside the check worker.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tutor.core.gpt2_layout import gpt2_shapes


def gpt2_names(n_layers: int) -> list[str]:
    """Every tensor name of a GPT-2 checkpoint without the `transformer.` prefix."""
    names = ["wte.weight", "wpe.weight"]
    for i in range(n_layers):
        p = f"h.{i}."
        names += [p + n for n in ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                                  "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                                  "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")]
    return names + ["ln_f.weight", "ln_f.bias"]


def gpt2_state_dict(vocab: int, context: int, d: int, n_layers: int, seed: int = 0,
                    prefix: str = "") -> dict[str, torch.Tensor]:
    """A random checkpoint: every tensor distinct (norm scales around 1, biases not zero)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in gpt2_shapes(vocab, context, d, n_layers).items():
        t = torch.randn(shape, generator=g)
        if name.endswith((".weight",)) and name.split(".")[-2].startswith("ln"):
            t = 1.0 + 0.3 * t
        elif "c_" in name and name.endswith(".weight"):
            t = t / shape[0] ** 0.5
        else:
            t = 0.2 * t if name.endswith(".bias") else 0.5 * t
        sd[prefix + name] = t
    return sd


def gpt2_forward(sd: dict[str, torch.Tensor], n_heads: int, idx: torch.Tensor) -> torch.Tensor:
    """GPT-2's logits for ids (b, t), from a checkpoint in the Hugging Face layout (no prefix)."""
    b, t = idx.shape
    d = sd["wte.weight"].shape[1]
    hd = d // n_heads
    x = sd["wte.weight"][idx] + sd["wpe.weight"][:t]
    i = 0
    while f"h.{i}.ln_1.weight" in sd:
        p = f"h.{i}."
        h = F.layer_norm(x, (d,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"], 1e-5)
        qkv = h @ sd[p + "attn.c_attn.weight"] + sd[p + "attn.c_attn.bias"]  # Conv1D: x @ W + b
        q, k, v = (y.view(b, t, n_heads, hd).transpose(1, 2) for y in qkv.split(d, dim=-1))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + a @ sd[p + "attn.c_proj.weight"] + sd[p + "attn.c_proj.bias"]
        h = F.layer_norm(x, (d,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"], 1e-5)
        h = F.gelu(h @ sd[p + "mlp.c_fc.weight"] + sd[p + "mlp.c_fc.bias"], approximate="tanh")
        x = x + h @ sd[p + "mlp.c_proj.weight"] + sd[p + "mlp.c_proj.bias"]
        i += 1
    x = F.layer_norm(x, (d,), sd["ln_f.weight"], sd["ln_f.bias"], 1e-5)
    return x @ sd["wte.weight"].T  # the head is tied to the token embedding


def gpt2_config(vocab: int, context: int, d: int, n_heads: int, n_layers: int) -> dict:
    """The GPTModel cfg (CONTRACT.md) for a GPT-2 of these sizes: qkv_bias on, no dropout."""
    return {"vocab_size": vocab, "context_length": context, "emb_dim": d, "n_heads": n_heads, "n_layers": n_layers,
            "drop_rate": 0.0, "qkv_bias": True}


def greedy_reference(forward, idx: torch.Tensor, steps: int, context: int, eos_id: int | None = None) -> torch.Tensor:
    """Greedy decoding by the book's definition, over a logits function of (b, t) ids."""
    seq = idx.clone()
    with torch.no_grad():
        for _ in range(steps):
            nxt = forward(seq[:, -context:])[:, -1].argmax(-1, keepdim=True)
            if eos_id is not None and bool((nxt == eos_id).all()):
                break
            seq = torch.cat([seq, nxt], dim=1)
    return seq


class _Norm(torch.nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(d))
        self.shift = torch.nn.Parameter(torch.zeros(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.scale, self.shift, 1e-5)


class _Attention(torch.nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.num_heads, self.head_dim, self.d_out = heads, d // heads, d
        self.W_query, self.W_key, self.W_value = (torch.nn.Linear(d, d) for _ in range(3))
        self.out_proj = torch.nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (l(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)
                   for l in (self.W_query, self.W_key, self.W_value))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))


class _FeedForward(torch.nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(d, 4 * d), torch.nn.GELU(approximate="tanh"),
                                          torch.nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _Block(torch.nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.norm1, self.att, self.norm2, self.ff = _Norm(d), _Attention(d, heads), _Norm(d), _FeedForward(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.att(self.norm1(x))
        return x + self.ff(self.norm2(x))


class ContractGPT(torch.nn.Module):
    """A GPT with the contract's attribute names (tok_emb, pos_emb, trf_blocks[i].norm1.scale,
    att.W_query, ff.layers[0], ..., out_head), written here: a stand-in for the learner's
    GPTModel, so that lessons 24-25 can be checked apart from lesson 10."""

    def __init__(self, cfg: dict):
        super().__init__()
        d, v = cfg["emb_dim"], cfg["vocab_size"]
        self.tok_emb = torch.nn.Embedding(v, d)
        self.pos_emb = torch.nn.Embedding(cfg["context_length"], d)
        self.drop_emb = torch.nn.Dropout(cfg.get("drop_rate", 0.0))
        self.trf_blocks = torch.nn.Sequential(*[_Block(d, cfg["n_heads"]) for _ in range(cfg["n_layers"])])
        self.final_norm = _Norm(d)
        self.out_head = torch.nn.Linear(d, v, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(idx.shape[1], device=idx.device))
        return self.out_head(self.final_norm(self.trf_blocks(self.drop_emb(x))))


def cached_greedy_variant(model: torch.nn.Module, idx: torch.Tensor, steps: int, context: int, mistake: str) -> torch.Tensor:
    """Greedy decoding with a KV cache and one named mistake, on a model with the contract's
    attribute names: "position_zero" (the new token embedded at position 0) or
    "cache_kept" (the cache kept once the sequence outgrows `context`)."""
    import math

    def step(ids: torch.Tensor, start: int, caches: list) -> torch.Tensor:
        pos = torch.arange(start, start + ids.shape[1])
        if mistake == "position_zero" and caches[0] is not None:
            pos = torch.zeros_like(pos)
        x = model.tok_emb(ids) + model.pos_emb(pos)
        for i, block in enumerate(model.trf_blocks):
            att = block.att
            h = block.norm1(x)
            b, t, _ = h.shape
            q, k, v = (l(h).view(b, t, att.num_heads, att.head_dim).transpose(1, 2)
                       for l in (att.W_query, att.W_key, att.W_value))
            if caches[i] is not None:
                k, v = torch.cat([caches[i][0], k], 2), torch.cat([caches[i][1], v], 2)
            caches[i] = (k, v)
            s = q @ k.transpose(2, 3) / math.sqrt(att.head_dim)
            n = k.shape[2]
            s = s.masked_fill(torch.ones(t, n, dtype=torch.bool).triu(n - t + 1), float("-inf"))
            x = x + att.out_proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1))
            x = x + block.ff(block.norm2(x))
        return model.out_head(model.final_norm(x))[:, -1]

    seq, caches = idx.clone(), None
    with torch.no_grad():
        for _ in range(steps):
            if caches is None or (seq.shape[1] > context and mistake != "cache_kept"):
                caches = [None] * len(model.trf_blocks)
                logits = step(seq[:, -context:], 0, caches)
            else:
                logits = step(seq[:, -1:], seq.shape[1] - 1, caches)
            seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], dim=1)
    return seq
