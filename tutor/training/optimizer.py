"""The optimizer every trainer uses: AdamW that decays matrices only.

Weight decay pulls weights towards zero so that no single one grows large. That
suits the matrices (embeddings, the linear layers' weights), which map one space
onto another; a bias or a norm's scale is a single offset or gain per feature,
and shrinking it towards zero only fights what the layer needs (GPT-2 and
nanoGPT decay the 2-D parameters alone, as here).
"""

from __future__ import annotations

from typing import Any


def parameter_groups(params: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: tensors of two or more dimensions decay, the rest do not."""
    params = [p for p in params if p.requires_grad]
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]


def adamw(params: Any, *, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.999),
          decay_all: bool = False, fused: bool = False) -> Any:
    """AdamW over `params` (a model's parameters, or those left trainable).

    `decay_all` keeps a single group that decays everything: how runs saved before
    the groups were split were optimised, so that one resumes with the optimizer
    state it saved. `fused` asks for torch's fused kernel, used where the device
    has one (CUDA, and CPUs since torch 2.4).
    """
    import torch

    params = list(params)
    groups = ([{"params": [p for p in params if p.requires_grad], "weight_decay": weight_decay}] if decay_all
              else parameter_groups(params, weight_decay))
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True)
        except (RuntimeError, TypeError):
            pass
    return torch.optim.AdamW(groups, lr=lr, betas=betas)
