"""Text completion with a pretrained checkpoint, through the learner's model (GPTModel or
LlamaModel, as the checkpoint records) and their generate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor.core import checkpoint as ckpt
from tutor.engine.workspace import Workspace
from tutor.learner import LearnerCodeError, checkpoint_encoding, explain, importer, model_from_checkpoint


@dataclass
class Writer:
    model: Any
    encoding: Any
    gpt: Any
    context_length: int

    def complete(self, prompt: str, *, max_new_tokens: int = 60, temperature: float = 0.8, top_k: int | None = 40,
                 seed: int | None = None) -> str:
        import torch

        ids = self.encoding.encode(prompt, allowed_special="all") or [self.encoding.eot_token]
        idx = torch.tensor([ids])
        if seed is not None:
            torch.manual_seed(seed)
        eot = self.encoding.eot_token
        try:
            out = self.gpt.generate(self.model, idx, max_new_tokens=max_new_tokens, context_size=self.context_length,
                                    temperature=temperature, top_k=top_k, eos_id=eot)
        except Exception as exc:  # noqa: BLE001
            raise LearnerCodeError(f"generate failed: {explain(exc)}") from None
        return self.encoding.decode(out[0, len(ids):].tolist())


def load_for_generation(workspace: Workspace, path: Path) -> Writer:
    checkpoint = ckpt.load(path)
    load = importer(workspace)
    model = model_from_checkpoint(load, checkpoint)
    return Writer(model, checkpoint_encoding(load, checkpoint), load("gpt"), checkpoint.model_cfg["context_length"])
