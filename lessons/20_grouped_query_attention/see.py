"""See a sliding window in your attention, and what grouped keys/values save in the cache."""

import torch

from model.llama import GroupedQueryAttention, precompute_rope_params
from tutor.checks.display import heatmap

torch.manual_seed(2)
words = "rotary keys share values across the group".split()
t = len(words)
x = torch.randn(1, t, 16)
cos, sin = precompute_rope_params(4, 10_000, t)
for window in (None, 3):
    att = GroupedQueryAttention(16, 16, num_heads=4, num_kv_groups=2, window_size=window).eval()
    captured = {}
    original = torch.softmax

    def spy(scores, dim=-1, **kw):
        out = original(scores, dim=dim, **kw)
        captured["weights"] = out.detach()
        return out

    torch.softmax = spy  # record the weights your forward computes
    try:
        with torch.no_grad():
            att(x, cos, sin)
    finally:
        torch.softmax = original
    title = "Head 0, full causal attention" if window is None else f"Head 0, sliding window of {window}"
    if "weights" in captured:
        print(heatmap(captured["weights"][0, 0].tolist(), words, title))
    else:
        print(f"{title}: (your forward does not call torch.softmax, so the weights are not shown)")
    print()

print("Key/value cache per token in bfloat16: 2 x layers x kv heads x head_dim x 2 bytes")
for name, layers, q_heads, kv_heads, head_dim in (("Llama 2 7B", 32, 32, 32, 128), ("Mistral 7B", 32, 32, 8, 128),
                                                   ("Llama 3 8B", 32, 32, 8, 128), ("Llama 2 70B", 80, 64, 8, 128)):
    per_token = 2 * layers * kv_heads * head_dim * 2
    print(f"  {name:12} {q_heads:2} query heads, {kv_heads:2} kv heads: {per_token / 1024:6.0f} KiB per token, "
          f"{per_token * 4096 / 2**30:5.2f} GiB for 4,096 tokens")
