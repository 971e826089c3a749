"""A static read of a submission for code that reaches past the component contract.

In-process checks cannot stop code that walks interpreter internals (frames, the
garbage collector, ctypes) or reads the grader's own files. Grading therefore
reads each submission's source before running it and flags, for a person to
review, the constructs that such tricks need. A flag is not a verdict: a learner
may use `inspect` innocently. It is a column in the grades, never a silent pass.
It reads text: a name built at run time from pieces ("_get" + "frame") is not seen
as that name, which is why looking names up from built strings is itself flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 2 * 2**20  # a source file larger than this is flagged rather than read

RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("imports the tutor or its lessons", re.compile(r"^\s*(from|import)\s+(tutor|lessons)\b|__import__\(\s*['\"](tutor|lessons)|import_module\(\s*['\"](tutor|lessons)|sys\.modules\[\s*['\"](tutor|lessons)", re.M)),
    ("walks interpreter frames", re.compile(r"_getframe|\bf_back\b|\bf_locals\b|\bf_globals\b|\btb_frame\b|\bgi_frame\b|\binspect\b|settrace|setprofile")),
    ("reaches interpreter internals (ctypes, gc)", re.compile(r"\bctypes\b|\bgc\s*\.\s*get_(objects|referrers|referents)|\b_ctypes\b|\bcffi\b")),
    ("reads the reference solutions or the checks", re.compile(r"reference[/\\.]|_lessons|checks\.py|tutor_lesson_|solution_files")),
    ("runs code from strings", re.compile(r"(?<![\w.])(exec|eval|compile|__import__)\s*\(")),
    ("starts or signals processes", re.compile(r"\bsubprocess\b|\bos\s*\.\s*(system|popen|fork|kill|killpg|setsid|exec\w*|spawn\w*)\b|\bmultiprocessing\b")),
    ("reads /proc or other processes", re.compile(r"/proc/|\bptrace\b|\bpsutil\b")),
    ("patches torch or the builtins", re.compile(r"\b(torch|builtins|math|numpy|np)\s*\.\s*[A-Za-z_][\w.]*\s*=[^=]|__builtins__")),
    ("looks names up from built strings (getattr or import with a name that is not written out)",
     re.compile(r"\b(getattr|setattr|delattr|hasattr)\s*\(\s*[^,()]+,\s*(?![\"'][\w.]*[\"']\s*[,)])|\bimportlib\b|__import__")),
    ("writes to raw file descriptors, exits the interpreter or makes links",
     re.compile(r"\bos\s*\.\s*(write|_exit|dup2?|symlink|link|open)\s*\(")),
    ("overrides how tensors or objects compare (__torch_function__, __eq__, __ne__, __sub__ ...)",
     re.compile(r"__torch_function__|__torch_dispatch__|def\s+__(eq|ne|lt|le|gt|ge|sub|rsub|abs|bool|float)__")),
    ("calls the reference the checks compare against (torch's own attention, norms, GELU)",
     re.compile(r"\bscaled_dot_product_attention\b|\bF\s*\.\s*(layer_norm|rms_norm|gelu)\b|nn\.(LayerNorm|GELU|MultiheadAttention|RMSNorm)\b")),
)


@dataclass(frozen=True)
class Flag:
    rule: str
    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.file}:{self.line}: {self.text})"


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
        for rule, pattern in RULES:
            match = pattern.search(text)
            if match:
                line = text.count("\n", 0, match.start()) + 1
                source = text.splitlines()[line - 1].strip() if text.splitlines() else ""
                flags.append(Flag(rule, rel, line, source[:80]))
    return flags
