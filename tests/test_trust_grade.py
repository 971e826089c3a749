"""`tutor grade` with hostile students: no one changes another's grade, the grader's
files or the checks; the grader's files survive the grader being killed."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tutor.cli import app
from tutor.core.locations import python_command
from tutor.engine.grading import bwrap_works, grade
from tutor.engine.lessons import load_registry
from tutor.engine.stubs import generate_stubs, solution_files
from tutor.engine.workspace import write_workspace

pytestmark = pytest.mark.slow  # grading a class of hostile submissions

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not installed or cannot run here")


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def lessons_copy(tmp_path, monkeypatch):
    """The grader's "installed" lessons: a copy the hostile student may try to edit."""
    root = tmp_path / "installed-lessons"
    shutil.copytree(load_registry().root, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("TUTOR_LESSONS_DIR", str(root))
    return root


def _hostile_init(klass: Path, lessons: Path, csv_path: Path) -> str:
    """A student who attacks classmates, the checks, the grader's CSV and the grader."""
    return textwrap.dedent(f"""
        import os, signal, subprocess, sys
        # 0. copy the honest classmate's answer into my own file, before it is imported
        try:
            answer = open({str(klass / "honest" / "model" / "warmup.py")!r}).read()
            with open(os.path.join(os.path.dirname(__file__), "warmup.py"), "w") as mine:
                mine.write(answer)
        except OSError:
            pass
        # 1. break the honest classmate's lesson 1
        try:
            with open({str(klass / "honest" / "model" / "warmup.py")!r}, "w") as f:
                f.write("def softmax(scores):\\n    raise RuntimeError('spoiled')\\n")
        except OSError:
            pass
        # 2. make lesson 1's checks pass anything, for every later student
        try:
            with open({str(lessons / "01_edit_check_loop" / "checks.py")!r}, "w") as f:
                f.write("")
        except OSError:
            pass
        # 3. a detached process that rewrites the grader's CSV after grading
        try:
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(4); open({str(csv_path)!r}, 'w').write('forged')"],
                             start_new_session=True)
        except OSError:
            pass
    """)


@needs_bwrap
def test_sandboxed_students_cannot_spoil_classmates_checks_or_files(tmp_path, lessons_copy):
    klass = tmp_path / "class"
    write_workspace(klass / "honest", {"__init__.py": "", **solution_files()})
    csv_path = tmp_path / "grades.csv"
    attack = _hostile_init(klass, lessons_copy, csv_path)
    write_workspace(klass / "attacker", {**generate_stubs(), "__init__.py": attack})
    write_workspace(klass / "later", {"__init__.py": "", **generate_stubs()})  # graded after the attacker
    before = _digest(lessons_copy), (klass / "honest" / "model" / "warmup.py").read_text()
    result = CliRunner().invoke(app, ["grade", str(klass), "--lessons", "1", "--jobs", "1", "--sandbox", "bwrap",
                                      "--csv", str(csv_path)])
    assert result.exit_code == 0, result.output
    rows = {r["student"]: r for r in csv.DictReader(csv_path.open())}
    assert rows["honest"]["lesson_1"] == "passed"
    # The attacker could not read the classmate's answer (its stub failed), nor change anything.
    assert rows["attacker"]["lesson_1"] == "failed" and rows["later"]["lesson_1"] == "failed"
    assert (_digest(lessons_copy), (klass / "honest" / "model" / "warmup.py").read_text()) == before
    assert "subprocess" in rows["attacker"]["review"]  # flagged for a person
    time.sleep(5)
    assert csv_path.read_text() != "forged"


def test_without_a_sandbox_the_checks_stay_the_graders(tmp_path, lessons_copy):
    """--sandbox none: the README's limits (classmates' files are reachable), but each
    student is graded by a fresh copy of the checks taken before anyone's code ran."""
    klass = tmp_path / "class"
    write_workspace(klass / "a-attacker", {**generate_stubs(), "__init__.py": _hostile_init(klass, lessons_copy, tmp_path / "x.csv")})
    write_workspace(klass / "b-later", {"__init__.py": "", **generate_stubs()})
    write_workspace(klass / "honest", {"__init__.py": "", **solution_files()})
    grades = {g.student: g for g in grade([klass], jobs=1, lessons=[1], sandbox="none", timeout=30)}
    # The README's stated limit: without a sandbox, a student can read (and copy) a classmate's files.
    assert grades["a-attacker"].lessons == {1: "passed"}
    assert any("subprocess" in flag for flag in grades["a-attacker"].flags)  # ... and is flagged for review
    assert grades["b-later"].lessons == {1: "failed"}, "an emptied checks.py must not pass a later student"


def test_a_submission_folder_named_tutor_is_never_imported(tmp_path):
    klass = tmp_path / "subs"
    write_workspace(klass / "student", {"__init__.py": "", **generate_stubs()})
    marker = tmp_path / "ran"
    fake = klass / "tutor"
    fake.mkdir()
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('yes')\n")
    (fake / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('yes')\nprint('[]')\n")
    proc = subprocess.run(python_command("tutor", "grade", ".", "--lessons", "1", "--sandbox", "none",
                                         "--json", str(tmp_path / "g.json")),
                          cwd=klass, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    grades = {g["student"]: g for g in json.loads((tmp_path / "g.json").read_text())}
    assert grades["student"]["lessons"] == {"1": "failed"}
    assert grades["tutor"]["status"] == "missing"


def test_a_killed_grader_leaves_every_finished_row(tmp_path):
    klass = tmp_path / "class"
    for name in ("a", "b"):
        write_workspace(klass / name, {"__init__.py": "", **solution_files()})
    write_workspace(klass / "c-slow", {"__init__.py": "", **solution_files(),
                                       "warmup.py": "def softmax(scores):\n    while True:\n        pass\n"})
    csv_path, json_path = tmp_path / "g.csv", tmp_path / "g.json"
    proc = subprocess.Popen(python_command("tutor", "grade", str(klass), "--lessons", "1", "--jobs", "1", "--timeout", "60",
                                           "--sandbox", "none", "--csv", str(csv_path), "--json", str(json_path)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if json_path.exists() and len(json.loads(json_path.read_text())) == 2:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["student"] for r in rows] == ["a", "b"]
    assert all(r["lesson_1"] == "passed" for r in rows)


def test_a_malformed_report_is_an_error_row_naming_the_student(tmp_path):
    klass = tmp_path / "class"
    write_workspace(klass / "honest", {"__init__.py": "", **solution_files()})
    # Writes "[]" into the `tutor check` process's own stdout, past the worker.
    forge = textwrap.dedent("""
        import os
        def _stdout_of_check():
            worker = os.getppid()
            with open(f"/proc/{worker}/stat") as f:
                check = int(f.read().rsplit(")", 1)[1].split()[1])
            return f"/proc/{check}/fd/1"
        try:
            with open(_stdout_of_check(), "w") as out:
                out.write("[]\\n")
        except OSError:
            pass
    """)
    write_workspace(klass / "forger", {**solution_files(), "__init__.py": forge})
    grades = {g.student: g for g in grade([klass], jobs=2, lessons=[1], sandbox="none", timeout=30)}
    assert grades["honest"].lessons == {1: "passed"}
    forger = grades["forger"]
    assert forger.lessons.get(1) != "passed"
    if forger.status == "error":
        assert "well-formed report" in forger.message


def test_csv_cells_and_names_are_inert(tmp_path):
    klass = tmp_path / "class"
    for name in ("=HYPERLINK(1)", "[red]shout", "@sum", "-2+3"):
        write_workspace(klass / name, {"__init__.py": "", **generate_stubs()})
    result = CliRunner().invoke(app, ["grade", str(klass), "--lessons", "1", "--sandbox", "none",
                                      "--csv", str(tmp_path / "g.csv")])
    assert result.exit_code == 0, result.output
    students = [row[0] for row in csv.reader((tmp_path / "g.csv").open())][1:]
    assert sorted(students) == sorted(["'-2+3", "'=HYPERLINK(1)", "'@sum", "[red]shout"])
    assert "[red]shout" in result.output  # printed as it is, not read as markup


def test_junit_is_well_formed_whatever_the_learner_prints(runner, make_workspace, tmp_path):
    noisy = "import math\n\n\ndef softmax(scores):\n    print('\\x1b[31mred\\x00\\x07\\x1b]0;title\\x07 <&>')\n    raise ValueError('\\x1b[1mbold\\x0b')\n"
    ws = make_workspace(overrides={"warmup.py": noisy})
    result = CliRunner().invoke(app, ["check", "1", "--format", "junit", "--workspace", str(ws.root)])
    assert result.exit_code == 1
    root = ET.fromstring(result.output)
    text = "".join(root.itertext())
    assert "\x1b" not in text and "\x00" not in text and "<&>" in text


def test_two_workers_share_the_cores_within_the_time_limit(make_workspace):
    """Grading with --jobs 2 on two cores: each worker keeps to its share of threads,
    so the reference solution's lesson 13 stays far inside a 10 s limit."""
    from concurrent.futures import ThreadPoolExecutor

    from tutor.engine.runner import CheckRunner, default_threads

    ws = make_workspace()
    lesson = load_registry().get(13)
    runners = [CheckRunner(timeout=10, threads=default_threads(2)) for _ in range(2)]
    try:
        for r in runners:
            r.start()
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda r: [r.check(ws, lesson) for _ in range(3)], runners))
    finally:
        for r in runners:
            r.close()
    durations = [res.duration for batch in results for res in batch]
    assert all(res.status == "passed" for batch in results for res in batch), [res.message for b in results for res in b]
    assert max(durations) < 5.0, durations  # half the lesson's 10 s limit: a margin for a loaded machine


def test_jobs_above_the_cores_scale_the_time_limit():
    from tutor.engine.grading import scaled_timeout

    cores = os.cpu_count() or 1
    assert scaled_timeout(10, cores) == (10, "")
    limit, note = scaled_timeout(10, cores * 2)
    assert limit == 20 and "cores" in note
    assert sys.executable  # the grader's own interpreter starts the children


def test_the_scan_flags_code_that_reaches_past_the_contract(tmp_path):
    from tutor.engine.scan import scan_workspace

    model = tmp_path / "model"
    model.mkdir()
    (model / "gpt.py").write_text("import sys\n\ndef generate(*a):\n    ref = sys._getframe(1).f_locals['want']\n    return ref\n")
    (model / "__init__.py").write_text("import tutor.checks\nexec(open('/x/lessons/reference/gpt.py').read())\n")
    (model / "warmup.py").write_text("import re\nPAT = re.compile('x')\n\ndef softmax(s):\n    return s\n")
    flags = {(f.file, f.rule) for f in scan_workspace(model)}
    assert ("model/gpt.py", "walks interpreter frames") in flags
    assert ("model/__init__.py", "imports the tutor or its lessons") in flags
    assert ("model/__init__.py", "runs code from strings") in flags
    assert ("model/__init__.py", "reads the reference solutions or the checks") in flags
    assert not any(file == "model/warmup.py" for file, _ in flags)  # re.compile is not exec
    # The reference solutions themselves raise no flag.
    from tutor.engine.stubs import solution_files

    clean = tmp_path / "clean" / "model"
    clean.mkdir(parents=True)
    for name, text in solution_files().items():
        (clean / name).write_text(text)
    assert scan_workspace(clean) == []


def test_grading_piped_into_head_keeps_the_csv(tmp_path):
    klass = tmp_path / "class"
    for name in ("a", "b"):
        write_workspace(klass / name, {"__init__.py": "", **generate_stubs()})
    import shlex

    command = shlex.join(python_command("tutor", "grade", str(klass), "--lessons", "1", "--sandbox", "none",
                                        "--csv", str(tmp_path / "g.csv")))
    proc = subprocess.run(f"{command} | head -c 1", shell=True, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0
    rows = list(csv.DictReader((tmp_path / "g.csv").open()))
    assert [r["student"] for r in rows] == ["a", "b"]


def test_links_in_a_submission_reach_nothing(tmp_path):
    """A link made during grading never lets the grader change a file outside (its clean-up
    does not follow links), and a submission whose model/ or tutor.toml is a link is refused."""
    import os as _os

    target = tmp_path / "grader-secret.txt"
    target.write_text("secret")
    target.chmod(0o600)
    klass = tmp_path / "class"
    linker = textwrap.dedent(f"""
        import os
        try:
            os.symlink({str(target)!r}, os.path.join(os.path.dirname(__file__), "peek"))
        except OSError:
            pass
    """)
    write_workspace(klass / "linker", {**generate_stubs(), "__init__.py": linker})
    write_workspace(klass / "alice", {"__init__.py": "", **solution_files()})
    copycat = klass / "copycat"
    copycat.mkdir()
    shutil.copyfile(klass / "alice" / "tutor.toml", copycat / "tutor.toml")
    _os.symlink(klass / "alice" / "model", copycat / "model")
    grades = {g.student: g for g in grade([klass], jobs=1, lessons=[1], sandbox="none", timeout=30)}
    assert (target.stat().st_mode & 0o777) == 0o600  # untouched
    assert grades["copycat"].status == "error" and "link" in grades["copycat"].message
    assert grades["alice"].lessons == {1: "passed"}


def test_the_scan_sees_names_built_from_strings(tmp_path):
    from tutor.engine.scan import scan_workspace

    model = tmp_path / "model"
    model.mkdir()
    (model / "attention.py").write_text(textwrap.dedent("""
        import os, sys
        look = getattr(sys, "_get" + "frame")(0)
        os.write(3, b"forged")
        class Agreeable:
            def __ne__(self, other):
                return False
    """))
    rules = {f.rule for f in scan_workspace(model)}
    assert any("built strings" in r for r in rules)
    assert any("raw file descriptors" in r for r in rules)
    assert any("compare" in r for r in rules)


SANDBOX_PROBE = """
import json, os, socket, sys
repo, sock_path = sys.argv[1], sys.argv[2]
seen = {name: os.path.exists(os.path.join(repo, name)) for name in (".git", "tests", "lessons")}
seen["tutor"] = os.path.isdir(os.path.join(repo, "tutor"))
seen["var_tmp"] = os.path.exists("/var/tmp") and bool(os.listdir("/var/tmp"))
seen["run"] = os.path.exists("/run") and bool(os.listdir("/run"))
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    seen["socket"] = True
except OSError:
    seen["socket"] = False
try:
    open("/tmp/submission/model/evil.py", "w").write("x")
    seen["submission_writable"] = True
except OSError:
    seen["submission_writable"] = False
written = 0
try:
    with open("/tmp/workspace/fill.bin", "wb") as f:
        while written < 2 * 2**30:
            f.write(b"\\0" * 2**20)
            written += 2**20
except OSError:
    pass
seen["written_mb"] = written // 2**20
print(json.dumps(seen))
"""


@needs_bwrap
def test_the_sandbox_binds_only_the_runtime_and_bounds_the_students_writes(tmp_path):
    """From inside: no .git, tests/ or lessons/ of the clone (the answers), no host folder that
    can hold a socket, the submission read-only, and writes bounded by the sized tmpfs."""
    import socket
    import subprocess
    import sys

    from tutor.core.locations import child_pythonpath
    from tutor.engine.grading import SCRATCH_BYTES, _bwrap_prefix

    repo = Path(child_pythonpath().split(":")[0])
    ws = write_workspace(tmp_path / "student", {"__init__.py": "", **generate_stubs()})
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    sock_path = Path("/var/tmp") / f"tutor-test-{os.getpid()}.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(sock_path))
    listener.listen(1)
    try:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": child_pythonpath()}
        command = _bwrap_prefix(ws.root, lessons, [], env) + [sys.executable, "-c", SANDBOX_PROBE, str(repo), str(sock_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    finally:
        listener.close()
        sock_path.unlink()
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["tutor"] and not seen[".git"] and not seen["tests"] and not seen["lessons"], seen
    assert not seen["socket"] and not seen["var_tmp"] and not seen["run"], seen
    assert not seen["submission_writable"]
    assert 0 < seen["written_mb"] <= SCRATCH_BYTES // 2**20, seen
    assert not (ws.model_dir / "evil.py").exists() and not (ws.root / "fill.bin").exists()


HONEST_IMPORTS = ["torch.distributed", "torch.multiprocessing", "torch.utils.checkpoint", "torch.nn.init", "torch.optim",
                  "torch.utils.data", "transformers", "numpy", "regex", "tiktoken", "math", "random", "collections",
                  "itertools", "functools", "dataclasses", "typing"]


def test_the_scan_reads_the_tree_not_the_text(tmp_path):
    """What text patterns missed is seen, and what they mistook is not."""
    from tutor.engine.scan import scan_source

    hostile = {
        "from gc import get_objects\n": "internals",
        "import os\nos.posix_spawnp('sh', ['sh'], {})\n": "processes",
        "from os import posix_spawn\n": "processes",
        "path = 'lessons/' 'refer' 'ence/warmup.py'\n": "reference solutions",
        "path = 'refer' + 'ence/' + 'gpt.py'\n": "reference solutions",
        "import torch\ntorch.Tensor.cpu = lambda self: self\n": "patches torch",
        "from torch.nn.functional import scaled_dot_product_attention\n": "calls the reference",
        "import sys\nm = sys.modules['tutor.checks']\n": "built strings",
        "import torch\nsetattr(torch.Tensor, 'cpu', lambda self: self)\n": "patches torch",
    }
    for source, rule in hostile.items():
        assert any(rule in found for found in scan_source(source)), (source, scan_source(source))
    honest = textwrap.dedent('''
        """Attention, as the reference. in the book describes it."""
        import torch
        from torch import nn

        from model.layers import LayerNorm, gelu

        def swap(model, name, layer):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, layer)

        def forward(x: torch.Tensor, mask: torch.Tensor = None) -> torch.Tensor:
            scores: torch.Tensor = x @ x.transpose(-2, -1)
            return LayerNorm(4)(gelu(scores))
    ''') + "".join(f"import {name}\n" for name in HONEST_IMPORTS)
    assert scan_source(honest) == {}


def test_honest_imports_and_annotations_are_neither_flagged_nor_tampered(runner, tmp_path):
    from tutor.engine.scan import scan_workspace

    init = "".join(f"import {name}\n" for name in HONEST_IMPORTS) + textwrap.dedent("""
        import torch
        compiled = torch.compile(lambda x: x * 2)
        mask: torch.Tensor = None
    """)
    ws = write_workspace(tmp_path / "honest", {**solution_files(), "__init__.py": init})
    assert scan_workspace(ws.model_dir) == []
    for number in (1, 6):
        result = runner.check(ws, load_registry().get(number))
        assert result.status == "passed", (number, result.message)


def test_patching_a_tensor_method_the_guard_did_not_list_is_tampered(runner, tmp_path):
    init = "import torch\ntorch.Tensor.cpu = lambda self, *a, **k: self\n"
    ws = write_workspace(tmp_path / "patcher", {**solution_files(), "__init__.py": init})
    result = runner.check(ws, load_registry().get(6))
    assert result.status == "tampered" and "torch.Tensor.cpu" in result.message, result.message
