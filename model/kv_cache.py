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
    # Lesson 25: your code here (`tutor hint 25` helps).
    raise NotImplementedError("generate_cached is not written yet (lesson 25: A KV cache)")
