"""Spam classification on the SMS Spam Collection: what each choice is worth.

Uses the reference solution as the learner's code. Stage 1 pretrains the tiny
preset on the default corpus (or reuses --pretrained). Stage 2 fine-tunes with
several settings, each under --seeds training seeds (the head's initial weights
and the batch order; the split stays the book's), so that a difference can be
told from chance; settings are compared on the validation split, and the test
split is reported for each. A bag-of-words logistic regression on the same
split is the baseline, and one on character n-grams shows what a strong
classical model reaches on the same split. The data must be imported first:
`tutor data import sms_spam_collection.tsv` (or the UCI zip).

With --splits N every row is the mean over N splits (split seeds 123, 124, ...:
other messages in training, validation and test) times --seeds training seeds,
the bag-of-words baseline measured on the same splits; the other settings are
then left out unless --variants names them, so that the run stays under half
an hour. --curve adds a learning
curve: test accuracy against the number of labelled training messages (50, 100,
200, 500, all) for the pretrained model, the same model with random weights and
bag-of-words. --from gpt2 adds OpenAI's GPT-2 fine-tuned with the book's
chapter 6 recipe, when its weights are on this machine (else a line says it was
skipped).

Run: python bench/spam_accuracy.py [--pretrained CHECKPOINT] [--seeds N] [--splits N] [--curve] [--from gpt2]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tutor.data import sms  # noqa: E402
from tutor.data.corpus import load_corpus  # noqa: E402
from tutor.engine.stubs import solution_files  # noqa: E402
from tutor.engine.workspace import write_workspace  # noqa: E402
from tutor.training.classify import ClassifierTrainer, ClassifySettings, spam_f1  # noqa: E402
from tutor.training.presets import PRESETS  # noqa: E402
from tutor.training.pretrain import Pretrainer  # noqa: E402

VARIANTS = {
    "last block, 4 epochs (default)": dict(),
    "last block, 8 epochs": dict(epochs=8),
    "all blocks, 4 epochs": dict(trainable_blocks=-1),
    "adapt 300 steps, then last block": dict(adapt_steps=300),
    "adapt 300 steps, then all blocks": dict(adapt_steps=300, trainable_blocks=-1),
}


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9£$]+", text.lower()))


def char_ngrams(text: str, longest: int = 5) -> set[str]:
    """Every run of 1..5 characters, case kept: spam shouts, and its numbers and £ matter."""
    text = f" {text} "
    return {text[i:i + n] for n in range(1, longest + 1) for i in range(len(text) - n + 1)}


def linear_baseline(parts, featurize, l2: float = 1e-3, unit_rows: bool = False) -> dict[str, float]:
    """Logistic regression on binary features (optionally rows scaled to unit length), L2, fitted on the training split."""
    import torch

    vocab = {f: i for i, f in enumerate(sorted(set().union(*(featurize(t) for _, t in parts["train"]))))}

    def features(rows):
        x = torch.zeros(len(rows), len(vocab))
        for r, (_, text) in enumerate(rows):
            for f in featurize(text):
                if f in vocab:
                    x[r, vocab[f]] = 1.0
        if unit_rows:
            x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-9)
        return x, torch.tensor([y for y, _ in rows], dtype=torch.float)

    x, y = features(parts["train"])
    torch.manual_seed(0)
    w, b = torch.zeros(len(vocab), requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + l2 * w.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    xt, yt = features(parts["test"])
    xv, yv = features(parts["val"])
    with torch.no_grad():
        val = spam_f1(((xv @ w + b) > 0).long().tolist(), yv.long().tolist())["accuracy"]
        return {**spam_f1(((xt @ w + b) > 0).long().tolist(), yt.long().tolist()), "val": val}


SPLIT_SEED = 123
CURVE = (50, 100, 200, 500, None)


MEASURED: dict[str, tuple] = {}  # the learning curve's last point repeats two of the table's rows: measured once


def fine_tune(ws, pretrained: Path | None, settings: ClassifySettings, out: Path, seeds: int, from_scratch: bool = False,
              splits: int = 1, gpt2=None):
    """The same fine-tuning on `splits` splits under `seeds` training seeds each: mean scores and the test range."""
    key = repr((settings, str(pretrained), seeds, from_scratch, splits, gpt2))
    if key not in MEASURED:
        MEASURED[key] = _fine_tune(ws, pretrained, settings, out, seeds, from_scratch, splits, gpt2)
    return MEASURED[key]


def _fine_tune(ws, pretrained, settings, out, seeds, from_scratch, splits, gpt2):
    runs = []
    for j in range(splits):
        for k in range(seeds):
            trainer = ClassifierTrainer(ws, replace(settings, seed=SPLIT_SEED + j, train_seed=SPLIT_SEED + k), pretrained,
                                        out, from_scratch=from_scratch, log=lambda _: None, gpt2=gpt2)
            runs.append(trainer.run())
    tests = [r["test"]["accuracy"] for r in runs]
    mean = {key: statistics.mean(r["test"][key] for r in runs) for key in ("accuracy", "f1")}
    return statistics.mean(r["val_accuracy"] for r in runs), {**mean, "low": min(tests), "high": max(tests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", type=Path, help="reuse a tiny pretraining checkpoint instead of training one")
    parser.add_argument("--variants", help="names from the table, separated by ; (default: all of them on one split, "
                        "only the default setting with --splits above 1)")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per fine-tuning (mean and range reported)")
    parser.add_argument("--splits", type=int, default=1, help="splits of the data (seeds 123, 124, ...); rows are means over them")
    parser.add_argument("--curve", action="store_true", help="add the learning curve (50, 100, 200, 500, all labelled messages)")
    parser.add_argument("--from", dest="from_", choices=["gpt2"], help="add a row for OpenAI's GPT-2 (when its weights are here)")
    args = parser.parse_args()
    messages = sms.load(sms.DATASET)
    parts = sms.split(messages)
    every_split = [sms.split(messages, seed=SPLIT_SEED + j) for j in range(args.splits)]
    curve_rows = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = write_workspace(Path(tmp) / "ws", {"__init__.py": "", **solution_files()})
        pretrained, pretrain_minutes = args.pretrained, 0.0
        if pretrained is None:
            started = time.monotonic()
            run = Pretrainer(ws, PRESETS["tiny"], load_corpus("pydoc"), Path(tmp) / "pretrain", device="cpu", precision="fp32",
                             log=lambda _: None)
            run.run()
            pretrained, pretrain_minutes = run.checkpoint_path, (time.monotonic() - started) / 60
        for name, featurize, options in (("bag-of-words logistic regression", words, {}),
                                         ("character 1-5-grams logistic regression", char_ngrams, {"l2": 1e-4, "unit_rows": True})):
            started = time.monotonic()
            bases = [linear_baseline(p, featurize, **options) for p in every_split]
            tests = [b["accuracy"] for b in bases]
            rows.append((name, statistics.mean(b["val"] for b in bases),
                         {"accuracy": statistics.mean(tests), "f1": statistics.mean(b["f1"] for b in bases),
                          "low": min(tests), "high": max(tests)}, (time.monotonic() - started) / args.splits))
        chosen = args.variants or (";".join(VARIANTS) if args.splits == 1 else next(iter(VARIANTS)))
        variants = [(name, ClassifySettings(**VARIANTS[name]), False) for name in chosen.split(";")]
        variants.append(("no pretraining (random weights), all blocks", ClassifySettings(trainable_blocks=-1), True))
        for name, settings, scratch in variants:
            started = time.monotonic()
            val, test = fine_tune(ws, pretrained, settings, Path(tmp) / "clf", args.seeds, from_scratch=scratch,
                                  splits=args.splits)
            rows.append((name, val, test, (time.monotonic() - started) / (args.seeds * args.splits)))
            print(f"{name}: done", flush=True)
        if args.from_ == "gpt2":
            from tutor.data.gpt2 import find_weights
            from tutor.training.gpt2 import RECIPE

            weights = find_weights()
            if weights is None:
                print("GPT-2 row skipped: its weights are not on this machine (tutor data download gpt2, or "
                      "tutor data import FOLDER)", flush=True)
            else:
                started = time.monotonic()
                recipe = {k: RECIPE[k] for k in ("epochs", "lr", "weight_decay", "batch_size", "trainable_blocks")}
                val, test = fine_tune(ws, None, ClassifySettings(**recipe), Path(tmp) / "clf", args.seeds,
                                      splits=args.splits, gpt2=weights)
                rows.append((f"OpenAI's GPT-2 {weights.name}, book's recipe", val, test,
                             (time.monotonic() - started) / (args.seeds * args.splits)))
        if args.curve:
            for limit in CURVE:
                n = limit or len(parts["train"])
                bow = statistics.mean(linear_baseline({**p, "train": p["train"][:n]}, words)["accuracy"] for p in every_split)
                _, pre = fine_tune(ws, pretrained, ClassifySettings(train_limit=limit), Path(tmp) / "clf", args.seeds,
                                   splits=args.splits)
                _, rnd = fine_tune(ws, pretrained, ClassifySettings(train_limit=limit, trainable_blocks=-1),
                                   Path(tmp) / "clf", args.seeds, from_scratch=True, splits=args.splits)
                curve_rows.append((n, pre["accuracy"], rnd["accuracy"], bow))
                print(f"curve, {n} messages: done", flush=True)
    print(f"\nSMS Spam Collection, balanced split (seed 123): {len(parts['train'])} train, {len(parts['val'])} validation, "
          f"{len(parts['test'])} test. Pretraining (tiny preset): {pretrain_minutes:.1f} min"
          + (" (reused)" if args.pretrained else "")
          + f". Every row: mean over {args.splits} split(s) x {args.seeds} training seed(s).")
    print(f"{'fine-tuning':<46} {'val acc':>8} {'test acc':>9} {'test range':>12} {'spam F1':>8} {'min/run':>8}")
    for name, val, test, seconds in rows:
        spread = f"{test['low']:.1%}-{test['high']:.1%}" if test["high"] > test["low"] else "-"
        print(f"{name:<46} {val:8.1%} {test['accuracy']:9.1%} {spread:>12} {test['f1']:8.3f} {seconds / 60:8.1f}")
    if curve_rows:
        print(f"\nLearning curve (test accuracy, mean over {args.splits} split(s) x {args.seeds} seed(s)):")
        print(f"{'labelled messages':>18} {'pretrained':>11} {'random weights':>15} {'bag-of-words':>13}")
        for n, pre, rnd, bow in curve_rows:
            print(f"{n:>18} {pre:11.1%} {rnd:15.1%} {bow:13.1%}")


if __name__ == "__main__":
    main()
