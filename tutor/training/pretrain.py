"""Pretraining with the learner's own code.

The trainer supplies what is not a lesson (the corpus, the optimizer, the device,
checkpoints, progress); everything that is a lesson comes from the learner's
`model/` package: the tokenizer (lessons 2-3), the data loader (4), the GPT (10)
or the Llama-style model (18-21), generation (11), the loss (12), the schedule
and the step (13).

Resuming is exact: the checkpoint holds the weights, the optimizer state and the
random state, and the data order is a function of (seed, epoch), so a run that
was stopped and resumed follows the same loss curve as one that never stopped.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutor.core import checkpoint as ckpt
from tutor.core.atomic import clean_stale_temporaries
from tutor.data.corpus import Corpus
from tutor.engine.workspace import Workspace
from tutor.learner import LearnerCodeError, architecture, build_model, encoding_from_ranks, explain, import_learner
from tutor.training.presets import Settings
from tutor.training.runlog import Event, RunLog
from tutor.training.tokens import encode_cached, learn_tokenizer


class TrainingError(Exception):
    """Training cannot go on; the message says why and what to do."""


MIN_TOKENS_LOADED = 16 * 2**20  # a corpus split up to this many tokens is read whole


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold a run folder for one training at a time."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / "run.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise TrainingError(f"another training run is writing to {folder} right now; wait for it to finish "
                            "(or stop it), or give this one another --out") from None
    try:
        yield
    finally:
        lock.release()


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        if requested == "cuda" and not torch.cuda.is_available():
            raise TrainingError("--device cuda was asked for, but torch sees no CUDA GPU")
        if requested == "mps" and not torch.backends.mps.is_available():
            raise TrainingError("--device mps was asked for, but this machine has no Apple GPU (MPS)")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with bf16 matrix units (Intel AMX), where bf16 autocast trains faster than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return any(line.startswith("flags") and "amx_bf16" in line.split() for line in f)
    except OSError:
        return False


def pick_precision(requested: str, device: str) -> str:
    import torch

    if requested == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if device == "cpu" and cpu_has_fast_bf16() else "fp32"
    if requested not in ("fp32", "bf16"):
        raise TrainingError(f"--precision must be auto, fp32 or bf16, not {requested!r}")
    return requested


def adamw(model, s: Settings, decay_all: bool = False):
    """The run's AdamW (matrices decay; see tutor.training.optimizer), fused where it can be."""
    from tutor.training.optimizer import adamw as make

    return make(model.parameters(), lr=s.peak_lr, betas=(0.9, 0.95), weight_decay=s.weight_decay,
                decay_all=decay_all, fused=True)


def compile_failed(exc: BaseException) -> bool:
    """Whether an error came from torch.compile (say, no C++ compiler) rather than from the learner's code."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TorchDynamoException", "BackendCompilerFailed", "InductorError", "CppCompileError"})


@dataclass
class Pretrainer:
    workspace: Workspace
    settings: Settings
    corpus: Corpus
    out: Path
    device: str = "auto"
    precision: str = "auto"
    resume: bool = False
    # the settings the learner named on the command line (--set, --max-steps): a resumed run must agree
    # with them, except that it may be lengthened; the preset's defaults say nothing about a saved run
    requested: dict[str, Any] = field(default_factory=dict)
    on_event: Callable[[Event], None] = lambda event: None
    log: Callable[[str], None] = print
    # One process of several (tutor.training.distributed.Group): its own rows of every batch, the
    # model wrapped in DistributedDataParallel; only rank 0 logs, evaluates and writes checkpoints.
    parallel: Any = None

    @property
    def main_process(self) -> bool:
        return self.parallel is None or self.parallel.rank == 0

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.safetensors"

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.jsonl"

    # -- events --
    def emit(self, event: Event) -> None:
        self._log.emit(event)

    # -- the run --
    def run(self) -> Event:
        """The run, holding its folder's lock: a second run into the same folder is refused
        instead of interleaving its checkpoints and metrics with this one's."""
        self.out.mkdir(parents=True, exist_ok=True)
        with run_lock(self.out):
            clean_stale_temporaries(self.out)  # a checkpoint write cut short by a kill
            return self._run()

    def _run(self) -> Event:
        """The run itself (each process of a multi-process run enters here: the launcher holds the lock)."""
        self.device = pick_device(self.device)
        self.precision = pick_precision(self.precision, self.device)
        self._log = RunLog(self.metrics_path, self.on_event) if self.main_process else self.parallel.silent_log()
        learner = {name: import_learner(self.workspace, name) for name in ("gpt", "train", "tokenizer", "data")}
        resumed = self._resumed_checkpoint()
        ranks, specials, encoding, tokenizer = self._tokenizer(learner["tokenizer"], resumed)
        train_ids, val_ids = self._token_ids(encoding, ranks)
        cfg = {**self.settings.model_cfg(), "vocab_size": encoding.n_vocab}
        model, optimizer, start = self._model_and_optimizer(cfg, resumed)
        arch = architecture(self.settings.arch).name
        header = {"arch": arch, "settings": self.settings.to_dict(), "model_cfg": cfg,
                  "corpus": {"name": self.corpus.name, "sha256": self.corpus.sha256},
                  "tokenizer": {"ranks": ckpt.encode_ranks(ranks), "special_tokens": specials},
                  "params": sum(p.numel() for p in model.parameters())}
        self.emit({"event": "start", "step": start, "max_steps": self.settings.max_steps, "params": header["params"],
                   "arch": arch, "device": self.device, "precision": self.precision,
                   "train_tokens": len(train_ids), "val_tokens": len(val_ids),
                   "tokens_per_step": self.settings.batch_size * self.settings.context_length,
                   "resumed": resumed is not None, "tokenizer": tokenizer})
        step, last_eval = self._train(learner, model, optimizer, start, header, train_ids, val_ids, encoding)
        done = {"event": "done", "step": step, "val_loss": last_eval.get("val_loss"), "checkpoint": str(self.checkpoint_path)}
        self.emit(done)
        return done

    def _resumed_checkpoint(self) -> ckpt.Checkpoint | None:
        """With --resume, the run's checkpoint, and its saved settings made this run's (a resumed
        run may only be lengthened, or compiled); None for a new run."""
        if not self.resume:
            if self.main_process:
                self.metrics_path.unlink(missing_ok=True)
            return None
        if not self.checkpoint_path.exists():
            raise TrainingError(f"nothing to resume in {self.out}; start a run without --resume")
        resumed = ckpt.load(self.checkpoint_path)
        # Settings added since an older run was saved take their defaults (an old run is a GPT).
        saved = {**Settings().to_dict(), "arch": resumed.header.get("arch", "gpt"), **resumed.header["settings"]}
        clash = [f"{k}={v} (the run has {k}={saved.get(k)})" for k, v in self.requested.items()
                 if k not in ("max_steps", "compile") and saved.get(k) != v]
        if clash:
            raise TrainingError(f"a resumed run keeps the settings saved in its checkpoint; --set {', '.join(clash)}. "
                                "Start a new run to change them (--max-steps and --compile do apply to a resumed run)")
        # How long the run goes may come from this request, and --compile (speed, not results) adds to the run's own.
        max_steps = max(self.requested.get("max_steps", saved["max_steps"]), resumed.step)
        compile_ = self.settings.compile or saved.get("compile", False)
        s = self.settings = Settings(**{**saved, "max_steps": max_steps, "compile": compile_})
        if resumed.step >= s.max_steps:
            raise TrainingError(f"this run already finished its {resumed.step} steps; to train it longer: "
                                f"tutor train pretrain --resume --max-steps N (N > {resumed.step})")
        self._log.truncate(resumed.step)
        self.log(f"Resuming from step {resumed.step} of {s.max_steps}")
        return resumed

    def _tokenizer(self, tokenizer, resumed: ckpt.Checkpoint | None):
        """(ranks, special tokens, encoding, where the ranks came from): the resumed run's ("resumed"),
        an earlier run's when the learner's tokenizer, the text and the settings are unchanged
        ("reused"), or learned now by the learner's train_bpe ("learned")."""
        if resumed is not None:
            ranks, specials = resumed.ranks(), resumed.special_tokens
            return ranks, specials, encoding_from_ranks(tokenizer.SPLIT_PATTERN, ranks, specials), "resumed"
        s = self.settings
        t = learn_tokenizer(tokenizer, self.corpus, s.vocab_size, s.bpe_sample_chars, self.log)
        return t.ranks, t.specials, t.encoding, "reused" if t.reused else "learned"

    def _token_ids(self, encoding, ranks):
        """The training and held-out token ids. A run reads what it can use, so memory does not
        grow with the corpus: enough windows for every step (and every evaluation batch), or the
        whole split when it is smaller."""
        s, window = self.settings, self.settings.context_length
        train_ids = encode_cached(encoding, ranks, self.corpus, "train",
                                  limit=max(s.max_steps * s.batch_size * window + 1, MIN_TOKENS_LOADED))
        val_ids = encode_cached(encoding, ranks, self.corpus, "val",
                                limit=max(s.eval_batches * s.batch_size * window + 1, MIN_TOKENS_LOADED // 4))
        if len(train_ids) < window * s.batch_size + 1:
            raise TrainingError(f"the corpus has {len(train_ids):,} training tokens, too few for one batch of "
                                f"{s.batch_size}x{window}; use a larger corpus or a smaller --set context_length/batch_size")
        if len(val_ids) < window + 1:
            raise TrainingError(f"the held-out text has only {len(val_ids)} tokens, fewer than one window of {window}")
        return train_ids, val_ids

    def _model_and_optimizer(self, cfg: dict[str, Any], resumed: ckpt.Checkpoint | None):
        """The learner's model for `cfg` on the device, its AdamW, and the step to start from."""
        import torch

        s = self.settings
        torch.manual_seed(s.seed)
        arch = architecture(s.arch)
        try:
            model = build_model(lambda module: import_learner(self.workspace, module), cfg, arch.name).to(self.device)
        except LearnerCodeError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LearnerCodeError(f"{arch.cls}(cfg) failed: {explain(exc)}") from None
        # A run saved with a single parameter group (before matrices alone decayed) resumes as it was.
        optimizer = adamw(model, s, decay_all=resumed is not None and len(resumed.optimizer["param_groups"]) == 1)
        if resumed is None:
            return model, optimizer, 0
        ckpt.load_into(model, resumed)
        optimizer.load_state_dict(resumed.optimizer)
        if resumed.rng is not None:
            torch.set_rng_state(resumed.rng)
        return model, optimizer, resumed.step

    def _train(self, learner, model, optimizer, start: int, header, train_ids, val_ids, encoding) -> tuple[int, Event]:
        """Steps from `start` to max_steps, evaluating and saving every eval_every steps; a
        Ctrl-C saves where it stopped. Returns the last step and the last evaluation."""
        import torch

        s, window, train, data = self.settings, self.settings.context_length, learner["train"], learner["data"]

        def loader(epoch: int):
            return data.create_dataloader(train_ids, batch_size=s.batch_size, context_length=window, stride=window,
                                          shuffle=True, drop_last=True, seed=s.seed + epoch)

        val_loader = data.create_dataloader(val_ids, batch_size=s.batch_size, context_length=window, stride=window,
                                            shuffle=False, drop_last=False)
        steps_per_epoch = len(loader(0))

        def save(step: int) -> None:
            if not self.main_process:
                return
            ckpt.save(self.checkpoint_path, {**header, "step": step}, model, optimizer, torch.get_rng_state())
            self.emit({"event": "checkpoint", "step": step, "path": str(self.checkpoint_path)})

        # Training steps may run through a compiled view of the same module (same parameters);
        # evaluation, sampling and checkpoints use the module itself.
        stepper = self.parallel.wrap(model) if self.parallel is not None else model
        stepper = torch.compile(stepper) if s.compile else stepper
        autocast = torch.autocast(device_type=self.device, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        model.train()
        step, batches, epoch = start, None, -1
        window_started, window_tokens = time.monotonic(), 0
        last_eval: Event = {}
        try:
            while step < s.max_steps:
                e, offset = divmod(step, steps_per_epoch)
                if e != epoch:
                    epoch, batches = e, iter(loader(e))
                    for _ in range(offset):  # resuming mid-epoch: the same order, from where it stopped
                        next(batches)
                x, y = next(batches)
                if self.parallel is not None:  # this rank's rows of the global batch
                    x, y = self.parallel.part(x), self.parallel.part(y)
                lr = train.lr_at(step, peak_lr=s.peak_lr, warmup_steps=s.warmup_steps, total_steps=s.max_steps, min_lr=s.min_lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with autocast:
                    loss = train.train_step(stepper, optimizer, x, y, self.device, max_grad_norm=s.max_grad_norm)
                step += 1
                loss = float(loss) if self.parallel is None else self.parallel.mean(float(loss))
                if not math.isfinite(loss):
                    raise TrainingError(f"the loss became {loss} at step {step}: try a lower --set peak_lr (now {s.peak_lr:g})")
                window_tokens += x.numel() * (self.parallel.world_size if self.parallel is not None else 1)
                elapsed = time.monotonic() - window_started
                self.emit({"event": "step", "step": step, "loss": round(loss, 5), "lr": lr,
                           "tokens_per_s": round(window_tokens / elapsed) if elapsed > 0 else None})
                if (step % s.eval_every == 0 or step == s.max_steps) and self.main_process:
                    last_eval = self._evaluate(model, train, learner["gpt"], val_loader, encoding, step, s)
                    save(step)
                    window_started, window_tokens = time.monotonic(), 0
        except KeyboardInterrupt:
            save(step)
            self.emit({"event": "interrupted", "step": step})
            raise
        except (TrainingError, ckpt.CheckpointError):
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's code
            if s.compile and compile_failed(exc):
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                raise TrainingError(f"torch.compile could not compile your model ({type(exc).__name__}: {first}); "
                                    "train without --compile") from None
            raise LearnerCodeError(f"training stopped at step {step}: {explain(exc)}") from None
        return step, last_eval

    def _evaluate(self, model, train, gpt, val_loader, encoding, step: int, s: Settings) -> Event:
        import torch

        model.eval()
        val = train.calc_loss_loader(val_loader, model, self.device, num_batches=s.eval_batches)
        prompt = torch.tensor([encoding.encode_ordinary(s.sample_prompt)], device=self.device)
        with torch.random.fork_rng(devices=[]):  # samples must not shift the training's random stream
            torch.manual_seed(s.seed + step)
            out = gpt.generate(model, prompt, max_new_tokens=s.sample_tokens, context_size=s.context_length,
                               temperature=0.8, top_k=40)
        model.train()
        event = {"event": "eval", "step": step, "val_loss": round(val, 5), "val_perplexity": round(math.exp(min(val, 50)), 2),
                 "sample": encoding.decode(out[0].tolist())}
        self.emit(event)
        return event
