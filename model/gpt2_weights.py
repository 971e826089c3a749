"""Lesson 24: OpenAI's GPT-2 weights in your own GPTModel.

A Hugging Face `gpt2` checkpoint names its tensors `wte`, `wpe`, `h.N.ln_1`,
`h.N.attn.c_attn`, ... (with a `transformer.` prefix when it comes from
`GPT2LMHeadModel.state_dict()`, without one in `model.safetensors`). Its
`Conv1D` layers store their weights as `(in, out)`, the transpose of an
`nn.Linear`'s `(out, in)`, and one fused `c_attn` holds the query, key and value
projections side by side, in that order.
"""

import torch

PREFIX = "transformer."


def load_gpt2_weights(model, state_dict):
    """Copy a GPT-2 checkpoint's tensors into `model` (a GPTModel built with qkv_bias=True).

    A missing key raises KeyError and a shape that does not fit raises ValueError,
    both naming the checkpoint's key. out_head gets a copy of the token embedding
    (GPT-2 ties the two). Returns the model.
    """
    # Lesson 24: your code here (`tutor hint 24` helps).
    raise NotImplementedError("load_gpt2_weights is not written yet (lesson 24: Load GPT-2's weights)")
