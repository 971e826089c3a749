"""Workspaces: a folder with a `tutor.toml` marker and the learner's `model/` package."""

from __future__ import annotations

import functools
import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tutor import __version__
from tutor.core import locations
from tutor.core.atomic import write_text_atomic
from tutor.engine.lessons import Lesson

MARKER = "tutor.toml"
MARKER_TEXT = """\
# A tutor workspace. Your code lives in model/; `tutor check` tests it.
[workspace]
version = 1
"""


class WorkspaceError(Exception):
    """A problem with the workspace that the learner can fix; the message says how."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def key(self) -> str:
        """A short stable name for this workspace in the user data folder."""
        return locations.workspace_key(self.root)

    def run_dir(self, kind: str = "pretrain") -> Path:
        """This workspace's run folder of one kind (pretrain, classify, instruct)."""
        return locations.run_dir(self.key, kind)

    def run_checkpoint(self, kind: str = "pretrain") -> Path:
        """The checkpoint that a run of this kind keeps as its result."""
        return locations.run_checkpoint_path(self.key, kind)

    @property
    def backup_dir(self) -> Path:
        return self.root / ".tutor" / "backups"

    def file(self, name: str) -> Path:
        return self.model_dir / name

    def file_digests(self) -> dict[str, str]:
        """{path under model/: sha256 of its bytes} for every file of model/ now."""
        model = self.model_dir
        if not model.is_dir():
            return {}
        digests = {}
        for path in sorted(model.rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            digests[path.relative_to(model).as_posix()] = _content_digest(path)
        return digests

    def fingerprint(self, lesson: Lesson, used: list[str] | None = None, digests: dict[str, str] | None = None) -> str:
        """What a lesson's verdict was computed from: the files of model/ its checks imported
        (`used`, as the check recorded them; the lesson's own files and model/__init__.py
        always), the lesson's checks, the checks' API and the tutor's version. A change to
        any of them makes the verdict stale; an edit to another lesson's file does not.
        Without `used` (a verdict recorded before the tutor kept that list) every file of
        model/ counts."""
        digests = self.file_digests() if digests is None else digests
        if used is None:
            names = sorted(digests)
        else:
            # Files other than Python source are read by code in ways no import shows (a JSON of
            # settings, say): every one of them counts for every lesson.
            data = {name for name in digests if not name.endswith(".py")}
            names = sorted({"__init__.py", *lesson.files, *used, *data})
        digest = hashlib.sha256()
        if used is not None:
            digest.update(f"tutor {__version__}".encode())
        for name in lesson.files:  # a missing file of the lesson still counts
            if name not in digests:
                digest.update(f"model/{name}<missing>".encode())
        for name in names:
            digest.update(name.encode())
            digest.update(digests.get(name, "<missing>").encode())
        for path in [lesson.checks_path, *_check_api_files()]:
            digest.update(path.name.encode())
            digest.update(_file_digest(path).encode())
        return digest.hexdigest()[:16]

    def backup(self, name: str) -> Path | None:
        """Copy a learner's file aside before the tutor rewrites it; never overwrite a backup."""
        source = self.file(name)
        if not source.exists():
            return None
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.backup_dir / f"{source.stem}.{stamp}{source.suffix}"
        n = 1
        while target.exists():
            n += 1
            target = self.backup_dir / f"{source.stem}.{stamp}-{n}{source.suffix}"
        shutil.copy2(source, target)
        return target


@functools.lru_cache(maxsize=1)
def _check_api_files() -> list[Path]:
    """The small language the checks are written in: a change there changes every verdict."""
    api = Path(__file__).resolve().parent.parent / "checks"
    return sorted(api.glob("*.py"))


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _content_digest(path: Path) -> str:
    """sha256 of a learner's file, read again only when its size or time changed (the
    digests of model/ are taken before every lesson of a round)."""
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _DIGESTS:
            _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return _DIGESTS[key]
    except OSError:
        return "<unreadable>"


def _file_digest(path: Path) -> str:
    """sha256 of a file the tutor ships, read once per process while its size and time stand."""
    try:
        st = path.stat()
    except OSError:
        return "<unreadable>"
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        try:
            _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return "<unreadable>"
    return _DIGESTS[key]


def is_workspace(path: Path) -> bool:
    return (path / MARKER).is_file() and (path / "model").is_dir()


def find_workspace(explicit: Path | None = None, start: Path | None = None) -> Workspace:
    """`--workspace DIR` if given, else the nearest folder upwards that is a workspace."""
    if explicit is not None:
        path = Path(explicit).expanduser().resolve()
        if not path.exists():
            raise WorkspaceError(f"{path} does not exist. Make a workspace with: tutor init {path}")
        if not is_workspace(path):
            raise WorkspaceError(
                f"{path} is not a tutor workspace (it needs {MARKER} and a model/ folder). "
                f"Make one with: tutor init {path}"
            )
        return Workspace(path)
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if is_workspace(candidate):
            return Workspace(candidate)
    raise WorkspaceError(
        f"no tutor workspace here or above {here}. Make one with `tutor init DIR` and cd into it, "
        "or pass --workspace DIR."
    )


def write_workspace(root: Path, files: dict[str, str], marker: str = MARKER_TEXT) -> Workspace:
    model = root / "model"
    model.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_text_atomic(model / name, text)
    write_text_atomic(root / MARKER, marker)
    return Workspace(root.resolve())


def init_workspace(root: Path, stubs: dict[str, str], marker: str = MARKER_TEXT) -> Workspace:
    """A fresh workspace with the stubs. Refuses to touch a folder that holds work."""
    root = Path(root).expanduser().resolve()
    if (root / MARKER).exists() or (root / "model").exists():
        raise WorkspaceError(
            f"{root} already holds a workspace (or a model/ folder); nothing was changed. "
            "Pick an empty or new folder."
        )
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} is a file, not a folder")
    return write_workspace(root, stubs, marker)


# --- component surgery: replace the definitions of one lesson, keep the rest ---


def top_level_spans(source: str) -> dict[str, tuple[int, int]]:
    """{name: (first line, end line)} 0-based, end exclusive, decorators included."""
    import ast  # only when the tutor rewrites a file: not on the app's start

    spans: dict[str, tuple[int, int]] = {}
    for node in ast.parse(source).body:
        names: list[str] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        for name in names:
            spans[name] = (start - 1, node.end_lineno or node.lineno)
    return spans


def extract_components(source: str, names: tuple[str, ...] | list[str]) -> str:
    lines = source.splitlines(keepends=True)
    spans = top_level_spans(source)
    return "\n\n".join("".join(lines[a:b]).rstrip() for a, b in (spans[n] for n in names if n in spans))


def replace_components(target: str, donor: str, names: tuple[str, ...] | list[str]) -> str:
    """`target` with each named top-level definition swapped for the donor's."""
    donor_lines = donor.splitlines(keepends=True)
    donor_spans = top_level_spans(donor)
    lines = target.splitlines(keepends=True)
    spans = top_level_spans(target)
    missing = []
    # Replace from the bottom up so earlier spans stay valid.
    for name in sorted((n for n in names if n in spans), key=lambda n: spans[n][0], reverse=True):
        a, b = spans[name]
        da, db = donor_spans[name]
        lines[a:b] = donor_lines[da:db]
    for name in names:
        if name not in spans and name in donor_spans:
            missing.append("".join(donor_lines[slice(*donor_spans[name])]))
    text = "".join(lines)
    if missing:
        text = text.rstrip("\n") + "\n\n\n" + "\n\n".join(missing)
    return text
