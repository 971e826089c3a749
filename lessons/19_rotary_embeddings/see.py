"""See RoPE turn a query, and the scores that depend only on the distance."""

import torch

from model.llama import compute_rope, precompute_rope_params

cos, sin = precompute_rope_params(2, 10_000, 8)  # head_dim 2: one pair, 1 radian per position
q = torch.tensor([1.0, 0.0])
k = torch.tensor([0.6, 0.8])
rq = compute_rope(q.expand(1, 1, 8, 2).clone(), cos, sin)[0, 0]
rk = compute_rope(k.expand(1, 1, 8, 2).clone(), cos, sin)[0, 0]
print("The query [1, 0] at each position (your compute_rope):")
for p in range(4):
    print(f"  position {p}: [{rq[p, 0]:7.4f}, {rq[p, 1]:7.4f}]   length {rq[p].norm():.4f}")
print("\nScores q·k, query at row m, key at column n (key [0.6, 0.8]); each diagonal is one distance:")
dots = rq @ rk.T
print("      " + "".join(f"  n={n}  " for n in range(8)))
for m in range(8):
    print(f"  m={m} " + "".join(f"{dots[m, n]:7.3f} " if n <= m else "    .   " for n in range(8)))

print("\nSpeeds of the pairs for head_dim 128 (Llama 2):")
_, sin = precompute_rope_params(128, 10_000, 2)
angles = torch.arcsin(sin[1, :64].double())  # the angle each pair turns per position (all below pi/2)
for i in (0, 1, 8, 32, 63):
    a = angles[i].item()
    print(f"  pair {i:2}: {a:.6f} rad per position, a full turn every {2 * torch.pi / a:,.1f} positions")
