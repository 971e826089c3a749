"""See your LlamaModel next to your GPT: parameters at the training preset's size, and untrained text."""

import torch

from model.gpt import GPTModel, generate
from model.llama import LlamaModel
from model.tokenizer import BPETokenizer, train_bpe
from tutor.training.presets import PRESETS

tiny = PRESETS["tiny"]
shapes = {"gpt": tiny.model_cfg(), "llama": tiny.override(arch="llama").model_cfg(),
          "llama, window 32": tiny.override(arch="llama", window_size=32).model_cfg(),
          "phi (parallel)": tiny.override(arch="llama", parallel=True).model_cfg()}
print("The tiny training preset, built with your classes (shapes only, on the meta device):")
for name, cfg in shapes.items():
    with torch.device("meta"):
        model = GPTModel(cfg) if name == "gpt" else LlamaModel(cfg)
    n = sum(p.numel() for p in model.parameters())
    buffers = ("a causal mask per block" if name == "gpt"
               else ", ".join(f"{b}{tuple(t.shape)}" for b, t in model.named_buffers()) or "none")
    extra = "" if name == "gpt" else f"  kv groups {cfg['n_kv_groups']}, hidden_dim {cfg['hidden_dim']}"
    print(f"  {name:17} {n:>10,} parameters  buffers: {buffers}{extra}")

text = "It had always been his fate to have his work praised by the people who did not count. " * 4
ranks = train_bpe(text, 300)
tok = BPETokenizer(ranks, {"<|endoftext|>": len(ranks)})
cfg = {"vocab_size": tok.n_vocab, "context_length": 16, "emb_dim": 32, "n_heads": 4, "n_kv_groups": 2, "n_layers": 2,
       "hidden_dim": 64, "rope_base": 10_000}
torch.manual_seed(123)
model = LlamaModel(cfg)
ids = torch.tensor([tok.encode("It had always")])
out = generate(model, ids, max_new_tokens=20, context_size=16)  # your generate from lesson 11, unchanged
print("\nAn untrained LlamaModel continues 'It had always' (your generate, past its 16-token context):")
print("  " + repr(tok.decode(out[0].tolist())))
print("\nTrain it: tutor train pretrain --arch llama   (try --set window_size=32, --set parallel=true)")
