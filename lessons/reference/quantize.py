"""Lesson 27: int8 weights, so that a model takes a quarter of the memory to serve.

Each row of a weight matrix (one output channel) gets its own scale: the row's
largest magnitude maps to 127, and every weight becomes the nearest of the 255
steps in between. A layer keeps the int8 matrix and the scales, and turns them
back into floats when it computes.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def quantize_per_channel(w):
    """Symmetric int8 quantization of a 2-D float tensor (out, in), one scale per row.

    Returns (q, scale): q int8 of w's shape, scale float32 of shape (out,), with
    scale[i] = max(abs(w[i])) / 127 (1.0 for a row of zeros). w is left unchanged.
    """
    # BEGIN SOLUTION
    w = w.detach().float()
    scale = w.abs().amax(dim=1) / 127.0
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    q = torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8)
    return q, scale.to(torch.float32)
    # END SOLUTION


def dequantize(q, scale):
    """The float32 weights that q and scale stand for: each row times its scale."""
    # BEGIN SOLUTION
    return q.float() * scale.float()[:, None]
    # END SOLUTION


class Int8Linear(nn.Module):
    """An nn.Linear whose weight is kept as int8 with one float32 scale per output."""

    def __init__(self, weight_int8, scale, bias=None):
        super().__init__()
        self.out_features, self.in_features = weight_int8.shape
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("scale", scale)
        self.bias = bias

    @classmethod
    def from_linear(cls, linear):
        """An Int8Linear computing what `linear` computes, to within half a step per weight."""
        # BEGIN SOLUTION
        q, scale = quantize_per_channel(linear.weight)
        bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        return cls(q, scale, bias)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        weight = dequantize(self.weight_int8, self.scale).to(x.dtype)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, weight, bias)
        # END SOLUTION


def quantize_model(model, skip=("out_head",)):
    """Replace, in place, every nn.Linear of `model` whose dotted name is not in `skip`
    with its Int8Linear, under the same name; return the model."""
    # BEGIN SOLUTION
    for name, module in list(model.named_modules()):
        if name and isinstance(module, nn.Linear) and name not in skip:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, Int8Linear.from_linear(module))
    return model
    # END SOLUTION
