"""Lessons 18-21: a modern architecture, the GPT as Llama, Mistral and Phi changed it.

Read it top to bottom: the norm and the feed-forward (18), rotary position
embeddings (19), grouped-query attention with an optional sliding window (20),
then the block and the model that stack them (21).

`cfg` holds vocab_size, context_length, emb_dim, n_heads, n_kv_groups, n_layers,
hidden_dim, rope_base, and optionally window_size (an int, or None for full causal
attention: Mistral's sliding window) and parallel (Phi's block; default False).
No dropout and no biases anywhere in this file: large models trained on a lot of
data rarely overfit in one pass, and the biases bought little.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    """Divide each token's features by their root mean square, then scale: no mean, no shift.

    Computed in float32 even for bf16 inputs: the mean of squares of many bf16
    numbers loses too many digits to normalise reliably.
    """

    def __init__(self, emb_dim: int, eps: float = 1e-5):
        super().__init__()
        # BEGIN SOLUTION
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(emb_dim))
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        x32 = x.float()
        mean_square = x32.pow(2).mean(dim=-1, keepdim=True)
        normed = x32 / torch.sqrt(mean_square + self.eps)
        return (normed * self.weight.float()).to(x.dtype)
        # END SOLUTION


class FeedForward(nn.Module):
    """SwiGLU: fc1's output, through SiLU, gates fc2's output element by element; fc3 narrows back."""

    def __init__(self, cfg: dict):
        super().__init__()
        # BEGIN SOLUTION
        self.fc1 = nn.Linear(cfg["emb_dim"], cfg["hidden_dim"], bias=False)
        self.fc2 = nn.Linear(cfg["emb_dim"], cfg["hidden_dim"], bias=False)
        self.fc3 = nn.Linear(cfg["hidden_dim"], cfg["emb_dim"], bias=False)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        gate = F.silu(self.fc1(x))  # how much of each hidden feature to let through
        return self.fc3(gate * self.fc2(x))
        # END SOLUTION


def precompute_rope_params(head_dim: int, theta_base: float = 10_000, context_length: int = 4096):
    """The cos and sin tables of rotary embeddings, each (context_length, head_dim), float32.

    Row p holds the angles of position p: p times each pair's frequency, the
    fastest pair first. Feature i and feature i + head_dim // 2 form a pair, so
    the angles are written twice, side by side.
    """
    # BEGIN SOLUTION
    if head_dim % 2 != 0:
        raise ValueError(f"head_dim must be even for rotary embeddings, got {head_dim}")
    inv_freq = 1.0 / theta_base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    positions = torch.arange(context_length, dtype=torch.float32)
    angles = positions[:, None] * inv_freq[None, :]  # (context_length, head_dim // 2)
    angles = torch.cat([angles, angles], dim=1)  # (context_length, head_dim)
    return torch.cos(angles), torch.sin(angles)
    # END SOLUTION


def compute_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Rotate each pair (x[i], x[i + head_dim // 2]) of x (b, h, t, head_dim) by its position's angle.

    Position p of x is absolute position offset + p (a later chunk of a sequence).
    """
    # BEGIN SOLUTION
    t, head_dim = x.shape[2], x.shape[3]
    x1 = x[..., : head_dim // 2]  # first halves
    x2 = x[..., head_dim // 2 :]  # second halves
    rotated = torch.cat([-x2, x1], dim=-1)  # "rotate half": (x1, x2) -> (-x2, x1)
    cos_t = cos[offset : offset + t]  # (t, head_dim), broadcast over batch and heads
    sin_t = sin[offset : offset + t]
    return (x * cos_t + rotated * sin_t).to(x.dtype)
    # END SOLUTION


class GroupedQueryAttention(nn.Module):
    """Causal multi-head attention in which groups of query heads share one key/value head.

    num_kv_groups = num_heads is ordinary multi-head attention; 1 is multi-query
    attention. With window_size = w, position i sees only the last w positions.
    """

    def __init__(self, d_in: int, d_out: int, num_heads: int, num_kv_groups: int, window_size: int | None = None):
        super().__init__()
        # BEGIN SOLUTION
        if d_out % num_heads != 0:
            raise ValueError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads})")
        if num_heads % num_kv_groups != 0:
            raise ValueError(f"num_heads ({num_heads}) must be divisible by num_kv_groups ({num_kv_groups})")
        self.d_out = d_out
        self.num_heads = num_heads
        self.num_kv_groups = num_kv_groups
        self.group_size = num_heads // num_kv_groups  # query heads per key/value head
        self.head_dim = d_out // num_heads
        self.window_size = window_size
        self.W_query = nn.Linear(d_in, d_out, bias=False)
        self.W_key = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=False)
        self.W_value = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=False)
        self.out_proj = nn.Linear(d_out, d_out, bias=False)
        # END SOLUTION

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """(b, t, d_in), with RoPE tables of at least t rows -> (b, t, d_out)."""
        # BEGIN SOLUTION
        b, t, _ = x.shape
        queries = self.W_query(x).view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (b, h, t, hd)
        keys = self.W_key(x).view(b, t, self.num_kv_groups, self.head_dim).transpose(1, 2)  # (b, g, t, hd)
        values = self.W_value(x).view(b, t, self.num_kv_groups, self.head_dim).transpose(1, 2)
        queries = compute_rope(queries, cos, sin)  # positions enter here, and only here
        keys = compute_rope(keys, cos, sin)
        # Query head j reads key/value head j // group_size: repeat each kv head group_size times in a row.
        keys = keys.repeat_interleave(self.group_size, dim=1)  # (b, h, t, hd)
        values = values.repeat_interleave(self.group_size, dim=1)
        scores = queries @ keys.transpose(2, 3) / self.head_dim**0.5  # (b, h, t, t)
        i = torch.arange(t, device=x.device)[:, None]  # query positions
        j = torch.arange(t, device=x.device)[None, :]  # key positions
        blocked = j > i  # the future
        if self.window_size is not None:
            blocked = blocked | (j <= i - self.window_size)  # further back than the window
        scores = scores.masked_fill(blocked, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = (weights @ values).transpose(1, 2).reshape(b, t, self.d_out)
        return self.out_proj(context)
        # END SOLUTION


class TransformerBlock(nn.Module):
    """Pre-norm block with RMSNorm, grouped-query attention and SwiGLU; with cfg["parallel"],
    Phi's block: attention and feed-forward read the same normalised input, side by side."""

    def __init__(self, cfg: dict):
        super().__init__()
        # BEGIN SOLUTION
        self.parallel = bool(cfg.get("parallel", False))
        self.norm1 = RMSNorm(cfg["emb_dim"])
        self.att = GroupedQueryAttention(cfg["emb_dim"], cfg["emb_dim"], cfg["n_heads"], cfg["n_kv_groups"],
                                         cfg.get("window_size"))
        self.ff = FeedForward(cfg)
        if not self.parallel:
            self.norm2 = RMSNorm(cfg["emb_dim"])
        # END SOLUTION

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        if self.parallel:
            h = self.norm1(x)
            return x + self.att(h, cos, sin) + self.ff(h)
        x = x + self.att(self.norm1(x), cos, sin)
        x = x + self.ff(self.norm2(x))
        return x
        # END SOLUTION


class LlamaModel(nn.Module):
    """Token embeddings, n_layers blocks, a final RMSNorm and the output head; no position
    embedding: positions enter each attention through the RoPE tables, kept as buffers."""

    def __init__(self, cfg: dict):
        super().__init__()
        # BEGIN SOLUTION
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.trf_blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = RMSNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)
        cos, sin = precompute_rope_params(cfg["emb_dim"] // cfg["n_heads"], cfg["rope_base"], cfg["context_length"])
        # Buffers move with .to(device) but are not trained, and are rebuilt rather than saved.
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        # END SOLUTION

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        """(b, t) token ids, t <= context_length -> (b, t, vocab_size) logits."""
        # BEGIN SOLUTION
        x = self.tok_emb(in_idx)
        for block in self.trf_blocks:
            x = block(x, self.cos, self.sin)
        x = self.final_norm(x)
        return self.out_head(x)
        # END SOLUTION
