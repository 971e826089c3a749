"""Training on several processes (tutor train pretrain --nproc): DistributedDataParallel through
torch.distributed.run, on CPU processes (gloo). The runs are marked slow: each starts its processes afresh."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tutor.core import checkpoint as ckpt

MICRO = ["train", "pretrain", "--preset", "micro", "--set", "eval_every=10", "--skip-checks", "--json",
         "--device", "cpu"]
# Losses are printed to 5 decimals; two processes sum the gradients in another order than one, so
# the curves agree to float32 rounding (measured: at most 1e-5 apart over the 40 steps).
TOLERANCE = 1e-3


def tutor(*args, cwd, env, check=True):
    return subprocess.run([sys.executable, "-m", "tutor", *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, check=check, timeout=300)


@pytest.fixture
def solved(make_workspace, tutor_home):
    ws = make_workspace()
    env = {**os.environ, "TUTOR_HOME": str(tutor_home), "PYTHONUNBUFFERED": "1"}
    return ws, env


def steps(lines: str) -> list[tuple[int, float]]:
    return [(e["step"], e["loss"]) for e in map(json.loads, lines.splitlines()) if e["event"] == "step"]


def close(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return [s for s, _ in a] == [s for s, _ in b] and all(abs(x - y) <= TOLERANCE for (_, x), (_, y) in zip(a, b))


@pytest.mark.slow
def test_two_processes_follow_the_loss_curve_of_one(solved, tmp_path):
    ws, env = solved
    one = tutor(*MICRO, "--out", tmp_path / "one", cwd=ws.root, env=env)
    two = tutor(*MICRO, "--out", tmp_path / "two", "--nproc", "2", cwd=ws.root, env=env)
    assert len(steps(one.stdout)) == 40 and close(steps(two.stdout), steps(one.stdout))
    said = " ".join(two.stderr.split())  # Rich wraps lines; compare words
    assert said.count("Training on 2 processes, 2 on this machine (DistributedDataParallel, gloo on the CPU") == 1
    assert "Training on" not in " ".join(one.stderr.split())
    events = [json.loads(line) for line in two.stdout.splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "done"
    assert [e["event"] for e in events].count("checkpoint") == 4  # rank 0 alone writes them
    metrics = (tmp_path / "two" / "metrics.jsonl").read_text()
    assert metrics.count('"event": "step"') == 40 and metrics.count('"event": "start"') == 1
    assert ckpt.load(tmp_path / "two" / "checkpoint.safetensors").step == 40


@pytest.mark.slow
def test_ctrl_c_then_resume_a_two_process_run_with_one_process(solved, tmp_path):
    """Ctrl-C reaches every process (one process group); the run resumes with another --nproc
    and follows the curve of a run that never stopped: the data order does not depend on N."""
    ws, env = solved
    whole = tutor(*MICRO, "--out", tmp_path / "whole", cwd=ws.root, env=env)
    proc = subprocess.Popen([sys.executable, "-m", "tutor", *MICRO, "--out", tmp_path / "run", "--nproc", "2"],
                            cwd=ws.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "step" and event["step"] == 25:  # past the checkpoint at step 20
            os.killpg(proc.pid, signal.SIGINT)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    saved = ckpt.load(tmp_path / "run" / "checkpoint.safetensors").step
    assert 20 <= saved < 40
    tutor(*MICRO, "--out", tmp_path / "run", "--resume", cwd=ws.root, env=env)
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert close(steps(metrics), steps(whole.stdout))


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            parent = int(stat[stat.rfind(b")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _rank_pid(root: int, rank: int) -> int | None:
    for pid in _descendants(root):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"tutor.training.distributed" in cmdline and f"RANK={rank}".encode() in environ:
            return pid
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return state[state.rfind(b")") + 2:].split()[0] != b"Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the rank's process through /proc")
def test_a_killed_rank_stops_the_run_and_leaves_the_checkpoint_intact(solved, tmp_path):
    ws, env = solved
    proc = subprocess.Popen([sys.executable, "-m", "tutor", *MICRO, "--max-steps", "2000", "--out", tmp_path / "run",
                             "--nproc", "2"], cwd=ws.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    saved = None
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "checkpoint":
            saved = event["step"]
            break
    ranks = [_rank_pid(proc.pid, r) for r in (0, 1)]
    everything = _descendants(proc.pid)
    assert None not in ranks, everything
    started = time.monotonic()
    os.kill(ranks[1], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    stopped = time.monotonic() - started
    assert proc.returncode == 1, err
    assert "rank 1 was killed (SIGKILL)" in err, err
    last = [json.loads(l)["step"] for l in out.splitlines() if json.loads(l)["event"] == "checkpoint"]
    saved = last[-1] if last else saved
    assert f"last checkpoint (step {saved})" in err.replace("\n", " "), err
    assert ckpt.load(tmp_path / "run" / "checkpoint.safetensors").step == saved
    assert not [pid for pid in everything if _alive(pid)], "processes left behind"
    assert stopped < 60


SUMMARY = """[rank0]: RuntimeError: Connection closed by peer
Root Cause (first observed failure):
[0]:
  time      : 2026-12-01_10:40:00
  host      : box
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 4242)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 4242
"""


class _Trainer:
    out = Path("/runs/x")

    def on_event(self, event):
        pass

    def log(self, text):
        pass


def test_the_failure_names_the_rank_that_died_not_the_one_that_lost_it():
    from tutor.training.distributed import _Relay, explain_failure, failed_ranks

    assert failed_ranks(SUMMARY) == {1: -9}
    relay = _Relay(_Trainer())
    relay.line('{"tutor-rank": "error", "rank": 0, "message": "training stopped: Connection closed by peer"}\n')
    relay.line('{"tutor-rank": "event", "rank": 0, "event": {"event": "checkpoint", "step": 30}}\n')
    message = explain_failure(1, SUMMARY, relay, _Trainer())
    assert "rank 1 was killed (SIGKILL)" in message and "last checkpoint (step 30)" in message
    relay.errors[1] = "LearnerCodeError: your train_step raised ValueError"
    assert "rank 1 stopped: LearnerCodeError" in explain_failure(1, SUMMARY, relay, _Trainer())


def test_a_placement_that_cannot_work_is_refused_and_too_many_processes_warn():
    from tutor.training.distributed import Launch, check_launch
    from tutor.training.pretrain import TrainingError

    with pytest.raises(TrainingError, match="cannot be split into 3 equal parts"):
        check_launch(Launch(nproc=3), 8, "cpu", print)
    with pytest.raises(TrainingError, match="--node-rank"):
        check_launch(Launch(nproc=1, nnodes=2, node_rank=2), 8, "cpu", print)
    said = []
    many = 2 * (os.cpu_count() or 1)
    assert check_launch(Launch(nproc=many), 8 * many, "cpu", said.append) == "cpu"
    assert said and "share the cores" in said[0]


def test_every_multi_process_run_says_what_it_runs():
    from tutor.training.distributed import Launch, describe_launch

    two = describe_launch(Launch(nproc=2), "cpu", 8, 1)
    assert two.startswith("Training on 2 processes, 2 on this machine (DistributedDataParallel, gloo on the CPU, "
                          "1 thread each): each computes 4 of every batch's 8 rows")
    many = describe_launch(Launch(nproc=4, nnodes=2, node_rank=1), "cuda", 32, 4)
    assert "8 processes, 4 on each of 2 machines (this one is machine 1)" in many and "nccl, one GPU each" in many
    assert "4 of every batch's 32 rows" in many


def test_the_launcher_runs_torch_distributed_run_without_the_current_folder():
    from tutor.training.distributed import Launch, launcher_command

    command = launcher_command(Launch(nproc=2, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=29500),
                               ["python", "rank.py"])
    assert "del sys.path[0]" in command[2] and "torch.distributed.run" in command[2] and "PDEATHSIG" in command[2]
    assert {"--nproc-per-node=2", "--nnodes=2", "--node-rank=1", "--master-addr=10.0.0.1", "--master-port=29500",
            "--no-python"} <= set(command)
    assert command[-2:] == ["python", "rank.py"]


@pytest.mark.slow
def test_classify_on_two_processes_trains_the_classifier_of_one(solved, tmp_path):
    ws, env = solved
    tutor(*MICRO, "--out", tmp_path / "pretrained", cwd=ws.root, env=env)
    base = ["train", "classify", "--from", tmp_path / "pretrained" / "checkpoint.safetensors", "--data", "sms-demo",
            "--epochs", "1", "--json"]
    one = tutor(*base, "--out", tmp_path / "one", cwd=ws.root, env=env)
    two = tutor(*base, "--out", tmp_path / "two", "--nproc", "2", cwd=ws.root, env=env)
    assert close(steps(two.stdout), steps(one.stdout)) and len(steps(one.stdout)) > 10
    last = [json.loads(line) for line in (one.stdout, two.stdout) for line in [line.splitlines()[-1]]]
    assert last[0]["event"] == last[1]["event"] == "done"
    assert abs(last[0]["test"]["accuracy"] - last[1]["test"]["accuracy"]) < 0.02
    assert ckpt.load(tmp_path / "two" / "classifier.safetensors").header["classify"]["data"] == "sms-demo"
