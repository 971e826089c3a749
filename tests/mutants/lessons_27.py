"""Lesson 27's common mistakes: int8 weights."""

from tests.mutants import mutant

SCALE = "    scale = w.abs().amax(dim=1) / 127.0"
Q = "    q = torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8)"

MUTANTS = [
    mutant(27, "per-tensor-scale", "quantize.py",
           (SCALE, "    scale = (w.abs().max() / 127.0).expand(w.shape[0])"),
           expect="one scale for the whole matrix"),
    mutant(27, "divides-by-128", "quantize.py",
           (SCALE, "    scale = w.abs().amax(dim=1) / 128.0"),
           expect="divides by 128"),
    mutant(27, "truncates", "quantize.py",
           (Q, "    q = torch.clamp(w / scale[:, None], -127, 127).to(torch.int8)"),
           expect="cut towards zero"),
    mutant(27, "zero-row-nan", "quantize.py",
           ("    scale = torch.where(scale == 0, torch.ones_like(scale), scale)\n", ""),
           expect="row of zeros"),
    mutant(27, "scales-along-columns", "quantize.py",
           ("    return q.float() * scale.float()[:, None]", "    return q.float() * scale.float()"),
           expect="scale[i] belongs to row i"),
    mutant(27, "bias-dropped", "quantize.py",
           ("        bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)",
            "        bias = None"),
           expect="dropped the bias"),
    mutant(27, "head-quantized", "quantize.py",
           ("        if name and isinstance(module, nn.Linear) and name not in skip:",
            "        if name and isinstance(module, nn.Linear):"),
           expect="quantized out_head"),
    mutant(27, "float-weight-edited-in-place", "quantize.py",
           ("    w = w.detach().float()\n", "    w = w.detach()\n"),
           (Q, "    q = torch.clamp(torch.round(w.div_(scale[:, None])), -127, 127).to(torch.int8)"),
           expect="changed the float weight"),
    mutant(27, "top-level-layers-only", "quantize.py",
           ("    for name, module in list(model.named_modules()):", "    for name, module in list(model.named_children()):"),
           expect="however deep"),
]
