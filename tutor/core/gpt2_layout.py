"""The tensors of a Hugging Face GPT-2 checkpoint and their shapes: the one description that
the lessons' references (tutor.checks.gpt2_refs) and the weights' structure check
(tutor.data.gpt2) both read. Plain Python, no torch."""

from __future__ import annotations


def gpt2_shapes(vocab: int, context: int, d: int, n_layers: int) -> dict[str, tuple[int, ...]]:
    """Each name (no `transformer.` prefix) and its shape, in the checkpoint's own orientation
    ((in, out) for Conv1D)."""
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (vocab, d), "wpe.weight": (context, d),
                                          "ln_f.weight": (d,), "ln_f.bias": (d,)}
    for i in range(n_layers):
        p = f"h.{i}."
        shapes.update({p + "ln_1.weight": (d,), p + "ln_1.bias": (d,), p + "ln_2.weight": (d,), p + "ln_2.bias": (d,),
                       p + "attn.c_attn.weight": (d, 3 * d), p + "attn.c_attn.bias": (3 * d,),
                       p + "attn.c_proj.weight": (d, d), p + "attn.c_proj.bias": (d,),
                       p + "mlp.c_fc.weight": (d, 4 * d), p + "mlp.c_fc.bias": (4 * d,),
                       p + "mlp.c_proj.weight": (4 * d, d), p + "mlp.c_proj.bias": (d,)})
    return shapes
