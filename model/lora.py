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
        # Lesson 32: your code here (`tutor hint 32` helps).
        raise NotImplementedError("LoRALayer.__init__ is not written yet (lesson 32: LoRA)")

    def forward(self, x):
        # Lesson 32: your code here (`tutor hint 32` helps).
        raise NotImplementedError("LoRALayer.forward is not written yet (lesson 32: LoRA)")


class LinearWithLoRA(nn.Module):
    """A (frozen) nn.Linear and its LoRA update, added."""

    def __init__(self, linear, rank, alpha):
        super().__init__()
        # Lesson 32: your code here (`tutor hint 32` helps).
        raise NotImplementedError("LinearWithLoRA.__init__ is not written yet (lesson 32: LoRA)")

    def forward(self, x):
        # Lesson 32: your code here (`tutor hint 32` helps).
        raise NotImplementedError("LinearWithLoRA.forward is not written yet (lesson 32: LoRA)")


def replace_linear_with_lora(model, rank, alpha):
    """Wrap every nn.Linear of `model`, however deep, in a LinearWithLoRA, in place.

    Freezing the pretrained weights is the caller's work: model.requires_grad_(False)
    before this call leaves only the LoRA matrices trainable.
    """
    # Lesson 32: your code here (`tutor hint 32` helps).
    raise NotImplementedError("replace_linear_with_lora is not written yet (lesson 32: LoRA)")
