"""Instruction following on the practice set: what pretraining is worth, per task.

Uses the reference solution as the learner's code. Stage 1 pretrains the tiny
preset on the default corpus (or reuses --pretrained). Stage 2 instruction-tunes
(a) that pretrained model and (b) the same shape and tokenizer with random
weights, with the same settings, and prints the exact match per task on the
practice set's test split (240 entries), with the wall minutes of each run.
Everything runs offline. With --parallel the two fine-tunings run side by side,
one process and one thread each (faster on a machine shared with other work).

Run: python bench/instruct.py [--pretrained CHECKPOINT] [--epochs N] [--parallel]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tutor.data import instructions as idata  # noqa: E402
from tutor.data.corpus import load_corpus  # noqa: E402
from tutor.engine.stubs import solution_files  # noqa: E402
from tutor.engine.workspace import write_workspace  # noqa: E402
from tutor.training.instruct import InstructSettings, InstructTrainer  # noqa: E402
from tutor.training.presets import PRESETS  # noqa: E402
from tutor.training.pretrain import Pretrainer  # noqa: E402


def tune(ws_root: str, settings: InstructSettings, pretrained: str, out: str, scratch: bool, threads: int | None):
    """One fine-tuning; returns (exact match table, wall minutes, best held-out loss)."""
    import torch

    from tutor.engine.workspace import Workspace

    if threads:
        torch.set_num_threads(threads)
    started = time.monotonic()
    done = InstructTrainer(Workspace(Path(ws_root)), settings, Path(pretrained), Path(out), from_scratch=scratch,
                           log=lambda _: None).run()
    return done["exact_match"], (time.monotonic() - started) / 60, done["val_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", type=Path, help="reuse a tiny pretraining checkpoint instead of training one")
    parser.add_argument("--epochs", type=int, default=InstructSettings().epochs)
    parser.add_argument("--skip-scratch", action="store_true", help="only the pretrained model")
    parser.add_argument("--parallel", action="store_true", help="both fine-tunings at once, one thread each")
    parser.add_argument("--keep", type=Path, help="keep the runs (checkpoints, test_responses.json) in this folder")
    args = parser.parse_args()
    settings = InstructSettings(data=idata.DEMO, epochs=args.epochs)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ws = write_workspace(Path(tmp) / "ws", {"__init__.py": "", **solution_files()})
        pretrained, pretrain_minutes = args.pretrained, 0.0
        if pretrained is None:
            started = time.monotonic()
            run = Pretrainer(ws, PRESETS["tiny"], load_corpus("pydoc"), Path(tmp) / "pretrain", device="cpu",
                             precision="fp32", log=lambda _: None)
            run.run()
            pretrained, pretrain_minutes = run.checkpoint_path, (time.monotonic() - started) / 60
        runs = [("pretrained, tuned", False)] + ([] if args.skip_scratch else [("random weights, tuned", True)])
        jobs = [(str(ws.root), settings, str(pretrained), str((args.keep or Path(tmp)) / name.split(",")[0].replace(" ", "-")), scratch,
                 1 if args.parallel else None) for name, scratch in runs]
        if args.parallel:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(len(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
                outcomes = list(pool.map(tune, *zip(*jobs)))
        else:
            outcomes = [tune(*job) for job in jobs]
        for (name, _), outcome in zip(runs, outcomes):
            results[name] = outcome
            print(f"{name}: {outcome[0]['overall']['accuracy']:.1%} in {outcome[1]:.1f} min", flush=True)
    print(f"\nPractice set (instruct-demo, practice data): {len(idata.split(idata.demo_entries())['test'])} test entries; "
          f"{settings.epochs} epochs, batch {settings.batch_size}, peak lr {settings.peak_lr:g}. Pretraining (tiny preset): "
          f"{pretrain_minutes:.1f} min" + (" (reused)" if args.pretrained else "") + ".")
    names = list(results)
    print(f"{'task':<10}" + "".join(f"{n:>24}" for n in names))
    for task in results[names[0]][0]:
        print(f"{task:<10}" + "".join(
            f"{results[n][0][task]['right']:>10} / {results[n][0][task]['total']:<4} {results[n][0][task]['accuracy']:6.1%}"
            for n in names))
    print(f"{'loss':<10}" + "".join(f"{results[n][2]:>24.3f}" for n in names))
    print(f"{'minutes':<10}" + "".join(f"{results[n][1]:>24.1f}" for n in names))


if __name__ == "__main__":
    main()
