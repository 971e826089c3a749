"""Lessons 5-7: attention, from one head without a mask to many causal heads.

Shapes: b batch, t tokens, d_in input width, d_out output width, h heads.
"""

import torch
import torch.nn as nn


class SelfAttention(nn.Module):
    """Every token looks at every token (no mask, no dropout)."""

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False):
        super().__init__()
        # Lesson 5: your code here (`tutor hint 5` helps).
        raise NotImplementedError("SelfAttention.__init__ is not written yet (lesson 5: Self-attention)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, t, d_in) -> (b, t, d_out)."""
        # Lesson 5: your code here (`tutor hint 5` helps).
        raise NotImplementedError("SelfAttention.forward is not written yet (lesson 5: Self-attention)")


class CausalAttention(nn.Module):
    """Position i attends to positions <= i only; dropout on the attention weights."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, qkv_bias: bool = False):
        super().__init__()
        # Lesson 6: your code here (`tutor hint 6` helps).
        raise NotImplementedError("CausalAttention.__init__ is not written yet (lesson 6: Causal attention and dropout)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, t, d_in) -> (b, t, d_out), for any t <= context_length."""
        # Lesson 6: your code here (`tutor hint 6` helps).
        raise NotImplementedError("CausalAttention.forward is not written yet (lesson 6: Causal attention and dropout)")


class MultiHeadAttention(nn.Module):
    """h causal heads side by side, each on its own slice of d_out, then one output projection."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False):
        super().__init__()
        # Lesson 7: your code here (`tutor hint 7` helps).
        raise NotImplementedError("MultiHeadAttention.__init__ is not written yet (lesson 7: Multi-head attention)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, t, d_in) -> (b, t, d_out)."""
        # Lesson 7: your code here (`tutor hint 7` helps).
        raise NotImplementedError("MultiHeadAttention.forward is not written yet (lesson 7: Multi-head attention)")
