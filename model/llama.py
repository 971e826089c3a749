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
        # Lesson 18: your code here (`tutor hint 18` helps).
        raise NotImplementedError("RMSNorm.__init__ is not written yet (lesson 18: RMSNorm and SwiGLU)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Lesson 18: your code here (`tutor hint 18` helps).
        raise NotImplementedError("RMSNorm.forward is not written yet (lesson 18: RMSNorm and SwiGLU)")


class FeedForward(nn.Module):
    """SwiGLU: fc1's output, through SiLU, gates fc2's output element by element; fc3 narrows back."""

    def __init__(self, cfg: dict):
        super().__init__()
        # Lesson 18: your code here (`tutor hint 18` helps).
        raise NotImplementedError("FeedForward.__init__ is not written yet (lesson 18: RMSNorm and SwiGLU)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Lesson 18: your code here (`tutor hint 18` helps).
        raise NotImplementedError("FeedForward.forward is not written yet (lesson 18: RMSNorm and SwiGLU)")


def precompute_rope_params(head_dim: int, theta_base: float = 10_000, context_length: int = 4096):
    """The cos and sin tables of rotary embeddings, each (context_length, head_dim), float32.

    Row p holds the angles of position p: p times each pair's frequency, the
    fastest pair first. Feature i and feature i + head_dim // 2 form a pair, so
    the angles are written twice, side by side.
    """
    # Lesson 19: your code here (`tutor hint 19` helps).
    raise NotImplementedError("precompute_rope_params is not written yet (lesson 19: Rotary position embeddings)")


def compute_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Rotate each pair (x[i], x[i + head_dim // 2]) of x (b, h, t, head_dim) by its position's angle.

    Position p of x is absolute position offset + p (a later chunk of a sequence).
    """
    # Lesson 19: your code here (`tutor hint 19` helps).
    raise NotImplementedError("compute_rope is not written yet (lesson 19: Rotary position embeddings)")


class GroupedQueryAttention(nn.Module):
    """Causal multi-head attention in which groups of query heads share one key/value head.

    num_kv_groups = num_heads is ordinary multi-head attention; 1 is multi-query
    attention. With window_size = w, position i sees only the last w positions.
    """

    def __init__(self, d_in: int, d_out: int, num_heads: int, num_kv_groups: int, window_size: int | None = None):
        super().__init__()
        # Lesson 20: your code here (`tutor hint 20` helps).
        raise NotImplementedError("GroupedQueryAttention.__init__ is not written yet (lesson 20: Grouped-query and sliding-window attention)")

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """(b, t, d_in), with RoPE tables of at least t rows -> (b, t, d_out)."""
        # Lesson 20: your code here (`tutor hint 20` helps).
        raise NotImplementedError("GroupedQueryAttention.forward is not written yet (lesson 20: Grouped-query and sliding-window attention)")


class TransformerBlock(nn.Module):
    """Pre-norm block with RMSNorm, grouped-query attention and SwiGLU; with cfg["parallel"],
    Phi's block: attention and feed-forward read the same normalised input, side by side."""

    def __init__(self, cfg: dict):
        super().__init__()
        # Lesson 21: your code here (`tutor hint 21` helps).
        raise NotImplementedError("TransformerBlock.__init__ is not written yet (lesson 21: The Llama-style model)")

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        # Lesson 21: your code here (`tutor hint 21` helps).
        raise NotImplementedError("TransformerBlock.forward is not written yet (lesson 21: The Llama-style model)")


class LlamaModel(nn.Module):
    """Token embeddings, n_layers blocks, a final RMSNorm and the output head; no position
    embedding: positions enter each attention through the RoPE tables, kept as buffers."""

    def __init__(self, cfg: dict):
        super().__init__()
        # Lesson 21: your code here (`tutor hint 21` helps).
        raise NotImplementedError("LlamaModel.__init__ is not written yet (lesson 21: The Llama-style model)")

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        """(b, t) token ids, t <= context_length -> (b, t, vocab_size) logits."""
        # Lesson 21: your code here (`tutor hint 21` helps).
        raise NotImplementedError("LlamaModel.forward is not written yet (lesson 21: The Llama-style model)")
