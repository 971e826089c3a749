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
        # BEGIN SOLUTION
        self.eps = 1e-5
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        mean = x.mean(dim=-1, keepdim=True)
        var = x.var(dim=-1, keepdim=True, unbiased=False)
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift
        # END SOLUTION


class GELU(nn.Module):
    """GELU, tanh approximation: 0.5*x*(1 + tanh(sqrt(2/pi) * (x + 0.044715*x**3)))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        # END SOLUTION


class FeedForward(nn.Module):
    """Widen to 4 x emb_dim, GELU, narrow back: the same small network on every token."""

    def __init__(self, cfg: dict):
        super().__init__()
        # BEGIN SOLUTION
        d = cfg["emb_dim"]
        self.layers = nn.Sequential(nn.Linear(d, 4 * d), GELU(), nn.Linear(4 * d, d))
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        return self.layers(x)
        # END SOLUTION


class TransformerBlock(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + feed-forward(norm(x))."""

    def __init__(self, cfg: dict):
        super().__init__()
        # BEGIN SOLUTION
        self.att = MultiHeadAttention(
            d_in=cfg["emb_dim"],
            d_out=cfg["emb_dim"],
            context_length=cfg["context_length"],
            dropout=cfg["drop_rate"],
            num_heads=cfg["n_heads"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(cfg["emb_dim"])
        self.norm2 = LayerNorm(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION
        x = x + self.drop_shortcut(self.att(self.norm1(x)))
        x = x + self.drop_shortcut(self.ff(self.norm2(x)))
        return x
        # END SOLUTION
