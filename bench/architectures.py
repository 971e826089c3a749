"""GPT against the Llama-style variants at the same size, for the same wall-clock budget.

One run on the default corpus: the tokenizer is learned and the text encoded once,
then each architecture (GPT; Llama-style; Llama-style with Mistral's sliding
window; Phi-style, the Llama with the parallel block) is built from the
reference solution at the tiny preset's size (the Llama variants sized to the
GPT's parameter count, as `tutor train pretrain --arch llama` does) and trained
for the same number of seconds, on the same batches in the same order, with the
trainer's AdamW and the reference train_step. The four take turns, one step
each, and each is charged only the time of its own steps, so that other work on
the machine slows them alike. The learning rate warms
up for the preset's warm-up steps, then follows a cosine over the *time* budget,
so that every model ends its schedule when its time is up. Then each is measured
on the held-out text the way lesson 14 measures it.

Columns: parameters; training tokens per second; steps taken; held-out loss per
token and nats per character; key/value cache bytes per token (fp32, all
layers) and for a full 128-token context (a window caps the cache at its width).

Run: python bench/architectures.py [--seconds 90] [--window 32] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._reference import load_reference  # noqa: E402
from tutor.data.corpus import load_corpus  # noqa: E402
from tutor.training.presets import PRESETS  # noqa: E402


def kv_bytes_per_token(cfg: dict, arch: str, bytes_per_value: int = 4) -> int:
    """Keys and values kept per token for fast decoding: 2 x layers x kv heads x head_dim numbers."""
    kv_heads = cfg["n_heads"] if arch == "gpt" else cfg["n_kv_groups"]
    return 2 * cfg["n_layers"] * kv_heads * (cfg["emb_dim"] // cfg["n_heads"]) * bytes_per_value


def held_out(model, ids: list[int], ctx: int, decode) -> tuple[float, float]:
    """Loss per token and nats per character on the held-out text, as lesson 14 computes them."""
    import torch
    import torch.nn.functional as F

    n = (len(ids) - 1) // ctx * ctx
    x, y = torch.tensor(ids[:n]).view(-1, ctx), torch.tensor(ids[1 : n + 1]).view(-1, ctx)
    model.eval()
    with torch.no_grad():
        total = sum(F.cross_entropy(model(x[i : i + 32]).flatten(0, 1).float(), y[i : i + 32].flatten(), reduction="sum").item()
                    for i in range(0, len(x), 32))
    return total / y.numel(), total / len(decode(ids[1 : n + 1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="training budget per architecture")
    parser.add_argument("--window", type=int, default=32, help="the sliding window of the Mistral-style variant")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    gpt_module, train = load_reference()
    import model.data as data
    import model.tokenizer as tokenizer
    from tutor.learner import build_model
    from tutor.training.pretrain import adamw
    from tutor.training.tokens import train_tokenizer

    corpus = load_corpus("pydoc")
    base = PRESETS[args.preset]
    _, _, encoding = train_tokenizer(tokenizer, corpus, base.vocab_size, base.bpe_sample_chars, lambda _: None)
    train_ids = encoding.encode_ordinary(corpus.train_text())
    val_ids = encoding.encode_ordinary(corpus.val_text())[:40_001]
    ctx = base.context_length
    variants = {
        "GPT": base,
        "Llama-style": base.override(arch="llama"),
        f"Llama + window {args.window}": base.override(arch="llama", window_size=args.window),
        "Phi-style (parallel)": base.override(arch="llama", parallel=True),
    }
    # All four train in turns, a step at a time, each on its own clock (the seconds of its own
    # steps): a busy machine then slows all of them alike instead of whichever ran at the time.
    runs = []
    for name, s in variants.items():
        cfg = {**s.model_cfg(), "vocab_size": encoding.n_vocab}
        torch.manual_seed(s.seed)
        model = build_model(lambda module: __import__(f"model.{module}", fromlist=["_"]), cfg, s.arch)
        loader = data.create_dataloader(train_ids, batch_size=s.batch_size, context_length=ctx, stride=ctx,
                                        shuffle=True, drop_last=True, seed=s.seed)
        runs.append({"name": name, "s": s, "cfg": cfg, "model": model.train(), "optimizer": adamw(model, s),
                     "loader": loader, "batches": iter(loader), "steps": 0, "clock": 0.0})
    while active := [r for r in runs if r["clock"] < args.seconds]:
        r = min(active, key=lambda run: run["clock"])
        s = r["s"]
        try:
            x, y = next(r["batches"])
        except StopIteration:
            r["batches"] = iter(r["loader"])
            x, y = next(r["batches"])
        if r["steps"] < s.warmup_steps:
            lr = s.peak_lr * (r["steps"] + 1) / s.warmup_steps
        else:
            lr = s.min_lr + 0.5 * (s.peak_lr - s.min_lr) * (1 + math.cos(math.pi * min(r["clock"] / args.seconds, 1.0)))
        for group in r["optimizer"].param_groups:
            group["lr"] = lr
        started = time.perf_counter()
        train.train_step(r["model"], r["optimizer"], x, y, "cpu", max_grad_norm=s.max_grad_norm)
        r["clock"] += time.perf_counter() - started
        r["steps"] += 1
    rows = []
    for r in runs:
        s, cfg, model = r["s"], r["cfg"], r["model"]
        loss, npc = held_out(model, val_ids, ctx, encoding.decode)
        per_token = kv_bytes_per_token(cfg, s.arch)
        cached = min(ctx, s.window_size or ctx)
        rows.append((r["name"], sum(p.numel() for p in model.parameters()), r["steps"] * s.batch_size * ctx / r["clock"],
                     r["steps"], loss, npc, per_token, per_token * cached))
        print(f"{r['name']}: {r['steps']} steps in {r['clock']:.0f} s of its own, held-out loss {loss:.3f}", flush=True)

    print(f"\n{args.preset} preset shape, {args.seconds:g} s of training each, default corpus "
          f"({len(train_ids):,} training tokens, vocabulary {encoding.n_vocab:,}), CPU with {torch.get_num_threads()} threads")
    head = (f"{'architecture':<24} {'parameters':>11} {'tokens/s':>9} {'steps':>6} {'val loss':>9} {'nats/char':>10} "
            f"{'KV B/token':>11} {'KV @ ' + str(ctx) + ' tok':>12}")
    print(head)
    print("-" * len(head))
    for name, params, rate, steps, loss, npc, per_token, full in rows:
        print(f"{name:<24} {params:>11,} {rate:>9,.0f} {steps:>6} {loss:>9.3f} {npc:>10.3f} {per_token:>11,} {full:>12,}")


if __name__ == "__main__":
    main()
