"""OpenAI's GPT-2 in the learner's own GPTModel: for generation, chat and the classifier.

The fine-tunings (tutor.training.classify, tutor.training.instruct) import this module,
never the other way round.

The weights come from `tutor.data.gpt2` (verified, safetensors only); the model is
the learner's `GPTModel` (lesson 10) built with GPT-2's settings and filled by
their `load_gpt2_weights` (lesson 24); text is written by their `generate`
(lesson 11), or by their `generate_cached` (lesson 25) once that lesson passes.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tutor.data import gpt2 as weights_data
from tutor.engine.workspace import Workspace
from tutor.learner import LearnerCodeError, explain, import_learner
from tutor.training.generation import Writer

FROM_GPT2 = "gpt2"
# The book's chapter 6 recipe for fine-tuning GPT-2 124M into the spam classifier.
RECIPE = {"lr": 5e-5, "weight_decay": 0.1, "epochs": 5, "batch_size": 8, "trainable_blocks": 1}
# Its chapter 7 recipe for instruction fine-tuning: a pretrained GPT-2 needs a gentle learning rate,
# two passes and small batches (the tiny model's defaults, lr 2e-3 for 12 epochs, would wreck it);
# tutor.training.instruct.instruct_start chooses between the two.
INSTRUCT_RECIPE = {"epochs": 2, "peak_lr": 5e-5, "batch_size": 8, "weight_decay": 0.1}


def is_gpt2_source(value: Any) -> str | None:
    """"gpt2" or "gpt2-355M" (a --from or --weights value): the size asked for ("" for the smallest
    on this machine); None for anything else (a checkpoint's path)."""
    text = str(value) if value is not None else ""
    if text == FROM_GPT2:
        return ""
    if text.startswith(FROM_GPT2 + "-") and text[len(FROM_GPT2) + 1:] in weights_data.SIZES:
        return text[len(FROM_GPT2) + 1:]
    return None


def gpt2_model(workspace: Workspace, weights: weights_data.Weights, *, drop_rate: float = 0.0):
    """The learner's GPTModel with GPT-2's settings, holding the weights via their load_gpt2_weights."""
    gpt = import_learner(workspace, "gpt")
    loader = import_learner(workspace, "gpt2_weights")
    try:
        model = gpt.GPTModel(weights.config.model_cfg(drop_rate))
    except Exception as exc:  # noqa: BLE001 - learner code may raise anything
        raise LearnerCodeError(f"GPTModel(cfg) failed: {explain(exc)}") from None
    state = weights_data.load_state_dict(weights)
    try:
        out = loader.load_gpt2_weights(model, state)
    except Exception as exc:  # noqa: BLE001
        raise LearnerCodeError(f"load_gpt2_weights failed: {explain(exc)}") from None
    return (out if out is not None else model).eval()


def gpt2_writer(workspace: Workspace, size: str | None = None, *, cached: bool = False) -> Writer:
    """A Writer (tutor generate, chat --generate) on GPT-2 in the learner's model; with `cached`, their
    generate_cached writes instead of their generate."""
    weights = weights_data.require_weights(size or None)
    model = gpt2_model(workspace, weights)
    if cached:
        decode = SimpleNamespace(generate=import_learner(workspace, "kv_cache").generate_cached)
    else:
        decode = import_learner(workspace, "gpt")
    return Writer(model, weights_data.encoding(), decode, weights.config.context_length)


def gpt2_tokenizer_header() -> dict:
    """GPT-2's tokenizer as a tutor checkpoint's header records one (ranks, special tokens): every
    reader of a classifier checkpoint then rebuilds it without knowing it came from GPT-2."""
    from tutor.core.checkpoint import encode_ranks

    enc = weights_data.encoding()
    ranks = {enc.decode_single_token_bytes(i): i for i in range(enc.n_vocab - 1)}
    return {"ranks": encode_ranks(ranks), "special_tokens": {weights_data.EOT: enc.eot_token}}


def classify_start(from_: Any, *, epochs: int | None, lr: float | None) -> tuple[Any, dict]:
    """For `tutor train classify`: the GPT-2 weights when `from_` names them (else None), and the
    settings: the book's chapter 6 recipe for GPT-2, the tutor's defaults otherwise; what the
    user gave wins."""
    size = is_gpt2_source(from_)
    if size is None:
        return None, {"epochs": epochs or 4, "lr": lr or 1e-3}
    weights = weights_data.require_weights(size or None)
    recipe = {k: RECIPE[k] for k in ("epochs", "lr", "weight_decay", "batch_size")}
    return weights, {**recipe, "epochs": epochs or recipe["epochs"], "lr": lr or recipe["lr"]}
