"""Which of the learner's model classes a run or a checkpoint uses.

Every place that builds the learner's model from a configuration or a checkpoint
(pretraining, resuming, generation, chat, fine-tuning, the milestone checks, the
benchmarks) goes through `build_model`, so that adding an architecture is one
entry in ARCHITECTURES. A checkpoint records its architecture in its header;
one without the field predates the choice and is a GPT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Architecture:
    name: str
    module: str  # the learner's model/<module>.py
    cls: str  # the class in it
    lessons: tuple[int, ...]  # the lessons whose code the trainer calls to train it


# Both use the tokenizer (2-3), the data loader (4), generate (11), the loss (12) and the step (13).
ARCHITECTURES: dict[str, Architecture] = {
    "gpt": Architecture("gpt", "gpt", "GPTModel", (2, 3, 4, 10, 11, 12, 13)),
    "llama": Architecture("llama", "llama", "LlamaModel", (2, 3, 4, 11, 12, 13, 18, 19, 20, 21)),
}
DEFAULT = "gpt"


class UnknownArchitecture(ValueError):
    """A name that is not one of ARCHITECTURES."""


def architecture(name: str | None) -> Architecture:
    try:
        return ARCHITECTURES[name or DEFAULT]
    except KeyError:
        raise UnknownArchitecture(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def checkpoint_arch(header: dict[str, Any]) -> str:
    """The architecture a checkpoint header records; checkpoints from before the choice are GPTs."""
    return header.get("arch") or header.get("settings", {}).get("arch") or DEFAULT


def build_model(importer: Callable[[str], Any], cfg: dict[str, Any], arch: str | None = None) -> Any:
    """The learner's model of architecture `arch` for `cfg`; `importer(module)` imports the
    learner's model/<module>.py (import_learner in the trainer, learner() in a check)."""
    spec = architecture(arch)
    return getattr(importer(spec.module), spec.cls)(cfg)


def build_from_checkpoint(importer: Callable[[str], Any], checkpoint: Any) -> Any:
    """The learner's model of the architecture a checkpoint records, for its configuration
    (the weights are not loaded: see checkpoint.load_into)."""
    return build_model(importer, checkpoint.model_cfg, checkpoint_arch(checkpoint.header))
