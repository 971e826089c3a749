"""What the tiny preset learns in a fixed wall-clock budget, in fp32 and in bf16.

For each precision: measure the training rate on a few steps, size max_steps to
fill the budget, run the real trainer (the reference solution as the learner's
code, the default corpus), and report the held-out loss, perplexity, nats per
character (as lesson 14 measures it), tokens seen and a sample.

With --decay, the same fixed number of steps twice instead, in fp32: AdamW
decaying every parameter (how runs were optimised before) beside decaying the
2-D weights alone (the trainers' optimizer now); the same seed, data and steps.

Run: python bench/pretrain_quality.py [--minutes 4] [--precisions fp32,bf16]
     python bench/pretrain_quality.py --decay [--steps 1200]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tutor.data.corpus import load_corpus  # noqa: E402
from tutor.engine.stubs import solution_files  # noqa: E402
from tutor.engine.workspace import write_workspace  # noqa: E402
from tutor.training.presets import PRESETS  # noqa: E402
from tutor.training.pretrain import Pretrainer  # noqa: E402


def nats_per_char(workspace, checkpoint_path: Path) -> float:
    import tiktoken
    import torch
    import torch.nn.functional as F

    from tutor.core import checkpoint as ckpt
    from tutor.learner import build_from_checkpoint, import_learner

    c = ckpt.load(checkpoint_path)
    model = build_from_checkpoint(lambda module: import_learner(workspace, module), c)
    ckpt.load_into(model, c)
    model.eval()
    enc = tiktoken.Encoding("b", pat_str=import_learner(workspace, "tokenizer").SPLIT_PATTERN,
                            mergeable_ranks=c.ranks(), special_tokens=c.special_tokens)
    ids = enc.encode_ordinary(load_corpus("pydoc").val_text())[:40_001]
    ctx = c.model_cfg["context_length"]
    n = (len(ids) - 1) // ctx * ctx
    x, y = torch.tensor(ids[:n]).view(-1, ctx), torch.tensor(ids[1 : n + 1]).view(-1, ctx)
    with torch.no_grad():
        total = sum(F.cross_entropy(model(x[i : i + 32]).flatten(0, 1), y[i : i + 32].flatten(), reduction="sum").item()
                    for i in range(0, len(x), 32))
    return total / len(enc.decode(ids[1 : n + 1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget per precision")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--decay", action="store_true", help="compare weight decay on every parameter with 2-D only")
    parser.add_argument("--steps", type=int, default=1200, help="steps per run with --decay")
    args = parser.parse_args()
    if args.decay:
        compare_decay(args.steps)
        return
    corpus = load_corpus("pydoc")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = write_workspace(Path(tmp) / "ws", {"__init__.py": "", **solution_files()})
        for precision in args.precisions.split(","):
            probe = Pretrainer(ws, PRESETS["tiny"].override(max_steps=30, eval_every=1000), corpus, Path(tmp) / f"probe-{precision}",
                               device="cpu", precision=precision, log=lambda _: None)
            started = time.monotonic()
            probe.run()
            events = [e for e in map(__import__("json").loads, probe.metrics_path.read_text().splitlines()) if e["event"] == "step"]
            rate = events[-1]["tokens_per_s"]
            settings = PRESETS["tiny"]
            steps = int(args.minutes * 60 * rate / (settings.batch_size * settings.context_length))
            run = Pretrainer(ws, settings.override(max_steps=steps, eval_every=max(steps // 6, 1)), corpus, Path(tmp) / precision,
                             device="cpu", precision=precision, log=lambda _: None)
            started = time.monotonic()
            done = run.run()
            wall = time.monotonic() - started
            evals = [e for e in map(__import__("json").loads, run.metrics_path.read_text().splitlines()) if e["event"] == "eval"]
            rows.append((precision, steps, steps * settings.batch_size * settings.context_length, wall, done["val_loss"],
                         nats_per_char(ws, run.checkpoint_path), evals[-1]["sample"]))
            print(f"{precision}: done in {wall / 60:.1f} min", flush=True)
    print(f"\ntiny preset, {args.minutes:g}-minute budget each (tokenizer training and corpus encoding not counted)")
    print(f"{'precision':<10} {'steps':>6} {'tokens':>10} {'minutes':>8} {'val loss':>9} {'perplexity':>11} {'nats/char':>10}")
    for precision, steps, tokens, wall, val, npc, _ in rows:
        print(f"{precision:<10} {steps:>6} {tokens:>10,} {wall / 60:8.1f} {val:9.3f} {math.exp(val):11.1f} {npc:10.3f}")
    for precision, *_, sample in rows:
        print(f"\n{precision} sample: {sample!r}")


def compare_decay(steps: int) -> None:
    import json

    from tutor.training import pretrain

    corpus = load_corpus("pydoc")
    settings = PRESETS["tiny"].override(max_steps=steps, eval_every=max(steps // 4, 1))
    make = pretrain.adamw
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = write_workspace(Path(tmp) / "ws", {"__init__.py": "", **solution_files()})
        for label, decay_all in (("every parameter (before)", True), ("2-D weights only (now)", False)):
            pretrain.adamw = lambda model, s, decay_all=False, _all=decay_all: make(model, s, decay_all=_all)
            run = Pretrainer(ws, settings, corpus, Path(tmp) / str(decay_all), device="cpu", precision="fp32",
                             log=lambda _: None)
            started = time.monotonic()
            done = run.run()
            evals = [e for e in map(json.loads, run.metrics_path.read_text().splitlines()) if e["event"] == "eval"]
            rows.append((label, done["val_loss"], nats_per_char(ws, run.checkpoint_path), time.monotonic() - started,
                         [e["val_loss"] for e in evals]))
            print(f"{label}: done in {rows[-1][3] / 60:.1f} min", flush=True)
    pretrain.adamw = make
    print(f"\ntiny preset, {steps} steps, fp32, weight decay {settings.weight_decay} (same seed and data)")
    print(f"{'AdamW decays':<26} {'val loss':>9} {'perplexity':>11} {'nats/char':>10}  held-out loss at each evaluation")
    for label, val, npc, _, curve in rows:
        print(f"{label:<26} {val:9.3f} {math.exp(val):11.1f} {npc:10.3f}  {' '.join(f'{v:.3f}' for v in curve)}")


if __name__ == "__main__":
    main()
