"""Mutants for lessons 24-25: GPT-2's weights in the learner's GPTModel, and the KV cache."""

from tests.mutants import mutant

W = "gpt2_weights.py"
K = "kv_cache.py"
QKV = "zip((att.W_query, att.W_key, att.W_value), qkv_w.split(d, dim=1), qkv_b.split(d))"
NEW_TOKEN = "logits = forward(idx[:, -1:], idx.shape[1] - 1, caches)"

MUTANTS = [
    # Lesson 24: load_gpt2_weights
    mutant(24, "qkv-order", W, (QKV, "zip((att.W_key, att.W_query, att.W_value), qkv_w.split(d, dim=1), qkv_b.split(d))"),
           expect="wrong order"),
    mutant(24, "c-attn-not-transposed", W, ('put(layer.weight, p + "attn.c_attn.weight", w.T)',
                                            'put(layer.weight, p + "attn.c_attn.weight", w)'), expect="not transposed"),
    mutant(24, "c-proj-not-transposed", W, ('take(p + "attn.c_proj.weight").T)', 'take(p + "attn.c_proj.weight"))'),
           expect="not transposed"),
    mutant(24, "c-fc-not-transposed", W, ('take(p + "mlp.c_fc.weight").T)', 'take(p + "mlp.c_fc.weight"))'),
           expect="not transposed"),
    mutant(24, "ln-swapped", W,
           ('put(block.norm1.scale, p + "ln_1.weight", take(p + "ln_1.weight"))',
            'put(block.norm1.scale, p + "ln_2.weight", take(p + "ln_2.weight"))'),
           ('put(block.norm2.scale, p + "ln_2.weight", take(p + "ln_2.weight"))',
            'put(block.norm2.scale, p + "ln_1.weight", take(p + "ln_1.weight"))'),
           ('put(block.norm1.shift, p + "ln_1.bias", take(p + "ln_1.bias"))',
            'put(block.norm1.shift, p + "ln_2.bias", take(p + "ln_2.bias"))'),
           ('put(block.norm2.shift, p + "ln_2.bias", take(p + "ln_2.bias"))',
            'put(block.norm2.shift, p + "ln_1.bias", take(p + "ln_1.bias"))'),
           expect="ln_1 and ln_2 are swapped"),
    mutant(24, "biases-not-loaded", W, ('            put(layer.bias, p + "attn.c_attn.bias", b)\n', ""),
           ('        put(att.out_proj.bias, p + "attn.c_proj.bias", take(p + "attn.c_proj.bias"))\n', ""),
           expect="not loaded"),
    mutant(24, "blocks-off-by-one", W, ('p = f"h.{i}."', 'p = f"h.{i + 1}."'), expect="off by one"),
    mutant(24, "head-left-random", W,
           ('    put(model.out_head.weight, "wte.weight", take("wte.weight"))  # tied in GPT-2: a copy here\n', ""),
           expect="left random"),
    mutant(24, "head-shared", W,
           ('    put(model.out_head.weight, "wte.weight", take("wte.weight"))  # tied in GPT-2: a copy here\n',
            "    model.out_head.weight = model.tok_emb.weight\n"),
           expect="the same tensor"),
    mutant(24, "prefix-not-stripped", W,
           ("sd = {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in state_dict.items()}",
            "sd = dict(state_dict)"), expect="prefix is not stripped"),
    mutant(24, "no-key-check", W,
           ('            raise KeyError(f"the checkpoint has no {key!r}")\n        return sd[key]',
            "            raise KeyError('a key is missing')\n        return sd[key]"), expect="name the checkpoint's key"),
    # Lesson 25: generate_cached
    mutant(25, "reruns-whole-window", K,
           (NEW_TOKEN, "caches = [None] * len(model.trf_blocks)\n                    "
                       "logits = forward(idx[:, -context_size:], 0, caches)"),
           expect="re-runs the whole sequence"),
    mutant(25, "new-token-at-position-zero", K, (NEW_TOKEN, "logits = forward(idx[:, -1:], 0, caches)"),
           expect="embedded at position 0"),
    mutant(25, "cache-kept-past-context", K,
           ("if caches is None or idx.shape[1] > context_size:", "if caches is None:"),
           expect="cache is kept past context_size"),
    mutant(25, "eos-ignored", K,
           ("                if eos_id is not None and bool((next_id == eos_id).all()):\n                    break\n", ""),
           expect="eos_id"),
    mutant(25, "mode-not-restored", K, ("        model.train(was_training)\n", "        pass\n"), expect="eval mode"),
    mutant(25, "gradients-kept", K, ("with torch.no_grad():", "with torch.enable_grad():"), expect="no_grad"),
    mutant(25, "always-greedy", K, ("                if temperature > 0:\n", "                if False:\n"),
           expect="temperature is ignored (always greedy)"),
    mutant(25, "top-k-ignored", K, ("                    if top_k is not None:\n", "                    if False:\n"),
           expect="top_k is ignored"),
]
