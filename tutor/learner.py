"""The one way the product reaches the learner's code in `model/`.

Training, chat, generation, the milestone checks and the benchmarks all call the
learner's modules through this adapter: importing them (with a sentence a learner
can act on when that fails), choosing which model class a run or a checkpoint uses,
tiktoken built from the ranks their tokenizer learned, and their model holding a
checkpoint's weights. A new architecture or a new kind of run plugs in here.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tutor.core.checkpoint import Checkpoint
    from tutor.engine.workspace import Workspace

Importer = Callable[[str], ModuleType]


class LearnerCodeError(Exception):
    """The learner's code cannot be used yet; the message names the lesson to finish."""


def import_learner(workspace: Workspace, module: str) -> ModuleType:
    """The workspace's `model.<module>`."""
    root = str(workspace.root)
    # First on the path, even when it is already further down: a clone of the tutor holds a
    # model/ of stubs too, and a process started with the parent's path (multiprocessing's
    # spawn) may have that clone ahead of the workspace.
    if sys.path[:1] != [root]:
        if root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)
    try:
        return importlib.import_module(f"model.{module}")
    except SyntaxError as exc:
        raise LearnerCodeError(f"model/{module}.py has a syntax error on line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # noqa: BLE001 - learner code may raise anything on import
        raise LearnerCodeError(f"importing model/{module}.py failed: {type(exc).__name__}: {exc}") from None


def importer(workspace: Workspace) -> Importer:
    """import_learner bound to a workspace, for the functions below that take an importer
    (a check passes its own `learner` instead)."""
    return lambda module: import_learner(workspace, module)


def explain(exc: BaseException) -> str:
    """A learner-facing sentence for an exception raised inside their code."""
    if isinstance(exc, NotImplementedError):
        return f"{exc}. Finish that lesson first (`tutor check`)."
    return f"your code raised {type(exc).__name__}: {exc}"


# --- which model class ------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    name: str
    module: str  # the learner's model/<module>.py
    cls: str  # the class in it


# The lessons each one needs are in the course file (its [architectures] table).
ARCHITECTURES: dict[str, Architecture] = {
    "gpt": Architecture("gpt", "gpt", "GPTModel"),
    "llama": Architecture("llama", "llama", "LlamaModel"),
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
    learner's model/<module>.py (`importer(workspace)` in the trainer, `learner` in a check)."""
    spec = architecture(arch)
    return getattr(importer(spec.module), spec.cls)(cfg)


def check_buildable(checkpoint: Any) -> None:
    """CheckpointError when a checkpoint's model_cfg disagrees with its tensors or describes a model
    larger than this machine's memory: the file is at fault, never the learner's constructor."""
    from tutor.core.checkpoint import CheckpointError, model_problem

    problem = model_problem(checkpoint.header, {k: tuple(v.shape) for k, v in checkpoint.model.items()})
    if problem:
        raise CheckpointError(f"the checkpoint cannot be used: {problem}")


def build_from_checkpoint(importer: Callable[[str], Any], checkpoint: Any) -> Any:
    """The learner's model of the architecture a checkpoint records, for its configuration
    (the weights are not loaded: see checkpoint.load_into). A configuration that does not match
    the checkpoint's tensors, or that would not fit in memory, is a CheckpointError before any
    of the learner's code runs."""
    check_buildable(checkpoint)
    return build_model(importer, checkpoint.model_cfg, checkpoint_arch(checkpoint.header))


# --- tokens and weights from a checkpoint -----------------------------------


def encoding_from_ranks(split_pattern: str, ranks: dict[bytes, int], special_tokens: dict[str, int], *,
                        name: str = "learner", n_vocab: int | None = None) -> Any:
    """tiktoken on byte-level BPE ranks: those the learner's BPE learned, splitting text as their
    tokenizer does (the same ids as their BPETokenizer, which lesson 3 checks, in compiled
    code), or GPT-2's own, read from its shipped vocabulary. Ranks tiktoken cannot use (too many,
    a single byte missing, gaps; tiktoken would panic or overflow on some) are a RanksError first."""
    import tiktoken

    from tutor.core.checkpoint import ranks_problem

    problem = ranks_problem(ranks, special_tokens)
    if problem:
        raise RanksError(problem)
    return tiktoken.Encoding(name, pat_str=split_pattern, mergeable_ranks=ranks, special_tokens=special_tokens,
                             explicit_n_vocab=n_vocab)


class RanksError(ValueError):
    """Tokenizer ranks tiktoken cannot be given; the message says why."""


def checkpoint_encoding(load: Importer, checkpoint: Checkpoint) -> Any:
    """The encoding a run checkpoint's tokenizer learned."""
    from tutor.core.checkpoint import CheckpointError

    try:
        return encoding_from_ranks(load("tokenizer").SPLIT_PATTERN, checkpoint.ranks(), checkpoint.special_tokens)
    except RanksError as exc:
        raise CheckpointError(f"the checkpoint's tokenizer cannot be used: {exc}") from None


def model_from_checkpoint(load: Importer, checkpoint: Checkpoint,
                          prepare: Callable[[Any], None] | None = None) -> Any:
    """The learner's model (the architecture the checkpoint records), reshaped by `prepare`
    (e.g. their make_classifier), holding the checkpoint's weights, in eval mode.
    A constructor that raises is a LearnerCodeError; weights that do not fit, a
    CheckpointError naming them."""
    from tutor.core.checkpoint import load_into

    check_buildable(checkpoint)  # before the try: a bad file is not the learner's code raising
    try:
        model = build_from_checkpoint(load, checkpoint)
        if prepare is not None:
            prepare(model)
    except LearnerCodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - learner code may raise anything
        cls = architecture(checkpoint_arch(checkpoint.header)).cls
        raise LearnerCodeError(f"{cls}(cfg) failed: {explain(exc)}") from None
    load_into(model, checkpoint)
    return model.eval()
