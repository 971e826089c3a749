"""Lesson 32: LoRA, fine-tuning a large model by training two small matrices per layer.

A weight update of a large layer is nearly always of low rank: it can be written
as the product of a tall and a wide matrix. LoRA keeps the pretrained layer
frozen and learns only that product, a few per cent of the parameters, added to
the layer's output.
"""

import math

import torch
import torch.nn as nn


class LoRALayer(nn.Module):
    """The low-rank update: x @ A @ B, scaled by alpha / rank."""

    def __init__(self, in_dim, out_dim, rank, alpha):
        super().__init__()
        # BEGIN SOLUTION
        self.A = nn.Parameter(torch.empty(in_dim, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(rank, out_dim))
        self.rank = rank
        self.alpha = alpha
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        return (self.alpha / self.rank) * (x @ self.A @ self.B)
        # END SOLUTION


class LinearWithLoRA(nn.Module):
    """A (frozen) nn.Linear and its LoRA update, added."""

    def __init__(self, linear, rank, alpha):
        super().__init__()
        # BEGIN SOLUTION
        self.linear = linear
        self.lora = LoRALayer(linear.in_features, linear.out_features, rank, alpha)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        return self.linear(x) + self.lora(x)
        # END SOLUTION


def replace_linear_with_lora(model, rank, alpha):
    """Wrap every nn.Linear of `model`, however deep, in a LinearWithLoRA, in place.

    Freezing the pretrained weights is the caller's work: model.requires_grad_(False)
    before this call leaves only the LoRA matrices trainable.
    """
    # BEGIN SOLUTION
    for name, module in model.named_children():
        if isinstance(module, nn.Linear):
            setattr(model, name, LinearWithLoRA(module, rank, alpha))
        else:
            replace_linear_with_lora(module, rank, alpha)
    # END SOLUTION
