"""What the checks rely on, taken before the learner's code runs and compared after.

A check decides pass or fail with a handful of tools: the check API itself
(`collect_checks`, `assert_close`, ...), the independent references, torch's
comparisons and a few builtins. Learner code runs in the same interpreter, so it
could replace one (`torch.allclose = lambda *a, **k: True`) and pass anything. The
worker snapshots every such tool before it imports the learner's files; if any of
them is a different object afterwards, or a function's code was swapped, the
lesson is marked tampered rather than passed.

This stops the casual forgeries. Code that walks interpreter internals (frames,
`gc`, `ctypes`) can still get round any in-process guard; grading flags such code
for review (tutor.engine.scan) and runs it in a sandbox.
"""

from __future__ import annotations

import builtins
import math
import sys
from types import ModuleType
from typing import Any

# Builtins a check's decision passes through.
_BUILTINS = ("abs", "all", "any", "isinstance", "issubclass", "len", "max", "min", "sum", "round", "float",
             "int", "bool", "str", "repr", "type", "getattr", "hasattr", "sorted", "zip", "range", "list",
             "tuple", "dict", "set", "enumerate", "iter", "next", "callable", "vars", "id", "hash")
_MATH = ("isclose", "isfinite", "isnan", "isinf", "sqrt", "exp", "log", "fabs")


def _attrs(owner: Any, names: tuple[str, ...], prefix: str) -> dict[str, tuple[Any, str, Any]]:
    found = {}
    for name in names:
        if hasattr(owner, name):
            found[f"{prefix}.{name}"] = (owner, name, getattr(owner, name))
    return found


_STABLE: dict[int, tuple[str, ...]] = {}  # id(owner) -> its stable attribute names, found once per worker


def _stable_names(owner: Any) -> tuple[str, ...]:
    """The attributes of `owner` that read back as the same object each time (a method, a
    property, a function; not a view made afresh on each read). Listed once in the worker
    (`prepare`), before any child is forked: dir() and the lazy imports it triggers are
    not paid again by every check."""
    key = id(owner)
    if key not in _STABLE:
        names = []
        for name in dir(owner):
            try:
                value = getattr(owner, name)
                if getattr(owner, name) is value:
                    names.append(name)
            except Exception:  # noqa: BLE001 - an attribute that cannot be read is not one a check uses
                continue
        _STABLE[key] = tuple(names)
    return _STABLE[key]


def _every_attr(owner: Any, prefix: str) -> dict[str, tuple[Any, str, Any]]:
    """Every stable attribute of `owner`: a tensor's `.cpu`, say, as much as `allclose`,
    since a check may pass what it returns to a comparison."""
    found = {}
    for name in _stable_names(owner):
        value = getattr(owner, name, None)
        found[f"{prefix}.{name}"] = (owner, name, value)
    return found


_BASELINE: list[tuple[dict[str, tuple[Any, str, Any]], dict[str, Any], dict[str, Any]]] = []


def _baseline() -> tuple[dict[str, tuple[Any, str, Any]], dict[str, Any], dict[str, Any]]:
    """The tools every lesson's checks rely on, as they are before any learner code: taken
    once by the worker (`prepare`), whose children inherit it, or here when there is none."""
    if _BASELINE:
        return _BASELINE[0]
    import numpy
    import torch
    import torch.nn.functional as F
    import torch.testing

    import tutor.checks as api
    import tutor.checks.torch_refs as refs

    modules = {name: sys.modules.get(name) for name in
               ("tutor.checks", "tutor.checks.torch_refs", "torch", "torch.testing", "torch.nn.functional",
                "math", "builtins", "numpy")}
    tools: dict[str, tuple[Any, str, Any]] = {}
    tools.update(_module_functions(api, "tutor.checks"))
    tools.update(_module_functions(refs, "tutor.checks.torch_refs"))
    tools.update(_attrs(builtins, _BUILTINS, "builtins"))
    tools.update(_every_attr(torch, "torch"))
    tools.update(_every_attr(torch._C.TensorBase, "torch.Tensor"))
    tools.update(_every_attr(torch.Tensor, "torch.Tensor"))
    tools.update(_every_attr(torch.nn.Module, "torch.nn.Module"))
    tools.update(_attrs(torch.testing, ("assert_close",), "torch.testing"))
    tools.update(_every_attr(F, "torch.nn.functional"))
    tools.update(_attrs(math, _MATH, "math"))
    tools.update(_attrs(numpy, ("allclose", "isclose", "array_equal"), "numpy"))
    code = {label: getattr(value, "__code__", None) for label, (_o, _n, value) in tools.items()}
    return tools, modules, code


def prepare() -> None:
    """Take the baseline now, in the worker, for every child it forks: neither dir() nor the
    lazy imports it triggers are paid again by each check."""
    _BASELINE[:] = [_baseline()]


def _module_functions(module: ModuleType, prefix: str) -> dict[str, tuple[Any, str, Any]]:
    """Every callable that `module` defines or re-exports at its top level."""
    return {f"{prefix}.{name}": (module, name, value) for name, value in vars(module).items()
            if callable(value) and not name.startswith("__")}


class Guard:
    """A snapshot of the tools the checks use; `changed()` names any that were replaced."""

    def __init__(self, checks_module: ModuleType, checks: list[tuple[str, Any]]) -> None:
        tools, modules, code = _baseline()
        watched = dict(tools)
        watched.update(_module_functions(checks_module, "checks"))
        self._modules = modules
        self._watched = watched
        # A function's code can be swapped without replacing the function object.
        self._code = {**code, **{label: getattr(value, "__code__", None) for label, (_o, _n, value) in watched.items()
                                 if label.startswith("checks.")}}
        self._checks = [(func, func.__code__) for _name, func in checks]

    def changed(self) -> list[str]:
        """The names of the tools that are no longer what they were, in a stable order."""
        changed = [name for name, module in self._modules.items() if sys.modules.get(name) is not module]
        for label, (owner, name, value) in self._watched.items():
            now = getattr(owner, name, None)
            if now is not value or getattr(now, "__code__", None) is not self._code[label]:
                changed.append(label)
        changed += [f"the check {func.__name__}" for func, code in self._checks if func.__code__ is not code]
        return changed
