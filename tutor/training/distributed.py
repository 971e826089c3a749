"""Training on several processes: PyTorch's own engine, DistributedDataParallel.

`run_parallel` starts N processes on this machine (and joins those of other
machines) through PyTorch's elastic launcher, `torch.distributed.run` (what
`torchrun` runs). Each process is one rank of a process group (gloo on CPUs,
nccl on CUDA GPUs) and runs the same Pretrainer with a `Group`: the learner's
model wrapped in `DistributedDataParallel`, the rank's own rows of every global
batch (the preset's batch, split in equal parts, so the run follows the same
loss curve as one process), the loss averaged over the ranks. Rank 0 alone
prints progress, evaluates, samples and writes checkpoints, in the same format
as a one-process run, so `--resume` continues with any number of processes.

The processes talk to this one through JSON lines on their standard output
(rank 0's events, each rank's error); the launcher stops every rank when one
dies, and this module names the one that did.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROTOCOL = "tutor-rank"  # the key that marks a rank's message on its standard output


@dataclass(frozen=True)
class Launch:
    """Where the processes run: nproc on this machine, nnodes machines in all."""

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes


class _SilentLog:
    """What ranks other than 0 log: nothing (rank 0 writes the run's metrics)."""

    def emit(self, event: dict[str, Any]) -> None:
        pass

    def truncate(self, step: int) -> None:
        pass


class Group:
    """One rank's view of the process group, for the Pretrainer's hooks."""

    def __init__(self, rank: int, world_size: int, local_rank: int, device: str) -> None:
        self.rank, self.world_size, self.local_rank, self.device = rank, world_size, local_rank, device

    def silent_log(self) -> _SilentLog:
        return _SilentLog()

    def wrap(self, model: Any) -> Any:
        """The model in DistributedDataParallel: rank 0's weights broadcast now, gradients
        averaged in buckets while backward runs. The module itself stays what is saved."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if self.device == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def part(self, batch: Any) -> Any:
        """This rank's contiguous, equal share of the global batch's rows."""
        rows = batch.shape[0]
        if rows % self.world_size:
            from tutor.training.pretrain import TrainingError

            raise TrainingError(f"a batch of {rows} rows cannot be split into {self.world_size} equal parts; "
                                f"choose a batch_size that {self.world_size} divides")
        size = rows // self.world_size
        return batch[self.rank * size:(self.rank + 1) * size]

    def mean(self, value: float) -> float:
        """The mean of a number over the ranks (each rank's loss is the mean over its rows)."""
        import torch
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=self.device if self.device == "cuda" else "cpu")
        dist.all_reduce(t)
        return float(t.item()) / self.world_size


# --- this process: start the ranks, relay their messages, name a failure --


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launcher_command(launch: Launch, rank_command: list[str]) -> list[str]:
    """`torch.distributed.run` with these placements, running rank_command in each process.
    The launcher is started without the current folder on sys.path, as python_command does."""
    port = launch.master_port or free_port()
    # On Linux the launcher asks for a SIGTERM when this process dies, killed or not; it passes it on
    # to every rank, so none trains on with nobody watching.
    boot = ("import sys; del sys.path[0]\n"
            "if sys.platform.startswith('linux'):\n"
            "    import ctypes, signal\n"
            "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG\n"
            "from torch.distributed.run import main; main()")
    return [sys.executable, "-c", boot, f"--nproc-per-node={launch.nproc}", f"--nnodes={launch.nnodes}",
            f"--node-rank={launch.node_rank}", f"--master-addr={launch.master_addr}", f"--master-port={port}",
            "--max-restarts=0", "--monitor-interval=0.5", "--no-python", *rank_command]


def check_launch(launch: Launch, batch_size: int, device: str, say: Any) -> str:
    """The device every rank uses, once the placement can work; warns of more processes than cores."""
    from tutor.training.pretrain import TrainingError, pick_device

    if launch.nproc < 1 or launch.nnodes < 1 or not 0 <= launch.node_rank < launch.nnodes:
        raise TrainingError(f"--nproc and --nnodes must be at least 1 and --node-rank from 0 to {launch.nnodes - 1}")
    if batch_size % launch.world_size:
        raise TrainingError(f"the global batch of {batch_size} rows cannot be split into {launch.world_size} equal "
                            f"parts; choose a --set batch_size that {launch.world_size} divides")
    device = pick_device(device)
    if device == "mps":
        raise TrainingError("several processes need CPUs (gloo) or CUDA GPUs (nccl); an Apple GPU cannot join a "
                            "process group: add --device cpu")
    if device == "cuda":
        import torch

        if launch.nproc > torch.cuda.device_count():
            raise TrainingError(f"--nproc {launch.nproc} asks for one GPU per process, but torch sees "
                                f"{torch.cuda.device_count()} here")
    elif launch.nproc > (os.cpu_count() or 1):
        say(f"Warning: {launch.nproc} processes on {os.cpu_count()} CPU cores: they share the cores and will be "
            "slower than fewer processes")
    return device


def describe_launch(launch: Launch, device: str, batch_size: int, threads: int) -> str:
    """One sentence on what a multi-process run does: how many processes where, over which backend,
    and how they share the work."""
    where = (f"{launch.nproc} on this machine" if launch.nnodes == 1 else
             f"{launch.nproc} on each of {launch.nnodes} machines (this one is machine {launch.node_rank})")
    backend = ("nccl, one GPU each" if device == "cuda" else
               f"gloo on the CPU, {threads} thread{'s' if threads != 1 else ''} each")
    return (f"Training on {launch.world_size} processes, {where} (DistributedDataParallel, {backend}): each "
            f"computes {batch_size // launch.world_size} of every batch's {batch_size} rows, the gradients are "
            "averaged over the processes, and rank 0 alone evaluates and writes the checkpoints")


def _spec(trainer: Any, device: str) -> dict[str, Any]:
    """What every rank needs to build the same trainer: a Pretrainer or a ClassifierTrainer."""
    from tutor.training.pretrain import Pretrainer

    if isinstance(trainer, Pretrainer):
        return {"kind": "pretrain", "workspace": str(trainer.workspace.root), "settings": trainer.settings.to_dict(),
                "corpus": asdict(trainer.corpus), "out": str(trainer.out), "device": device,
                "precision": trainer.precision, "resume": trainer.resume, "requested": trainer.requested}
    return {"kind": "classify", "workspace": str(trainer.workspace.root), "settings": asdict(trainer.settings),
            "pretrained": None if trainer.pretrained is None else str(trainer.pretrained), "out": str(trainer.out),
            "from_scratch": trainer.from_scratch, "device": "cpu"}


def run_parallel(trainer: Any, launch: Launch) -> dict[str, Any]:
    """Train what `trainer` (a Pretrainer or a ClassifierTrainer) describes on launch.world_size
    processes; rank 0's events reach
    trainer.on_event and its lines trainer.log, as in one process. Returns the "done" event
    (on a machine without rank 0: an empty one)."""
    from tutor.core.atomic import clean_stale_temporaries
    from tutor.core.locations import child_pythonpath, python_command
    from tutor.training.pretrain import TrainingError, run_lock

    device = check_launch(launch, trainer.settings.batch_size, getattr(trainer, "device", "cpu"), trainer.log)
    trainer.out.mkdir(parents=True, exist_ok=True)
    with run_lock(trainer.out):
        clean_stale_temporaries(trainer.out)
        fd, spec_path = tempfile.mkstemp(prefix="tutor-ranks-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_spec(trainer, device), f)
        threads = max(1, (os.cpu_count() or 1) // launch.nproc)
        trainer.log(describe_launch(launch, device, trainer.settings.batch_size, threads))
        env = {**os.environ, "PYTHONPATH": child_pythonpath(), "OMP_NUM_THREADS": str(threads),
               "PYTHONUNBUFFERED": "1"}
        command = launcher_command(launch, python_command("tutor.training.distributed", spec_path))
        relay = _Relay(trainer)
        try:
            with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as stderr:
                proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True,
                                        errors="replace")
                try:
                    assert proc.stdout is not None
                    for line in proc.stdout:
                        relay.line(line)
                    code = proc.wait()
                except KeyboardInterrupt:
                    _stop(proc)
                    raise
                stderr.seek(0)
                failure = stderr.read()
        finally:
            os.unlink(spec_path)
    if code == 0:
        return relay.done or {"event": "done", "step": None, "val_loss": float("nan"), "checkpoint": str(trainer.checkpoint_path)}
    raise TrainingError(explain_failure(code, failure, relay, trainer))


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C reached the ranks too (one process group); give rank 0 time to save, then end the launcher."""
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _Relay:
    """Rank messages from the launcher's standard output to the trainer's callbacks."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self.done: dict[str, Any] | None = None
        self.errors: dict[int, str] = {}
        self.pids: dict[int, int] = {}
        self.last_checkpoint: int | None = None
        self.malformed = 0
        self.lock = threading.Lock()

    def line(self, line: str) -> None:
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            message = None
        if not isinstance(message, dict) or PROTOCOL not in message:
            if line.strip():
                self.trainer.log(line.rstrip("\n"))  # the learner's own prints
            return
        kind, rank = message.get(PROTOCOL), message.get("rank", -1)
        if not _whole(rank, low=-1):
            return self._malformed(line, "its rank is not a whole number")
        if kind == "event":
            event = message.get("event")
            problem = _event_problem(event)
            if problem:
                return self._malformed(line, problem)
            if event["event"] == "done":
                self.done = event
            if event["event"] == "checkpoint":
                self.last_checkpoint = event["step"]
            try:
                self.trainer.on_event(event)
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
                self._malformed(line, f"{type(exc).__name__}: {exc}")
        elif kind == "log":
            self.trainer.log(str(message.get("text", "")))
        elif kind == "hello":
            if not _whole(message.get("pid")):
                return self._malformed(line, "its pid is not a whole number")
            self.pids[rank] = message["pid"]
        elif kind == "error":
            self.errors[rank] = str(message.get("message", ""))
        else:
            self._malformed(line, f"unknown kind {str(kind)[:20]!r}")

    def _malformed(self, line: str, why: str) -> None:
        """A rank's status line that is not what a rank sends: ignored, with a warning (the first few)."""
        self.malformed += 1
        if self.malformed <= MAX_WARNINGS:
            self.trainer.log(f"warning: ignored a malformed status line from a rank ({why}): {line.strip()[:200]}")
        elif self.malformed == MAX_WARNINGS + 1:
            self.trainer.log("warning: more malformed status lines from the ranks are ignored without a word")


MAX_WARNINGS = 5


def _whole(value: Any, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value < 2**63


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _event_problem(event: Any) -> str:
    """What is wrong with the shape of a rank's event, or "" (the fields the launching process reads)."""
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return "its event is not a table with a name"
    if event["event"] == "checkpoint" and not _whole(event.get("step")):
        return "a checkpoint event without a whole step"
    if event["event"] == "done":
        if "checkpoint" in event and not isinstance(event["checkpoint"], str):
            return "a done event whose checkpoint is not a path"
        if event.get("step") is not None and not _whole(event["step"]):
            return "a done event whose step is not a whole number"
        for key in ("val_loss", "val_accuracy"):
            if key in event and event[key] is not None and not _number(event[key]):
                return f"a done event whose {key} is not a number"
        test = event.get("test")
        if test is not None and (not isinstance(test, dict) or not all(_number(v) for v in test.values())):
            return "a done event whose test scores are not numbers"
    return ""


def failed_ranks(launcher_stderr: str) -> dict[int, int]:
    """{rank: exit code} from the launcher's failure summary (a negative code: killed by that signal)."""
    found = {}
    for rank, code in re.findall(r"rank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)", launcher_stderr):
        found[int(rank)] = int(code)
    return found


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed (signal {-code})"
    return f"exited with code {code}"


def _lost_peer(text: str) -> bool:
    text = text.lower()
    return any(w in text for w in ("connection closed", "connection reset", "broken pipe", "timed out",
                                   "nccl", "gloo", "socket"))


def explain_failure(code: int, launcher_stderr: str, relay: _Relay, trainer: Any) -> str:
    """A message naming the rank that stopped the run, and where the run can continue from."""
    failed = failed_ranks(launcher_stderr)
    # The rank at fault: one that died without a word, else one whose error is its own, not a lost peer.
    silent = sorted(r for r in failed if r not in relay.errors)
    own = sorted(r for r, text in relay.errors.items() if not _lost_peer(text))
    if own:
        rank = own[0]
        why = f"rank {rank} stopped: {relay.errors[rank]}"
    elif silent:
        rank = silent[0]
        why = f"rank {rank} {_how(failed[rank])}; the other ranks were stopped with it"
    elif relay.errors:
        rank = min(relay.errors)
        why = f"rank {rank} stopped: {relay.errors[rank]}"
    else:
        tail = "\n".join(launcher_stderr.strip().splitlines()[-12:])
        why = f"the launcher exited with code {code}:\n{tail}"
    where = (f" The last checkpoint (step {relay.last_checkpoint}) in {trainer.out} is intact; continue with "
             "--resume (with any --nproc)." if relay.last_checkpoint is not None else "")
    return f"Training on several processes stopped: {why}.{where}"


# --- inside each rank ------------------------------------------------------


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def rank_main(spec_path: str) -> int:
    """One rank: join the process group, train with the Pretrainer, report its end."""
    import torch
    import torch.distributed as dist

    from tutor.core.checkpoint import CheckpointError
    from tutor.data.corpus import Corpus, CorpusError
    from tutor.data.sms import SmsDataError
    from tutor.engine.workspace import Workspace
    from tutor.learner import LearnerCodeError
    from tutor.training.presets import Settings
    from tutor.training.pretrain import Pretrainer, TrainingError

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    device = spec["device"]
    _send({PROTOCOL: "hello", "rank": rank, "pid": os.getpid()})
    code = 1
    try:
        if device == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        main = rank == 0
        common = {
            "on_event": (lambda e: _send({PROTOCOL: "event", "rank": rank, "event": e})) if main else (lambda e: None),
            "log": (lambda text: _send({PROTOCOL: "log", "rank": rank, "text": str(text)})) if main else (lambda t: None),
            "parallel": Group(rank, world, local, device)}
        if spec.get("kind") == "classify":
            from tutor.training.classify import ClassifierTrainer, ClassifySettings

            trainer = ClassifierTrainer(
                Workspace(Path(spec["workspace"])), ClassifySettings(**spec["settings"]),
                None if spec["pretrained"] is None else Path(spec["pretrained"]), Path(spec["out"]),
                from_scratch=spec["from_scratch"], **common)
        else:
            trainer = Pretrainer(
                Workspace(Path(spec["workspace"])), Settings(**spec["settings"]), Corpus(**spec["corpus"]),
                Path(spec["out"]), device=device, precision=spec["precision"], resume=spec["resume"],
                requested=spec["requested"], **common)
        trainer._run()  # the launching process holds the run folder's lock
        code = 0
    except KeyboardInterrupt:
        code = 130
    except (TrainingError, LearnerCodeError, CheckpointError, CorpusError, SmsDataError) as exc:
        _send({PROTOCOL: "error", "rank": rank, "message": str(exc)})
    except Exception as exc:  # noqa: BLE001 - reported to the launching process, which names the rank
        _send({PROTOCOL: "error", "rank": rank, "message": f"{type(exc).__name__}: {exc}"[:2000]})
    if code == 0 and dist.is_initialized():
        dist.destroy_process_group()
    return code


if __name__ == "__main__":
    sys.exit(rank_main(sys.argv[1]))
