"""The bytes between the judge and the learner's side of a check.

A message is a length, a JSON header and the raw bytes of the tensors and bytes it
carries. What crosses from the learner's side is data only: numbers, strings, lists,
tuples, dicts, bytes and plain tensors (their dtype from a fixed list, their byte count
checked against their shape), or a reference to an object that stays on that side. No
pickle is ever read from it, every size is capped, and nesting is bounded, so the judge
reads nothing but values it chose to accept. The judge, being trusted, may send the
learner's side objects of its own (a stand-in model of a check) as a pickle.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import struct
import time
from collections.abc import Callable
from typing import Any

MAX_MESSAGE = 512 * 2**20  # bytes of one message: room for a small model's weights
MAX_HEADER = 16 * 2**20  # bytes of its JSON part
MAX_DEPTH = 64  # nesting of lists, tuples and dicts
MAX_ITEMS = 1_000_000  # values in one message

# Seconds each side watches its pipe before it sleeps (see spin_until_readable); none on one core.
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
SPIN = 0.0002 if _CORES > 1 else 0.0

DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
          "complex64", "complex128")


class WireError(Exception):
    """A message that is not well-formed, too large or too deep: the other side is not
    speaking the protocol (or is lying)."""


class Ended(Exception):
    """The other side closed its end (it exited, or was killed)."""


class Deadline(BaseException):
    """The time for this lesson's checks ran out while waiting for the learner's side. A
    BaseException, so that no check's `except Exception` swallows it."""


# --- framing ----------------------------------------------------------------


def send(fd: int, header: dict[str, Any], blobs: list[bytes]) -> None:
    head = json.dumps({**header, "blobs": [len(b) for b in blobs]}, separators=(",", ":")).encode()
    data = b"".join([struct.pack(">QI", len(head) + sum(map(len, blobs)) + 4, len(head)), head, *blobs])
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def spin_until_readable(fd: int, seconds: float = SPIN) -> bool:
    """Whether `fd` has bytes to read within `seconds`, asked without sleeping. The two
    sides of a check answer each other within tens of microseconds; a process that sleeps
    on its pipe is woken ten times slower than one that watches it."""
    end = time.perf_counter() + seconds
    while True:
        if select.select([fd], [], [], 0)[0]:
            return True
        if time.perf_counter() >= end:
            return False


def receive(fd: int, deadline: float | None = None) -> tuple[dict[str, Any], list[bytes]]:
    """One message from `fd`; Deadline when `deadline` (time.monotonic) passes first."""
    size, head_size = struct.unpack(">QI", _read_exact(fd, 12, deadline))
    if size > MAX_MESSAGE or head_size > min(size - 4, MAX_HEADER):
        raise WireError(f"a message of {size} bytes (the limit is {MAX_MESSAGE})")
    body = _read_exact(fd, size - 4, deadline)
    try:
        header = json.loads(body[:head_size])
    except (ValueError, RecursionError) as exc:
        raise WireError(f"a header that is not JSON ({type(exc).__name__})") from None
    sizes = header.get("blobs") if isinstance(header, dict) else None
    if not isinstance(sizes, list) or not all(type(n) is int and n >= 0 for n in sizes) or sum(sizes) != size - 4 - head_size:
        raise WireError("blob sizes that do not add up")
    blobs, at = [], head_size
    for n in sizes:
        blobs.append(body[at:at + n])
        at += n
    return header, blobs


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    parts, left = [], n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                if time.monotonic() >= deadline:
                    raise Deadline()
                continue
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise Ended()
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


# --- values -----------------------------------------------------------------


def encode(value: Any, blobs: list[bytes], other: Callable[[Any], dict[str, Any]], depth: int = 0) -> Any:
    """`value` as JSON-able data, its tensors' and bytes' contents appended to `blobs`;
    anything that is not data is left to `other` (a reference, or on the judge's side a
    pickle)."""
    import torch

    if depth > MAX_DEPTH:
        raise WireError(f"values nested more than {MAX_DEPTH} deep")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if value == value and value not in (float("inf"), float("-inf")) else {"$f": repr(value)}
    if kind is list:
        return [encode(v, blobs, other, depth + 1) for v in value]
    if kind is tuple:
        return {"$t": [encode(v, blobs, other, depth + 1) for v in value]}
    if kind is dict or kind.__name__ == "OrderedDict" and kind.__module__ == "collections":
        return {"$d": [[encode(k, blobs, other, depth + 1), encode(v, blobs, other, depth + 1)] for k, v in value.items()]}
    if kind in (set, frozenset):
        return {"$s": [encode(v, blobs, other, depth + 1) for v in value]}
    if kind is bytes:
        blobs.append(value)
        return {"$b": len(blobs) - 1}
    if kind in (torch.Tensor, torch.nn.Parameter) and value.layout == torch.strided and str(value.dtype)[6:] in DTYPES:
        return _encode_tensor(value, blobs)
    if kind is torch.Size:
        return {"$S": [int(n) for n in value]}
    if kind is torch.dtype:
        return {"$dt": str(value)[6:]}
    if kind is torch.device:
        return {"$dev": str(value)}
    if kind is slice:
        return {"$sl": [encode(v, blobs, other, depth + 1) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"$el": 1}
    if kind.__module__ == "numpy" and hasattr(value, "item") and getattr(value, "shape", None) == ():
        return encode(value.item(), blobs, other, depth)
    return other(value)


def _encode_tensor(t: Any, blobs: list[bytes]) -> dict[str, Any]:
    import torch

    flat = t.detach().to("cpu").contiguous().reshape(-1)
    raw = flat.view(torch.uint8) if flat.numel() and flat.element_size() else flat
    blobs.append(raw.numpy().tobytes() if flat.numel() else b"")
    return {"$T": len(blobs) - 1, "dt": str(t.dtype)[6:], "sh": list(t.shape), "rg": bool(t.requires_grad),
            "p": type(t) is torch.nn.Parameter}


def decode(data: Any, blobs: list[bytes], ref: Callable[[dict[str, Any]], Any], depth: int = 0,
           count: list[int] | None = None) -> Any:
    """The value `encode` wrote; `ref` turns a reference (or, on the learner's side, a
    pickle) into an object. Anything malformed is a WireError."""
    import torch

    count = count if count is not None else [0]
    count[0] += 1
    if count[0] > MAX_ITEMS or depth > MAX_DEPTH:
        raise WireError("a message with too many values, or nested too deep")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode(v, blobs, ref, depth + 1, count) for v in data]
    if type(data) is not dict or len(data) == 0:
        raise WireError(f"an unexpected value of type {type(data).__name__}")
    tag = next(iter(data))
    body = data[tag]
    if tag == "$t" and type(body) is list:
        return tuple(decode(v, blobs, ref, depth + 1, count) for v in body)
    if tag == "$d" and type(body) is list:
        out = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("a malformed dict")
            key = decode(pair[0], blobs, ref, depth + 1, count)
            try:
                out[key] = decode(pair[1], blobs, ref, depth + 1, count)
            except TypeError:
                raise WireError("a dict key that cannot be hashed") from None
        return out
    if tag == "$s" and type(body) is list:
        try:
            return set(decode(v, blobs, ref, depth + 1, count) for v in body)
        except TypeError:
            raise WireError("a set member that cannot be hashed") from None
    if tag == "$f" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$b":
        return _blob(blobs, body)
    if tag == "$T":
        return _decode_tensor(data, blobs)
    if tag == "$S" and type(body) is list and all(type(n) is int for n in body):
        return torch.Size(body)
    if tag == "$dt" and body in DTYPES:
        return getattr(torch, body)
    if tag == "$dev" and type(body) is str and len(body) < 40:
        try:
            return torch.device(body)
        except RuntimeError:
            raise WireError(f"no such device {body!r}") from None
    if tag == "$sl" and type(body) is list and len(body) == 3:
        parts = [decode(v, blobs, ref, depth + 1, count) for v in body]
        if not all(p is None or type(p) is int for p in parts):
            raise WireError("a slice of something other than whole numbers")
        return slice(*parts)
    if tag == "$el":
        return Ellipsis
    if tag in ("$r", "$p"):
        return ref(data)
    raise WireError(f"an unknown value tag {tag!r}")


def _blob(blobs: list[bytes], index: Any) -> bytes:
    if type(index) is not int or not 0 <= index < len(blobs):
        raise WireError("a reference to a blob that is not there")
    return blobs[index]


def _decode_tensor(data: dict[str, Any], blobs: list[bytes]) -> Any:
    import torch

    dtype_name, shape = data.get("dt"), data.get("sh")
    if dtype_name not in DTYPES or type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("a tensor with an unknown dtype or a malformed shape")
    dtype = getattr(torch, dtype_name)
    raw = _blob(blobs, data["$T"])
    numel = 1
    for n in shape:
        numel *= n
    item = torch.empty((), dtype=dtype).element_size()
    if numel * item != len(raw):
        raise WireError(f"a tensor of shape {tuple(shape)} and dtype {dtype_name} sent in {len(raw)} bytes")
    if numel == 0:
        tensor = torch.empty(shape, dtype=dtype)
    else:
        tensor = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)
    if data.get("p") is True:
        return torch.nn.Parameter(tensor, requires_grad=bool(data.get("rg")))
    if data.get("rg") is True and tensor.is_floating_point():
        tensor.requires_grad_(True)
    return tensor


def pickled(value: Any, blobs: list[bytes]) -> dict[str, Any]:
    """The judge's own object, for the learner's side (which trusts the judge)."""
    blobs.append(pickle.dumps(value))
    return {"$p": len(blobs) - 1}


def pickle_bytes(data: dict[str, Any], blobs: list[bytes]) -> bytes:
    return _blob(blobs, data["$p"])


def unpickle(data: dict[str, Any], blobs: list[bytes]) -> Any:
    """On the learner's side only: what the judge pickled."""
    return pickle.loads(_blob(blobs, data["$p"]))
