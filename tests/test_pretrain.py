"""Pretraining with the learner's code: runs, resumes exactly, and lesson 14 measures it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import MICRO, tutor
from tutor.core import checkpoint as ckpt
from tutor.engine.lessons import load_registry

pytestmark = pytest.mark.slow  # training runs



@pytest.fixture
def solved(make_workspace, tutor_home):
    ws = make_workspace()
    env = {**os.environ, "TUTOR_HOME": str(tutor_home), "PYTHONUNBUFFERED": "1"}
    return ws, env


def steps(out: str) -> list[tuple[int, float]]:
    return [(e["step"], e["loss"]) for e in map(json.loads, out.splitlines()) if e["event"] == "step"]


def test_micro_run_writes_checkpoint_metrics_and_generates(solved):
    ws, env = solved
    run = tutor("train", "pretrain", *MICRO, cwd=ws.root, env=env)
    events = [json.loads(line) for line in run.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("eval") == 4 and kinds.count("checkpoint") == 4
    losses = [e["loss"] for e in events if e["event"] == "step"]
    assert len(losses) == 40 and losses[-1] < losses[0] - 0.5
    path = Path(events[-1]["checkpoint"])
    assert (path.parent / "metrics.jsonl").read_text().count('"event": "step"') == 40
    checkpoint = ckpt.load(path)
    assert checkpoint.step == 40 and len(checkpoint.ranks()) == 319
    out = tutor("generate", "--prompt", "The ", "--max-new-tokens", "8", "--seed", "1", cwd=ws.root, env=env)
    assert out.stdout.startswith("The ") and len(out.stdout) > 5


def test_a_second_run_reuses_the_tokenizer_until_tokenizer_py_changes(solved, tmp_path):
    ws, env = solved
    quick = [*MICRO, "--max-steps", "2", "--set", "eval_every=2"]

    def pretrain(out: str):
        run = tutor("train", "pretrain", *quick, "--out", tmp_path / out, cwd=ws.root, env={**env, "COLUMNS": "1000"})
        start = json.loads(run.stdout.splitlines()[0])
        assert start["event"] == "start"
        return start["tokenizer"], " ".join(run.stderr.split())

    how, said = pretrain("first")
    assert how == "learned" and "learning the tokenizer" in said and "train_bpe learned" in said
    # the hint to try the run names the checkpoint it wrote, not the default run's
    assert f'Try it: tutor generate --prompt "The " --checkpoint {tmp_path / "first" / "checkpoint.safetensors"}' in said
    how, said = pretrain("second")
    assert how == "reused" and "tokenizer: reused the merges learned on" in said and "(model/tokenizer.py unchanged" in said
    assert "train_bpe learned" not in said
    first, second = (ckpt.load(tmp_path / out / "checkpoint.safetensors") for out in ("first", "second"))
    assert first.ranks() == second.ranks()
    tokenizer = ws.root / "model" / "tokenizer.py"
    tokenizer.write_text(tokenizer.read_text() + "\n# edited\n")
    how, said = pretrain("third")
    assert how == "learned" and "train_bpe learned" in said


@pytest.mark.parametrize("arch", ["gpt", "llama"])
@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_resume_follows_the_uninterrupted_loss_curve(solved, tmp_path, how, arch):
    ws, env = solved
    micro = [*MICRO, "--arch", arch]
    whole = tutor("train", "pretrain", *micro, "--out", tmp_path / "whole", cwd=ws.root, env=env)
    proc = subprocess.Popen([sys.executable, "-m", "tutor", "train", "pretrain", *micro, "--out", tmp_path / "cut"],
                            cwd=ws.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "step" and event["step"] == 25:  # past the checkpoint at step 20
            proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
            break
    proc.communicate(timeout=60)
    assert proc.returncode == (-signal.SIGKILL if how == "kill" else 130)
    saved = ckpt.load(tmp_path / "cut" / "checkpoint.safetensors")
    assert saved.step == (20 if how == "kill" else 25) and saved.header["arch"] == arch
    # Resumed without --arch: the run keeps the architecture its checkpoint records.
    tutor("train", "pretrain", *MICRO, "--out", tmp_path / "cut", "--resume", cwd=ws.root, env=env)
    cut = [json.loads(l) for l in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    cut_steps = [(e["step"], e["loss"]) for e in cut if e["event"] == "step"]
    assert cut_steps == steps(whole.stdout)


@pytest.mark.skipif(not any(map(__import__("shutil").which, ("cc", "gcc", "clang"))), reason="torch.compile needs a C++ compiler")
def test_compile_trains_the_same_model(solved, tmp_path):
    """--compile changes the kernels, not the model: the same losses within float error, a plain checkpoint."""
    ws, env = solved
    args = ["--preset", "micro", "--max-steps", "8", "--set", "eval_every=8", "--precision", "fp32", "--skip-checks", "--json"]
    plain = tutor("train", "pretrain", *args, "--out", tmp_path / "plain", cwd=ws.root, env=env)
    fused = tutor("train", "pretrain", *args, "--compile", "--out", tmp_path / "fused", cwd=ws.root, env=env, timeout=600)
    a, b = steps(plain.stdout), steps(fused.stdout)
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, 9))
    assert all(abs(x - y) < 1e-3 for (_, x), (_, y) in zip(a, b)), (a, b)
    compiled = ckpt.load(tmp_path / "fused" / "checkpoint.safetensors")
    assert compiled.header["settings"]["compile"] is True
    assert set(compiled.model) == set(ckpt.load(tmp_path / "plain" / "checkpoint.safetensors").model)  # no _orig_mod. prefix


def test_compile_errors_are_told_apart_from_the_learners():
    import torch._dynamo.exc

    from tutor.training.pretrain import compile_failed

    assert compile_failed(torch._dynamo.exc.BackendCompilerFailed(lambda: None, RuntimeError("no cc"), None))
    assert not compile_failed(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_broken_checkpoints_are_refused_without_unpickling(tmp_path):
    import pickle

    truncated = tmp_path / "a.safetensors"
    truncated.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"x\":")
    with pytest.raises(ckpt.CheckpointError, match="could not be read"):
        ckpt.load(truncated)

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    evil = tmp_path / "b.safetensors"
    evil.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load(evil)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        ckpt.load(tmp_path / "missing.safetensors")


def test_resume_without_a_checkpoint_is_a_clear_error(solved, tmp_path):
    ws, env = solved
    run = tutor("train", "pretrain", *MICRO, "--resume", "--out", tmp_path / "none", cwd=ws.root, env=env, check=False)
    assert run.returncode == 1 and "nothing to resume" in run.stderr


def test_resume_refuses_a_changed_setting_and_keeps_the_run_intact(solved, tmp_path):
    ws, env = solved
    tutor("train", "pretrain", *MICRO, "--max-steps", "20", "--out", tmp_path / "run", cwd=ws.root, env=env)
    before = (tmp_path / "run" / "checkpoint.safetensors").read_bytes()
    run = tutor("train", "pretrain", *MICRO, "--set", "peak_lr=0.5", "--resume", "--out", tmp_path / "run",
                cwd=ws.root, env=env, check=False)
    assert run.returncode == 1
    message = " ".join(run.stderr.split())
    assert "peak_lr=0.5 (the run has peak_lr=" in message and "Start a new run" in message
    assert (tmp_path / "run" / "checkpoint.safetensors").read_bytes() == before
    more = tutor("train", "pretrain", *MICRO, "--max-steps", "30", "--resume", "--out", tmp_path / "run", cwd=ws.root, env=env)
    assert [step for step, _ in steps(more.stdout)] == list(range(21, 31))
    # Resumed without naming the preset: the run's own length and shape, not the tiny preset's defaults.
    rest = tutor("train", "pretrain", "--skip-checks", "--json", "--resume", "--out", tmp_path / "run", cwd=ws.root, env=env,
                 check=False)
    assert rest.returncode == 1 and "already finished its 30 steps" in " ".join(rest.stderr.split())
    assert steps(rest.stdout) == [] and ckpt.load(tmp_path / "run" / "checkpoint.safetensors").step == 30


def test_training_refuses_to_start_while_a_needed_lesson_fails(make_workspace, tutor_home):
    ws = make_workspace(solutions=False)
    env = {**os.environ, "TUTOR_HOME": str(tutor_home)}
    run = tutor("train", "pretrain", "--preset", "micro", cwd=ws.root, env=env, check=False)
    assert run.returncode == 1
    assert "not passing yet: 2 (Words to ids)" in " ".join(run.stderr.split())


LESSON_14 = load_registry().get(14)


def test_lesson_14_without_a_checkpoint(runner, make_workspace):
    result = runner.check(make_workspace(), LESSON_14)
    assert result.status == "failed"
    assert "No pretrained checkpoint yet" in result.checks[0].message


def test_lesson_14_measures_the_model_not_the_metrics_file(solved, runner):
    ws, env = solved
    tutor("train", "pretrain", *MICRO, cwd=ws.root, env=env)

    metrics = ws.run_dir() / "metrics.jsonl"
    with open(metrics, "a") as f:  # a doctored claim of a great result
        f.write(json.dumps({"event": "eval", "step": 40, "val_loss": 0.01}) + "\n")
        f.write(json.dumps({"event": "done", "step": 40, "val_loss": 0.01}) + "\n")
    result = runner.check(ws, LESSON_14)
    assert result.checks[0].status == "passed"  # the checkpoint loads
    assert result.status == "failed"
    assert "the milestone is 1.5" in result.checks[1].message


def test_lesson_14_names_the_parameters_a_changed_model_no_longer_fits(solved, runner):
    ws, env = solved
    tutor("train", "pretrain", *MICRO, cwd=ws.root, env=env)
    gpt = ws.root / "model" / "gpt.py"
    gpt.write_text(gpt.read_text().replace("final_norm", "last_norm"))  # renamed after the run
    result = runner.check(ws, LESSON_14)
    message = result.checks[0].message
    assert result.checks[0].status == "failed"
    assert "does not fit this model" in message and "last_norm" in message and "final_norm" in message


@pytest.mark.skipif(not (os.environ.get("CI") or os.environ.get("TUTOR_SLOW")),
                    reason="the full tiny run takes about 5 minutes: CI runs it, or set TUTOR_SLOW=1")
def test_tiny_preset_reaches_the_lesson_14_milestone(solved, runner):
    ws, env = solved
    run = tutor("train", "pretrain", "--preset", "tiny", cwd=ws.root, env=env, timeout=1800)
    assert "Done: val loss" in run.stdout
    out = tutor("generate", "--prompt", "The ", "--max-new-tokens", "20", "--seed", "0", cwd=ws.root, env=env)
    assert out.stdout.startswith("The ")
    result = runner.check(ws, LESSON_14)
    assert result.status == "passed", [c.message for c in result.checks]
    assert "nats per character" in result.checks[1].message
    # Then the offline rest of the path: fine-tune on the practice set, and chat.
    tutor("train", "classify", "--data", "sms-demo", cwd=ws.root, env=env, timeout=1800)
    chat = tutor("chat", cwd=ws.root, env=env, input="URGENT! You have won a prize. Call now\n")
    assert chat.stdout.count("> spam") + chat.stdout.count("> ham") == 1


# --- the Llama-style architecture (lessons 18-21) ----------------------------


def test_llama_run_is_read_back_by_generate_classify_and_lesson_14(solved, runner, tmp_path):
    """The checkpoint records its architecture; every reader builds the learner's LlamaModel from it."""
    ws, env = solved
    run = tutor("train", "pretrain", *MICRO, "--arch", "llama", "--set", "window_size=8", "--set", "parallel=true",
                "--set", "n_kv_groups=2", cwd=ws.root, env=env)
    start = next(e for e in map(json.loads, run.stdout.splitlines()) if e["event"] == "start")
    assert start["arch"] == "llama"

    c = ckpt.load(ws.run_checkpoint())
    assert c.header["arch"] == "llama"
    assert {k: c.model_cfg[k] for k in ("window_size", "parallel", "n_kv_groups")} == {"window_size": 8, "parallel": True,
                                                                                        "n_kv_groups": 2}
    assert not any(".norm2." in name for name in c.model) and "tok_emb.weight" in c.model
    out = tutor("generate", "--prompt", "The ", "--max-new-tokens", "6", "--seed", "1", cwd=ws.root, env=env)
    assert out.stdout.startswith("The ")
    result = runner.check(ws, LESSON_14)
    assert result.checks[0].status == "passed", result.checks[0].message  # the Llama checkpoint loads
    assert "the milestone is 1.5" in result.checks[1].message  # and is measured (a micro run is far from it)
    clf = tutor("train", "classify", "--data", "sms-demo", "--epochs", "1", "--out", tmp_path / "clf", cwd=ws.root, env=env)
    assert "Test accuracy" in clf.stdout
    assert ckpt.load(tmp_path / "clf" / "classifier.safetensors").header["arch"] == "llama"
    chat = tutor("chat", "--checkpoint", tmp_path / "clf" / "classifier.safetensors", cwd=ws.root, env=env,
                 input="Call now to claim your prize\n")
    assert chat.stdout.count("> spam") + chat.stdout.count("> ham") == 1


def test_a_setting_the_architecture_lacks_is_refused_naming_the_valid_ones(solved):
    ws, env = solved
    gpt = tutor("train", "pretrain", *MICRO, "--set", "window_size=8", cwd=ws.root, env=env, check=False)
    message = " ".join(gpt.stderr.split())
    assert gpt.returncode == 2 and "the gpt architecture has no window_size" in message and "drop_rate" in message
    llama = tutor("train", "pretrain", *MICRO, "--arch", "llama", "--set", "drop_rate=0.1", cwd=ws.root, env=env, check=False)
    message = " ".join(llama.stderr.split())
    assert llama.returncode == 2 and "the llama architecture has no drop_rate" in message and "n_kv_groups" in message
    groups = tutor("train", "pretrain", *MICRO, "--arch", "llama", "--set", "n_kv_groups=3", cwd=ws.root, env=env, check=False)
    assert groups.returncode == 2 and "n_kv_groups=3 must divide n_heads=2" in " ".join(groups.stderr.split())
    unknown = tutor("train", "pretrain", *MICRO, "--arch", "mamba", cwd=ws.root, env=env, check=False)
    assert unknown.returncode == 2 and "unknown architecture 'mamba'" in unknown.stderr


def test_resume_refuses_another_architecture(solved, tmp_path):
    ws, env = solved
    tutor("train", "pretrain", *MICRO, "--max-steps", "10", "--out", tmp_path / "run", cwd=ws.root, env=env)
    run = tutor("train", "pretrain", *MICRO, "--arch", "llama", "--resume", "--out", tmp_path / "run", cwd=ws.root, env=env,
                check=False)
    assert run.returncode == 1 and "arch=llama (the run has arch=gpt)" in " ".join(run.stderr.split())


def test_llama_training_names_the_lesson_to_finish(make_workspace, tutor_home):
    """The GPT lessons pass, the Llama lessons are stubs: a Llama run names lesson 18 first."""
    from tutor.engine.stubs import generate_stubs

    ws = make_workspace(overrides={"llama.py": generate_stubs()["llama.py"]})
    env = {**os.environ, "TUTOR_HOME": str(tutor_home)}
    run = tutor("train", "pretrain", "--preset", "micro", "--arch", "llama", cwd=ws.root, env=env, check=False)
    message = " ".join(run.stderr.split())
    assert run.returncode == 1
    assert "training a llama model uses your code from lessons 2, 3, 4, 11, 12, 13, 18, 19, 20, 21" in message
    assert "not passing yet: 18 (RMSNorm and SwiGLU)" in message and "tutor check 18" in message


def test_llama_presets_match_the_gpt_parameter_count_within_5_percent():
    """Counted on the reference models themselves, not on the presets' own arithmetic."""
    import torch

    from lessons.reference.gpt import GPTModel
    from lessons.reference.llama import LlamaModel
    from tutor.training.presets import PRESETS, gpt_parameters, llama_parameters

    for name, preset in PRESETS.items():
        gpt_cfg, llama_cfg = preset.model_cfg(), preset.override(arch="llama").model_cfg()
        with torch.device("meta"):
            gpt = sum(p.numel() for p in GPTModel(gpt_cfg).parameters())
            llama = sum(p.numel() for p in LlamaModel(llama_cfg).parameters())
        assert abs(llama / gpt - 1) < 0.05, (name, gpt, llama)
        assert (gpt, llama) == (gpt_parameters(gpt_cfg), llama_parameters(llama_cfg)), name
        assert llama_cfg["n_kv_groups"] < llama_cfg["n_heads"], name  # grouped, not plain multi-head attention


def test_a_checkpoint_without_an_architecture_is_a_gpt():
    from tutor.learner import build_from_checkpoint, checkpoint_arch

    assert checkpoint_arch({"settings": {"max_steps": 3}}) == "gpt"
    assert checkpoint_arch({"arch": "llama"}) == "llama"
    built = []

    class Old:
        header = {"step": 3, "model_cfg": {"emb_dim": 4}}
        model_cfg = {"emb_dim": 4}
        model = {}  # no tensors: what a model_cfg alone describes is bounded by memory only

    def importer(module):
        built.append(module)
        return type("M", (), {"GPTModel": lambda cfg: ("gpt", cfg), "LlamaModel": lambda cfg: ("llama", cfg)})

    assert build_from_checkpoint(importer, Old()) == ("gpt", {"emb_dim": 4}) and built == ["gpt"]
