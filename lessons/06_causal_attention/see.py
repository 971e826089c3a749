"""See the triangle of causal attention."""

import torch

from model.attention import CausalAttention
from tutor.checks.display import heatmap

torch.manual_seed(0)
words = "once upon a time there was".split()
x = torch.randn(1, len(words), 8)
att = CausalAttention(8, 8, context_length=16, dropout=0.0).eval()
with torch.no_grad():
    att(x)
    q, k = att.W_query(x)[0], att.W_key(x)[0]
    scores = (q @ k.T / k.shape[-1] ** 0.5).masked_fill(torch.triu(torch.ones(6, 6, dtype=torch.bool), 1), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
print(heatmap(weights.tolist(), words, "Causal attention: each word sees itself and the words before it"))
