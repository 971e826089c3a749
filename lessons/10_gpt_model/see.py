"""See the size of your GPT, and what it writes before any training."""

import torch

from model.gpt import GPTModel
from model.tokenizer import BPETokenizer, train_bpe
from tutor.training.presets import PRESETS

# The training presets' shapes, as `tutor train pretrain --preset NAME` builds them, and OpenAI's GPT-2 small.
CONFIGS = {
    "tiny (CPU, minutes)": PRESETS["tiny"].model_cfg(),
    "small (CPU cores, GPU)": PRESETS["small"].model_cfg(),
    "GPT-2 small (OpenAI)": dict(vocab_size=50257, context_length=1024, emb_dim=768, n_heads=12, n_layers=12, drop_rate=0.1, qkv_bias=False),
}
print("Your GPTModel at the sizes of the training presets (shapes only, on the meta device):")
for name, cfg in CONFIGS.items():
    with torch.device("meta"):  # shapes only: no memory is allocated
        model = GPTModel(cfg)
    n = sum(p.numel() for p in model.parameters())
    head = model.out_head.weight.numel()
    print(f"  {name:23} {n / 1e6:7.2f} M parameters ({(n - head) / 1e6:.2f} M with weight tying), "
          f"{n * 4 / 1e6:7.0f} MB in float32, {n * 2 / 1e6:6.0f} MB in bfloat16")

text = "It had always been his fate to have his work praised by the people who did not count. " * 4
ranks = train_bpe(text, 300)
tok = BPETokenizer(ranks, {"<|endoftext|>": len(ranks)})
cfg = dict(vocab_size=tok.n_vocab, context_length=32, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0, qkv_bias=False)
torch.manual_seed(123)
model = GPTModel(cfg).eval()
ids = torch.tensor([tok.encode("It had always")])
with torch.no_grad():
    for _ in range(20):
        next_id = model(ids[:, -32:])[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, next_id], dim=1)
print("\nAn untrained GPT (your tokenizer, your model) continues 'It had always':")
print("  " + repr(tok.decode(ids[0].tolist())))
