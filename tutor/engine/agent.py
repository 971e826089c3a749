"""The learner's side of a check: the only process that imports the learner's code.

It does what the judge asks (import a module, read an attribute, call a function,
run one of the trusted probes of `tutor.checks.probes`) and answers with data
(`tutor.core.wire`) or with a reference to an object that stays here. It holds no
verdict, no expected value and no key: whatever learner code finds in this process,
the only way to pass a check is to answer the judge's questions with the right numbers.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tutor.checks.remote import BUILTIN_ERRORS
from tutor.core import wire

TRUSTED_ROOTS = ("torch", "tutor", "builtins", "collections", "tiktoken", "numpy")


class Agent:
    def __init__(self, request: dict[str, Any], cmd_fd: int, reply_fd: int) -> None:
        self.request = request
        self.cmd_fd, self.reply_fd = cmd_fd, reply_fd
        self.workspace = Path(request["workspace"]).resolve()
        self.model_dir = self.workspace / "model"
        self.objects: dict[int, Any] = {}
        self.ids: dict[int, int] = {}  # id(object) -> its number, so one object keeps one reference
        self.guard: Any = None
        self.pending: dict[int, BaseException] = {}  # an iterator's error, held back behind its items

    # -- the loop --
    def serve(self) -> None:
        while True:
            try:
                wire.spin_until_readable(self.cmd_fd)
                header, blobs = wire.receive(self.cmd_fd)
            except wire.Ended:
                return
            op = header.get("op")
            if op == "bye":
                return
            try:
                if "seed" in header:  # a new check begins: its seed comes with its first question
                    from tutor.engine.worker import _seed_everything

                    _seed_everything(int(header["seed"]))
                args = wire.decode(header.get("args", []), blobs, lambda ref: self._resolve(ref, blobs))
                value = self.handle(str(op), args)
            except StopIteration:
                self._send({"stop": True}, [])
                continue
            except BaseException as exc:  # noqa: BLE001 - the learner's code may raise anything
                self._send({"raise": self._describe(exc)}, [])
                continue
            out: list[bytes] = []
            try:
                data = wire.encode(value, out, self._reference)
            except wire.WireError as exc:
                self._send({"raise": {"type": "ValueError", "text": str(exc), "info": {
                    "status": "error", "message": f"Your code returned a value the check cannot read: {exc}", "traceback": ""}}}, [])
                continue
            self._send({"ok": data}, out)

    def _send(self, header: dict[str, Any], blobs: list[bytes]) -> None:
        wire.send(self.reply_fd, header, blobs)

    def handle(self, op: str, args: list[Any]) -> Any:
        if op == "load":
            return self.load()
        if op == "module":
            (name,) = args
            if not (name == "model" or str(name).startswith("model.")):
                raise ValueError(f"only the learner's own modules are imported here, not {name!r}")
            return importlib.import_module(name)
        if op == "getattr":
            obj, name = args
            return getattr(obj, name)
        if op == "setattr":
            obj, name, value = args
            setattr(obj, name, value)
            return None
        if op == "call":
            fn, pos, kw = args
            return fn(*pos, **kw)
        if op == "method":  # obj.name(*pos, **kw) in one round trip
            obj, name, pos, kw = args
            return getattr(obj, name)(*pos, **kw)
        if op == "probe":
            name, pos, kw = args
            from tutor.checks import probes

            if name.startswith("_") or name not in probes.__all__:
                raise ValueError(f"no probe {name!r}")
            if name == "lesson_helper" and self._checks_name() not in sys.modules:
                self._load_checks()  # the lesson's own code for this side (lesson 26's ranks)
            return getattr(probes, name)(*pos, **kw)
        if op == "len":
            return len(args[0])
        if op == "iter":
            return iter(args[0])
        if op == "next":
            return next(args[0])
        if op == "take":  # up to n items of an iterator in one answer: loaders and parameters, batched
            return self.take(args[0], int(args[1]))
        if op == "getitem":
            return args[0][args[1]]
        if op == "contains":
            return args[1] in args[0]
        if op == "place":
            return args[0].value
        if op == "isinstance":
            return isinstance(args[1], args[0])
        if op == "issubclass":
            return isinstance(args[1], type) and issubclass(args[1], args[0])
        if op == "bool":
            return bool(args[0])
        if op in ("repr", "str"):
            text = (repr if op == "repr" else str)(args[0])
            return text if len(text) <= 2000 else text[:1995] + " ..."
        if op == "used":
            from tutor.engine.worker import _model_files_loaded

            return _model_files_loaded(self.model_dir)
        if op == "guard":
            return self.guard.changed() if self.guard is not None else []
        raise ValueError(f"unknown operation {op!r}")

    def take(self, iterator: Any, n: int) -> dict[str, Any]:
        """{"items": up to n next items, "done": whether it ended}. An error after some items
        is kept for the next call, so the judge sees the items first, as one by one."""
        pending = self.pending.pop(id(iterator), None)
        if pending is not None:
            raise pending
        items: list[Any] = []
        for _ in range(max(1, min(n, 1024))):
            try:
                items.append(next(iterator))
            except StopIteration:
                return {"items": items, "done": True}
            except BaseException as exc:  # noqa: BLE001
                if not items:
                    raise
                self.pending[id(iterator)] = exc
                break
        return {"items": items, "done": False}

    # -- the learner's files --
    def load(self) -> dict[str, str] | None:
        """Import the lesson's files, as the checks will use them; None, or what stopped it."""
        from tutor.engine.guard import Guard
        from tutor.engine.worker import _ImportsSought, import_lesson_files

        request = self.request
        sys.path.insert(0, str(self.workspace))
        sys.dont_write_bytecode = True
        if request.get("data_home"):
            os.environ["TUTOR_HOME"] = request["data_home"]
        # The checks do not run here, so the guard watches torch, the builtins and the check API only.
        self.guard = Guard(ModuleType("checks"), [])
        sys.meta_path.insert(0, _ImportsSought)  # type: ignore[arg-type]
        return import_lesson_files(request, self.workspace)

    def _checks_name(self) -> str:
        return f"tutor_lesson_{self.request['number']:02d}_checks"

    def _load_checks(self) -> Any:
        """The lesson's checks module under the judge's name for it, so that an object of a
        class it defines (a stand-in model) can be sent here."""
        name = self._checks_name()
        spec = importlib.util.spec_from_file_location(name, self.request["checks_path"])
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    # -- values --
    def _reference(self, value: Any) -> dict[str, Any]:
        key = id(value)
        number = self.ids.get(key)
        if number is None or self.objects.get(number) is not value:
            number = len(self.objects) + 1
            self.objects[number] = value
            self.ids[key] = number
        cls = type(value)
        trusted = [f"{c.__module__}:{c.__qualname__}" for c in cls.__mro__
                   if c.__module__.split(".")[0] in TRUSTED_ROOTS and c is not object]
        return {"$r": number, "n": cls.__name__[:100], "mro": trusted[:20]}

    def _resolve(self, data: dict[str, Any], blobs: list[bytes]) -> Any:
        if "$p" in data:
            if self._checks_name() not in sys.modules and self._checks_name().encode() in wire.pickle_bytes(data, blobs):
                self._load_checks()  # an object of a class the lesson's checks define
            return wire.unpickle(data, blobs)
        number = data.get("$r")
        if number not in self.objects:
            raise wire.WireError(f"no object {number!r} here")
        return self.objects[number]

    def _describe(self, exc: BaseException) -> dict[str, Any]:
        from tutor.engine.worker import describe_exception

        try:
            info = describe_exception(exc, self.model_dir, self.request.get("memory_mb"))
        except BaseException:  # noqa: BLE001 - an exception whose str() raises, say
            info = {"status": "error", "message": f"Your code raised {type(exc).__name__}", "traceback": ""}
        try:
            text = str(exc)[:4000]
        except BaseException:  # noqa: BLE001
            text = ""
        kind = next((c.__name__ for c in type(exc).__mro__ if c in BUILTIN_ERRORS.values()), "Exception")
        args = exc.args if type(exc) is KeyError and len(exc.args) == 1 and type(exc.args[0]) in (str, int) else None
        return {"type": kind, "text": text, "info": {k: str(v)[:20000] for k, v in info.items()}, "key": args[0] if args else None}
