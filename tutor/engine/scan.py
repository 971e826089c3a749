"""A static read of a submission for code that reaches past the component contract.

In-process checks cannot stop code that walks interpreter internals (frames, the
garbage collector, ctypes) or reads the grader's own files. Grading therefore
reads each submission's source before running it and flags, for a person to
review, the constructs that such tricks need. A flag is not a verdict: a learner
may use `inspect` innocently. It is a column in the grades, never a silent pass.

The source is read as a syntax tree, not as text: `from gc import get_objects` is
an import of gc however it is spelt, `"refer" "ence/"` is the string
"reference/", and `mask: torch.Tensor = None` annotates a name rather than
assigning into torch. A name built at run time from pieces ("_get" + "frame") is
not seen as that name, which is why looking names up from built strings is
itself flagged. A file that does not parse is read as text, by patterns.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 2 * 2**20  # a source file larger than this is flagged rather than read

TUTOR = "imports the tutor or its lessons"
FRAMES = "walks interpreter frames"
INTERNALS = "reaches interpreter internals (ctypes, gc)"
ANSWERS = "reads the reference solutions or the checks"
STRINGS = "runs code from strings"
PROCESSES = "starts or signals processes"
PROC = "reads /proc or other processes"
PATCHES = "patches torch or the builtins"
BUILT = "looks names up from built strings (getattr or import with a name that is not written out)"
RAW = "writes to raw file descriptors, exits the interpreter or makes links"
COMPARE = "overrides how tensors or objects compare (__torch_function__, __eq__, __ne__, __sub__ ...)"
REFERENCE = "calls the reference the checks compare against (torch's own attention, norms, GELU)"

# Modules whose import alone is a flag, with the rule it raises.
MODULES = {"tutor": TUTOR, "lessons": TUTOR, "inspect": FRAMES, "gc": INTERNALS, "ctypes": INTERNALS,
           "_ctypes": INTERNALS, "cffi": INTERNALS, "subprocess": PROCESSES, "multiprocessing": PROCESSES,
           "pty": PROCESSES, "psutil": PROC, "ptrace": PROC, "importlib": BUILT}
# Attribute or imported names that are a flag wherever they appear.
NAMES = {**{n: FRAMES for n in ("_getframe", "f_back", "f_locals", "f_globals", "tb_frame", "gi_frame", "settrace",
                                "setprofile", "_current_frames")},
         **{n: INTERNALS for n in ("get_objects", "get_referrers", "get_referents")},
         "__torch_function__": COMPARE, "__torch_dispatch__": COMPARE, "__builtins__": PATCHES}
# torch's own versions of what the lessons build, flagged when taken from torch (a learner's own
# LayerNorm or gelu is the lesson itself).
TORCH_REFERENCES = {"scaled_dot_product_attention", "layer_norm", "rms_norm", "gelu", "LayerNorm", "GELU",
                    "MultiheadAttention", "RMSNorm"}
TORCH_ROOTS = {"torch", "nn", "F", "functional"}
# os functions by what they do.
OS_CALLS = {**{n: PROCESSES for n in ("system", "popen", "fork", "forkpty", "kill", "killpg", "setsid", "setpgid",
                                      "pidfd_open")},
            **{n: RAW for n in ("write", "pwrite", "writev", "_exit", "dup", "dup2", "symlink", "link", "open")}}
OS_PREFIXES = {"exec": PROCESSES, "spawn": PROCESSES, "posix_spawn": PROCESSES}
PATCHED_ROOTS = ("torch", "builtins", "math", "numpy", "np", "F", "nn")
COMPARISONS = {f"__{n}__" for n in ("eq", "ne", "lt", "le", "gt", "ge", "sub", "rsub", "abs", "bool", "float")}
ANSWER_TEXT = re.compile(r"reference[/\\.]|_lessons|checks\.py|tutor_lesson_|solution_files")

TEXT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (  # for a file that does not parse
    (TUTOR, re.compile(r"^\s*(from|import)\s+(tutor|lessons)\b", re.M)),
    (FRAMES, re.compile(r"_getframe|\bf_back\b|\bf_locals\b|\binspect\b|settrace")),
    (INTERNALS, re.compile(r"\bctypes\b|\bgc\b")),
    (ANSWERS, ANSWER_TEXT),
    (STRINGS, re.compile(r"(?<![\w.])(exec|eval|compile|__import__)\s*\(")),
    (PROCESSES, re.compile(r"\bsubprocess\b|\bos\s*\.\s*(system|popen|fork|kill|setsid|exec\w*|spawn\w*|posix_spawn\w*)\b")),
    (PROC, re.compile(r"/proc/")),
)


@dataclass(frozen=True)
class Flag:
    rule: str
    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.file}:{self.line}: {self.text})"


def _root_name(node: ast.AST) -> str | None:
    """`torch` for torch.Tensor.cpu; None when the chain does not start at a plain name."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _folded(node: ast.AST) -> str | None:
    """The value of a string built from literals ("a" "b", "a" + "b", f"a{'b'}"), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _folded(node.left), _folded(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_folded(v.value if isinstance(v, ast.FormattedValue) else v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None  # type: ignore[arg-type]
    return None


def _is_literal_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


class _Reader(ast.NodeVisitor):
    """Walks one file's tree; `found` holds each rule's first line."""

    def __init__(self) -> None:
        self.found: dict[str, int] = {}
        self.os_names: set[str] = {"os", "posix"}

    def flag(self, rule: str, node: ast.AST) -> None:
        self.found.setdefault(rule, getattr(node, "lineno", 0))

    def _module(self, name: str, node: ast.AST) -> None:
        top = name.split(".")[0]
        if top in MODULES:
            self.flag(MODULES[top], node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(alias.name, node)
            if alias.name in ("os", "posix"):
                self.os_names.add(alias.asname or alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0:
            self._module(module, node)
        for alias in node.names:
            if alias.name in NAMES:
                self.flag(NAMES[alias.name], node)
            if alias.name in TORCH_REFERENCES and module.split(".")[0] == "torch":
                self.flag(REFERENCE, node)
            if module in ("os", "posix"):
                self._os_name(alias.name, node)
            if module == "sys" and alias.name in ("modules", "_getframe"):
                self.flag(FRAMES if alias.name == "_getframe" else BUILT, node)
        self.generic_visit(node)

    def _os_name(self, name: str, node: ast.AST) -> None:
        if name in OS_CALLS:
            self.flag(OS_CALLS[name], node)
        for prefix, rule in OS_PREFIXES.items():
            if name.startswith(prefix):
                self.flag(rule, node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in NAMES:
            self.flag(NAMES[node.attr], node)
        if node.attr in TORCH_REFERENCES and _root_name(node) in TORCH_ROOTS:
            self.flag(REFERENCE, node)
        if isinstance(node.value, ast.Name) and node.value.id in self.os_names:
            self._os_name(node.attr, node)
        if isinstance(node.value, ast.Name) and node.value.id == "sys" and node.attr == "modules":
            self.flag(BUILT, node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in NAMES:
            self.flag(NAMES[node.id], node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        if name in ("exec", "eval", "compile", "__import__"):
            self.flag(STRINGS if name != "__import__" else BUILT, node)
        if name in ("getattr", "hasattr") and len(node.args) >= 2 and not _is_literal_name(node.args[1]):
            self.flag(BUILT, node)
        if name in ("setattr", "delattr") and node.args:
            # Replacing a submodule by name is ordinary model surgery; into torch or sys, a patch.
            if _root_name(node.args[0]) in (*PATCHED_ROOTS, "sys"):
                self.flag(PATCHES, node)
        self.generic_visit(node)

    def _assigned(self, target: ast.AST) -> None:
        if isinstance(target, (ast.Attribute, ast.Subscript)) and _root_name(target) in PATCHED_ROOTS:
            self.flag(PATCHES, target)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._assigned(element)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:  # an annotation alone assigns nothing
            self._assigned(node.target)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in COMPARISONS or node.name in ("__torch_function__", "__torch_dispatch__"):
            self.flag(COMPARE, node)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def _string(self, node: ast.AST) -> None:
        text = _folded(node)
        if text is None:
            return
        if ANSWER_TEXT.search(text):
            self.flag(ANSWERS, node)
        if "/proc/" in text or text.startswith("/proc"):
            self.flag(PROC, node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # a docstring or a bare string: prose, not a path the code uses
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        self._string(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self._string(node)
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._string(node)
        self.generic_visit(node)


def scan_source(text: str) -> dict[str, int]:
    """{rule: first line} for one file's source."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        found: dict[str, int] = {}
        for rule, pattern in TEXT_RULES:
            match = pattern.search(text)
            if match:
                found[rule] = text.count("\n", 0, match.start()) + 1
        return found
    reader = _Reader()
    try:
        reader.visit(tree)
    except RecursionError:
        reader.flag("has code nested too deeply to read", tree)
    return reader.found


def scan_workspace(model_dir: Path) -> list[Flag]:
    """Every rule that a file of model/ matches, with its first place in each file."""
    flags: list[Flag] = []
    if not model_dir.is_dir():
        return flags
    for path in sorted(model_dir.rglob("*")):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        rel = path.relative_to(model_dir.parent).as_posix()
        if path.is_symlink():
            flags.append(Flag("links outside its folder", rel, 0, "a symbolic link"))
            continue
        if path.suffix != ".py":
            continue
        if path.stat().st_size > MAX_BYTES:
            flags.append(Flag("has a source file too large to read", rel, 0, f"{path.stat().st_size} bytes"))
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines()
        for rule, line in sorted(scan_source(text).items(), key=lambda item: item[1]):
            source = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            flags.append(Flag(rule, rel, line, source[:80]))
    return flags
