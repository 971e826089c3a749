"""Lesson 25: a KV cache, so that each new token costs one position per block.

Plain decoding (lesson 11) runs the whole window through the model for every
new token, although the keys and values of the earlier positions never change.
Here each block keeps them: the prompt is encoded once, then every step feeds
only the newest token, whose query attends to the kept keys and values.

It works on your GPTModel from its parts (tok_emb, pos_emb, each block's norm1,
att, norm2 and ff, then final_norm and out_head), in eval mode, so dropout is off.
"""

import math

import torch


def generate_cached(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None):
    """generate (lesson 11) with a KV cache: the same arguments and, greedy, the same output.

    While the sequence fits in context_size each step feeds only the newest token;
    past it, the window shifts and is encoded afresh.
    """
    # BEGIN SOLUTION
    def attend(att, x, cache):
        """Causal attention of the new positions x (b, t, d) over the kept keys and values
        and their own; returns the output and the grown cache."""
        b, t, _ = x.shape
        h, hd = att.num_heads, att.head_dim

        def heads(y):
            return y.view(b, t, h, hd).transpose(1, 2)  # (b, h, t, hd)

        q, k, v = heads(att.W_query(x)), heads(att.W_key(x)), heads(att.W_value(x))
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        total = k.shape[2]
        scores = q @ k.transpose(2, 3) / math.sqrt(hd)  # (b, h, t, total)
        # new position i is absolute position total - t + i: it sees keys j <= total - t + i
        future = torch.ones(t, total, dtype=torch.bool, device=x.device).triu(total - t + 1)
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(b, t, h * hd)
        return att.out_proj(out), (k, v)

    def forward(ids, start, caches):
        """Logits of ids at positions start.., reading and growing each block's cache."""
        positions = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = model.tok_emb(ids) + model.pos_emb(positions)
        for i, block in enumerate(model.trf_blocks):
            a, caches[i] = attend(block.att, block.norm1(x), caches[i])
            x = x + a
            x = x + block.ff(block.norm2(x))
        return model.out_head(model.final_norm(x))[:, -1, :]

    was_training = model.training
    model.eval()
    caches = None
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                if caches is None or idx.shape[1] > context_size:
                    caches = [None] * len(model.trf_blocks)  # (re)encode the last context_size tokens
                    logits = forward(idx[:, -context_size:], 0, caches)
                else:  # only the newest token: the cache holds the rest
                    logits = forward(idx[:, -1:], idx.shape[1] - 1, caches)
                if temperature > 0:
                    logits = logits / temperature
                    if top_k is not None:
                        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
                        logits = logits.masked_fill(logits < kth, float("-inf"))
                    next_id = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1)
                else:
                    next_id = logits.argmax(dim=-1, keepdim=True)
                if eos_id is not None and bool((next_id == eos_id).all()):
                    break
                idx = torch.cat([idx, next_id], dim=1)
    finally:
        model.train(was_training)
    return idx
    # END SOLUTION
