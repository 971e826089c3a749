"""See int8 pay: a GPTModel's size and logits before and after your quantize_model."""

import io

import torch

from model.gpt import GPTModel
from model.quantize import quantize_model

cfg = {"vocab_size": 4096, "context_length": 128, "emb_dim": 128, "n_heads": 4, "n_layers": 4, "drop_rate": 0.0,
       "qkv_bias": False}  # the tiny preset's shape


def saved_mb(model):
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell() / 2**20


def block_mb(model):
    """The bytes of the blocks' weights alone: what quantize_model changes."""
    tensors = [*model.trf_blocks.parameters(), *model.trf_blocks.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


torch.manual_seed(0)
model = GPTModel(cfg).eval()
idx = torch.randint(0, cfg["vocab_size"], (4, 64))
with torch.no_grad():
    before = model(idx)
size_before, blocks_before = saved_mb(model), block_mb(model)
quantize_model(model)
with torch.no_grad():
    after = model(idx)
size_after, blocks_after = saved_mb(model), block_mb(model)
print("The tiny preset's GPTModel, random weights, your quantize_model (the output head stays float):\n")
print(f"{'':<28} {'float32':>9} {'int8':>9}")
print(f"{'the blocks weights (MB)':<28} {blocks_before:9.2f} {blocks_after:9.2f}   {blocks_after / blocks_before:.0%}")
print(f"{'the whole checkpoint (MB)':<28} {size_before:9.2f} {size_after:9.2f}   {size_after / size_before:.0%}")
drift = (after - before).abs().max().item()
same = (after.argmax(-1) == before.argmax(-1)).float().mean().item()
print(f"\nlargest change of a logit: {drift:.4f} (the logits span {before.min().item():.2f} to {before.max().item():.2f})")
print(f"the same most likely next token at {same:.1%} of {idx.numel()} positions")
print("\nThe embeddings and the head are most of this small model; in GPT-2 124M the blocks are 85 M of 124 M.")
