"""Lessons 5-7: attention, from one head without a mask to many causal heads.

Shapes: b batch, t tokens, d_in input width, d_out output width, h heads.
"""

import torch
import torch.nn as nn


class SelfAttention(nn.Module):
    """Every token looks at every token (no mask, no dropout)."""

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False):
        super().__init__()
        # BEGIN SOLUTION
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, t, d_in) -> (b, t, d_out)."""
        # BEGIN SOLUTION
        queries = self.W_query(x)  # (b, t, d_out)
        keys = self.W_key(x)  # (b, t, d_out)
        values = self.W_value(x)  # (b, t, d_out)
        scores = queries @ keys.transpose(-2, -1)  # (b, t, t): row i = how much query i matches each key
        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)  # each row sums to 1
        return weights @ values  # (b, t, d_out)
        # END SOLUTION


class CausalAttention(nn.Module):
    """Position i attends to positions <= i only; dropout on the attention weights."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, qkv_bias: bool = False):
        super().__init__()
        # BEGIN SOLUTION
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        # True above the diagonal: the future that each position must not see.
        future = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", future, persistent=False)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, t, d_in) -> (b, t, d_out), for any t <= context_length."""
        # BEGIN SOLUTION
        t = x.shape[1]
        queries, keys, values = self.W_query(x), self.W_key(x), self.W_value(x)
        scores = queries @ keys.transpose(-2, -1)  # (b, t, t)
        scores = scores.masked_fill(self.mask[:t, :t], float("-inf"))  # exp(-inf) = 0 after softmax
        weights = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1)
        weights = self.dropout(weights)
        return weights @ values
        # END SOLUTION


class MultiHeadAttention(nn.Module):
    """h causal heads side by side, each on its own slice of d_out, then one output projection."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False):
        super().__init__()
        # BEGIN SOLUTION
        if d_out % num_heads != 0:
            raise ValueError(f"d_out ({d_out}) must be divisible by num_heads ({num_heads})")
        self.d_out = d_out
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.dropout = nn.Dropout(dropout)
        future = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", future, persistent=False)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, t, d_in) -> (b, t, d_out)."""
        # BEGIN SOLUTION
        b, t, _ = x.shape

        def split_heads(y: torch.Tensor) -> torch.Tensor:
            # (b, t, d_out) -> (b, t, h, head_dim) -> (b, h, t, head_dim): head j owns features j*hd:(j+1)*hd
            return y.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

        queries, keys, values = split_heads(self.W_query(x)), split_heads(self.W_key(x)), split_heads(self.W_value(x))
        scores = queries @ keys.transpose(-2, -1)  # (b, h, t, t)
        scores = scores.masked_fill(self.mask[:t, :t], float("-inf"))
        weights = torch.softmax(scores / self.head_dim**0.5, dim=-1)
        weights = self.dropout(weights)
        context = (weights @ values).transpose(1, 2).reshape(b, t, self.d_out)  # heads back side by side
        return self.out_proj(context)
        # END SOLUTION
