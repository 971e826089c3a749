"""Training presets, from a laptop CPU (minutes) to GPT-2 small on a GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Settings:
    # model
    vocab_size: int = 4096
    context_length: int = 128
    emb_dim: int = 128
    n_heads: int = 4
    n_layers: int = 4
    drop_rate: float = 0.0
    qkv_bias: bool = False
    # optimisation
    batch_size: int = 16
    max_steps: int = 1200
    peak_lr: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 60
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    # torch.compile the learner's model for the training steps: fewer, fused kernels
    # after a compile of a minute or less (needs a C++ compiler on the CPU)
    compile: bool = False
    # evaluation and samples
    eval_every: int = 100
    eval_batches: int = 20
    sample_prompt: str = "The "
    sample_tokens: int = 40
    # tokenizer training: the learner's train_bpe on a sample of the corpus
    bpe_sample_chars: int = 300_000
    seed: int = 123

    def model_cfg(self) -> dict[str, Any]:
        keys = ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate", "qkv_bias")
        return {k: getattr(self, k) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def override(self, **changes: Any) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


PRESETS: dict[str, Settings] = {
    # For tests and a first look: seconds on any CPU.
    "micro": Settings(vocab_size=320, context_length=32, emb_dim=32, n_heads=2, n_layers=2, batch_size=8,
                      max_steps=40, warmup_steps=5, eval_every=20, eval_batches=4, sample_tokens=12, bpe_sample_chars=20_000),
    # A laptop CPU: about 4 minutes on 2 cores (1.9 M parameters, 2.5 M tokens).
    "tiny": Settings(),
    # A few CPU cores for longer, or any GPU.
    "small": Settings(vocab_size=8192, context_length=256, emb_dim=256, n_heads=8, n_layers=6, batch_size=32,
                      max_steps=3000, peak_lr=1e-3, min_lr=1e-4, warmup_steps=200, eval_every=250, bpe_sample_chars=600_000),
    # GPT-2 small's shape (124 M parameters with tying; the contract keeps the head separate). A GPU.
    "gpt2-124m": Settings(vocab_size=32768, context_length=1024, emb_dim=768, n_heads=12, n_layers=12, drop_rate=0.0,
                          batch_size=16, max_steps=5000, peak_lr=6e-4, min_lr=6e-5, warmup_steps=500, eval_every=500,
                          bpe_sample_chars=1_000_000),
}
