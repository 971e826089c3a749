"""OpenAI's GPT-2 weights: downloaded or imported, always verified, never unpickled.

`tutor data download gpt2 [--size 124M|355M|774M|1558M]` fetches Hugging Face's
`openai-community/gpt2*` `model.safetensors` (and `config.json`) into the user
data folder, resuming a partial file, falling back to a second host, and keeping
the file only if its SHA-256 equals the content hash the hub publishes for it.
`tutor data import PATH` takes a folder holding those files (a workshop's USB
stick). Either way the file's structure is verified from its safetensors header
(every expected tensor name and shape; a truncated file is refused) before it is
used, and weights are read with safetensors only: nothing is unpickled.

GPT-2's tokenizer ships with the tutor (`tutor/assets/gpt2`: OpenAI's
encoder.json and vocab.bpe, MIT, their SHA-256 as tiktoken pins them); the
tiktoken encoding is built from those local files, never from the network.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tutor.core.atomic import temporary_beside, write_bytes_atomic, write_text_atomic
from tutor.core.gpt2_layout import gpt2_shapes
from tutor.core.locations import weights_dir, weights_root
from tutor.core.safe_read import FileRefused, loads_json, open_regular, read_regular
from tutor.data.download import DownloadError, Source, fetch, sha256_of

VOCAB = 50_257
CONTEXT = 1_024
EOT = "<|endoftext|>"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
MANIFEST = "verified.json"
HOSTS = ("https://huggingface.co", "https://hf-mirror.com")  # the hub, then a mirror of it
ENCODER_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"  # as tiktoken pins it
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"  # as tiktoken pins it
TOKENIZER_FILES = {"encoder.json": ENCODER_SHA256, "vocab.bpe": VOCAB_BPE_SHA256}
# GPT-2's split pattern, as tiktoken writes it for its gpt2 encoding
PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
MAX_HEADER = 100 * 2**20
DTYPES = {"F32": 4, "F16": 2, "BF16": 2}
OFFLINE = ("copy a folder with GPT-2's model.safetensors (and config.json) from a machine that has them, "
           "then: tutor data import FOLDER")


SOURCES_LINE = ("[bold]gpt2[/bold]  OpenAI's GPT-2 weights (--size 124M, 355M, 774M, 1558M: 0.5 to 6.4 GB), "
                "Hugging Face openai-community/gpt2*, model.safetensors; MIT; sha256 as the hub publishes it, "
                "and every tensor's name and shape checked")


class Gpt2Error(Exception):
    """Weights that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Size:
    name: str
    repo: str
    emb_dim: int
    n_layers: int
    n_heads: int


SIZES = {
    "124M": Size("124M", "openai-community/gpt2", 768, 12, 12),
    "355M": Size("355M", "openai-community/gpt2-medium", 1024, 24, 16),
    "774M": Size("774M", "openai-community/gpt2-large", 1280, 36, 20),
    "1558M": Size("1558M", "openai-community/gpt2-xl", 1600, 48, 25),
}


@dataclass(frozen=True)
class Config:
    vocab_size: int
    context_length: int
    emb_dim: int
    n_layers: int
    n_heads: int

    def model_cfg(self, drop_rate: float = 0.0) -> dict:
        """The GPTModel cfg (CONTRACT.md) for these weights: GPT-2 has query/key/value biases."""
        return {**asdict(self), "drop_rate": drop_rate, "qkv_bias": True}

    @property
    def size_name(self) -> str:
        for size in SIZES.values():
            if (size.emb_dim, size.n_layers, size.n_heads) == (self.emb_dim, self.n_layers, self.n_heads) \
                    and (self.vocab_size, self.context_length) == (VOCAB, CONTEXT):
                return size.name
        return f"custom-{self.emb_dim}x{self.n_layers}"

    def parameters(self, tied: bool = True) -> int:
        d, L = self.emb_dim, self.n_layers
        block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
        total = self.vocab_size * d + self.context_length * d + L * block + 2 * d
        return total if tied else total + self.vocab_size * d


# --- where they live ----------------------------------------------------------


def assets_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "assets" / "gpt2"




@dataclass(frozen=True)
class Weights:
    folder: Path
    config: Config
    sha256: str

    @property
    def path(self) -> Path:
        return self.folder / WEIGHTS

    @property
    def name(self) -> str:
        return self.config.size_name


def find_weights(size: str | None = None) -> Weights | None:
    """Verified weights on this machine: the given size, or the smallest there is."""
    root = weights_root()
    if not root.is_dir():
        return None
    names = [f"gpt2-{size}"] if size else [f"gpt2-{s}" for s in SIZES] + sorted(
        p.name for p in root.iterdir() if p.name.startswith("gpt2-custom"))
    for name in names:
        folder = root / name
        try:
            record = loads_json(read_regular(folder / MANIFEST, MAX_CONFIG))
            if (folder / WEIGHTS).stat().st_size != record["bytes"]:
                continue
            return Weights(folder, Config(**record["config"]), record["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def missing(size: str | None = None) -> str:
    """What to say when the weights are not here: how to download them, or bring them on a stick."""
    which = f" ({size})" if size else ""
    return (f"GPT-2's weights{which} are not on this machine. Download them: tutor data download gpt2"
            f"{' --size ' + size if size else ''} (548 MB for 124M), or {OFFLINE}")


def weights_here() -> str:
    """"GPT-2 124M" (the smallest size on this machine), or "" when there is none: what the app's
    screens offer, found by reading a manifest (no torch)."""
    found = find_weights()
    return f"GPT-2 {found.name}" if found else ""


def require_weights(size: str | None = None) -> Weights:
    found = find_weights(size)
    if found is None:
        raise Gpt2Error(missing(size))
    return found


# --- the safetensors structure --------------------------------------------------


def read_header(path: Path) -> dict[str, dict]:
    """The tensors a safetensors file describes, checked against the file's own size: a regular
    file only, its header's size capped, its JSON's depth and every entry's types checked."""
    try:
        with open_regular(path) as f:
            total = os.fstat(f.fileno()).st_size
            raw = f.read(8)
            if len(raw) < 8:
                raise Gpt2Error(f"{path.name} is truncated: {total} bytes, not even a safetensors header")
            n = int.from_bytes(raw, "little")
            if n > MAX_HEADER or 8 + n > total:
                raise Gpt2Error(f"{path.name} is not a safetensors file or is truncated (a header of {n:,} bytes "
                                f"in a file of {total:,})")
            header = loads_json(f.read(n), max_depth=HEADER_DEPTH)  # n is capped above
    except FileRefused as exc:
        raise Gpt2Error(str(exc)) from None
    except OSError as exc:
        raise Gpt2Error(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError:
        raise Gpt2Error(f"{path.name} is not a safetensors file (its header is not JSON)") from None
    except ValueError as exc:  # JSONDecodeError, or nested too deeply
        why = str(exc) if "nested too deeply" in str(exc) else "is not JSON"
        raise Gpt2Error(f"{path.name} is not a safetensors file (its header {why.removeprefix('the JSON ')})") from None
    if not isinstance(header, dict):
        raise Gpt2Error(f"{path.name} is not a safetensors file (its header is not a JSON object)")
    header.pop("__metadata__", None)
    end = 0
    for name, info in header.items():
        problem = _entry_problem(info)
        if problem:
            raise Gpt2Error(f"{path.name}: the header's entry for {name[:80]!r} is malformed ({problem})")
        dtype, shape, (start, stop) = info["dtype"], info["shape"], info["data_offsets"]
        numel = 1
        for s in shape:
            numel *= s
        if dtype in DTYPES and stop - start != numel * DTYPES[dtype]:
            raise Gpt2Error(f"{path.name}: {name!r} should take {numel * DTYPES[dtype]:,} bytes, its offsets give {stop - start:,}")
        end = max(end, stop)
    if 8 + n + end != total:
        raise Gpt2Error(f"{path.name} is truncated or padded: its header describes {8 + n + end:,} bytes, the file "
                        f"holds {total:,}. Download it again (tutor data download gpt2) or copy it again.")
    return header


HEADER_DEPTH = 4  # {name: {"shape": [..], ...}}: a safetensors header nests three levels


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _entry_problem(info: Any) -> str:
    """What is wrong with the types of one tensor's entry in a safetensors header, or ""."""
    if not isinstance(info, dict):
        return "not an object"
    if not isinstance(info.get("dtype"), str):
        return "its dtype is not text"
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or len(shape) > 8 or not all(_whole(s) and s <= 2**40 for s in shape):
        return "its shape is not a short list of whole numbers"
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_whole(o) for o in offsets)
            or offsets[0] > offsets[1]):
        return "its data_offsets are not two whole numbers, start before end"
    return ""


MAX_LAYERS, MAX_WIDTH, MAX_VOCAB, MAX_CONTEXT = 256, 16_384, 1_000_000, 1_000_000
MAX_CONFIG = 1 << 20  # a config.json is a few hundred bytes


def _heads_from_config(folder: Path) -> int | None:
    """n_head from the config.json beside the weights: None when there is none or it does not say;
    Gpt2Error when it is there but is no regular file (a link to a device, a FIFO) or too large."""
    try:
        data = loads_json(read_regular(folder / CONFIG, MAX_CONFIG))
        heads = data["n_head"]
        return heads if isinstance(heads, int) and not isinstance(heads, bool) and heads > 0 else None
    except FileNotFoundError:
        return None
    except FileRefused as exc:
        raise Gpt2Error(f"{CONFIG}: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def verify_structure(path: Path, *, size: str | None = None, n_heads: int | None = None) -> Config:
    """The model's settings, read from the file's header after every expected tensor name
    and shape is found there (Gpt2Error naming the first missing or misshapen one)."""
    header = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in read_header(path).items()}
    for key in ("wte.weight", "wpe.weight"):
        if key not in header or len(header[key]["shape"]) != 2:
            raise Gpt2Error(f"{path.name} is not a GPT-2 checkpoint: it has no 2-D {key!r}")
    vocab, d = header["wte.weight"]["shape"]
    context = header["wpe.weight"]["shape"][0]
    blocks = {int(k.split(".")[1]) for k in header if k.startswith("h.") and k.split(".")[1].isdigit()}
    layers = max(blocks) + 1 if blocks else 0
    # Sizes from a file from outside are bounded before anything is built from them (a key
    # named h.100000000 must not make the check itself list a hundred million blocks).
    if not (0 < layers <= MAX_LAYERS and 0 < d <= MAX_WIDTH and 0 < vocab <= MAX_VOCAB and 0 < context <= MAX_CONTEXT):
        raise Gpt2Error(f"{path.name} is not a GPT-2 checkpoint this tutor can use: {layers} layers of width {d}, "
                        f"{vocab:,} tokens, {context:,} positions (at most {MAX_LAYERS} layers of {MAX_WIDTH}, "
                        f"{MAX_VOCAB:,} tokens, {MAX_CONTEXT:,} positions)")
    if size is not None:
        want = SIZES[size]
        if (vocab, context, d, layers) != (VOCAB, CONTEXT, want.emb_dim, want.n_layers):
            raise Gpt2Error(f"{path.name} is not GPT-2 {size}: it holds {layers} layers of width {d} with "
                            f"{vocab:,} tokens and {context:,} positions (expected {want.n_layers} of {want.emb_dim}, "
                            f"{VOCAB:,}, {CONTEXT:,})")
    for key, shape in gpt2_shapes(vocab, context, d, max(layers, 1)).items():
        if key not in header:
            raise Gpt2Error(f"{path.name} lacks the tensor {key!r}: it is not a complete GPT-2 checkpoint")
        got = tuple(header[key]["shape"])
        if got != shape:
            raise Gpt2Error(f"{path.name}: {key!r} has shape {got}, expected {shape}")
        if header[key]["dtype"] not in DTYPES:
            raise Gpt2Error(f"{path.name}: {key!r} is stored as {header[key]['dtype']}; expected F32, F16 or BF16")
    heads = n_heads or _heads_from_config(path.parent) or next(
        (s.n_heads for s in SIZES.values() if (s.emb_dim, s.n_layers) == (d, layers)), None)
    if heads is None or d % heads:
        raise Gpt2Error(f"{path.name}: cannot tell the number of attention heads for width {d} (put GPT-2's "
                        f"config.json, with n_head, beside it)")
    return Config(vocab, context, d, layers, heads)


def load_state_dict(weights: Weights) -> dict[str, Any]:
    """The checkpoint's tensors in float32, names without the `transformer.` prefix (safetensors,
    structure verified first: nothing is unpickled)."""
    import torch
    from safetensors.torch import load_file

    verify_structure(weights.path, n_heads=weights.config.n_heads)
    tensors = load_file(str(weights.path))
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise Gpt2Error(_not_finite(weights.path, name))
    return {(k[len("transformer."):] if k.startswith("transformer.") else k): v.to(torch.float32)
            for k, v in tensors.items()}


def _not_finite(path: Path, name: str) -> str:
    return (f"{path.name} holds NaN or infinite weights in {name!r}: these are not usable GPT-2 weights. "
            "Download them again (tutor data download gpt2) or copy them again")


def check_finite(path: Path) -> None:
    """Gpt2Error naming the first tensor that holds a NaN or an infinity (read one tensor at a time)."""
    import torch
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                tensor = f.get_tensor(name)
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    raise Gpt2Error(_not_finite(path, name))
    except Gpt2Error:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds for a damaged file
        raise Gpt2Error(f"{path.name} could not be read (truncated or corrupt?): {exc}") from None


# --- getting them -------------------------------------------------------------


def _record(folder: Path, config: Config, sha256: str, source: str) -> Weights:
    path = folder / WEIGHTS
    write_text_atomic(folder / MANIFEST, json.dumps(
        {"format": "tutor-gpt2-1", "config": asdict(config), "sha256": sha256, "bytes": path.stat().st_size,
         "source": source, "verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
    return Weights(folder, config, sha256)


def _copy_tokenizer(folder: Path) -> None:
    """The shipped encoder.json and vocab.bpe, checked against tiktoken's pins, beside the weights."""
    for name, pin in TOKENIZER_FILES.items():
        shipped = assets_dir() / name
        if sha256_of(shipped) != pin:
            raise Gpt2Error(f"the tutor's own {name} does not match its pinned SHA-256: reinstall the tutor")
        target = folder / name
        if not target.is_file() or sha256_of(target) != pin:
            with temporary_beside(target) as tmp:
                shutil.copyfile(shipped, tmp)
                os.replace(tmp, target)


def hub_file_hash(host: str, repo: str, filename: str, timeout: float = 30.0) -> tuple[str, int]:
    """(sha256, bytes) the hub publishes for one of a repository's LFS files (its content hash)."""
    url = f"{host}/api/models/{repo}/tree/main"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        entries = loads_json(response.read(4 * 2**20))
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("path") == filename and isinstance(entry.get("lfs"), dict):
            lfs = entry["lfs"]
            sha = lfs.get("oid") or lfs.get("sha256")
            if isinstance(sha, str) and len(sha) == 64:
                return sha, int(lfs.get("size") or entry.get("size") or 0)
    raise DownloadError(f"{host} lists no content hash for {repo}/{filename}")


def download(size: str = "124M", *, hosts: tuple[str, ...] = HOSTS, progress: Callable[[int, int], None] | None = None,
             retries: int = 3, timeout: float = 30.0, wait: Callable[[float], None] = time.sleep) -> Weights:
    """GPT-2 `size` from the hub (or its mirror), resumed when partial, verified by the hub's content
    hash and by its structure; DownloadError or Gpt2Error with the way around when it fails."""
    if size not in SIZES:
        raise Gpt2Error(f"unknown GPT-2 size {size!r}; one of {', '.join(SIZES)}")
    spec = SIZES[size]
    folder = weights_dir(size)
    folder.mkdir(parents=True, exist_ok=True)
    found = find_weights(size)
    if found is not None:
        return found
    hashes, failures = [], []
    for host in hosts:
        try:
            hashes.append(hub_file_hash(host, spec.repo, WEIGHTS, timeout))
            break
        except (DownloadError, urllib.error.URLError, OSError, ValueError) as exc:
            failures.append(f"{host}: {getattr(exc, 'reason', exc)}")
    if not hashes:
        raise DownloadError(f"could not reach the hub for GPT-2 {size} ({'; '.join(failures)}); are you offline? "
                            f"Instead, {OFFLINE}")
    sha, nbytes = hashes[0]
    source = Source(name=f"gpt2-{size}", url=f"{hosts[0]}/{spec.repo}/resolve/main/{WEIGHTS}", sha256=sha, size=nbytes,
                    filename=WEIGHTS, description=f"OpenAI's GPT-2 {size}", licence="MIT",
                    offline_hint=OFFLINE, kind="weights", max_bytes=8 * 2**30)  # the largest GPT-2 is 6.4 GB
    urls = tuple(f"{host}/{spec.repo}/resolve/main/{WEIGHTS}" for host in hosts)
    path = fetch(source, target=folder / WEIGHTS, sha256=sha, urls=urls, progress=progress, retries=retries,
                 timeout=timeout, wait=wait)
    config_source = Source(name=f"gpt2-{size} config", url=urls[0].replace(WEIGHTS, CONFIG), sha256="", size=0,
                           filename=CONFIG, description="", licence="MIT", offline_hint=OFFLINE, kind="weights",
                           max_bytes=MAX_CONFIG)
    try:
        fetch(config_source, target=folder / CONFIG, sha256="", urls=tuple(u.replace(WEIGHTS, CONFIG) for u in urls),
              retries=retries, timeout=timeout, wait=wait)
        if _heads_from_config(folder) not in (None, spec.n_heads):
            (folder / CONFIG).unlink()
    except DownloadError:
        pass  # the heads are known for the four sizes; config.json is a convenience
    try:
        config = verify_structure(path, size=size, n_heads=spec.n_heads)
        check_finite(path)
    except Gpt2Error:
        path.unlink(missing_ok=True)
        raise
    _copy_tokenizer(folder)
    return _record(folder, config, sha, f"{urls[0]} (sha256 as the hub publishes it)")


def import_folder(path: Path, log: Callable[[str], None] = lambda _: None) -> Weights:
    """GPT-2 weights from a folder (or a model.safetensors file), verified, copied into the data folder."""
    path = Path(path)
    file = path / WEIGHTS if path.is_dir() else path
    if not file.is_file():
        raise Gpt2Error(f"{path} holds no {WEIGHTS}; expected a folder with GPT-2's {WEIGHTS} and {CONFIG}")
    for name, pin in TOKENIZER_FILES.items():
        other = file.parent / name
        if other.is_file() and sha256_of(other) != pin:
            raise Gpt2Error(f"{other} is not GPT-2's {name}: its SHA-256 differs from the one tiktoken pins")
    config = verify_structure(file)
    check_finite(file)
    log(f"structure verified: {config.n_layers} layers, width {config.emb_dim}, {config.n_heads} heads, "
        f"{config.vocab_size:,} tokens, {config.parameters():,} parameters")
    sha = sha256_of(file)
    folder = weights_dir(config.size_name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / WEIGHTS
    if file.resolve() != target.resolve():
        with temporary_beside(target) as tmp:
            shutil.copyfile(file, tmp)
            if sha256_of(tmp) != sha:
                raise Gpt2Error(f"copying {file} changed its bytes: try again")
            os.replace(tmp, target)
    if file.parent.resolve() != folder.resolve():
        try:
            write_bytes_atomic(folder / CONFIG, read_regular(file.parent / CONFIG, MAX_CONFIG))
        except FileNotFoundError:
            pass  # the heads were read from the weights or known for the size; config.json is a convenience
        except OSError as exc:
            raise Gpt2Error(f"{CONFIG}: {exc}") from None
    _copy_tokenizer(folder)
    return _record(folder, config, sha, f"imported from {file} (sha256 {sha[:16]}…)")


def describe(weights: Weights) -> str:
    c = weights.config
    return (f"GPT-2 {weights.name}: {c.n_layers} layers, width {c.emb_dim}, {c.n_heads} heads, "
            f"{c.parameters():,} parameters; sha256 {weights.sha256[:16]}…, structure verified. In {weights.folder}. "
            'Try: tutor generate --weights gpt2 --prompt "Every effort moves you"  ·  tutor train classify --from gpt2')


def is_weights_folder(path: Path) -> bool:
    path = Path(path)
    return (path / WEIGHTS).is_file() if path.is_dir() else path.name == WEIGHTS


# --- the tokenizer --------------------------------------------------------------


def _byte_to_char() -> dict[int, str]:
    """GPT-2's printable stand-ins for bytes (encoder.json writes tokens with them)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = keep[:], 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(keep, chars)}


@lru_cache(maxsize=1)
def encoding():
    """GPT-2's tokenizer as a tiktoken Encoding, built from the shipped encoder.json (checked against
    tiktoken's pinned hash): each token's rank is its id, its bytes read back through GPT-2's byte map."""
    import hashlib

    from tutor.learner import encoding_from_ranks

    raw = (assets_dir() / "encoder.json").read_bytes()

    if hashlib.sha256(raw).hexdigest() != ENCODER_SHA256:
        raise Gpt2Error("the tutor's GPT-2 encoder.json does not match its pinned SHA-256: reinstall the tutor")
    to_byte = {c: b for b, c in _byte_to_char().items()}
    ranks = {bytes(to_byte[c] for c in token): rank for token, rank in json.loads(raw).items() if token != EOT}
    return encoding_from_ranks(PATTERN, ranks, {EOT: VOCAB - 1}, name="gpt2", n_vocab=VOCAB)
