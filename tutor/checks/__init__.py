"""The small language that lesson checks are written in.

A lesson's `checks.py` defines functions decorated with `@check("what it verifies")`.
A check passes by returning (a string it returns is shown with the pass: a measured figure).
Each reaches the learner's code only through `learner("module")` (the workspace's
`model.<module>`), and reports a mistake with `fail(...)`, whose message should
name the likely mistake and show a small concrete example: input, expected, got.

Checks run inside the worker's child process, never in the app's own process.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

__all__ = [
    "CheckFailed",
    "check",
    "collect_checks",
    "fail",
    "learner",
    "show",
    "expect_equal",
    "require_plain",
    "assert_close",
    "diagnose",
    "place",
    "probe",
    "call_keeping_args",
    "each_item",
    "as_built",
    "beside_learner",
]


class CheckFailed(Exception):
    """A check found a mistake; the message is shown to the learner as it is."""


def fail(message: str) -> NoReturn:
    raise CheckFailed(message)


def check(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def mark(func: Callable[[], None]) -> Callable[[], None]:
        func.__tutor_check__ = name  # type: ignore[attr-defined]
        return func

    return mark


def collect_checks(module: Any) -> list[tuple[str, Callable[[], None]]]:
    """The module's checks in the order they are written."""
    found = [f for f in vars(module).values() if callable(f) and hasattr(f, "__tutor_check__")]
    found.sort(key=lambda f: f.__code__.co_firstlineno)
    return [(f.__tutor_check__, f) for f in found]


_SESSION: list[Any] = []  # the judge's session with the learner's child, while a lesson is judged


def learner(module: str) -> Any:
    """The learner's `model.<module>`: judged, a stand-in for the module in the learner's
    child (tutor.checks.remote); else imported from the workspace on sys.path."""
    if _SESSION:
        return _SESSION[0].module(f"model.{module}")
    return importlib.import_module(f"model.{module}")


def place(value: Any) -> Any:
    """`value` (a stand-in model of the check's, a model and its optimizer...) moved to where
    the learner's code runs, as one: judged, what comes back stands for the child's copy,
    so what the learner's code does to it (a training step, a recorded call) can be read
    back. In one process, `value` itself."""
    if _SESSION:
        from tutor.checks.remote import Whole, is_remote

        if is_remote(value):
            return value
        return _SESSION[0].request("place", Whole(value))  # one pickle: shared parts stay shared
    return value


class as_built:
    """`with as_built(): m = learner("layers").LayerNorm(6)`: the module keeps the weights
    its own __init__ gave it, for a check of those (judged, a learner's module is otherwise
    given weights drawn by the judge as it is built)."""

    def __enter__(self) -> None:
        self._before = _SESSION[0].judge_weights if _SESSION else None
        if _SESSION:
            _SESSION[0].judge_weights = False

    def __exit__(self, *exc: object) -> None:
        if _SESSION and self._before is not None:
            _SESSION[0].judge_weights = self._before


def beside_learner(func: Callable[..., Any], *args: Any) -> Any:
    """func(*args), where func is a function of the lesson's own checks that must run beside
    the learner's code (it starts processes that run it, say): judged, it runs in the
    learner's process and what it returns comes back as data. Its name must begin with
    `learner_side_`, so that what runs there is plain to see in the checks."""
    if not func.__name__.startswith("learner_side_"):
        raise ValueError(f"{func.__name__} does not say it runs beside the learner's code (learner_side_...)")
    if _SESSION:
        return _SESSION[0].probe("lesson_helper", func.__module__, func.__name__, *args)
    return func(*args)


def call_keeping_args(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[Any]]:
    """fn(*args, **kwargs), and its positional arguments as they are after the call, read
    where the call ran: a function that changes its input in place shows it there."""
    found = probe("call_keeping_args", fn, *args, **kwargs)
    if not isinstance(found, dict) or not isinstance(found.get("args"), list) or len(found["args"]) != len(args):
        fail("the call's arguments could not be read back.")
    return found["result"], found["args"]


def each_item(seq: Any, indices: Iterable[int]) -> Iterator[Any]:
    """seq[i] for each i in `indices`, as one by one, but asked for in one question: a
    dataset of a hundred windows is one round trip, not a hundred. An item whose reading
    raises is read again alone, in its turn, so its error is raised where it would be."""
    indices = list(indices)
    found = probe("items", seq, indices)
    if not isinstance(found, list):
        fail("the items could not be read back.")
    for k, i in enumerate(indices):
        yield found[k] if k < len(found) else seq[i]


def probe(name: str, *args: Any, **kwargs: Any) -> Any:
    """A trusted helper of tutor.checks.probes, run where the learner's objects live."""
    if _SESSION:
        return _SESSION[0].probe(name, *args, **kwargs)
    from tutor.checks import probes

    return getattr(probes, name)(*args, **kwargs)


def run_checkpoint(kind: str, remedy: str) -> Any:
    """The checkpoint of the learner's own run (`kind`: pretrain, classify or instruct), for the
    run-milestone lessons; a failure that says how to make one (`remedy`) when it is
    missing or unreadable."""
    from pathlib import Path

    from tutor.core import checkpoint as ckpt
    from tutor.core.locations import run_checkpoint_path, workspace_key

    root = Path(learner("gpt").__file__).resolve().parents[1]
    path = run_checkpoint_path(workspace_key(root), kind)
    what = {"pretrain": "pretrained", "classify": "classifier", "instruct": "instruction-tuned"}.get(kind, kind)
    if not path.exists():
        fail(f"No {what} checkpoint yet. {remedy}")
    try:
        return ckpt.load(path)
    except ckpt.CheckpointError as exc:
        fail(f"Your {what} checkpoint cannot be read: {exc}. {remedy}")


def checkpoint_model(c: Any, prepare: Callable[[Any], None] | None = None) -> Any:
    """The learner's model (GPTModel or LlamaModel, as the checkpoint records), reshaped by
    `prepare` (e.g. their make_classifier), holding a run checkpoint's weights, in eval mode;
    a mismatch fails with the names at fault."""
    from tutor.core.checkpoint import CheckpointError
    from tutor.learner import model_from_checkpoint

    try:
        return model_from_checkpoint(learner, c, prepare)
    except CheckpointError as exc:
        fail(str(exc))


def checkpoint_encoding(c: Any) -> Any:
    """tiktoken on the ranks a run's tokenizer learned, split as the learner's tokenizer splits."""
    from tutor.learner import checkpoint_encoding as encoding

    return encoding(learner, c)


# --- showing values -------------------------------------------------------


def show(value: Any, limit: int = 160) -> str:
    """A short, readable form of a value for a failure message."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            if value.numel() <= 12:
                body = repr(value.detach().cpu().tolist())
            else:
                flat = value.detach().reshape(-1)[:6].cpu().tolist()
                body = "[" + ", ".join(_num(x) for x in flat) + ", ...]"
            return f"tensor{tuple(value.shape)} {value.dtype} {body}"
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if isinstance(value, float):
        return _num(value)
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]"


def _num(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else repr(x)


_PLAIN = (int, float, bool, str, bytes, type(None))


def require_plain(value: Any, what: str) -> Any:
    """`value`, if it is made only of Python's own numbers, strings, lists, tuples and dicts
    (and plain tensors): an object of the learner's own class could answer every
    comparison with "equal", so a check never compares one."""
    import torch

    kind = type(value)
    if kind in _PLAIN or kind in (torch.Tensor, torch.Size, torch.dtype, torch.device):
        return value
    if kind in (list, tuple):
        for item in value:
            require_plain(item, what)
        return value
    if kind is dict:
        for key, item in value.items():
            require_plain(key, what)
            require_plain(item, what)
        return value
    from tutor.checks.remote import is_remote

    # Judged, whatever is not plain data stays in the learner's process: it arrives as a Remote.
    subclass = is_remote(value) or isinstance(value, (*_PLAIN, torch.Tensor, list, tuple, dict))
    if subclass or kind.__module__.split(".")[0] in ("model", "__main__", "builtins"):
        fail(f"{what}: expected plain Python values (or a torch.Tensor), got an object of class {kind.__name__}. "
             "Return built-in numbers, lists and tensors, not objects of your own classes.")
    return value  # another library's own value (a numpy scalar, say): compared as it is


def expect_equal(got: Any, expected: Any, what: str, hint: str = "") -> None:
    require_plain(got, what)
    if got != expected:
        extra = f"\n{hint}" if hint else ""
        fail(f"{what}\n  expected {show(expected)}\n  got      {show(got)}{extra}")


# --- comparing tensors ----------------------------------------------------


def diagnose(got: Any, candidates: dict[str, Any], atol: float = 1e-4, rtol: float = 1e-3) -> str | None:
    """The first named mistake whose output `got` reproduces, if any.

    Checks compute what common mistakes would return on the same inputs and
    weights; when the learner's output equals one of them, the message can say
    which mistake it is rather than only that the numbers differ.
    """
    import torch

    for mistake, candidate in candidates.items():
        try:
            candidate = candidate() if callable(candidate) else candidate
        except Exception:  # a candidate that cannot be formed is simply not it
            continue
        if (
            isinstance(candidate, torch.Tensor)
            and isinstance(got, torch.Tensor)
            and candidate.shape == got.shape
            and torch.allclose(got.double(), candidate.double(), atol=atol, rtol=rtol)
        ):
            return mistake
    return None


def refuse_tensor_subclass(got: Any, what: str) -> None:
    """Judged, a tensor of a subclass stays in the learner's process (it is not data): name it."""
    from tutor.checks.remote import is_tensor_subclass

    if is_tensor_subclass(got):
        fail(f"{what}: expected a plain torch.Tensor, got a subclass ({type(got).__name__}); a subclass can "
             "change what comparisons say, so return the tensor itself")


def assert_close(
    got: Any,
    expected: Any,
    what: str,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    mistakes: dict[str, Any] | None = None,
    hint: str = "",
) -> None:
    """`got` must be a tensor of `expected`'s shape, free of NaN, and close to it.

    Tolerances are stated per call; the defaults suit float32 on the CPU.
    """
    import torch

    refuse_tensor_subclass(got, what)
    if not isinstance(got, torch.Tensor):
        fail(f"{what}: expected a torch.Tensor, got {type(got).__name__} ({show(got)})")
    if type(got) is not torch.Tensor and not isinstance(got, torch.nn.Parameter):
        fail(f"{what}: expected a plain torch.Tensor, got a subclass ({type(got).__name__}); a subclass can "
             "change what comparisons say, so return the tensor itself")
    if tuple(got.shape) != tuple(expected.shape):
        mistake = diagnose(got, mistakes or {}) if mistakes else None
        lead = f"Looks like {mistake}.\n" if mistake else ""
        fail(f"{lead}{what}: wrong shape\n  expected {tuple(expected.shape)}\n  got      {tuple(got.shape)}")
    got_d = got.detach().double().cpu()
    if torch.isnan(got_d).any():
        where = tuple(torch.nonzero(torch.isnan(got_d))[0].tolist())
        fail(f"{what}: your output holds NaN (first at index {where}). {hint}".rstrip())
    exp_d = expected.detach().double().cpu()
    if not torch.allclose(got_d, exp_d, atol=atol, rtol=rtol):
        mistake = diagnose(got, mistakes or {})
        diff = (got_d - exp_d).abs()
        where = tuple(torch.nonzero(diff == diff.max())[0].tolist())
        lead = f"Looks like {mistake}.\n" if mistake else ""
        tail = f"\n{hint}" if hint and not mistake else ""
        fail(
            f"{lead}{what}: values differ (tolerance atol={atol:g}, rtol={rtol:g})\n"
            f"  at index {where}: expected {exp_d[where].item():.6g}, got {got_d[where].item():.6g}\n"
            f"  expected {show(expected)}\n  got      {show(got)}{tail}"
        )


def first_difference(a: Iterable[Any], b: Iterable[Any]) -> int | None:
    """Index of the first differing item of two sequences (or the shorter length)."""
    a, b = list(a), list(b)
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))
