"""See your KV cache pay: tokens per second with generate and generate_cached as the text grows."""

import time

import torch

from model.gpt import GPTModel, generate
from model.kv_cache import generate_cached

cfg = {"vocab_size": 512, "context_length": 512, "emb_dim": 128, "n_heads": 4, "n_layers": 4, "drop_rate": 0.0,
       "qkv_bias": True}
torch.manual_seed(0)
model = GPTModel(cfg).eval()
prompt = torch.randint(0, 512, (1, 8))
generate_cached(model, prompt, 4, cfg["context_length"])  # warm up
print("A 4-layer, 128-wide GPTModel, random weights, greedy, on this machine's CPU:\n")
print(f"{'new tokens':>10} {'generate tok/s':>15} {'cached tok/s':>13} {'speed-up':>9}  same output")
for n in (32, 128, 384):
    start = time.perf_counter()
    plain = generate(model, prompt, n, cfg["context_length"])
    t_plain = time.perf_counter() - start
    start = time.perf_counter()
    cached = generate_cached(model, prompt, n, cfg["context_length"])
    t_cached = time.perf_counter() - start
    print(f"{n:>10} {n / t_plain:>15.0f} {n / t_cached:>13.0f} {t_plain / t_cached:>8.1f}x  {torch.equal(plain, cached)}")
print("\nThe longer the text, the more the cache saves: plain decoding redoes every earlier position.")
