"""See your generate at work: greedy, sampled with temperature, and top-k."""

import torch

from model.gpt import GPTModel, generate
from model.tokenizer import BPETokenizer, train_bpe

text = "The cat sat on the mat. The dog sat on the log. " * 6
ranks = train_bpe(text, 300)
tok = BPETokenizer(ranks, {"<|endoftext|>": len(ranks)})
cfg = dict(vocab_size=tok.n_vocab, context_length=32, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0, qkv_bias=False)
torch.manual_seed(0)
model = GPTModel(cfg)
prompt = torch.tensor([tok.encode("The cat")])
for label, kw in (("greedy", {}), ("temperature 1.5", {"temperature": 1.5}), ("temperature 1.0, top_k 5", {"temperature": 1.0, "top_k": 5})):
    out = generate(model, prompt, max_new_tokens=15, context_size=32, **kw)
    print(f"{label:26} {tok.decode(out[0].tolist())!r}")
print("\nUntrained, so gibberish. After pretraining (lesson 14) the same call writes text.")
