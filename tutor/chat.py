"""Chat with the classifier (a verdict, its probability, and the tokens that pushed it), and with the
instruction-tuned model (its answer, token by token).

Attribution is occlusion: each token in turn is replaced by the padding token, and
the change in P(spam) is that token's push (towards spam if hiding it lowers
P(spam)). Replacing rather than removing keeps every other token at its position:
removing a token moves the last token (the one the classifier reads) one position
back, a change that is the same whichever token was removed and that used to
swamp every token's own effect. It needs one forward pass per token: instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tutor.core import checkpoint as ckpt
from tutor.engine.workspace import Workspace
from tutor.learner import LearnerCodeError, checkpoint_encoding, explain, import_learner, importer, model_from_checkpoint


@dataclass
class Verdict:
    label: str
    probability: float
    p_spam: float
    pushes: list[tuple[str, float]]  # (token text, change in P(spam) it causes), strongest first
    note: str = ""  # said when the pushes carry no information


def caveat(info: dict, model_cfg: dict) -> str:
    """What a learner should know before trusting this classifier's verdicts, or ""."""
    from tutor.data import sms

    notes = []
    if int(model_cfg.get("emb_dim", 0)) <= 32:
        notes.append("it was built on a micro model (a smoke test that barely reads text): "
                     "pretrain with --preset tiny for one that does")
    if info.get("data") == sms.DEMO:
        notes.append("it was trained on the synthetic practice set, not real messages: "
                     "`tutor data download sms-spam` (or `tutor data import FILE`), then `tutor train classify`")
    return ("Note: " + "; and ".join(notes) + ".") if notes else ""


class SpamChat:
    def __init__(self, workspace: Workspace, path: Path) -> None:
        from tutor.training.classify import build_classifier

        checkpoint = ckpt.load(path)
        if "classify" not in checkpoint.header:
            raise ckpt.CheckpointError(f"{path} is not a classifier checkpoint (train one with `tutor train classify`)")
        self.clf = import_learner(workspace, "classifier")
        self.model = build_classifier(workspace, checkpoint)
        self.encoding = checkpoint_encoding(importer(workspace), checkpoint)
        info = checkpoint.header["classify"]
        self.max_length, self.pad = info["max_length"], info["pad_token_id"]
        self.caveat = caveat(info, checkpoint.model_cfg)

    def _p_spam(self, ids: list[int]) -> float:
        import torch

        with torch.no_grad():
            logits = self.clf.class_logits(self.model, torch.tensor([ids or [self.pad]]), self.pad)
        return torch.softmax(logits, -1)[0, 1].item()

    def classify(self, text: str, top: int = 5) -> Verdict:
        from tutor.training.classify import Tokenizer

        label, probability = self.clf.classify(text, self.model, Tokenizer(self.encoding), "cpu", self.max_length, self.pad)
        ids = self.encoding.encode_ordinary(text)[: self.max_length]
        p = self._p_spam(ids)
        pushes = [(self.encoding.decode([ids[i]]), p - self._p_spam(ids[:i] + [self.pad] + ids[i + 1 :]))
                  for i in range(len(ids))]
        pushes.sort(key=lambda item: abs(item[1]), reverse=True)
        note = ""
        if len(pushes) > 1 and max(abs(push) for _, push in pushes) < 0.01:
            note = "No single token moves this verdict by a point: this model reads the message as a whole, or hardly reads it."
        return Verdict(label, probability, p, pushes[:top], note)


def split_instruction(line: str) -> tuple[str, str]:
    """'instruction || input' -> (instruction, input); without ' || ' the input is empty."""
    instruction, _, extra = line.partition("||")
    return instruction.strip(), extra.strip()


class InstructChat:
    """The instruction-tuned model answering through the learner's format_input, one token at a time."""

    def __init__(self, workspace: Workspace, path: Path) -> None:
        from tutor.training.instruct import learner_encoding

        checkpoint = ckpt.load(path)
        if "instruct" not in checkpoint.header:
            raise ckpt.CheckpointError(f"{path} is not an instruction-tuned checkpoint (make one with `tutor train instruct`)")
        self.ins = import_learner(workspace, "instruct")
        self.model = model_from_checkpoint(importer(workspace), checkpoint)
        self.encoding = learner_encoding(workspace, checkpoint)
        self.context_length = checkpoint.model_cfg["context_length"]
        self.max_new_tokens = max(checkpoint.header["instruct"].get("max_new_tokens", 48), 48)

    def stream(self, instruction: str, extra: str = "") -> Iterator[str]:
        """Pieces of the answer as the model writes them (the Response header it writes is not shown)."""
        from tutor.training.instruct import stream_answer

        try:
            prompt = self.ins.format_input({"instruction": instruction, "input": extra, "output": ""})
        except Exception as exc:  # noqa: BLE001
            raise LearnerCodeError(f"format_input failed: {explain(exc)}") from None
        ids = self.encoding.encode_ordinary(prompt)
        pending, started, held = "", False, ""
        for piece in stream_answer(self.model, ids, max_new_tokens=self.max_new_tokens, context_length=self.context_length,
                                   eot=self.encoding.eot_token, decode=self.encoding.decode):
            if started:
                held += piece
                if held.strip():  # whitespace waits for what follows it: none is shown at the end
                    yield held
                    held = ""
                continue
            pending += piece
            head = pending.lstrip()
            if head.startswith("### Response:"):  # the header the model writes first: the answer follows it
                rest = head[len("### Response:"):].lstrip()
                started = True
                if rest:
                    yield rest
            elif not "### Response:".startswith(head):  # no header coming: show what it wrote
                started = True
                yield pending.lstrip()

    def answer(self, instruction: str, extra: str = "") -> str:
        return "".join(self.stream(instruction, extra)).strip()
