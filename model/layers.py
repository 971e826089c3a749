"""Lessons 8-9: the layers around attention, and the transformer block.

`cfg` holds vocab_size, context_length, emb_dim, n_heads, n_layers, drop_rate, qkv_bias.
"""

import math

import torch
import torch.nn as nn

from .attention import MultiHeadAttention


class LayerNorm(nn.Module):
    """Normalise each token's features to mean 0 and variance 1, then scale and shift."""

    def __init__(self, emb_dim: int):
        super().__init__()
        # Lesson 8: your code here (`tutor hint 8` helps).
        raise NotImplementedError("LayerNorm.__init__ is not written yet (lesson 8: Normalisation and the feed-forward)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Lesson 8: your code here (`tutor hint 8` helps).
        raise NotImplementedError("LayerNorm.forward is not written yet (lesson 8: Normalisation and the feed-forward)")


class GELU(nn.Module):
    """GELU, tanh approximation: 0.5*x*(1 + tanh(sqrt(2/pi) * (x + 0.044715*x**3)))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Lesson 8: your code here (`tutor hint 8` helps).
        raise NotImplementedError("GELU.forward is not written yet (lesson 8: Normalisation and the feed-forward)")


class FeedForward(nn.Module):
    """Widen to 4 x emb_dim, GELU, narrow back: the same small network on every token."""

    def __init__(self, cfg: dict):
        super().__init__()
        # Lesson 8: your code here (`tutor hint 8` helps).
        raise NotImplementedError("FeedForward.__init__ is not written yet (lesson 8: Normalisation and the feed-forward)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Lesson 8: your code here (`tutor hint 8` helps).
        raise NotImplementedError("FeedForward.forward is not written yet (lesson 8: Normalisation and the feed-forward)")


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + feed-forward(norm(x))."""

    def __init__(self, cfg: dict):
        super().__init__()
        # Lesson 9: your code here (`tutor hint 9` helps).
        raise NotImplementedError("TransformerBlock.__init__ is not written yet (lesson 9: The transformer block)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Lesson 9: your code here (`tutor hint 9` helps).
        raise NotImplementedError("TransformerBlock.forward is not written yet (lesson 9: The transformer block)")
