"""Training presets, from a laptop CPU (minutes) to GPT-2 small on a GPU.

One preset serves both architectures. `--arch llama` keeps the preset's width,
heads, layers and context, and sizes what a Llama has instead (grouped
key/value heads, SwiGLU's hidden width) so that it has as many parameters as the
GPT of the same preset: the comparison is then between architectures, not sizes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

ARCHITECTURES = ("gpt", "llama")
# The model settings each architecture's cfg takes (CONTRACT.md: model/layers.py and model/llama.py).
MODEL_KEYS: dict[str, tuple[str, ...]] = {
    "gpt": ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate", "qkv_bias"),
    "llama": ("vocab_size", "context_length", "emb_dim", "n_heads", "n_kv_groups", "n_layers", "hidden_dim",
              "rope_base", "window_size", "parallel"),
}


def gpt_parameters(cfg: dict[str, Any]) -> int:
    """The parameter count of the contract's GPTModel for `cfg` (arithmetic, no torch)."""
    d, v, c, layers = cfg["emb_dim"], cfg["vocab_size"], cfg["context_length"], cfg["n_layers"]
    attention = 3 * d * d + (3 * d if cfg.get("qkv_bias") else 0) + d * d + d  # W_q, W_k, W_v, out_proj (+ bias)
    feed_forward = d * 4 * d + 4 * d + 4 * d * d + d
    block = attention + feed_forward + 4 * d  # two LayerNorms, scale and shift
    return v * d + c * d + layers * block + 2 * d + d * v


def llama_parameters(cfg: dict[str, Any]) -> int:
    """The parameter count of the contract's LlamaModel for `cfg` (arithmetic, no torch)."""
    d, v, layers = cfg["emb_dim"], cfg["vocab_size"], cfg["n_layers"]
    kv = cfg["n_kv_groups"] * (d // cfg["n_heads"])
    attention = d * d + 2 * d * kv + d * d
    norms = d if cfg.get("parallel") else 2 * d
    block = attention + 3 * d * cfg["hidden_dim"] + norms
    return v * d + layers * block + d + d * v


def default_kv_groups(n_heads: int) -> int:
    """Key/value heads for a preset: groups of 4 query heads where there are 8 or more
    (as Llama 3 and Mistral share one per 4), of 2 below that, none for an odd count."""
    if n_heads >= 8 and n_heads % 4 == 0:
        return n_heads // 4
    return n_heads // 2 if n_heads % 2 == 0 else n_heads


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
    # the architecture: "gpt" (lessons 8-10) or "llama" (lessons 18-21), and what only a Llama has
    arch: str = "gpt"
    n_kv_groups: int | None = None  # None: default_kv_groups(n_heads)
    hidden_dim: int | None = None  # None: the SwiGLU width that matches the GPT's parameter count
    rope_base: float = 10_000.0
    window_size: int | None = None  # Mistral's sliding window; None: full causal attention
    parallel: bool = False  # Phi's parallel block
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
        """The cfg dict the architecture's model class takes, with the derived sizes filled in."""
        cfg = {k: getattr(self, k) for k in MODEL_KEYS[self.arch]}
        if self.arch == "llama":
            if cfg["n_kv_groups"] is None:
                cfg["n_kv_groups"] = default_kv_groups(self.n_heads)
            if cfg["hidden_dim"] is None:
                cfg["hidden_dim"] = matching_hidden_dim(self, cfg["n_kv_groups"])
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def override(self, **changes: Any) -> Settings:
        """These settings with `changes` (None values ignored); a setting the architecture does
        not have is refused with the list of those it has."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        given = {k: v for k, v in changes.items() if v is not None}
        arch = given.get("arch", self.arch)
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}; the {arch} architecture's settings: "
                             f"{', '.join(sorted(valid_keys(arch)))}")
        foreign = sorted(k for k in given if k not in valid_keys(arch) and k != "arch")
        if foreign:
            raise ValueError(f"the {arch} architecture has no {', '.join(foreign)}; its settings: "
                             f"{', '.join(sorted(valid_keys(arch)))}")
        return replace(self, **given).validated()

    def validated(self) -> Settings:
        """These settings, or a ValueError naming the one that cannot work."""
        if self.emb_dim % self.n_heads:
            raise ValueError(f"emb_dim={self.emb_dim} must be divisible by n_heads={self.n_heads}")
        if self.arch == "llama":
            groups = self.n_kv_groups if self.n_kv_groups is not None else default_kv_groups(self.n_heads)
            if groups < 1 or self.n_heads % groups:
                raise ValueError(f"n_kv_groups={groups} must divide n_heads={self.n_heads}")
            if (self.emb_dim // self.n_heads) % 2:
                raise ValueError(f"head_dim = emb_dim / n_heads = {self.emb_dim // self.n_heads} must be even for RoPE")
            if self.window_size is not None and (not isinstance(self.window_size, int) or self.window_size < 1):
                raise ValueError(f"window_size must be a positive number of tokens, got {self.window_size!r}")
            if self.hidden_dim is not None and self.hidden_dim < 1:
                raise ValueError(f"hidden_dim must be positive, got {self.hidden_dim}")
        return self


def valid_keys(arch: str) -> set[str]:
    """What `--set` may change for an architecture: its model settings and every training setting."""
    every_model_key = {k for keys in MODEL_KEYS.values() for k in keys}
    training = {f.name for f in fields(Settings)} - every_model_key - {"arch"}
    return training | set(MODEL_KEYS[arch])


def matching_hidden_dim(s: Settings, n_kv_groups: int, multiple: int = 8) -> int:
    """SwiGLU's width that gives the Llama as many parameters as the GPT of the same shape,
    rounded to a multiple of 8 (friendlier to matrix units)."""
    gpt = gpt_parameters({k: getattr(s, k) for k in MODEL_KEYS["gpt"]})
    cfg = {k: getattr(s, k) for k in MODEL_KEYS["llama"]}
    without_ff = llama_parameters({**cfg, "n_kv_groups": n_kv_groups, "hidden_dim": 0})
    hidden = (gpt - without_ff) / (3 * s.emb_dim * s.n_layers)
    return max(multiple, int(round(hidden / multiple)) * multiple)


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
