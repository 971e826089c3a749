"""See what LoRA trains: your replace_linear_with_lora on the tiny preset's GPT and GPT-2's shape."""

import torch
import torch.nn as nn

from model.gpt import GPTModel
from model.lora import replace_linear_with_lora

shapes = {
    "the tiny preset": {"vocab_size": 4096, "context_length": 128, "emb_dim": 128, "n_heads": 4, "n_layers": 4},
    "GPT-2 124M": {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12, "n_layers": 12},
}
print("Trainable parameters with a 2-class head, every nn.Linear wrapped (alpha = rank), the rest frozen:\n")
print(f"{'model':<16} {'all weights':>12} {'rank':>5} {'trainable':>11} {'share':>7}")
for label, shape in shapes.items():
    for rank in (4, 16, 64):
        with torch.device("meta"):  # shapes only: no memory, no weights
            model = GPTModel({**shape, "drop_rate": 0.0, "qkv_bias": True})
            model.out_head = nn.Linear(shape["emb_dim"], 2)
            total = sum(p.numel() for p in model.parameters())
            model.requires_grad_(False)
            replace_linear_with_lora(model, rank, rank)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"{label:<16} {total:12,} {rank:5} {trainable:11,} {trainable / total:7.2%}")
print("\nAdam keeps two numbers per trained weight: at rank 16 its state for GPT-2 shrinks 47-fold.")
