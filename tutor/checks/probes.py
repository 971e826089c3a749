"""Trusted helpers that run in the learner's child, where the learner's objects live.

A check asks for one by name (`probe("grads", model, x, g)`) when what it measures
needs the object itself: gradients, hooks, grad mode, weights set in place. What a
probe returns is data like any other answer, so learner code that forges it gains only
what the numbers it must still get right allow; the judge decides.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "assign",
    "grads",
    "grad_mode_in",
    "call_keeping_args",
    "fill_grads",
    "buffers_also_parameters",
    "grads_present",
    "load_and_aliases",
    "same_tensor",
    "shapes",
    "lesson_helper",
    "items",
    "input_grads",
]


def assign(module: Any, values: dict[str, Any]) -> None:
    """Copy the judge's weights into `module`'s parameters (names as named_parameters
    gives them)."""
    import torch

    params = dict(module.named_parameters())
    missing = [name for name in values if name not in params]
    if missing:
        raise KeyError(f"no parameter named {missing[0]!r}")
    with torch.no_grad():
        for name, value in values.items():
            params[name].copy_(value)


def grads(module: Any, inputs: list[Any], weights: Any = None) -> dict[str, Any]:
    """The gradient of sum(module(*inputs) * weights) (random weights when None) for each
    named parameter (None for one it does not reach), and the inputs as they are after
    the call (to catch one changed in place)."""
    import torch

    module.zero_grad()
    out = module(*inputs)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the forward pass returned {type(out).__name__}, not a tensor")
    (out * (torch.randn_like(out) if weights is None else weights)).sum().backward()
    return {"grads": {name: (None if p.grad is None else p.grad.detach().clone())
                      for name, p in module.named_parameters() if p.requires_grad},
            "inputs": list(inputs)}


def input_grads(fn: Any, args: list[Any], weights: Any, pick: int | None = None) -> list[Any]:
    """fn(*args) (its item `pick` when it returns several), and the gradient of
    sum(out * weights) for each tensor argument that requires one (None where none
    reaches it): a function's derivative, for a check to compare with its own."""
    import torch

    out = fn(*args)
    if pick is not None:
        out = out[pick]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the function returned {type(out).__name__}, not a tensor")
    if not out.requires_grad:
        return [None for _ in args]
    (out * weights).sum().backward()
    return [a.grad.detach().clone() if isinstance(a, torch.Tensor) and a.grad is not None else None for a in args]


def grad_mode_in(module: Any, submodule: str, call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Whether autograd was on each time `submodule` of `module` ran during call(*args)."""
    import torch

    seen: list[bool] = []
    handle = module.get_submodule(submodule).register_forward_hook(lambda m, a, o: seen.append(torch.is_grad_enabled()))
    try:
        result = call(*args, **kwargs)
    finally:
        handle.remove()
    return {"seen": seen, "result": result}


def call_keeping_args(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """fn(*args, **kwargs), and the arguments as they are afterwards: a function that
    changes its input in place shows it here."""
    result = fn(*args, **kwargs)
    return {"result": result, "args": list(args)}


def fill_grads(module: Any, value: float) -> None:
    """Give every parameter a gradient full of `value`: stale gradients of an earlier step."""
    import torch

    for p in module.parameters():
        p.grad = torch.full_like(p, value)


def buffers_also_parameters(module: Any) -> list[str]:
    """Names of the module's buffers that are also among its parameters (the same tensor)."""
    params = {id(p) for p in module.parameters()}
    return [name for name, b in module.named_buffers() if id(b) in params]


def grads_present(module: Any) -> bool:
    """Whether any parameter holds a gradient."""
    return any(p.grad is not None for p in module.parameters())


def load_and_aliases(load: Any, model: Any, state: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """load(model, state), then which named parameter pairs share memory, and which
    parameters share memory with a tensor of `state`."""
    result = load(model, state)
    params = dict(model.named_parameters(remove_duplicate=False))
    ptrs = {v.data_ptr() for v in state.values() if hasattr(v, "data_ptr")}
    return {"result": result,
            "shared_pairs": [[a, b] for a, b in pairs if a in params and b in params
                             and (params[a] is params[b] or params[a].data_ptr() == params[b].data_ptr())],
            "shares_state": sorted(n for n, p in params.items() if p.data_ptr() in ptrs)}


def same_tensor(a: Any, a_name: str, b: Any, b_name: str) -> bool:
    """Whether a.<a_name> and b.<b_name> are one tensor (or share its memory)."""
    x, y = getattr(a, a_name, None), getattr(b, b_name, None)
    if x is None or y is None:
        return False
    return x is y or x.data_ptr() == y.data_ptr()


def shapes(module: Any) -> list[tuple[str, Any, Any]]:
    """(name, shape, dtype) of each parameter, in named_parameters order."""
    return [(name, p.shape, p.dtype) for name, p in module.named_parameters()]


def items(seq: Any, indices: list[int]) -> list[Any]:
    """seq[i] for each i, in order, up to the first that raises (read alone in its turn)."""
    found = []
    for i in indices:
        try:
            found.append(seq[i])
        except Exception:  # noqa: BLE001 - the check reads this item alone and sees the error there
            break
    return found


def lesson_helper(module_name: str, func_name: str, *args: Any) -> Any:
    """A `learner_side_` function of the lesson's checks module (loaded here under its name)."""
    import re
    import sys

    if not re.fullmatch(r"tutor_lesson_\d{2}_checks", module_name) or not func_name.startswith("learner_side_"):
        raise ValueError(f"{module_name}.{func_name} is not a helper the checks run here")
    return getattr(sys.modules[module_name], func_name)(*args)
