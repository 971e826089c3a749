"""Helpers that several test modules share (test modules never import each other)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tutor.cli import app

cli = CliRunner()


def run(*args, cwd=None):
    """`tutor ARGS` in this process; `.text` is the output with Rich's line wrapping undone."""
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        result = cli.invoke(app, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)
    result.text = " ".join(result.output.split())  # Rich wraps lines; compare words
    return result


def practice_tsv(path: Path) -> Path:
    """A small SMS file in the collection's label<TAB>text format, both classes."""
    from tutor.data import sms

    path.write_text("".join(f"{('ham', 'spam')[label]}\t{text}\n" for label, text in sms.demo_messages(n=60)))
    return path


def tiny_checkpoint(path: Path) -> Path:
    """A checkpoint as a run writes it: weights, optimizer state, random state."""
    import torch

    from tutor.core import checkpoint

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    checkpoint.save(path, {"step": 7, "model_cfg": {}}, model, optimizer, torch.get_rng_state())
    return path


# A micro pretraining run: seconds, not minutes (a smoke test of the whole path).
MICRO = ["--preset", "micro", "--set", "eval_every=10", "--skip-checks", "--json"]
# The terminal size the app's tests run at.
SIZE = (80, 24)


def tutor(*args, cwd, env, check=True, **kw):
    """`python -m tutor ARGS` in a child process, as a learner runs it."""
    return subprocess.run([sys.executable, "-m", "tutor", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, check=check, **kw)


async def until(pilot, condition, timeout: float = 30.0) -> None:
    """Let the app run until `condition()` holds; fail after `timeout` seconds."""
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("the app did not get there in time")


def install_tiny_gpt2(stick: Path):
    """A tiny random GPT-2-layout file (GPT-2's 50,257-token vocabulary, two narrow layers) imported
    into the data home that TUTOR_HOME names, as `tutor data import` does: the app then finds it."""
    import json

    from safetensors.torch import save_file

    from tutor.checks.gpt2_refs import gpt2_state_dict
    from tutor.data.gpt2 import import_folder

    stick.mkdir(parents=True, exist_ok=True)
    save_file(gpt2_state_dict(50257, 128, 32, 2, seed=0), str(stick / "model.safetensors"))
    (stick / "config.json").write_text(json.dumps({"n_head": 4, "n_embd": 32, "n_layer": 2}))
    return import_folder(stick)
