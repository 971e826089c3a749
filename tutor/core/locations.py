"""Where the tutor finds its shipped lessons and keeps the learner's data.

Every path under the data home, and every run's file name, is spelled here and
nowhere else, so that a new kind of data or run is one line in this module.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent


def lessons_dir() -> Path:
    """The lessons folder: inside the wheel when installed, beside the package in a clone.
    TUTOR_LESSONS_DIR names another (a grader gives each student a fresh read-only copy)."""
    override = os.environ.get("TUTOR_LESSONS_DIR")
    candidates = [Path(override)] if override else [_PKG / "_lessons", _PKG.parent / "lessons"]
    for candidate in candidates:
        if (candidate / "lessons.toml").is_file():
            return candidate
    raise FileNotFoundError(
        "the tutor's lessons are missing: reinstall the app (pip install -e . from a clone)"
    )


def child_pythonpath(*first: str) -> str:
    """PYTHONPATH for a child interpreter: `first`, then this package's source root, then
    whatever was set, so that a child finds tutor also when it is not installed."""
    import os

    return os.pathsep.join(filter(None, [*first, str(_PKG.parent), os.environ.get("PYTHONPATH")]))


def python_command(module: str, *args: str) -> list[str]:
    """Run `module` of the tutor in a child interpreter that never imports from the
    current folder: `python -m` would put it first on sys.path, and a folder named
    `tutor/` there (a student's submission, say) would run in the tutor's place."""
    bootstrap = (f"import sys; del sys.path[0]; sys.path.insert(0, {str(_PKG.parent)!r}); "
                 f"import runpy; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", bootstrap, *args]


def reference_dir() -> Path:
    return lessons_dir() / "reference"


def data_home() -> Path:
    """User data (progress, corpora, checkpoints). TUTOR_HOME overrides it, e.g. for tests."""
    override = os.environ.get("TUTOR_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("tutor", appauthor=False))


# --- folders under the data home --------------------------------------------


def progress_dir() -> Path:
    return data_home() / "progress"


def corpora_dir() -> Path:
    """Corpora prepared for pretraining (train/val text and their token files)."""
    return data_home() / "corpora"


def datasets_dir() -> Path:
    """Labelled data sets: SMS messages, instruction data."""
    return data_home() / "datasets"


def downloads_dir() -> Path:
    """Files as they were downloaded, checked against their hashes."""
    return data_home() / "downloads"


def cache_dir() -> Path:
    """Token files of a corpus encoded with a run's tokenizer."""
    return data_home() / "cache"


def tokenizers_dir() -> Path:
    """Byte-pair merges a run's tokenizer learned, kept for the next run that would learn the same."""
    return data_home() / "tokenizers"


def weights_root() -> Path:
    """Downloaded or imported weights: one folder per model."""
    return data_home() / "weights"


def weights_dir(size: str) -> Path:
    """OpenAI's GPT-2 weights of one size (124M, 355M, 774M, 1558M, or custom-...)."""
    return weights_root() / f"gpt2-{size}"


def kit_checkpoints_dir() -> Path:
    """Pretrained checkpoints imported from a workshop kit (a shared starting point)."""
    return data_home() / "checkpoints"


def kit_corpora_dir() -> Path:
    return data_home() / "kit" / "corpora"


def workshop_settings_path() -> Path:
    return data_home() / "workshop.toml"


# --- runs ---------------------------------------------------------------------

# The checkpoint each kind of run keeps as its result (what later runs, chat and
# the milestone checks read).
RUN_CHECKPOINTS = {
    "pretrain": "checkpoint.safetensors",
    "classify": "classifier.safetensors",
    "instruct": "instruct.safetensors",
}


def workspace_key(root: Path) -> str:
    """A short stable name for a workspace folder in the data home."""
    import hashlib

    return hashlib.sha256(str(root).encode()).hexdigest()[:16]


def run_dir(key: str, kind: str = "pretrain") -> Path:
    """The folder of a workspace's run of one kind (pretrain, classify, instruct)."""
    return data_home() / "runs" / key / kind


def run_checkpoint_path(key: str, kind: str = "pretrain") -> Path:
    return run_dir(key, kind) / RUN_CHECKPOINTS[kind]


def kit_checkpoint() -> Path | None:
    """The pretrained checkpoint a workshop kit installed, if any (the newest)."""
    found = sorted(kit_checkpoints_dir().glob("*.safetensors"), key=lambda p: p.stat().st_mtime) \
        if kit_checkpoints_dir().is_dir() else []
    return found[-1] if found else None


def pretrained_checkpoint(key: str) -> tuple[Path, str]:
    """The pretrained checkpoint that generation, chat and fine-tuning start from, and where
    it came from: the workspace's own run ("your run"), else one a workshop kit installed
    ("the workshop kit"); when there is neither, the path the own run will have and ""."""
    own = run_checkpoint_path(key, "pretrain")
    if own.exists():
        return own, "your run"
    kit = kit_checkpoint()
    return (kit, "the workshop kit") if kit is not None else (own, "")


def safe_name(name: str) -> bool:
    """A file or folder name from outside (a kit's manifest, a corpus name) that stays in the
    folder it is joined to: no separators, no '..', nothing hidden or unprintable."""
    return (0 < len(name) <= 120 and name not in (".", "..") and not name.startswith(".")
            and not any(c in name for c in "/\\:\0") and name.isprintable())


def inside(folder: Path, name: str) -> Path:
    """folder / name, or ValueError unless it resolves inside folder (check before writing)."""
    target = (folder / name).resolve()
    if not safe_name(name) or folder.resolve() not in target.parents:
        raise ValueError(f"the name {name!r} would write outside {folder}")
    return target
