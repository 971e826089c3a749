"""Checks for lesson 26: shard, broadcast_parameters, all_reduce_gradients, ddp_train_step.

`shard` is checked here, in the check's own process. The other three need a
process group: each check forks two rank processes from this one (torch is
already imported, so they start at once); they join a gloo group on 127.0.0.1
at a free port, run the learner's function on a small trusted model and send
back plain numbers, one JSON line each, on their own pipe. The ranks run learner
code, so what they send is only data: parsed, its names and lengths checked, and
compared here with what one process computes. A rank that has not answered a
few seconds after the other is reported as a hang at a collective; every rank
is killed and reaped before the check ends, whatever happened.
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import socket
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tutor.checks import assert_close, beside_learner, check, fail, learner, show

WORLD = 2
HANG_SECONDS = 5.0  # gloo's timeout for one collective, in each rank
STRAGGLER_SECONDS = HANG_SECONDS + 3.0  # how long the check waits for a rank once another has answered
START_SECONDS = 15.0  # the whole wait for the first answer (joining the group included)
VOCAB, WIDTH = 11, 6
LR, CLIP = 0.01, 0.05  # a clip this small acts on every step, so where it happens shows


def _m():
    return learner("distributed")


# --- a small trusted model, the same in every process ---------------------


class Tiny(nn.Module):
    """Ids to logits: an embedding, a LayerNorm, a head; a buffer (broadcast must carry
    it) and a parameter that never gets a gradient (the all-reduce must skip it)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(VOCAB, WIDTH)
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)
        self.unused = nn.Parameter(torch.randn(3))
        self.register_buffer("scale", torch.ones(WIDTH))
        with torch.no_grad():
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)
        self.double()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.emb(idx)) * self.scale)


def _batch(seed: int, rows: int, t: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (rows, t + 1), generator=g)
    return ids[:, :-1].clone(), ids[:, 1:].clone()


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x).flatten(0, 1), y.flatten())


def _names(model: nn.Module, buffers: bool = True) -> list[str]:
    names = [n for n, _ in model.named_parameters()]
    return names + ([n for n, _ in model.named_buffers()] if buffers else [])


def _values(model: nn.Module, buffers: bool = True) -> dict[str, list[float]]:
    tensors = dict(model.named_parameters())
    if buffers:
        tensors.update(dict(model.named_buffers()))
    return {n: [float(v) for v in t.detach().reshape(-1).tolist()] for n, t in tensors.items()}


# --- inside a rank (a forked process running learner code) -----------------


def _scenario_broadcast(rank: int) -> dict:
    m = _m()
    first = Tiny(seed=100 + rank)
    first.scale.fill_(rank + 1.0)
    before = [id(p) for p in first.parameters()]
    m.broadcast_parameters(first)
    second = Tiny(seed=200 + rank)
    second.scale.fill_(rank + 1.0)
    m.broadcast_parameters(second, src=1)
    return {"src0": _values(first), "src1": _values(second),
            "same_objects": before == [id(p) for p in first.parameters()]}


def _scenario_all_reduce(rank: int) -> dict:
    model = Tiny(seed=7)
    x, y = _batch(50 + rank, 2)
    _loss(model, x, y).backward()
    _m().all_reduce_gradients(model)
    return {"grads": {n: None if p.grad is None else [float(v) for v in p.grad.reshape(-1).tolist()]
                      for n, p in model.named_parameters()}}


def _scenario_train(rank: int) -> dict:
    model = Tiny(seed=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)
    losses = []
    for step in range(3):
        x, y = _batch(900 + step, 4)
        loss = _m().ddp_train_step(model, optimizer, x, y, torch.device("cpu"), max_grad_norm=CLIP)
        losses.append(float(loss) if type(loss) in (float, int) else f"{type(loss).__name__}: {show(loss)}")
    return {"losses": losses, "params": _values(model, buffers=False)}


def _learner_frame(exc: BaseException) -> str:
    mine = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).parent.name == "model"]
    if not mine:
        return ""
    f = mine[-1]
    return f"\n  at model/{Path(f.filename).name}, line {f.lineno}, in {f.name}\n    {(f.line or '').strip()}"


def _rank_body(scenario, rank: int, port: int, fd: int) -> None:
    """A rank's whole life; it never returns into the check loop (os._exit)."""
    code = 0
    try:
        torch.set_num_threads(1)
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo0" if sys.platform == "darwin" else "lo")
        import torch.distributed as dist

        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                                timeout=timedelta(seconds=HANG_SECONDS))
        try:
            message = {"ok": scenario(rank)}
        except NotImplementedError as exc:
            message = {"missing": str(exc) or "a function of model/distributed.py is not written yet"}
        except BaseException as exc:  # noqa: BLE001 - learner code may raise anything
            message = {"error": f"{type(exc).__name__}: {str(exc)[:600]}{_learner_frame(exc)}"}
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(fd, data):]
        time.sleep(START_SECONDS + STRAGGLER_SECONDS)  # stay in the group: the check ends every rank
    except BaseException:  # noqa: BLE001
        code = 4
    finally:
        os._exit(code)


# --- in the check: start the ranks, read what they send, end them ----------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ranks(scenario, what: str) -> list[dict]:
    """Each rank's answer (its "ok" part), or a failure naming what went wrong. The ranks run
    the learner's code, so they are started beside it (judged: in the learner's process);
    what they sent comes back here as data and is read here."""
    found = beside_learner(learner_side_ranks, scenario.__name__)
    if not (isinstance(found, tuple) and len(found) == 3 and isinstance(found[0], list) and len(found[0]) == WORLD
            and all(line is None or type(line) is bytes for line in found[0]) and isinstance(found[1], list)
            and len(found[1]) == WORLD and all(type(e) is bool for e in found[1]) and type(found[2]) is float):
        fail(f"The ranks' answers for {what} came back in an unknown form.")
    raw, ended, waited = found
    return _interpret(raw, ended, waited, what)


def learner_side_ranks(scenario_name: str) -> tuple[list[bytes | None], list[bool], float]:
    """Fork the ranks, each running one scenario (named: the scenarios are this module's),
    and collect each one's first line. Runs beside the learner's code."""
    scenario = {f.__name__: f for f in (_scenario_broadcast, _scenario_all_reduce, _scenario_train)}[scenario_name]
    port = _free_port()
    pids, fds = [], []
    try:
        for rank in range(WORLD):
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _rank_body(scenario, rank, port, write_fd)
            os.close(write_fd)
            pids.append(pid)
            fds.append(read_fd)
        raw, ended, waited = _collect(fds)
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        for fd in fds:
            os.close(fd)
    return raw, ended, waited


def _collect(fds: list[int]) -> tuple[list[bytes | None], list[bool], float]:
    """Each rank's first line (None: no answer); stops at START_SECONDS, or
    STRAGGLER_SECONDS after the first answer, or when a rank has ended without one."""
    started = time.monotonic()
    deadline = started + START_SECONDS
    buffers = [b""] * len(fds)
    answers: list[bytes | None] = [None] * len(fds)
    ended = [False] * len(fds)
    open_fds = set(range(len(fds)))
    while open_fds and time.monotonic() < deadline:
        ready, _, _ = select.select([fds[i] for i in open_fds], [], [], 0.05)
        for i in [i for i in open_fds if fds[i] in ready]:
            chunk = os.read(fds[i], 1 << 16)
            buffers[i] += chunk
            if b"\n" in buffers[i] or not chunk or len(buffers[i]) > 4 << 20:
                answers[i] = buffers[i].split(b"\n", 1)[0] if b"\n" in buffers[i] else None
                ended[i] = answers[i] is None
                open_fds.discard(i)
                if answers[i] is not None:
                    deadline = min(deadline, time.monotonic() + STRAGGLER_SECONDS)
    return answers, ended, time.monotonic() - started


ADVICE = ("A collective (dist.all_reduce, dist.broadcast) returns only once every rank has called it, so a call "
          "that only some ranks make (`if rank == 0:` around it) leaves the others waiting forever, or pairs with "
          "another collective of theirs. Every rank must make the same collective calls, in the same order.")


def _interpret(raw: list[bytes | None], ended: list[bool], waited: float, what: str) -> list[dict]:
    messages: list[dict | None] = []
    for rank, line in enumerate(raw):
        if line is None:
            messages.append(None)
            continue
        try:
            message = json.loads(line)
        except ValueError:
            fail(f"Rank {rank} sent something that is not an answer while running {what} (did your code write "
                 "to a file descriptor it does not own?).")
        if not isinstance(message, dict) or len(message) != 1 or next(iter(message)) not in ("ok", "missing", "error"):
            fail(f"Rank {rank} sent an answer in an unknown form while running {what}.")
        messages.append(message)
    for _rank, message in enumerate(messages):
        if message and "missing" in message:
            fail(f"Not implemented yet: {str(message['missing'])[:300]}. Write it in model/distributed.py.")
    for rank, message in enumerate(messages):  # an error of the learner's own comes first: the others waited on it
        if message and "error" in message and not _is_collective_timeout(message):
            fail(f"Rank {rank} raised an error in {what}: {str(message['error'])[:900]}")
    stuck = [rank for rank, m in enumerate(messages) if m is None or _is_collective_timeout(m)]
    died = [rank for rank in range(WORLD) if ended[rank]]
    if died and stuck:
        who = " and ".join(f"rank {r}" for r in died)
        fail(f"Collective mismatch: {who} ended in {what} without an answer (gloo found data of another size "
             f"than it expected), and the other ranks lost it while waiting. {ADVICE}")
    if stuck:
        def names(ranks: list[int]) -> str:
            return " and ".join(f"rank {r}" for r in ranks)

        silent = [r for r in stuck if messages[r] is None]
        timed = [r for r in stuck if messages[r] is not None]
        done = [rank for rank in range(WORLD) if rank not in stuck]
        if done:
            lead = f"{names(done)} came back from {what}, but {names(stuck)} was still waiting in it after {HANG_SECONDS:g} s"
        elif timed and silent:
            lead = (f"{names(timed)} gave up after waiting {HANG_SECONDS:g} s at a collective in {what} that "
                    f"{names(silent)} never reached ({names(silent)} never came back: stuck elsewhere, or an endless loop)")
        elif timed:
            lead = f"every rank gave up after waiting {HANG_SECONDS:g} s at a collective in {what}: they waited at different ones"
        else:
            lead = f"no rank came back from {what} within {waited:.0f} s"
        fail(f"Hang: {lead}. {ADVICE}")
    for rank, message in enumerate(messages):
        if message is None:
            fail(f"Rank {rank} ended in {what} without an answer (did your code exit the process?).")
        if "error" in message:
            fail(f"Rank {rank} raised an error in {what}: {str(message['error'])[:900]}")
    return [m["ok"] for m in messages]


def _is_collective_timeout(message: dict) -> bool:
    text = str(message.get("error", "")).lower()
    return any(w in text for w in ("timed out", "timeout", "connection closed", "connection reset"))


def _tensors(values: object, names: list[str], shapes: dict[str, torch.Size], what: str,
             allow_none: bool = False) -> dict[str, torch.Tensor | None]:
    """A rank's numbers as tensors, once their names and lengths are what they must be."""
    if not isinstance(values, dict) or sorted(values) != sorted(names):
        fail(f"{what}: a rank answered with other tensors than the model's ({show(sorted(values)) if isinstance(values, dict) else type(values).__name__}).")  # noqa: E501
    out: dict[str, torch.Tensor | None] = {}
    for name in names:
        item = values[name]
        if item is None and allow_none:
            out[name] = None
            continue
        if not isinstance(item, list) or len(item) != math.prod(shapes[name]) or not all(type(v) in (float, int) for v in item):
            fail(f"{what}: a rank's {name} is not {math.prod(shapes[name])} numbers.")
        out[name] = torch.tensor(item, dtype=torch.float64).reshape(shapes[name])
    return out


def _shapes(model: nn.Module) -> dict[str, torch.Size]:
    return {**{n: p.shape for n, p in model.named_parameters()}, **{n: b.shape for n, b in model.named_buffers()}}


def _same(a: dict, b: dict, atol: float = 1e-9) -> bool:
    return all((a[n] is None) == (b[n] is None) and (a[n] is None or torch.allclose(a[n], b[n], atol=atol, rtol=0)) for n in a)


# --- the checks ------------------------------------------------------------


@check("shard gives the rank-th of world_size contiguous, equal slices, and refuses an uneven batch")
def shards():
    m = _m()
    batch = torch.arange(24).reshape(12, 2)
    given = batch.clone()
    for world_size in (1, 2, 3, 4):
        size = 12 // world_size
        for rank in range(world_size):
            got = m.shard(batch, rank, world_size)
            want = batch[rank * size : (rank + 1) * size]
            if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.equal(got, batch[rank::world_size]) and not torch.equal(got, want):
                fail(
                    f"Looks like interleaved shards: shard(batch, {rank}, {world_size}) gave rows "
                    f"{got[:, 0].div(2, rounding_mode='floor').tolist()} (every {world_size}th row); the contract "
                    f"asks for contiguous slices, rows {rank * size}..{(rank + 1) * size - 1}. Both split the batch, "
                    "but only contiguous slices let every rank find its part by position "
                    "(batch[rank * size:(rank + 1) * size])."
                )
            assert_close(got, want, f"shard(batch of 12 rows, rank={rank}, world_size={world_size})", atol=0, rtol=0)
    if not torch.equal(batch, given):
        fail("shard changed the batch it was given; take a slice, never write into the batch.")
    x = torch.randn(6, 3, 4)
    assert_close(m.shard(x, 1, 2), x[3:], "shard of a (6, 3, 4) batch, rank 1 of 2: rows 3..5, every other dimension whole", atol=0, rtol=0)
    for rows, world_size in ((5, 2), (7, 3), (2, 4)):
        try:
            got = m.shard(torch.zeros(rows, 2), 0, world_size)
        except ValueError:
            continue
        except Exception as exc:  # noqa: BLE001
            fail(f"shard of a batch of {rows} rows over {world_size} ranks raised {type(exc).__name__}: {exc}; the contract asks for ValueError.")
        fail(
            f"shard of a batch of {rows} rows over {world_size} ranks returned {show(got)} instead of raising "
            "ValueError. Unequal shards would weight one rank's rows more than the others' when the gradients "
            "are averaged, so the result would no longer equal one process's step."
        )


@check("broadcast_parameters: on 2 processes, every rank ends with rank src's parameters and buffers")
def broadcast():
    answers = _run_ranks(_scenario_broadcast, "broadcast_parameters")
    names, shapes = _names(Tiny(0)), _shapes(Tiny(0))
    for src, key in ((0, "src0"), (1, "src1")):
        want = {
            n: torch.tensor(v, dtype=torch.float64).reshape(shapes[n])
            for n, v in _values(_with_scale(Tiny(seed=(100 if src == 0 else 200) + src), src)).items()
        }
        call = "broadcast_parameters(model)" if src == 0 else "broadcast_parameters(model, src=1)"
        for rank, answer in enumerate(answers):
            got = _tensors(answer.get(key) if isinstance(answer, dict) else None, names, shapes, call)
            own = {
                n: torch.tensor(v, dtype=torch.float64).reshape(shapes[n])
                for n, v in _values(_with_scale(Tiny(seed=(100 if src == 0 else 200) + rank), rank)).items()
            }
            if rank != src and _same(got, own):
                fail(
                    f"After {call}, rank {rank} still holds its own starting weights: nothing was broadcast. "
                    "Every rank must start from the same weights, or each trains a different model and averaging "
                    "their gradients means nothing. dist.broadcast(tensor, src) each parameter and buffer."
                )
            if (
                rank != src
                and all(torch.equal(got[n], want[n]) for n in _names(Tiny(0), buffers=False))
                and not torch.equal(got["scale"], want["scale"])
            ):
                fail(
                    f"After {call}, rank {rank} has rank {src}'s parameters but not its buffers "
                    f"(`scale` is {got['scale'].tolist()}, rank {src}'s is {want['scale'].tolist()}). The contract "
                    "broadcasts model.buffers() too (a running statistic, a mask)."
                )
            for n in names:
                assert_close(got[n], want[n], f"{n} on rank {rank} after {call} (it must equal rank {src}'s)", atol=0, rtol=0)
    if not all(isinstance(a, dict) and a.get("same_objects") is True for a in answers):
        fail(
            "broadcast_parameters replaced the model's Parameter objects; an optimizer built before it would "
            "still update the old ones. Write into each tensor in place (dist.broadcast does)."
        )


def _with_scale(model: Tiny, rank: int) -> Tiny:
    model.scale.fill_(rank + 1.0)
    return model


def _own_grads(rank: int) -> dict[str, torch.Tensor | None]:
    model = Tiny(seed=7)
    x, y = _batch(50 + rank, 2)
    _loss(model, x, y).backward()
    return {n: None if p.grad is None else p.grad.detach().clone() for n, p in model.named_parameters()}


@check("all_reduce_gradients: on 2 processes, every gradient becomes its mean over the ranks")
def all_reduce():
    answers = _run_ranks(_scenario_all_reduce, "all_reduce_gradients")
    model = Tiny(0)
    names, shapes = _names(model, buffers=False), _shapes(model)
    own = [_own_grads(r) for r in range(WORLD)]
    mean = {n: None if own[0][n] is None else sum(o[n] for o in own) / WORLD for n in names}
    total = {n: None if own[0][n] is None else sum(o[n] for o in own) for n in names}
    for rank, answer in enumerate(answers):
        got = _tensors(answer.get("grads") if isinstance(answer, dict) else None, names, shapes, "all_reduce_gradients", allow_none=True)
        if got["unused"] is not None:
            fail(
                "all_reduce_gradients gave a gradient to a parameter that had none (`unused`, whose .grad was "
                "None). Skip a parameter whose .grad is None: it took no part in the loss."
            )
        if any(got[n] is None for n in names if n != "unused"):
            fail("After all_reduce_gradients a parameter's .grad is None although backward had given it one.")
        if _same(got, total):
            fail(
                "Looks like the gradients were summed over the ranks and not divided by world_size: on rank "
                f"{rank} each .grad is the sum of the {WORLD} ranks' gradients. Each rank's loss is already a mean "
                "over its shard, so the full batch's gradient is the mean of the ranks' gradients: divide the sum "
                "by dist.get_world_size()."
            )
        if _same(got, own[rank]):
            fail(
                f"Rank {rank}'s gradients are its own, unchanged: nothing was all-reduced. Each .grad must become "
                "the mean over the ranks (dist.all_reduce with SUM, then divide by world_size)."
            )
        for n in names:
            if n != "unused":
                assert_close(got[n], mean[n], f"{n}.grad on rank {rank} (the mean of the ranks' gradients)", atol=1e-9, rtol=1e-7)


def _simulate(mode: str, steps: int = 3) -> tuple[dict[str, torch.Tensor], list[float], list[list[float]]]:
    """One process's run of the same 3 steps: "full" is train_step on the full batch; the others
    are what a mistake computes. Returns the parameters, the full losses and each shard's losses."""
    rank = int(mode.split(":")[1]) if mode.startswith("own:") else None
    model = Tiny(seed=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.1)
    losses, shard_losses = [], []
    for step in range(steps):
        x, y = _batch(900 + step, 4)
        optimizer.zero_grad()
        if mode == "full":
            loss = _loss(model, x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            losses.append(loss.item())
            shard_losses.append([_loss(model, x[2 * r : 2 * r + 2], y[2 * r : 2 * r + 2]).item() for r in range(WORLD)])
        else:
            grads = []
            for r in range(WORLD) if rank is None else [rank]:
                model.zero_grad()
                _loss(model, x[2 * r : 2 * r + 2], y[2 * r : 2 * r + 2]).backward()
                if mode == "clip-first":
                    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
                grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
            for n, p in model.named_parameters():
                if n in grads[0]:
                    p.grad = sum(g[n] for g in grads) / len(grads)
            if mode != "clip-first":
                torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    return params, losses, shard_losses


@check("ddp_train_step: after 3 AdamW steps on 2 processes, every rank holds what train_step on the full batch gives")
def train_steps():
    answers = _run_ranks(_scenario_train, "ddp_train_step")
    model = Tiny(0)
    names, shapes = _names(model, buffers=False), _shapes(model)
    got = [_tensors(a.get("params") if isinstance(a, dict) else None, names, shapes, "ddp_train_step") for a in answers]
    want, losses, shard_losses = _simulate("full")
    for rank, params in enumerate(got):
        if _same(params, _simulate(f"own:{rank}")[0], atol=1e-7):
            fail(
                f"Looks like each rank stepped with its own shard's gradient: rank {rank}'s parameters are those of "
                "training on its shard alone, so the ranks have drifted apart. The gradients were averaged before "
                "backward (when there was nothing to average yet) or not at all: call all_reduce_gradients(model) "
                "after loss.backward() and before the optimizer's step."
            )
    if _same(got[0], _simulate("clip-first")[0], atol=1e-7) and not _same(got[0], want, atol=1e-7):
        fail(
            "Looks like the gradients were clipped before the all-reduce: each rank clipped its own gradient, "
            "then the clipped gradients were averaged. Clip the averaged gradient (the full batch's gradient, "
            "which train_step clips), so: backward, all_reduce_gradients, clip, step."
        )
    for rank, params in enumerate(got):
        for n in names:
            assert_close(
                params[n],
                want[n],
                f"{n} on rank {rank} after 3 steps (train_step on the full batch in one process gives the expected values)",
                atol=1e-5,
                rtol=0,
            )
    for rank, answer in enumerate(answers):
        returned = answer.get("losses") if isinstance(answer, dict) else None
        if not isinstance(returned, list) or len(returned) != 3:
            fail(f"ddp_train_step on rank {rank}: expected one loss per step, got {show(returned)}")
        for _step, value in enumerate(returned):
            if type(value) is not float and type(value) is not int:
                fail(f"ddp_train_step should return the loss as a float (loss.item()), got {str(value)[:120]}")
        if all(abs(returned[s] - shard_losses[s][rank]) < 1e-7 for s in range(3)) and any(abs(returned[s] - losses[s]) > 1e-7 for s in range(3)):
            fail(
                f"Looks like the loss was returned for one rank only: rank {rank} returned its own shard's loss "
                f"{[round(v, 6) for v in returned]}, not the mean over all ranks {[round(v, 6) for v in losses]}. "
                "All-reduce a copy of the loss (SUM) and divide by world_size, so every rank returns the loss "
                "train_step would report."
            )
        for step in range(3):
            if abs(returned[step] - losses[step]) > 1e-6:
                fail(
                    f"ddp_train_step's loss at step {step + 1} on rank {rank}: expected {losses[step]:.6f} (the "
                    f"mean over the ranks, the full batch's loss), got {returned[step]:.6f}"
                )
    return f"2 ranks equal 1 process after 3 steps (largest difference {_largest(got, want):.1e})"


def _largest(got: list[dict], want: dict) -> float:
    return max(float((g[n] - want[n]).abs().max()) for g in got for n in want)
