"""Training speed: the reference GPTModel through the trainer's step vs a fused baseline.

Both models have the same shape and parameter count. The reference is the
course's own solution (manual attention, LayerNorm and GELU, the learner's
train_step, the trainer's AdamW). The baseline is written here with torch's
fused pieces: F.scaled_dot_product_attention, nn.LayerNorm, F.gelu and fused
AdamW. Both optimizers use the fused kernel where the device has one. With
--compile, a third row runs the reference as `tutor train pretrain --compile`
does. Rates are medians of interleaved repeats. MFU = model FLOPs per second
(6·N plus attention, per token) over the machine's measured matmul rate.

Run: python bench/pretrain_speed.py [--preset tiny] [--steps 20] [--repeats 5] [--compile] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from _reference import load_reference  # noqa: I001 - the benchmark's sibling module

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tutor.training.presets import PRESETS  # noqa: E402
from tutor.training.pretrain import adamw  # noqa: E402


class Block(nn.Module):
    def __init__(self, d: int, heads: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=bias)
        self.proj = nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class BaselineGPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["emb_dim"]
        self.tok, self.pos = nn.Embedding(cfg["vocab_size"], d), nn.Embedding(cfg["context_length"], d)
        self.blocks = nn.Sequential(*[Block(d, cfg["n_heads"], cfg["qkv_bias"]) for _ in range(cfg["n_layers"])])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, cfg["vocab_size"], bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        return self.head(self.ln(self.blocks(x)))


def matmul_rate(device: str, dtype, n: int = 2048, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    started = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - started)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def flops_per_token(n_params: int, cfg) -> float:
    # 6 per parameter (forward + backward) plus attention's score and mix matmuls: 12 * layers * context * width.
    return 6 * n_params + 12 * cfg["n_layers"] * cfg["context_length"] * cfg["emb_dim"]


def time_training(model, step_fn, cfg, batch: int, steps: int, device: str, precision: str) -> float:
    x = torch.randint(0, cfg["vocab_size"], (batch, cfg["context_length"]), device=device)
    y = torch.randint(0, cfg["vocab_size"], (batch, cfg["context_length"]), device=device)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=precision == "bf16")
    for i in range(steps + 3):  # three warm-up steps
        if i == 3:
            sync(device)
            started = time.perf_counter()
        with autocast:
            step_fn(model, x, y)
    sync(device)
    return batch * cfg["context_length"] * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", choices=list(PRESETS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved measurements per variant (the median is shown)")
    parser.add_argument("--compile", action="store_true", help="add a row for the trainer's --compile (torch.compile)")
    args = parser.parse_args()
    gpt, train = load_reference()
    s = PRESETS[args.preset]
    cfg = s.model_cfg()
    device = args.device
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}, preset {args.preset}: "
          f"{cfg['n_layers']} layers, width {cfg['emb_dim']}, context {cfg['context_length']}, batch {s.batch_size}")
    peaks = {}
    for precision in args.precisions.split(","):
        dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        peaks[precision] = matmul_rate(device, dtype)
        print(f"measured {precision} matmul rate: {peaks[precision] / 1e9:,.0f} GFLOP/s")

    def reference_step(model, x, y, opt):
        lr = train.lr_at(10, peak_lr=s.peak_lr, warmup_steps=s.warmup_steps, total_steps=s.max_steps, min_lr=s.min_lr)
        for group in opt.param_groups:
            group["lr"] = lr
        return train.train_step(model, opt, x, y, device, max_grad_norm=s.max_grad_norm)

    def baseline_step(model, x, y, opt):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.max_grad_norm)
        opt.step()
        return loss.item()

    print(f"\n{'model':<34} {'precision':>9} {'params':>8} {'tokens/s':>10} {'vs baseline':>11} {'MFU':>6}")
    for precision in args.precisions.split(","):
        variants = [("baseline (fused ops)", BaselineGPT, baseline_step, False),
                    ("reference GPTModel via trainer", gpt.GPTModel, reference_step, False)]
        if args.compile:
            variants.append(("reference via trainer --compile", gpt.GPTModel, reference_step, True))
        runs = []
        for name, build, step, compiled in variants:
            torch.manual_seed(0)
            model = build(cfg).to(device)
            opt = adamw(model, s)  # the trainer's optimizer, for both
            n = sum(p.numel() for p in model.parameters())
            if compiled:  # as the trainer does: steps through a compiled view; the first calls compile it
                model = torch.compile(model)
            runs.append((name, model, lambda m, x, y, step=step, opt=opt: step(m, x, y, opt), n))
        # Interleaved repeats, median per variant: a shared machine's slow spells hit every variant alike.
        rates: dict[str, list[float]] = {name: [] for name, *_ in runs}
        for _ in range(args.repeats):
            for name, model, step_fn, _n in runs:
                rates[name].append(time_training(model, step_fn, cfg, s.batch_size, args.steps, device, precision))
        base = statistics.median(rates["baseline (fused ops)"])
        for name, _model, _step, n in runs:
            rate = statistics.median(rates[name])
            mfu = rate * flops_per_token(n, cfg) / peaks[precision]
            print(f"{name:<34} {precision:>9} {n / 1e6:7.2f}M {rate:10,.0f} {rate / base:10.2f}x {mfu:6.1%}")


if __name__ == "__main__":
    main()
