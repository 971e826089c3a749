"""Lessons 10-11: the GPT model, and text generation with it."""

import torch
import torch.nn as nn

from .layers import LayerNorm, TransformerBlock


class GPTModel(nn.Module):
    """Token + position embeddings, n_layers transformer blocks, a final norm, and the output head."""

    def __init__(self, cfg: dict):
        super().__init__()
        # Lesson 10: your code here (`tutor hint 10` helps).
        raise NotImplementedError("GPTModel.__init__ is not written yet (lesson 10: The GPT)")

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        """(b, t) token ids, t <= context_length -> (b, t, vocab_size) logits."""
        # Lesson 10: your code here (`tutor hint 10` helps).
        raise NotImplementedError("GPTModel.forward is not written yet (lesson 10: The GPT)")


def generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None):
    """Append up to max_new_tokens ids to idx (b, t), one at a time.

    Feeds the model at most the last `context_size` tokens. temperature 0 is greedy;
    otherwise logits / temperature, keep the top_k largest (if given), and sample.
    Stops early when every row's new token is eos_id (that token is not appended).
    Runs without gradients and leaves model.training as it was.
    """
    # Lesson 11: your code here (`tutor hint 11` helps).
    raise NotImplementedError("generate is not written yet (lesson 11: Decoding)")
