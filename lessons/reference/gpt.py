"""Lessons 10-11: the GPT model, and text generation with it."""

import torch
import torch.nn as nn

from .layers import LayerNorm, TransformerBlock


class GPTModel(nn.Module):
    """Token + position embeddings, n_layers transformer blocks, a final norm, and the output head."""

    def __init__(self, cfg: dict):
        super().__init__()
        # BEGIN SOLUTION
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)
        # END SOLUTION

    def forward(self, in_idx: torch.Tensor) -> torch.Tensor:
        """(b, t) token ids, t <= context_length -> (b, t, vocab_size) logits."""
        # BEGIN SOLUTION
        t = in_idx.shape[1]
        positions = torch.arange(t, device=in_idx.device)  # 0..t-1, the same for every row
        x = self.tok_emb(in_idx) + self.pos_emb(positions)  # (b, t, d) + (t, d) broadcasts
        x = self.drop_emb(x)
        x = self.trf_blocks(x)
        x = self.final_norm(x)
        return self.out_head(x)
        # END SOLUTION


def generate(model, idx, max_new_tokens, context_size, temperature=0.0, top_k=None, eos_id=None):
    """Append up to max_new_tokens ids to idx (b, t), one at a time.

    Feeds the model at most the last `context_size` tokens. temperature 0 is greedy;
    otherwise logits / temperature, keep the top_k largest (if given), and sample.
    Stops early when every row's new token is eos_id (that token is not appended).
    Runs without gradients and leaves model.training as it was.
    """
    # BEGIN SOLUTION
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                logits = model(idx[:, -context_size:])[:, -1, :]  # (b, V): the scores for the next token
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
