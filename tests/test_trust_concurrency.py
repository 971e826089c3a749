"""Two tutors at once, killed writers and huge corpora: nothing lost, nothing mixed,
memory bounded."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tutor.core.atomic import clean_stale_temporaries
from tutor.core.locations import child_pythonpath
from tutor.training.pretrain import TrainingError, run_lock

pytestmark = pytest.mark.slow  # runs and caches raced against each other


def _python(code: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            env={**os.environ, "PYTHONPATH": child_pythonpath(), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_processes_recording_progress_lose_no_attempt(tmp_path, tutor_home):
    code = f"""
        from pathlib import Path
        from tutor.engine.progress import ProgressStore
        from tutor.engine.results import LessonResult
        store = ProgressStore(Path({str(tmp_path)!r}))
        for _ in range(20):
            store.update(lambda s: s.record_result(LessonResult(1, "x", "x", "failed"), "f"))
    """
    procs = [_python(code) for _ in range(2)]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    from tutor.engine.progress import ProgressStore

    assert ProgressStore(tmp_path).lessons[1].attempts == 40


def test_a_second_run_into_one_folder_is_refused(tmp_path):
    holder = _python(f"""
        import time
        from pathlib import Path
        from tutor.training.pretrain import run_lock
        with run_lock(Path({str(tmp_path)!r})):
            print("held", flush=True)
            time.sleep(30)
    """)
    assert holder.stdout.readline().strip() == "held"
    try:
        with pytest.raises(TrainingError, match="another training run is writing"):
            with run_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(tmp_path):  # free again once the first run ends
        pass


def test_two_first_runs_build_one_corpus_at_once(tmp_path, tutor_home):
    text = tmp_path / "story.txt"
    text.write_text("".join(f"Paragraph {i}: the tokenizer merged a pair of bytes.\n\n" for i in range(4000)))
    code = f"""
        from pathlib import Path
        from tutor.data.corpus import file_corpus
        c = file_corpus(Path({str(text)!r}))
        print(c.train_chars, c.val_chars, c.sha256)
    """
    procs = [_python(code) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out.strip())
    assert outs[0] == outs[1]
    from tutor.data.corpus import corpora_dir

    leftovers = [p.name for p in corpora_dir().rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert leftovers == []


def test_a_killed_writers_temporary_is_removed_and_a_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".checkpoint.safetensors.{dead.stdout.strip()}.abcd.tmp"
    live = tmp_path / f".checkpoint.safetensors.{os.getpid()}.efgh.tmp"
    for path in (stale, live):
        path.write_bytes(b"x" * 1000)
    assert clean_stale_temporaries(tmp_path) == [stale]
    assert live.exists() and not stale.exists()


def test_a_corpus_of_one_endless_line_is_encoded_in_bounded_memory(tmp_path, tutor_home):
    """No line breaks, 24 MB: read and encoded a block at a time into a compact file; a run
    maps it and loads only the tokens it can use."""
    words = "the of and to in is that for it with as was on be by this are from".split()
    big = tmp_path / "one-line.txt"
    with open(big, "w") as f:
        for i in range(120):
            f.write(" ".join(words[(i + j) % len(words)] for j in range(50_000)) + " ")
    code = f"""
        import resource, tiktoken
        from pathlib import Path
        from tutor.data.corpus import file_corpus
        from tutor.training.tokens import encode_cached
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        corpus = file_corpus(Path({str(big)!r}))
        ranks = {{bytes([i]): i for i in range(256)}}
        pat = r"'(?:[sdmt]|ll|ve|re)| ?\\p{{L}}+| ?\\p{{N}}+| ?[^\\s\\p{{L}}\\p{{N}}]+|\\s+(?!\\S)|\\s+"
        enc = tiktoken.Encoding("bytes", pat_str=pat, mergeable_ranks=ranks, special_tokens={{"<|endoftext|>": 256}})
        ids = encode_cached(enc, ranks, corpus, "train", limit=1_000_000)
        print(len(ids), base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
    proc = _python(code)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    loaded, base_kb, peak_kb = map(int, out.split())
    assert loaded == 1_000_000
    grown_mb = (peak_kb - base_kb) / 1024
    assert grown_mb < 200, f"memory grew by {grown_mb:.0f} MB for a {big.stat().st_size / 2**20:.0f} MB corpus"


def test_every_kind_of_run_holds_its_folder(tmp_path, make_workspace):
    """Fine-tuning runs refuse a second writer too, not only pretraining."""
    from tutor.training.classify import ClassifierTrainer, ClassifySettings

    trainer = ClassifierTrainer(make_workspace(), ClassifySettings(), None, tmp_path)
    holder = _python(f"""
        import time
        from pathlib import Path
        from tutor.training.pretrain import run_lock
        with run_lock(Path({str(tmp_path)!r})):
            print("held", flush=True)
            time.sleep(30)
    """)
    assert holder.stdout.readline().strip() == "held"
    try:
        with pytest.raises(TrainingError, match="another training run is writing"):
            trainer.run()
    finally:
        holder.kill()
        holder.wait()
