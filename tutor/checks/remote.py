"""The judge's stand-ins for the learner's objects (see tutor.engine.judge).

`learner("gpt")`, judged, is a `Remote`: every use of it (an attribute, a call, an
iteration, isinstance against a learner's class) is a question to the learner's
process, answered with data (`tutor.core.wire`) or a reference to another object that
stays there. They live here, with the check API, because the checks use them.

Weights the judge gave a module (`load_weights`) are the judge's own record: reading
them back returns the judge's copy, not what the child says, until learner code that
may change them (anything but a forward pass) has run on that module.
"""


from __future__ import annotations

import os
import select
import time
from typing import Any

from tutor.core import wire

BUILTIN_ERRORS = {cls.__name__: cls for cls in (
    ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError, AssertionError, NotImplementedError,
    ZeroDivisionError, OverflowError, StopIteration, LookupError, ArithmeticError, MemoryError, RecursionError,
    UnicodeError, OSError, ImportError, ModuleNotFoundError, NameError, SystemExit, KeyboardInterrupt)}


def builtin_error(name: str) -> type[BaseException]:
    return BUILTIN_ERRORS.get(name, Exception)


# Attributes Python and libraries probe for by name: answered here, never asked of the child.
_LOCAL_ONLY = frozenset({"__torch_function__", "__torch_dispatch__", "__array__", "__array_interface__",
                         "__array_struct__", "__array_priority__", "__length_hint__", "__getstate__", "__setstate__",
                         "__reduce__", "__reduce_ex__", "__deepcopy__", "__copy__", "__fspath__", "__index__",
                         "__float__", "__int__", "__complex__", "_fields", "__dataclass_fields__", "_ipython_display_",
                         "__wrapped__", "__signature__", "__text_signature__", "__func__", "__self__"})
# Methods of a module that leave its weights as they are: calling them keeps the judge's record.
_KEEPS_WEIGHTS = frozenset({"forward", "eval", "train", "parameters", "named_parameters", "modules", "named_modules",
                            "children", "named_children", "state_dict", "buffers", "named_buffers", "extra_repr",
                            "get_submodule", "get_parameter"})


class Whole:
    """A value sent to the child as one pickle (a model and its optimizer share their
    parameters there as here), not taken apart as data."""

    def __init__(self, value: Any) -> None:
        self.value = value


class LearnerRaised(Exception):
    """An exception the learner's code raised in the child, raised again here as the same
    built-in type (so `except ValueError` in a check works) with the child's description."""

    info: dict[str, str]


class Broken(Exception):
    """The child sent something that is not a well-formed answer."""


class Session:
    """One child's conversation with the judge, within the lesson's deadline."""

    def __init__(self, cmd_fd: int, reply_fd: int, deadline: float, abort_fd: int | None = None) -> None:
        self.cmd_fd, self.reply_fd, self.deadline, self.abort_fd = cmd_fd, reply_fd, deadline, abort_fd
        # One stand-in per object of the child's, kept as long as the session: the child keeps its objects too.
        self.proxies: dict[int, Remote] = {}
        self.modules: dict[str, Remote] = {}  # the learner's modules: imported once, as Python does
        self.aborted = False
        self.judge_weights = True  # a learner's module is given the judge's weights when built
        self.next_seed: int | None = None  # sent with the next question, applied before it

    def module(self, name: str) -> Remote:
        if name not in self.modules:
            self.modules[name] = self.request("module", name)
        return self.modules[name]

    def probe(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A trusted function of `tutor.checks.probes`, run in the child on its objects."""
        _forget_records([args, kwargs])
        return self.request("probe", name, list(args), kwargs)

    def request(self, op: str, *args: Any) -> Any:
        blobs: list[bytes] = []
        data = wire.encode(list(args), blobs, lambda v: self._outgoing(v, blobs))
        header: dict[str, Any] = {"op": op, "args": data}
        if self.next_seed is not None:
            header["seed"], self.next_seed = self.next_seed, None
        try:
            wire.send(self.cmd_fd, header, blobs)
        except (BrokenPipeError, OSError):
            raise wire.Ended() from None
        header, reply_blobs = self._receive()
        if "ok" in header:
            try:
                return wire.decode(header["ok"], reply_blobs, self._incoming)
            except RecursionError:
                raise Broken("a value nested too deep") from None
            except wire.WireError as exc:  # the child's own encoder writes none: these bytes are not its answer
                raise Broken(str(exc)) from None
        if header.get("stop") is True:
            raise StopIteration
        raised = header.get("raise")
        if isinstance(raised, dict):
            raise _learner_error(raised)
        raise Broken("an answer that is neither a value nor an error")

    def _receive(self) -> tuple[dict[str, Any], list[bytes]]:
        watch = [self.reply_fd] + ([self.abort_fd] if self.abort_fd is not None else [])
        wire.spin_until_readable(self.reply_fd)
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise wire.Deadline()
            ready = select.select(watch, [], [], min(remaining, 0.5))[0]
            if self.abort_fd is not None and self.abort_fd in ready:
                self.aborted = True
                raise wire.Deadline()
            if self.reply_fd in ready:
                try:
                    return wire.receive(self.reply_fd, self.deadline)
                except wire.WireError as exc:
                    raise Broken(str(exc)) from None

    def _outgoing(self, value: Any, blobs: list[bytes]) -> dict[str, Any]:
        if isinstance(value, Remote):
            if object.__getattribute__(value, "_session") is not self:
                raise ValueError("an object of an earlier check's child")
            return {"$r": object.__getattribute__(value, "_number")}
        return wire.pickled(value, blobs)

    def _incoming(self, data: dict[str, Any]) -> Remote:
        number = data.get("$r")
        if type(number) is not int:
            raise wire.WireError("a reference that is not a number")
        proxy = self.proxies.get(number)
        if proxy is None:
            name = data.get("n") if type(data.get("n")) is str else "object"
            mro = [m for m in data.get("mro", []) if type(m) is str][:20] if type(data.get("mro")) is list else []
            proxy = _proxy_class(name)(self, number, mro)
            self.proxies[number] = proxy
        return proxy

    def close(self) -> None:
        try:
            wire.send(self.cmd_fd, {"op": "bye"}, [])
        except OSError:
            pass


def _learner_error(raised: dict[str, Any]) -> BaseException:
    base = builtin_error(str(raised.get("type")))
    if not issubclass(base, Exception):  # SystemExit, KeyboardInterrupt: never raised in the judge as they are
        base = Exception
    info = raised.get("info") if isinstance(raised.get("info"), dict) else {}
    try:
        cls = _ERRORS.get(base) or _ERRORS.setdefault(base, type(base.__name__, (base, LearnerRaised), {}))
    except TypeError:
        cls = LearnerRaised
    key = raised.get("key")
    exc = cls(key if base is KeyError and type(key) in (str, int) else str(raised.get("text", ""))[:4000])
    exc.info = {k: str(info.get(k, "")) for k in ("status", "message", "traceback")}
    return exc


_ERRORS: dict[type, type] = {}
_CLASSES: dict[str, type] = {}


def forget_classes() -> None:
    """A new check: the class names the last learner's process gave are not kept."""
    _CLASSES.clear()


def _proxy_class(name: str) -> type[Remote]:
    """A subclass of Remote named as the learner's class, so a message that says
    type(x).__name__ names it."""
    if not name.isidentifier():
        name = "object"
    if name not in _CLASSES:
        _CLASSES[name] = type(name, (Remote,), {"__slots__": ()})
    return _CLASSES[name]  # type: ignore[return-value]


def _trusted_class(path: str) -> type | None:
    """A class of torch's that the judge has loaded itself, by its module and name: a module,
    dataset, loader or optimizer class (never a tensor's: tensors cross as data)."""
    import sys

    import torch

    module_name, _, qualname = path.partition(":")
    parts = qualname.split(".")
    if module_name.split(".")[0] != "torch" or not all(p.isidentifier() and not p.startswith("_") for p in parts):
        return None
    obj: Any = sys.modules.get(module_name)
    for part in parts:
        obj = getattr(obj, part, None)
    kinds = (torch.nn.Module, torch.utils.data.Dataset, torch.utils.data.DataLoader, torch.optim.Optimizer)
    return obj if isinstance(obj, type) and issubclass(obj, kinds) else None


class Remote:
    """An object that lives in the learner's child. Every use is a question to it."""

    # _state: "built" (a learner's class built it and the judge gave it its weights: every tensor
    # read must be one the judge gave), "forgotten" (learner code has run on it since), or None.
    __slots__ = ("_session", "_number", "_mro", "_root", "_path", "_record", "_state", "__weakref__")

    def __init__(self, session: Session, number: int, mro: list[str]) -> None:
        for slot, value in (("_session", session), ("_number", number), ("_mro", mro),
                            ("_root", None), ("_path", ""), ("_record", None), ("_state", None)):
            object.__setattr__(self, slot, value)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        """The nearest class of torch's it is an instance of (isinstance(m, nn.Linear) holds
        for the learner's nn.Linear), else its own proxy class."""
        for path in object.__getattribute__(self, "_mro"):
            found = _trusted_class(path)
            if found is not None:
                return found
        return type(self)

    def __getattr__(self, name: str) -> Any:
        if name in _LOCAL_ONLY:
            raise AttributeError(name)
        session: Session = object.__getattribute__(self, "_session")
        value = session.request("getattr", self, name)
        root = _root_of(self)
        path = object.__getattribute__(self, "_path") + name
        record = object.__getattribute__(root, "_record")
        if record is not None and path in record and _is_tensor(value):
            return record[path]
        _refuse_unjudged_weight(self, root, path, name, value)
        if record is not None and name in ("named_parameters", "parameters") and isinstance(value, Remote):
            return _recorded(self, record, object.__getattribute__(self, "_path"), name == "parameters")
        if isinstance(value, Remote) and object.__getattribute__(value, "_root") is None and value is not root:
            object.__setattr__(value, "_root", root)
            object.__setattr__(value, "_path", path + ".")
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        _forget_records([self, value])
        object.__getattribute__(self, "_session").request("setattr", self, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        path = object.__getattribute__(self, "_path")
        method = path.rstrip(".").rsplit(".", 1)[-1] if path else ""
        if path and method not in _KEEPS_WEIGHTS:
            _forget_records([self])
        _forget_records([args, kwargs])
        session: Session = object.__getattribute__(self, "_session")
        result = session.request("call", self, list(args), kwargs)
        if session.judge_weights and isinstance(result, Remote) and _builds_a_module(self, result):
            give_judge_weights(result)
        return result

    def __len__(self) -> int:
        value = self._ask("len")
        if type(value) is not int or value < 0:
            raise TypeError("len() of the learner's object did not give a whole number")
        return value

    def __iter__(self) -> Any:
        it = self._ask("iter")
        return _Batched(it, self) if isinstance(it, Remote) else iter(it)

    def __next__(self) -> Any:
        return self._ask("next")

    def __getitem__(self, key: Any) -> Any:
        value = self._ask("getitem", key)
        root = _root_of(self)
        if isinstance(value, Remote) and type(key) in (int, str) and value is not root \
                and object.__getattribute__(value, "_root") is None:  # model.trf_blocks[0]: a part of the model
            index = key if type(key) is str or key >= 0 else len(self) + key
            object.__setattr__(value, "_root", root)
            object.__setattr__(value, "_path", f"{object.__getattribute__(self, '_path')}{index}.")
        return value

    def __contains__(self, item: Any) -> bool:
        return bool(self._ask("contains", item) is True)

    def __bool__(self) -> bool:
        return self._ask("bool") is True

    def __repr__(self) -> str:
        value = self._ask("repr")
        return value if type(value) is str else f"<{type(self).__name__}>"

    def __str__(self) -> str:
        value = self._ask("str")
        return value if type(value) is str else f"<{type(self).__name__}>"

    def __instancecheck__(self, instance: Any) -> bool:
        """isinstance(x, learner("layers").LayerNorm): asked of the child, where the class is."""
        return self._ask("isinstance", instance) is True

    def __subclasscheck__(self, cls: Any) -> bool:
        return self._ask("issubclass", cls) is True

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def _ask(self, op: str, *args: Any) -> Any:
        return object.__getattribute__(self, "_session").request(op, self, *args)


def _recorded(module: Remote, record: dict[str, Any], prefix: str, values_only: bool) -> Any:
    """The module's named_parameters()/parameters(): the names as the child gives them, the
    values of the weights the judge gave it from the judge's own record."""

    def listing(*args: Any, **kwargs: Any) -> Any:
        session: Session = object.__getattribute__(module, "_session")
        named = session.request("method", module, "named_parameters", [] if values_only else list(args), kwargs)
        for name, value in named:
            value = record.get(prefix + name, value) if type(name) is str else value
            yield value if values_only else (name, value)

    return listing


class _Batched:
    """Iterates one of the child's iterators a batch at a time (1, 2, 4, ... 64 items per
    question): a loader of 400 items costs a dozen round trips, and next(iter(x)) one."""

    def __init__(self, remote: Remote, owner: Remote) -> None:
        self.remote, self.buffer, self.done, self.size = remote, [], False, 1
        self.owner, self.index = owner, 0  # the parts of a model (for block in model.trf_blocks) are its parts

    def __iter__(self) -> _Batched:
        return self

    def __next__(self) -> Any:
        if not self.buffer:
            if self.done:
                raise StopIteration
            got = object.__getattribute__(self.remote, "_session").request("take", self.remote, self.size)
            if not (isinstance(got, dict) and isinstance(got.get("items"), list) and type(got.get("done")) is bool):
                raise Broken("an answer to take() that is not a batch")
            self.buffer, self.done = got["items"], got["done"]
            self.size = min(self.size * 2, 64)
            self.buffer.reverse()
            if not self.buffer:
                raise StopIteration
        item = self.buffer.pop()
        root = _root_of(self.owner)
        if isinstance(item, Remote) and item is not root and object.__getattribute__(item, "_root") is None:
            object.__setattr__(item, "_root", root)
            object.__setattr__(item, "_path", f"{object.__getattribute__(self.owner, '_path')}{self.index}.")
        self.index += 1
        return item


_LAYERS_WITH_WEIGHTS = ("Linear", "Embedding", "LayerNorm", "RMSNorm", "Conv1d", "Bilinear")


def _refuse_unjudged_weight(owner: Remote, root: Remote, path: str, name: str, value: Any) -> None:
    """A weight the judge did not give cannot be read as if it had: a module that hides a
    weight from named_parameters(), or says it is no module at all, would otherwise choose
    the weights its answers are compared under (all zeros, say)."""
    from tutor.checks import fail

    if not _is_tensor(value) or not value.is_floating_point():
        return
    state = object.__getattribute__(root, "_state")
    if state == "built":
        fail(f"{path} is a tensor of the model that its named_parameters() did not list when it was built, so the "
             "check could not give it weights of its own. Keep every weight an nn.Parameter of an nn.Module (as "
             "nn.Linear's are) and do not override named_parameters().")
    layer = owner.__class__  # the torch layer it says it is, if any
    if state is None and name in ("weight", "bias") and layer.__name__ in _LAYERS_WITH_WEIGHTS:
        fail(f"{path} belongs to a model the check could not give weights to: its class did not report itself "
             "as a class building an nn.Module. Build your model from nn.Module subclasses.")


def _root_of(proxy: Remote) -> Remote:
    """The module a stand-in was reached from (itself, if none). Never `_root or proxy`: the
    truth of a stand-in is a question to the child."""
    root = object.__getattribute__(proxy, "_root")
    return proxy if root is None else root


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _forget_records(values: Any, depth: int = 0) -> None:
    """Learner code is about to run on these objects: the weights the judge gave them may
    change, so what the child says they are counts from now on."""
    if depth > 4:
        return
    if isinstance(values, Remote):
        root = _root_of(values)
        object.__setattr__(root, "_record", None)
        object.__setattr__(root, "_state", "forgotten")
    elif type(values) in (list, tuple):
        for v in values:
            _forget_records(v, depth + 1)
    elif type(values) is dict:
        for v in values.values():
            _forget_records(v, depth + 1)


_MODULE = "torch.nn.modules.module:Module"


def _builds_a_module(callee: Remote, result: Remote) -> bool:
    """callee(...) was a class of the learner's, and what it built is an nn.Module."""
    return ("builtins:type" in object.__getattribute__(callee, "_mro")
            and _MODULE in object.__getattribute__(result, "_mro"))


def give_judge_weights(module: Remote) -> None:
    """Draw every floating-point weight of a module the learner's class just built, here,
    and load it there: weights that the learner's side picked (all zeros, say) could make
    any answer look right. Matrices get the spread of a default nn.Linear (1/sqrt(fan_in)),
    vectors (biases, norm scales) 0.5."""
    import torch

    session: Session = object.__getattribute__(module, "_session")
    shapes = session.request("probe", "shapes", [module], {})
    if not isinstance(shapes, list):
        raise Broken("a list of the module's weights that is not a list")
    values = {}
    for item in shapes[:100_000]:
        if not (isinstance(item, tuple) and len(item) == 3 and type(item[0]) is str
                and isinstance(item[1], torch.Size) and isinstance(item[2], torch.dtype)):
            raise Broken("a malformed entry in the list of the module's weights")
        name, shape, dtype = item
        if dtype.is_floating_point and shape.numel() <= 50_000_000:
            spread = 1 / max(shape[-1], 1) ** 0.5 if len(shape) >= 2 else 0.5
            values[name] = (torch.randn(shape, dtype=torch.float64) * spread).to(dtype)
    load_weights(module, values)
    object.__setattr__(_root_of(module), "_state", "built")


def load_weights(module: Remote, values: dict[str, Any]) -> None:
    """Give the child's module these weights (names as named_parameters gives them) and keep
    them as the judge's record: reads of them return these, whatever the child says."""
    root = _root_of(module)
    prefix = object.__getattribute__(module, "_path")
    session: Session = object.__getattribute__(module, "_session")
    session.request("probe", "assign", [module, values], {})
    record = dict(object.__getattribute__(root, "_record") or {})
    record.update({prefix + name: value for name, value in values.items()})
    object.__setattr__(root, "_record", record)


def is_remote(value: Any) -> bool:
    return isinstance(value, Remote)


def is_tensor_subclass(value: Any) -> bool:
    """A stand-in for an object of a subclass of torch.Tensor (which never crosses as data)."""
    return isinstance(value, Remote) and any(
        m in ("torch:Tensor", "torch._tensor:Tensor", "torch._C:TensorBase") for m in object.__getattribute__(value, "_mro"))


def close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
