"""See RMSNorm next to LayerNorm, SiLU's gate, and what SwiGLU costs."""

import torch
import torch.nn.functional as F

from model.llama import FeedForward, RMSNorm

rows = torch.tensor([[1.0, 2.0, 2.0], [3.0, -1.0, 2.0], [10.0, 10.0, 10.0], [0.01, 0.02, 0.02]])
norm = RMSNorm(3)
with torch.no_grad():
    rms = norm(rows)
print("x                      RMSNorm(x) (yours)          LayerNorm(x)")
for x, r in zip(rows, rms):
    ln = F.layer_norm(x, (3,))
    print(f"{str([round(v, 2) for v in x.tolist()]):22} {str([round(v, 4) for v in r.tolist()]):27} "
          f"{[round(v, 4) for v in ln.tolist()]}")
print("RMSNorm keeps the signs and the direction; a constant row stays constant, not zero.\n")

print("The gate silu(z) that multiplies fc2's output:")
for z in (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0):
    g = F.silu(torch.tensor(z)).item()
    bar = "#" * int(round(max(g, 0) * 8))
    print(f"  z = {z:5.1f}   silu = {g:7.4f}  {bar}")

print("\nFeed-forward parameters per block:")
for name, d, hidden in (("GPT-2 small (d=768)", 768, None), ("Llama 2 7B (d=4096)", 4096, 11008),
                        ("Llama 3 8B (d=4096)", 4096, 14336)):
    if hidden is None:
        n = 2 * d * 4 * d + 4 * d + d
        print(f"  {name:22} GELU, 4d = {4 * d}: {n / 1e6:6.1f} M")
    else:
        with torch.device("meta"):
            ff = FeedForward({"emb_dim": d, "hidden_dim": hidden})
        n = sum(p.numel() for p in ff.parameters())
        print(f"  {name:22} SwiGLU, hidden_dim = {hidden}: {n / 1e6:6.1f} M (your FeedForward's count)")
