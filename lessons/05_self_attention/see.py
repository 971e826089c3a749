"""See your SelfAttention's weights on a short sentence."""

import torch

from model.attention import SelfAttention
from tutor.checks.display import heatmap

torch.manual_seed(0)
words = "the cat sat on the mat".split()
vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
embed = torch.nn.Embedding(len(vocab), 8)
x = embed(torch.tensor([[vocab[w] for w in words]]))
att = SelfAttention(8, 8)
with torch.no_grad():
    out = att(x)
    q, k = att.W_query(x)[0], att.W_key(x)[0]
    weights = torch.softmax(q @ k.T / k.shape[-1] ** 0.5, dim=-1)
print(heatmap(weights.tolist(), words, "Attention weights of an untrained head (row: the query token; each row sums to 1)"))
print(f"\ninput {tuple(x.shape)} -> output {tuple(out.shape)}")
print("The same word ('the') gives the same row: without positions, attention cannot tell them apart.")
