"""Checkpoints: one safetensors file holding the weights, the optimizer state,
the random-number state and a JSON header (step, settings, tokenizer ranks).

One file, written to a temporary name and renamed over the old one, so a crash
or Ctrl-C leaves either the previous checkpoint or the new one, never a mix.
Loading reads tensors and JSON only: nothing is ever unpickled. The header
records a SHA-256 of every tensor's bytes, checked on load, and its shape is
checked too, so a damaged or doctored file is named as such instead of failing
later in a way that blames the learner's settings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tutor.core.atomic import temporary_beside

FORMAT = "tutor-checkpoint-1"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message says why."""


@dataclass
class Checkpoint:
    header: dict[str, Any]
    model: dict[str, Any]  # name -> tensor
    optimizer: dict[str, Any] | None  # optimizer.state_dict() rebuilt
    rng: Any | None  # torch RNG state tensor

    @property
    def step(self) -> int:
        return int(self.header["step"])

    @property
    def model_cfg(self) -> dict[str, Any]:
        return self.header["model_cfg"]

    def ranks(self) -> dict[bytes, int]:
        return {base64.b64decode(tok): i for i, tok in enumerate(self.header["tokenizer"]["ranks"])}

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self.header["tokenizer"]["special_tokens"])


def encode_ranks(ranks: dict[bytes, int]) -> list[str]:
    ordered = sorted(ranks.items(), key=lambda kv: kv[1])
    if [i for _, i in ordered] != list(range(len(ordered))):
        raise CheckpointError("tokenizer ranks must be 0..n-1 without gaps")
    return [base64.b64encode(tok).decode("ascii") for tok, _ in ordered]


def save(path: Path, header: dict[str, Any], model, optimizer=None, rng=None) -> None:
    """Parameters only (buffers such as a causal mask are rebuilt by the model's constructor)."""
    tensors: dict[str, Any] = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.named_parameters()}
    header = {**header, "format": FORMAT}
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, entry in state["state"].items():
            for key, value in entry.items():
                if hasattr(value, "shape"):
                    tensors[f"optim.{idx}.{key}"] = value.detach().contiguous().cpu()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        header["optimizer"] = {"param_groups": state["param_groups"], "scalars": scalars}
    if rng is not None:
        tensors["rng.torch"] = rng
    _write(Path(path), tensors, header)


def tensors_digest(tensors: dict[str, Any]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _write(path: Path, tensors: dict[str, Any], header: dict[str, Any]) -> None:
    """Tensors and the JSON header to a temporary file, synced, then renamed over `path`."""
    from safetensors.torch import save_file

    header = {**header, "tensors_sha256": tensors_digest(tensors)}

    with temporary_beside(path) as tmp:
        save_file(tensors, str(tmp), metadata={"tutor": json.dumps(header)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)


def load(path: Path) -> Checkpoint:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several kinds for a damaged file
        raise CheckpointError(f"{path} could not be read (truncated or corrupt?): {exc}") from None
    try:
        header = json.loads(meta["tutor"])
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}" if isinstance(header, dict) else "not an object")
    except (KeyError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path} is not a tutor checkpoint ({exc})") from None
    problem = _header_problem(header)
    if problem:
        raise CheckpointError(f"{path} has a damaged header: {problem}")
    if "tensors_sha256" in header and tensors_digest(tensors) != header["tensors_sha256"]:
        raise CheckpointError(f"{path} is damaged: its tensors do not match the checksum it was saved with "
                              "(altered or corrupted on disk)")
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    problem = model_problem(header, {k: tuple(v.shape) for k, v in model.items()})
    if problem:
        raise CheckpointError(f"{path} cannot be used: {problem}")
    _refuse_non_finite(model, path)
    optimizer = None
    if "optimizer" in header:
        try:
            state: dict[int, dict[str, Any]] = {}
            for key, value in tensors.items():
                if key.startswith("optim."):
                    _, idx, name = key.split(".", 2)
                    state.setdefault(int(idx), {})[name] = value
            for idx, scalars in header["optimizer"]["scalars"].items():
                state.setdefault(int(idx), {}).update(scalars)
        except (ValueError, AttributeError, TypeError) as exc:
            raise CheckpointError(f"{path} has a damaged optimizer state ({exc})") from None
        optimizer = {"state": state, "param_groups": header["optimizer"]["param_groups"]}
    return Checkpoint(header=header, model=model, optimizer=optimizer, rng=tensors.get("rng.torch"))


_CFG_LIMITS = {"vocab_size": 1_000_000, "context_length": 1_048_576, "emb_dim": 65_536, "n_heads": 1_024,
               "n_layers": 1_024, "n_kv_groups": 1_024, "hidden_dim": 262_144}


def _header_problem(header: dict[str, Any]) -> str:
    """What is wrong with the shape of a header, or "" (each field as `save` writes it)."""
    step = header.get("step", 0)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return f"step is {step!r}, not a whole number"
    for key in ("settings", "model_cfg", "classify"):
        if key in header and not isinstance(header[key], dict):
            return f"{key} is not a table of settings"
    if "model_cfg" in header and not all(isinstance(v, (int, float, bool, str, type(None))) for v in header["model_cfg"].values()):
        return "model_cfg holds something other than numbers and words"
    for key, limit in _CFG_LIMITS.items():  # sizes a model is built from, before any weight is read
        value = header.get("model_cfg", {}).get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit):
            return f"model_cfg {key} is {str(value)[:20]}, outside 0..{limit:,}"
    if "optimizer" in header:
        opt = header["optimizer"]
        if (not isinstance(opt, dict) or not isinstance(opt.get("param_groups"), list)
                or not isinstance(opt.get("scalars"), dict) or not all(isinstance(v, dict) for v in opt["scalars"].values())):
            return "the optimizer state is not what a tutor checkpoint holds"
    if "tokenizer" in header:
        tok = header["tokenizer"]
        if not isinstance(tok, dict) or not isinstance(tok.get("ranks"), list) or not isinstance(tok.get("special_tokens"), dict):
            return "the tokenizer is not what a tutor checkpoint holds"
        if len(tok["ranks"]) > MAX_RANKS:  # counted before any is decoded
            return f"the tokenizer has {len(tok['ranks']):,} ranks, more than {MAX_RANKS:,}"
        try:
            ranks = {base64.b64decode(rank, validate=True): i for i, rank in enumerate(tok["ranks"])}
        except (binascii.Error, TypeError, ValueError):
            return "a tokenizer rank is not valid base64"
        if len(ranks) != len(tok["ranks"]):
            return "the tokenizer lists a token twice"
        problem = ranks_problem(ranks, tok["special_tokens"])
        if problem:
            return f"the tokenizer's ranks cannot be used: {problem}"
    if "tensors_sha256" in header and not isinstance(header["tensors_sha256"], str):
        return "the tensors' checksum is not text"
    return ""


MAX_RANKS = 1_000_000  # GPT-2 has 50,257 tokens, Llama 3 128,256
MAX_TOKEN_BYTES = 1 << 16
MAX_SPECIALS = 1_024


def ranks_problem(ranks: dict[bytes, int], special_tokens: dict[str, int]) -> str:
    """What makes byte-level BPE ranks unusable by tiktoken, or "": counted and bounded first, then
    every single byte present (tiktoken's encoder panics on a byte it has no rank for), ranks
    0..n-1 without gaps, no empty or vast token, special tokens named by text with ids after the ranks."""
    if not isinstance(ranks, dict) or not isinstance(special_tokens, dict):
        return "they are not tables"
    if len(ranks) > MAX_RANKS:
        return f"{len(ranks):,} ranks, more than {MAX_RANKS:,}"
    if len(special_tokens) > MAX_SPECIALS:
        return f"{len(special_tokens):,} special tokens, more than {MAX_SPECIALS:,}"
    for token, rank in ranks.items():
        if not isinstance(token, bytes) or not 0 < len(token) <= MAX_TOKEN_BYTES:
            return f"a token of {len(token) if isinstance(token, bytes) else type(token).__name__} bytes"
        if not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank < len(ranks):
            return f"the rank {str(rank)[:20]} of {len(ranks):,} ranks (they must be 0..{len(ranks) - 1})"
    if len(set(ranks.values())) != len(ranks):
        return "two tokens share a rank"
    absent = [b for b in range(256) if bytes([b]) not in ranks]
    if absent:
        return f"{len(absent)} of the 256 single bytes have no rank (byte {absent[0]} first): not byte-level BPE"
    for name, rank in special_tokens.items():
        if not isinstance(name, str) or not 0 < len(name) <= 256:
            return "a special token is not a short text"
        if not isinstance(rank, int) or isinstance(rank, bool) or not len(ranks) <= rank < 2**31:
            return f"the special token {name[:40]!r} has id {str(rank)[:20]}, not one after the {len(ranks):,} ranks"
    if len(set(special_tokens.values())) != len(special_tokens):
        return "two special tokens share an id"
    return ""


def _cfg_int(cfg: dict[str, Any], key: str) -> int | None:
    value = cfg.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def model_size(cfg: dict[str, Any], arch: str) -> tuple[int, int] | None:
    """(parameters, bytes) of the model a cfg describes, the bytes counting float32 weights and the
    attention masks (context_length squared, per layer) that the model's constructor builds; None
    when the cfg does not give the sizes (arithmetic only: nothing is allocated)."""
    d, v, c, layers, heads = (_cfg_int(cfg, k) for k in ("emb_dim", "vocab_size", "context_length", "n_layers", "n_heads"))
    if None in (d, v, c, layers):
        return None
    if arch == "llama":
        heads = heads or 1
        kv = (_cfg_int(cfg, "n_kv_groups") or heads) * (d // max(heads, 1))
        block = 2 * d * d + 2 * d * kv + 3 * d * (_cfg_int(cfg, "hidden_dim") or 4 * d) + 2 * d
        parameters = 2 * v * d + layers * block + d
        buffers = layers * c * c + 2 * 4 * c * d  # masks, and RoPE's cos and sin
    else:
        block = 12 * d * d + 16 * d
        parameters = 2 * v * d + c * d + layers * block + 2 * d
        buffers = layers * c * c
    return parameters, 4 * parameters + buffers


def memory_budget() -> int:
    """The bytes a checkpoint's model may take: this machine's memory."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 64 * 2**30


def model_problem(header: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> str:
    """What makes a checkpoint's model_cfg disagree with its tensors' shapes, or the model it
    describes too large for this machine, or "": decided before any model is built (a model
    built from a doctored cfg can take hundreds of GB before the weights are compared)."""
    cfg = header.get("model_cfg")
    if not isinstance(cfg, dict) or not cfg:
        return ""
    arch = header.get("arch") or (header.get("settings") or {}).get("arch") or "gpt"
    d, v, c, layers = (_cfg_int(cfg, k) for k in ("emb_dim", "vocab_size", "context_length", "n_layers"))
    heads, groups = _cfg_int(cfg, "n_heads"), _cfg_int(cfg, "n_kv_groups")
    if d is not None and heads is not None and (heads <= 0 or d % heads):
        return f"its model_cfg has emb_dim {d}, which n_heads {heads} does not divide"
    if arch == "llama" and heads and groups is not None and (groups <= 0 or heads % groups):
        return f"its model_cfg has n_heads {heads}, which n_kv_groups {groups} does not divide"
    expected = {"tok_emb.weight": (v, d)}
    if arch != "llama":
        expected["pos_emb.weight"] = (c, d)
    for name, shape in expected.items():
        if name in shapes and None not in shape and shapes[name] != shape:
            return (f"its model_cfg does not match its tensors: {name} has shape {shapes[name]}, the settings "
                    f"(vocab_size, context_length, emb_dim) give {shape}")
    blocks = {int(n.split(".")[1]) for n in shapes if n.startswith("trf_blocks.") and n.split(".")[1].isdigit()}
    if blocks and layers is not None and max(blocks) + 1 != layers:
        return f"its model_cfg does not match its tensors: n_layers is {layers}, its tensors hold {max(blocks) + 1} blocks"
    tok = header.get("tokenizer")
    if v is not None and isinstance(tok, dict) and isinstance(tok.get("ranks"), list):
        ids = [len(tok["ranks"]) - 1, *tok.get("special_tokens", {}).values()]
        if max(ids) >= v:
            return f"its tokenizer gives ids up to {max(ids):,}, its model_cfg has vocab_size {v:,}"
    size = model_size(cfg, arch)
    if size is None:
        return ""
    parameters, nbytes = size
    held = sum(math.prod(shape) for shape in shapes.values())
    # (A header without tensors describes a model whose weights come from elsewhere: GPT-2's.)
    if shapes and parameters > 2 * held + 1_000_000:  # a classifier's head is smaller than a vocabulary: hence 2x
        return (f"its model_cfg does not match its tensors: the settings describe a model of {parameters:,} "
                f"parameters, the checkpoint holds {held:,}")
    budget = memory_budget()
    if nbytes > budget:
        return (f"its model ({parameters:,} parameters, context_length {c:,}) would take {nbytes / 2**30:,.1f} GB "
                f"to build, more than this machine's {budget / 2**30:,.1f} GB of memory")
    return ""


def _refuse_non_finite(model: dict[str, Any], path: Path) -> None:
    """NaN or infinite weights: say so, rather than let a later loss blame the learning rate."""
    import torch

    for name, tensor in model.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path} holds NaN or infinite weights ({name}): the run had diverged when it "
                                  "was saved. Train again with a lower peak_lr (--set peak_lr=...) or resume an "
                                  "earlier checkpoint")


def weights_only(source: Path, target: Path) -> None:
    """A copy without the optimizer state and random state: a starting point to
    fine-tune from (a third of the size), not a run to resume."""
    c = load(source)  # a clear error for a file that is not a tutor checkpoint
    header = {k: v for k, v in c.header.items() if k != "optimizer"}
    _write(Path(target), {f"model.{k}": v for k, v in c.model.items()}, {**header, "weights_only": True})


def load_into(model, checkpoint: Checkpoint) -> None:
    """Copy weights into a model built from the learner's code, with a clear error on mismatch."""
    own = dict(model.named_parameters())
    missing = sorted(set(own) - set(checkpoint.model))
    unexpected = sorted(set(checkpoint.model) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"the checkpoint does not fit this model: missing {missing[:4]}, unexpected {unexpected[:4]}. "
            "Was it made with other code or settings?"
        )
    for name, param in own.items():
        if tuple(param.shape) != tuple(checkpoint.model[name].shape):
            raise CheckpointError(f"{name}: the checkpoint has shape {tuple(checkpoint.model[name].shape)}, the model {tuple(param.shape)}")
    model.load_state_dict(checkpoint.model, strict=False)
