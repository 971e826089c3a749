"""See each head of your MultiHeadAttention attend differently."""

import torch

from model.attention import MultiHeadAttention
from tutor.checks.display import heatmap

torch.manual_seed(1)
words = "the quick brown fox jumps".split()
x = torch.randn(1, len(words), 8)
mha = MultiHeadAttention(8, 8, context_length=16, dropout=0.0, num_heads=2).eval()
t, hd = len(words), 4
with torch.no_grad():
    out = mha(x)
    q, k = mha.W_query(x)[0], mha.W_key(x)[0]
    for head in range(2):
        s = slice(head * hd, (head + 1) * hd)
        scores = q[:, s] @ k[:, s].T / hd**0.5
        scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        print(heatmap(torch.softmax(scores, -1).tolist(), words, f"Head {head} (features {s.start}..{s.stop - 1})"))
        print()
print(f"{sum(p.numel() for p in mha.parameters())} parameters; output {tuple(out.shape)}")
