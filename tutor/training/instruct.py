"""Instruction fine-tuning with the learner's own code, and its evaluation.

From the learner's `model/`: InstructionDataset, collate_instructions,
format_input and extract_response (lesson 22), GPTModel (10), calc_loss_loader
(12), lr_at and train_step (13). The tutor supplies the data and its split, the
optimizer, the loop, the checkpoints and the scoring.

Two files in the run folder: `last.safetensors` (weights, optimizer and random
state, written every few steps and at each epoch's end, for --resume after a
kill) and `instruct.safetensors` (the weights with the lowest held-out loss so
far; what chat and lesson 23 load). After training, the best model answers every
entry of the test split, greedily, and the answers are written beside the
checkpoint (`test_responses.json`, as the book does). On the practice set each
answer is right or wrong (exact match, reported per task); on other data a judge
model scores it (see tutor.training.judge).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from tutor.core import checkpoint as ckpt
from tutor.core.atomic import write_text_atomic
from tutor.data import instructions as idata
from tutor.engine.workspace import Workspace
from tutor.learner import (
    LearnerCodeError,
    architecture,
    build_model,
    checkpoint_arch,
    checkpoint_encoding,
    explain,
    import_learner,
    importer,
    model_from_checkpoint,
)
from tutor.training.optimizer import adamw
from tutor.training.runlog import Event, RunLog

IGNORE_INDEX = -100


@dataclass(frozen=True)
class InstructSettings:
    data: str = idata.DEMO  # or idata.DATASET, the imported or downloaded instruction data
    epochs: int = 12  # 8 reached 77.9% on the practice set, 12 reached 80.4% and 81.7% (docs/benchmarks.md)
    batch_size: int = 16
    peak_lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 30
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    max_new_tokens: int = 0  # 0: 24 on the practice set (short answers), 96 on other data
    save_every: int = 50  # steps between resumable checkpoints
    seed: int = 123

    def new_tokens(self) -> int:
        return self.max_new_tokens or (24 if self.data == idata.DEMO else 96)


def instruct_start(from_: Any, *, epochs: int | None, lr: float | None, batch_size: int | None) -> tuple[Any, dict]:
    """For `tutor train instruct`: the GPT-2 weights when `from_` names them (else None), and the
    settings: the book's chapter 7 recipe for GPT-2, the tiny model's defaults otherwise; what the
    user gave wins."""
    from tutor.data.gpt2 import require_weights
    from tutor.training.gpt2 import INSTRUCT_RECIPE, is_gpt2_source

    size = is_gpt2_source(from_)
    weights = None if size is None else require_weights(size or None)
    if weights is None:
        tiny = InstructSettings()
        recipe = {"epochs": tiny.epochs, "peak_lr": tiny.peak_lr, "batch_size": tiny.batch_size}
    else:
        recipe = dict(INSTRUCT_RECIPE)
    given = {"epochs": epochs, "peak_lr": lr, "batch_size": batch_size}
    recipe.update({key: value for key, value in given.items() if value is not None})
    return weights, {**recipe, "min_lr": recipe["peak_lr"] / 10}


class Tokenizer:
    """tiktoken on the learner's ranks, with the `.encode` the lesson's dataset calls."""

    def __init__(self, encoding) -> None:
        self.encoding = encoding

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)


def learner_encoding(workspace: Workspace, checkpoint: ckpt.Checkpoint):
    return checkpoint_encoding(importer(workspace), checkpoint)


def greedy_answers(model, prompts: list[list[int]], *, max_new_tokens: int, context_length: int, eot: int,
                   batch_size: int = 64) -> list[list[int]]:
    """The ids each prompt's greedy continuation holds before its first end of text.

    Prompts of equal length are decoded together, a batch at a time, so that a
    test split of a few hundred entries takes seconds, with no padding to get wrong.
    """
    import torch

    by_length: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(prompts):
        by_length[len(ids)].append(i)
    out: list[list[int]] = [[] for _ in prompts]
    model.eval()
    with torch.no_grad():
        for indexes in by_length.values():
            for start in range(0, len(indexes), batch_size):
                chunk = indexes[start : start + batch_size]
                x = torch.tensor([prompts[i] for i in chunk], dtype=torch.long)
                finished = torch.zeros(len(chunk), dtype=torch.bool)
                new = []
                for _ in range(max_new_tokens):
                    nxt = model(x[:, -context_length:])[:, -1, :].argmax(dim=-1)
                    new.append(nxt)
                    finished |= nxt == eot
                    if bool(finished.all()):
                        break
                    x = torch.cat([x, nxt[:, None]], dim=1)
                rows = torch.stack(new, dim=1).tolist() if new else [[] for _ in chunk]
                for i, row in zip(chunk, rows):
                    out[i] = row[: row.index(eot)] if eot in row else row
    return out


def stream_answer(model, prompt: list[int], *, max_new_tokens: int, context_length: int, eot: int,
                  decode: Callable[[list[int]], str]) -> Iterator[str]:
    """The greedy answer to one prompt, as pieces of text, one new token at a time (for chat).

    Each piece is what the decoded text gained, so a character split over two
    tokens appears once it is whole.
    """
    import torch

    x = torch.tensor([prompt], dtype=torch.long)
    new: list[int] = []
    shown = ""
    model.eval()
    with torch.no_grad():
        for _ in range(max_new_tokens):
            nxt = int(model(x[:, -context_length:])[0, -1].argmax())
            if nxt == eot:
                break
            new.append(nxt)
            x = torch.cat([x, torch.tensor([[nxt]])], dim=1)
            text = decode(new)
            if not text.endswith("\ufffd") and len(text) > len(shown):
                yield text[len(shown):]
                shown = text


def exact_match(response: str, entry: dict[str, str]) -> bool:
    return response.strip() == entry["output"].strip()


def per_task(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{task: {right, total, accuracy}} and "overall", from rows holding "task" and "correct"."""
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row in rows:
        total[row["task"]] += 1
        right[row["task"]] += int(row["correct"])
    table = {task: {"right": right[task], "total": total[task], "accuracy": right[task] / total[task]}
             for task in sorted(total)}
    n = sum(total.values())
    table["overall"] = {"right": sum(right.values()), "total": n, "accuracy": sum(right.values()) / n if n else math.nan}
    return table


def entries_digest(entries: list[dict[str, str]]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for e in entries:
        digest.update(json.dumps([e["instruction"], e.get("input", ""), e["output"]]).encode() + b"\n")
    return digest.hexdigest()


@dataclass
class InstructTrainer:
    workspace: Workspace
    settings: InstructSettings
    pretrained: Path | None
    out: Path
    from_scratch: bool = False  # random weights, the pretrained run's tokenizer and shape: what is pretraining worth?
    resume: bool = False
    device: str = "cpu"
    on_event: Callable[[Event], None] = lambda event: None
    log: Callable[[str], None] = print
    judge_model: str = "llama3"
    gpt2: Any = None  # tutor.data.gpt2.Weights: start from OpenAI's GPT-2 (in the learner's GPTModel) instead
    _log: RunLog = field(init=False, repr=False)

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "instruct.safetensors"

    @property
    def last_path(self) -> Path:
        return self.out / "last.safetensors"

    @property
    def responses_path(self) -> Path:
        return self.out / "test_responses.json"

    def run(self) -> Event:
        """The run, holding its folder's lock (one run at a time writes a run folder)."""
        from tutor.core.atomic import clean_stale_temporaries
        from tutor.training.pretrain import run_lock

        self.out.mkdir(parents=True, exist_ok=True)
        with run_lock(self.out):
            clean_stale_temporaries(self.out)  # a checkpoint write cut short by a kill
            return self._run()

    def _run(self) -> Event:
        import torch
        from torch.utils.data import DataLoader

        from tutor.training.pretrain import TrainingError

        s = self.settings
        self.out.mkdir(parents=True, exist_ok=True)
        metrics = self.out / "metrics.jsonl"
        train = import_learner(self.workspace, "train")
        ins = import_learner(self.workspace, "instruct")

        resumed = None
        if self.resume:
            if not self.last_path.is_file():
                raise TrainingError(f"nothing to resume in {self.out}; start a run without --resume")
            resumed = ckpt.load(self.last_path)
            saved = resumed.header["instruct"]
            s = self.settings = InstructSettings(**saved["settings"])
            self.pretrained = Path(saved["pretrained"]) if saved["pretrained"] else None
            self.from_scratch = saved["scratch"]
            base_header = resumed.header
        else:
            base = self._starting_point()
            metrics.unlink(missing_ok=True)
            for stale in (self.checkpoint_path, self.last_path, self.responses_path):
                stale.unlink(missing_ok=True)
            base_header = base.header
        self._log = RunLog(metrics, self.on_event)
        if resumed is not None:
            self._log.truncate(resumed.step)
        base_ckpt = resumed if resumed is not None else base
        encoding = learner_encoding(self.workspace, base_ckpt)
        pad = encoding.eot_token
        cfg = dict(base_header["model_cfg"])
        context = cfg["context_length"]
        entries = idata.load(s.data)
        parts = idata.split(entries)
        if not parts["train"] or not parts["val"] or not parts["test"]:
            raise TrainingError(f"{len(entries)} entries are too few to split into training, validation and test data")
        tok = Tokenizer(encoding)
        try:
            datasets = {name: ins.InstructionDataset(rows, tok) for name, rows in parts.items() if name != "test"}
        except Exception as exc:  # noqa: BLE001
            raise LearnerCodeError(f"InstructionDataset failed: {explain(exc)}") from None
        collate = partial(ins.collate_instructions, pad_token_id=pad, ignore_index=IGNORE_INDEX, allowed_max_length=context)
        steps_per_epoch = len(datasets["train"]) // s.batch_size
        if steps_per_epoch == 0:
            raise TrainingError(f"{len(datasets['train'])} training entries are fewer than one batch of {s.batch_size}")
        total = s.epochs * steps_per_epoch

        arch = checkpoint_arch(base_header)
        torch.manual_seed(s.seed)
        if self.gpt2 is not None and not self.from_scratch and resumed is None:
            from tutor.training.gpt2 import gpt2_model

            model = gpt2_model(self.workspace, self.gpt2).to(self.device)
        else:
            try:
                model = build_model(importer(self.workspace), cfg, arch).to(self.device)
            except LearnerCodeError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise LearnerCodeError(f"{architecture(arch).cls}(cfg) failed: {explain(exc)}") from None
            if not self.from_scratch and resumed is None:
                ckpt.load_into(model, base)
        # A run saved with a single parameter group (before matrices alone decayed) resumes as it was.
        one_group = resumed is not None and len(resumed.optimizer["param_groups"]) == 1
        optimizer = adamw(model.parameters(), lr=s.peak_lr, weight_decay=s.weight_decay, decay_all=one_group)
        step, best = 0, math.inf
        if resumed is not None:
            ckpt.load_into(model, resumed)
            optimizer.load_state_dict(resumed.optimizer)
            if resumed.rng is not None:
                torch.set_rng_state(resumed.rng)
            step, best = resumed.step, resumed.header["instruct"]["best_val_loss"]

        info = {"settings": asdict(s), "data": s.data, "entries": len(entries), "test_digest": entries_digest(parts["test"]),
                "pretrained": self._source(), "scratch": self.from_scratch,
                "pad_token_id": pad, "max_new_tokens": s.new_tokens()}
        header = {"model_cfg": cfg, "tokenizer": base_header["tokenizer"], "arch": arch}

        def save_last(at: int) -> None:
            ckpt.save(self.last_path, {**header, "step": at, "instruct": {**info, "best_val_loss": best}}, model,
                      optimizer, torch.get_rng_state())

        def loader(epoch: int):
            return DataLoader(datasets["train"], batch_size=s.batch_size, shuffle=True, drop_last=True, collate_fn=collate,
                              generator=torch.Generator().manual_seed(s.seed + epoch))

        val_loader = DataLoader(datasets["val"], batch_size=s.batch_size, collate_fn=collate)
        self._log.emit({"event": "start", "data": s.data, "train": len(parts["train"]), "val": len(parts["val"]),
                        "test": len(parts["test"]), "steps": total, "step": step, "resumed": resumed is not None,
                        "params": sum(p.numel() for p in model.parameters()), "practice": s.data == idata.DEMO})
        model.train()
        try:
            while step < total:
                epoch, offset = divmod(step, steps_per_epoch)
                batches = iter(loader(epoch))
                for _ in range(offset):  # resuming mid-epoch: the same order, from where it stopped
                    next(batches)
                for x, y in batches:
                    lr = train.lr_at(step, peak_lr=s.peak_lr, warmup_steps=s.warmup_steps, total_steps=total, min_lr=s.min_lr)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    loss = float(train.train_step(model, optimizer, x, y, self.device, max_grad_norm=s.max_grad_norm))
                    step += 1
                    if not math.isfinite(loss):
                        raise TrainingError(f"the loss became {loss} at step {step}: try a lower --lr (now {s.peak_lr:g})")
                    self._log.emit({"event": "step", "step": step, "epoch": epoch + 1, "loss": round(loss, 5), "lr": lr})
                    if step % s.save_every == 0 and step % steps_per_epoch:
                        save_last(step)
                val = float(train.calc_loss_loader(val_loader, model, self.device))
                model.train()
                improved = val < best
                if improved:
                    best = val
                    ckpt.save(self.checkpoint_path, {**header, "step": step, "instruct": {**info, "epoch": epoch + 1,
                                                                                          "val_loss": val}}, model)
                save_last(step)
                self._log.emit({"event": "epoch", "epoch": epoch + 1, "step": step, "val_loss": round(val, 5),
                                "best": improved})
        except KeyboardInterrupt:
            save_last(step)
            self._log.emit({"event": "interrupted", "step": step})
            raise
        except (TrainingError, ckpt.CheckpointError, LearnerCodeError):
            raise
        except Exception as exc:  # noqa: BLE001 - the learner's code
            raise LearnerCodeError(f"training stopped at step {step}: {explain(exc)}") from None
        return self.evaluate(parts["test"], ins, encoding, best)

    def _starting_point(self) -> ckpt.Checkpoint:
        """The checkpoint to fine-tune: a pretraining run's, or GPT-2's shape and tokenizer (its
        weights are then loaded by the learner's load_gpt2_weights)."""
        if self.gpt2 is not None:
            from tutor.training.gpt2 import gpt2_tokenizer_header

            return ckpt.Checkpoint({"arch": "gpt", "model_cfg": self.gpt2.config.model_cfg(),
                                    "tokenizer": gpt2_tokenizer_header()}, {}, None, None)
        if self.pretrained is None or not Path(self.pretrained).is_file():
            raise ckpt.CheckpointError(f"no pretrained checkpoint at {self.pretrained}: run `tutor train pretrain` "
                                       "first (or give one with --from)")
        return ckpt.load(self.pretrained)

    def _source(self) -> str | None:
        if self.gpt2 is not None:
            return f"gpt2-{self.gpt2.name} ({self.gpt2.path})"
        return str(self.pretrained) if self.pretrained else None

    def _write_responses(self, rows: list[dict[str, Any]]) -> None:
        write_text_atomic(self.responses_path, json.dumps([{k: v for k, v in r.items() if k != "prompt"} for r in rows],
                                                          ensure_ascii=False, indent=1))

    def evaluate(self, test: list[dict[str, str]], ins, encoding, best: float) -> Event:
        """The best checkpoint answers the test split; the answers are written and scored."""
        best_ckpt = ckpt.load(self.checkpoint_path)
        model = model_from_checkpoint(importer(self.workspace), best_ckpt)
        s = self.settings
        self._log.emit({"event": "answering", "test": len(test)})
        try:
            prompts = [ins.format_input(e) for e in test]
        except Exception as exc:  # noqa: BLE001
            raise LearnerCodeError(f"format_input failed: {explain(exc)}") from None
        eot = encoding.eot_token
        answers = greedy_answers(model, [encoding.encode_ordinary(p) for p in prompts], max_new_tokens=s.new_tokens(),
                                 context_length=best_ckpt.model_cfg["context_length"], eot=eot)
        rows = []
        for entry, prompt, ids in zip(test, prompts, answers):
            try:
                response = ins.extract_response(prompt + encoding.decode(ids), prompt)
            except Exception as exc:  # noqa: BLE001
                raise LearnerCodeError(f"extract_response failed: {explain(exc)}") from None
            rows.append({"instruction": entry["instruction"], "input": entry.get("input", ""), "output": entry["output"],
                         "model_response": response, "task": idata.task_of(entry), "prompt": prompt})
        done: Event = {"event": "done", "val_loss": best, "test_size": len(rows), "checkpoint": str(self.checkpoint_path),
                       "responses": str(self.responses_path), "data": s.data}
        if s.data == idata.DEMO:
            for row in rows:
                row["correct"] = exact_match(row["model_response"], row)
            done["exact_match"] = per_task(rows)
        self._write_responses(rows)  # before any judge is asked: the answers are kept whatever it does
        if s.data != idata.DEMO:
            from tutor.training.judge import score_responses

            self._log.emit({"event": "judging", "test": len(rows)})
            scores = score_responses(rows, model=self.judge_model)
            for row, score in zip(rows, scores.scores):
                row["score"] = round(score, 1)
            done["score"] = {"method": scores.method, "mean": scores.mean, "note": scores.note}
            self._write_responses(rows)
        self._log.emit(done)
        return done


def task_table(table: dict[str, dict[str, float]]) -> list[str]:
    """Lines of an exact-match table, one per task, overall last."""
    return [f"  {task:<8} {v['right']:>4} / {v['total']:<4} {v['accuracy']:6.1%}" for task, v in table.items()]
