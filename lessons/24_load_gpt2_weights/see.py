"""See your loader work: a tiny random checkpoint in GPT-2's layout, in your GPTModel."""

import torch

from model.gpt import GPTModel
from model.gpt2_weights import load_gpt2_weights
from tutor.checks.gpt2_refs import gpt2_config, gpt2_forward, gpt2_shapes, gpt2_state_dict

V, CTX, D, HEADS, LAYERS = 64, 32, 32, 4, 2
sd = gpt2_state_dict(V, CTX, D, LAYERS, seed=1)
print(f"A tiny random GPT-2 checkpoint, Hugging Face names (emb_dim {D}, {LAYERS} layers):")
for name, shape in list(gpt2_shapes(V, CTX, D, LAYERS).items())[:8]:
    print(f"  {name:24} {str(shape):>10}")
print("  ...")
model = load_gpt2_weights(GPTModel(gpt2_config(V, CTX, D, HEADS, LAYERS)), sd).eval()
idx = torch.randint(0, V, (1, 10))
with torch.no_grad():
    diff = (model(idx) - gpt2_forward(sd, HEADS, idx)).abs().max().item()
print(f"\nYour GPTModel vs GPT-2's forward pass on the same checkpoint: largest logit difference {diff:.2e}")
print("Your head is a copy:", model.out_head.weight.data_ptr() != model.tok_emb.weight.data_ptr())
print("\nWith the real weights: tutor data download gpt2, then")
print('  tutor generate --weights gpt2 --prompt "Every effort moves you"')
