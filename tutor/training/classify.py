"""Fine-tuning the pretrained GPT into a spam classifier, with the learner's own code.

From the learner's `model/`: GPTModel (lesson 10) or LlamaModel (21), whichever
the pretrained checkpoint records, SpamDataset (15), and
last_token_index, make_classifier, class_logits, calc_accuracy_loader (16); with
`--adapt`, also train_step (13) to continue pretraining on the unlabelled
training messages first. The tutor supplies the data splits, the optimizer, the
loop and the checkpoints: the best one by validation accuracy is kept, and the
test split is measured once, at the end.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tutor.core import checkpoint as ckpt
from tutor.data import sms
from tutor.engine.workspace import Workspace
from tutor.learner import (
    LearnerCodeError,
    build_from_checkpoint,
    checkpoint_arch,
    checkpoint_encoding,
    explain,
    import_learner,
    importer,
    model_from_checkpoint,
)
from tutor.training.optimizer import adamw
from tutor.training.runlog import Event, RunLog


@dataclass(frozen=True)
class ClassifySettings:
    data: str = sms.DATASET  # or sms.DEMO, the practice set
    balanced: bool = True
    epochs: int = 4
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.1
    trainable_blocks: int = 1
    adapt_steps: int = 0  # continued pretraining on the training messages, before fine-tuning
    seed: int = 123  # the split (the book's draw), and the training unless train_seed says otherwise
    train_seed: int | None = None  # initial head, batch order: vary it to see how much a result owes to chance
    train_limit: int | None = None  # only the first N labelled training messages (a learning curve)

    @property
    def training_seed(self) -> int:
        return self.seed if self.train_seed is None else self.train_seed


class Tokenizer:
    """The learner's ranks through tiktoken, with the `.encode` that SpamDataset expects."""

    def __init__(self, encoding) -> None:
        self.encoding = encoding

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)


def spam_f1(predictions: list[int], labels: list[int]) -> dict[str, float]:
    tp = sum(p == 1 and y == 1 for p, y in zip(predictions, labels))
    fp = sum(p == 1 and y == 0 for p, y in zip(predictions, labels))
    fn = sum(p == 0 and y == 1 for p, y in zip(predictions, labels))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = sum(p == y for p, y in zip(predictions, labels)) / len(labels) if labels else math.nan
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


def build_classifier(workspace: Workspace, checkpoint: ckpt.Checkpoint):
    """The learner's model turned into a classifier and loaded from a classifier checkpoint."""
    clf = import_learner(workspace, "classifier")
    blocks = checkpoint.header["classify"]["trainable_blocks"]
    return model_from_checkpoint(importer(workspace), checkpoint,
                                 prepare=lambda model: clf.make_classifier(model, 2, trainable_blocks=blocks))


def predictions(model, clf, rows, pad: int, batch_size: int = 32) -> list[int]:
    import torch

    out: list[int] = []
    with torch.no_grad():
        for i in range(0, len(rows), batch_size):
            x = torch.stack([rows[j][0] for j in range(i, min(i + batch_size, len(rows)))])
            x = x.to(next(model.parameters()).device)
            out.extend(clf.class_logits(model, x, pad).argmax(dim=-1).tolist())
    return out


@dataclass
class ClassifierTrainer:
    workspace: Workspace
    settings: ClassifySettings
    pretrained: Path | None  # None: from scratch (random weights), to compare
    out: Path
    from_scratch: bool = False  # random weights with the pretrained run's tokenizer and shape, to compare
    gpt2: Any = None  # tutor.data.gpt2.Weights: start from OpenAI's GPT-2 (in the learner's GPTModel) instead
    device: str | None = None  # default: the CPU, or a CUDA GPU (bf16 autocast) for GPT-2
    on_event: Callable[[Event], None] = lambda event: None
    log: Callable[[str], None] = print
    # One process of several (tutor.training.distributed.Group): its rows of every batch, the
    # model in DistributedDataParallel; only rank 0 logs, evaluates, saves and tests.
    parallel: Any = None

    @property
    def main_process(self) -> bool:
        return self.parallel is None or self.parallel.rank == 0

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "classifier.safetensors"

    def run(self) -> Event:
        """The run, holding its folder's lock (one run at a time writes a run folder)."""
        from tutor.core.atomic import clean_stale_temporaries
        from tutor.training.pretrain import run_lock

        self.out.mkdir(parents=True, exist_ok=True)
        with run_lock(self.out):
            clean_stale_temporaries(self.out)  # a checkpoint write cut short by a kill
            return self._run()

    def _run(self) -> Event:
        """The run itself (each process of a multi-process run enters here: the launcher holds the lock)."""
        import torch

        s = self.settings
        self.out.mkdir(parents=True, exist_ok=True)
        if self.main_process:
            (self.out / "metrics.jsonl").unlink(missing_ok=True)
        log = RunLog(self.out / "metrics.jsonl", self.on_event) if self.main_process else self.parallel.silent_log()
        clf, train = import_learner(self.workspace, "classifier"), import_learner(self.workspace, "train")
        base, encoding, source = self._starting_point()
        device = self.device or ("cuda" if self.gpt2 is not None and torch.cuda.is_available() else "cpu")
        pad = encoding.eot_token
        messages = sms.load(s.data)
        parts = sms.split(messages, seed=s.seed, balanced=s.balanced)
        if s.train_limit is not None:
            parts["train"] = parts["train"][: s.train_limit]
        max_length = min(max(len(encoding.encode_ordinary(text)) for _, text in parts["train"]),
                         base.model_cfg["context_length"])
        try:
            datasets = {name: clf.SpamDataset([t for _, t in rows], [y for y, _ in rows], Tokenizer(encoding), max_length,
                                              pad_token_id=pad)
                        for name, rows in parts.items()}
        except Exception as exc:  # noqa: BLE001
            raise LearnerCodeError(f"SpamDataset failed: {explain(exc)}") from None
        torch.manual_seed(s.training_seed)
        model = self._model(base)
        log.emit({"event": "start", "data": s.data, "train": len(parts["train"]), "val": len(parts["val"]),
                  "test": len(parts["test"]), "max_length": max_length, "settings": asdict(s),
                  "steps": s.epochs * (len(parts["train"]) // s.batch_size), "adapt_steps": s.adapt_steps})
        if s.adapt_steps:
            self._adapt(model, train, parts["train"], encoding, base.model_cfg["context_length"], log)
        try:
            clf.make_classifier(model, 2, trainable_blocks=s.trainable_blocks)
        except Exception as exc:  # noqa: BLE001
            raise LearnerCodeError(f"make_classifier failed: {explain(exc)}") from None
        header = {"arch": checkpoint_arch(base.header), "model_cfg": base.model_cfg, "tokenizer": base.header["tokenizer"],
                  "step": 0, "classify": {**asdict(s), "max_length": max_length, "pad_token_id": pad, "pretrained": source,
                                          "messages": len(messages), "device": device}}
        best = self._fine_tune(model.to(device), clf, datasets, pad, device, header, log)
        if not self.main_process:
            return {"event": "done"}
        done = {"event": "done", "val_accuracy": best, **self._test(clf, datasets["test"], pad, device),
                "checkpoint": str(self.checkpoint_path)}
        log.emit(done)
        return done

    def _starting_point(self):
        """(checkpoint, encoding, where from): OpenAI's GPT-2 (its shape and tokenizer; the
        weights are loaded by the learner's load_gpt2_weights), or a pretraining run's."""
        if self.gpt2 is not None:
            from tutor.data import gpt2 as gpt2_data
            from tutor.training.gpt2 import gpt2_tokenizer_header

            base = ckpt.Checkpoint({"arch": "gpt", "model_cfg": self.gpt2.config.model_cfg(),
                                    "tokenizer": gpt2_tokenizer_header()}, {}, None, None)
            return base, gpt2_data.encoding(), f"gpt2-{self.gpt2.name} ({self.gpt2.path})"
        if self.pretrained is None or not Path(self.pretrained).exists():
            raise ckpt.CheckpointError(f"no pretrained checkpoint at {self.pretrained}: run `tutor train pretrain` first")
        base = ckpt.load(self.pretrained)
        return base, checkpoint_encoding(importer(self.workspace), base), str(self.pretrained)

    def _model(self, base: ckpt.Checkpoint):
        """The learner's model with the starting point's weights (random ones with --scratch)."""
        if self.gpt2 is not None and not self.from_scratch:
            from tutor.training.gpt2 import gpt2_model

            return gpt2_model(self.workspace, self.gpt2)
        try:
            model = build_from_checkpoint(importer(self.workspace), base)
        except LearnerCodeError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LearnerCodeError(f"building your {checkpoint_arch(base.header)} model failed: {explain(exc)}") from None
        if not self.from_scratch:
            ckpt.load_into(model, base)
        return model

    def _fine_tune(self, model, clf, datasets, pad: int, device: str, header: dict, log: RunLog) -> float:
        """The epochs: the learner's class_logits under the tutor's loop; after each, accuracy on
        the training and validation splits, and the checkpoint kept when validation improves.
        Returns the best validation accuracy."""
        import torch
        import torch.nn.functional as F
        from torch.utils.data import DataLoader

        s = self.settings
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = adamw(trainable, lr=s.lr, weight_decay=s.weight_decay)
        loader = DataLoader(datasets["train"], batch_size=s.batch_size, shuffle=True, drop_last=True,
                            generator=torch.Generator().manual_seed(s.training_seed))
        val_loader = DataLoader(datasets["val"], batch_size=32)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()
        stepper = self.parallel.wrap(model) if self.parallel is not None else model  # after make_classifier
        best, step = -1.0, 0
        for epoch in range(1, s.epochs + 1):
            model.train()
            for x, y in loader:
                if self.parallel is not None:  # this rank's rows of the batch
                    x, y = self.parallel.part(x), self.parallel.part(y)
                x, y = x.to(device), y.to(device)
                optimizer.zero_grad()
                with autocast:
                    loss = F.cross_entropy(clf.class_logits(stepper, x, pad).float(), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                step += 1
                value = loss.item() if self.parallel is None else self.parallel.mean(loss.item())
                log.emit({"event": "step", "step": step, "epoch": epoch, "loss": round(value, 5)})
            if not self.main_process:
                continue
            with autocast:
                train_acc = clf.calc_accuracy_loader(DataLoader(datasets["train"], batch_size=32), model, device, pad,
                                                     num_batches=10)
                val_acc = clf.calc_accuracy_loader(val_loader, model, device, pad)
            log.emit({"event": "epoch", "epoch": epoch, "step": step, "train_accuracy": train_acc, "val_accuracy": val_acc})
            if val_acc > best:
                best = val_acc
                ckpt.save(self.checkpoint_path, {**header, "step": step, "epoch": epoch, "val_accuracy": val_acc}, model)
        return best

    def _test(self, clf, test, pad: int, device: str) -> dict[str, Any]:
        """The best checkpoint, measured once on the test split."""
        import torch

        best_model = build_classifier(self.workspace, ckpt.load(self.checkpoint_path)).to(device)
        rows = [test[i] for i in range(len(test))]
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else contextlib.nullcontext()
        with autocast:
            scores = spam_f1(predictions(best_model, clf, rows, pad), [int(r[1]) for r in rows])
        return {"test": scores, "test_size": len(rows)}

    def _adapt(self, model, train, rows, encoding, context: int, log: RunLog) -> None:
        """Continue pretraining on the training messages (unlabelled), with the learner's train_step."""
        import torch

        ids: list[int] = []
        for _, text in rows:
            ids.extend(encoding.encode_ordinary(text) + [encoding.eot_token])
        data = torch.tensor(ids)
        n = (len(data) - 1) // context
        optimizer = adamw(model.parameters(), lr=self.settings.lr / 3, weight_decay=0.1)
        generator = torch.Generator().manual_seed(self.settings.training_seed)
        model.train()
        for step in range(1, self.settings.adapt_steps + 1):
            starts = torch.randint(0, n, (self.settings.batch_size,), generator=generator) * context
            x = torch.stack([data[i : i + context] for i in starts])
            y = torch.stack([data[i + 1 : i + context + 1] for i in starts])
            loss = train.train_step(model, optimizer, x, y, "cpu", max_grad_norm=1.0)
            log.emit({"event": "adapt", "step": step, "loss": round(float(loss), 5)})
