"""Import the reference solution as the `model` package, for the benchmarks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_reference():
    """The reference solution's modules, imported as model.* (as a learner's would be)."""
    sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location("model", ROOT / "lessons/reference/__init__.py",
                                                  submodule_search_locations=[str(ROOT / "lessons/reference")])
    package = importlib.util.module_from_spec(spec)
    sys.modules["model"] = package
    spec.loader.exec_module(package)
    import model.gpt
    import model.train

    return model.gpt, model.train
