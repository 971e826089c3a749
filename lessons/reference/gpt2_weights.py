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
    # BEGIN SOLUTION
    sd = {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in state_dict.items()}

    def take(key):
        if key not in sd:
            raise KeyError(f"the checkpoint has no {key!r}")
        return sd[key]

    def put(param, key, value):
        if param is None:
            raise ValueError(f"{key}: the model has no parameter for it (build the GPTModel with qkv_bias=True)")
        if tuple(param.shape) != tuple(value.shape):
            raise ValueError(f"{key}: the checkpoint's shape {tuple(value.shape)} does not fit "
                             f"the model's {tuple(param.shape)}")
        with torch.no_grad():
            param.copy_(value)

    put(model.tok_emb.weight, "wte.weight", take("wte.weight"))
    put(model.pos_emb.weight, "wpe.weight", take("wpe.weight"))
    d = model.tok_emb.weight.shape[1]
    for i, block in enumerate(model.trf_blocks):
        p = f"h.{i}."
        put(block.norm1.scale, p + "ln_1.weight", take(p + "ln_1.weight"))
        put(block.norm1.shift, p + "ln_1.bias", take(p + "ln_1.bias"))
        qkv_w, qkv_b = take(p + "attn.c_attn.weight"), take(p + "attn.c_attn.bias")
        if tuple(qkv_w.shape) != (d, 3 * d):
            raise ValueError(f"{p}attn.c_attn.weight: the checkpoint's shape {tuple(qkv_w.shape)} should be {(d, 3 * d)}")
        if tuple(qkv_b.shape) != (3 * d,):
            raise ValueError(f"{p}attn.c_attn.bias: the checkpoint's shape {tuple(qkv_b.shape)} should be {(3 * d,)}")
        att = block.att
        # Conv1D keeps (in, out): the query's columns come first, then the key's, then the value's.
        for layer, w, b in zip((att.W_query, att.W_key, att.W_value), qkv_w.split(d, dim=1), qkv_b.split(d)):
            put(layer.weight, p + "attn.c_attn.weight", w.T)
            put(layer.bias, p + "attn.c_attn.bias", b)
        put(att.out_proj.weight, p + "attn.c_proj.weight", take(p + "attn.c_proj.weight").T)
        put(att.out_proj.bias, p + "attn.c_proj.bias", take(p + "attn.c_proj.bias"))
        put(block.norm2.scale, p + "ln_2.weight", take(p + "ln_2.weight"))
        put(block.norm2.shift, p + "ln_2.bias", take(p + "ln_2.bias"))
        fc, proj = block.ff.layers[0], block.ff.layers[2]
        put(fc.weight, p + "mlp.c_fc.weight", take(p + "mlp.c_fc.weight").T)
        put(fc.bias, p + "mlp.c_fc.bias", take(p + "mlp.c_fc.bias"))
        put(proj.weight, p + "mlp.c_proj.weight", take(p + "mlp.c_proj.weight").T)
        put(proj.bias, p + "mlp.c_proj.bias", take(p + "mlp.c_proj.bias"))
    put(model.final_norm.scale, "ln_f.weight", take("ln_f.weight"))
    put(model.final_norm.shift, "ln_f.bias", take("ln_f.bias"))
    put(model.out_head.weight, "wte.weight", take("wte.weight"))  # tied in GPT-2: a copy here
    return model
    # END SOLUTION
