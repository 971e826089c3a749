"""Instruction data: the practice set, import with every entry accounted for, the split, the judge."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections import Counter, defaultdict

import pytest

from tutor.data import instructions as idata
from tutor.data.download import SOURCES
from tutor.training import judge


def test_practice_set_is_deterministic_varied_and_exactly_checkable():
    entries = idata.demo_entries()
    assert len(entries) >= 2000
    assert entries == idata.demo_entries() and entries != idata.demo_entries(seed=1)
    tasks = Counter(e["task"] for e in entries)
    assert set(tasks) == set(idata.TASKS) and min(tasks.values()) == max(tasks.values())
    wordings = defaultdict(set)
    for e in entries:
        # the wording without the task's particulars: words that hold no digit, capital or quote
        wordings[e["task"]].add(" ".join(w for w in e["instruction"].split() if w.islower() and w.isalpha()))
        assert set(e) == {"instruction", "input", "output", "task"} and all(isinstance(e[k], str) for k in e)
    assert all(len(w) >= 3 for w in wordings.values()), {t: len(w) for t, w in wordings.items()}
    assert any(e["input"] for e in entries) and any(not e["input"] for e in entries)
    for e in entries:  # the answers are what the task says
        if e["task"] == "sum":
            numbers = [int(w) for w in (e["instruction"] + " " + e["input"]).replace("?", " ").replace(".", " ").split() if w.isdigit()]
            assert int(e["output"]) == sum(numbers)
        if e["task"] == "larger":
            numbers = [int(w.strip(",?.")) for w in (e["instruction"] + " " + e["input"]).split() if w.strip(",?.").isdigit()]
            assert int(e["output"]) == max(numbers)
        if e["task"] == "sort":
            assert e["output"].split() == sorted(e["output"].split())
    assert "practice data" in idata.describe(idata.DEMO, entries)


def test_split_is_the_books_85_10_5_in_file_order():
    entries = [{"instruction": f"i{n}", "input": "", "output": "o"} for n in range(1100)]
    parts = idata.split(entries)
    assert [len(parts[k]) for k in ("train", "test", "val")] == [935, 110, 55]
    assert parts["train"][0] is entries[0] and parts["test"][0] is entries[935] and parts["val"][-1] is entries[-1]
    demo = idata.split(idata.demo_entries())
    assert [len(demo[k]) for k in ("train", "test", "val")] == [2040, 240, 120]


def test_parse_reports_every_problem_by_index_and_field_and_counts_duplicates():
    data = [
        {"instruction": "Name a colour.", "input": "", "output": "red"},
        {"instruction": "Name a colour.", "input": "", "output": "red"},  # a duplicate: kept, counted
        {"instruction": "Add.", "output": "5"},  # no input key: read as empty
        {"input": "x", "output": "y"},  # no instruction
        {"instruction": "Add.", "input": 3, "output": "5"},  # input not a string
        {"instruction": "Add.", "input": "", "output": None},  # output not a string
        "just text",  # not an object
        {"instruction": "  ", "input": "", "output": "y"},  # empty instruction
    ]
    entries, report = idata.parse(json.dumps(data))
    assert report.entries == 8 and report.kept == 3 == len(entries)
    assert report.kept + len(report.problems) == report.entries  # nothing dropped silently
    assert report.duplicates == 1 and report.no_input_key == 1
    assert [(i, f) for i, f, _ in report.problems] == [(3, "instruction"), (4, "input"), (5, "output"), (6, "-"), (7, "instruction")]
    text = report.summary()
    assert "entry 3 field 'instruction' (missing)" in text and "entry 4 field 'input' (not a string (int))" in text
    assert entries[2] == {"instruction": "Add.", "input": "", "output": "5"}


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\x00\x01\x02binary", "looks binary"),
    (b"{not json", "not valid JSON"),
    (b'{"instruction": "a", "output": "b"}', "should be a list"),
    (b"[\"caf\xe9\"]", "not UTF-8"),
    (b'[{"instruction": 1, "output": 2}]', "Nothing to train on"),
])
def test_hostile_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "data.json"
    path.write_bytes(content)
    with pytest.raises(idata.InstructionDataError, match=message):
        idata.import_file(path)
    assert not (idata.datasets_dir() / idata.DATASET).exists()


def test_size_caps(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"instruction": "a", "input": "", "output": "b"}] * 50))
    monkeypatch.setattr(idata, "MAX_BYTES", 100)
    with pytest.raises(idata.InstructionDataError, match="MB"):
        idata.import_file(path)
    monkeypatch.setattr(idata, "MAX_BYTES", 10**6)
    monkeypatch.setattr(idata, "MAX_ENTRIES", 10)
    with pytest.raises(idata.InstructionDataError, match="more than the 10"):
        idata.import_file(path)
    _, report = idata.parse(json.dumps([{"instruction": "a" * (idata.MAX_FIELD_CHARS + 1), "output": "b"}]))
    assert report.problems and report.problems[0][1] == "instruction"


def test_import_then_load_and_missing_data_says_how(tmp_path):
    with pytest.raises(idata.InstructionDataError, match="tutor data download instructions"):
        idata.load(idata.DATASET)
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"instruction": f"Say {n}.", "input": "", "output": str(n)} for n in range(40)]))
    report = idata.import_file(path)
    assert report.kept == 40
    assert idata.load(idata.DATASET)[3] == {"instruction": "Say 3.", "input": "", "output": "3"}


def test_instructions_download_is_pinned_with_a_second_source():
    s = SOURCES["instructions"]
    assert s.sha256 == "7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944" and s.size == 203_524
    assert len(s.urls) == 2 and all(u.endswith("ch07/01_main-chapter-code/instruction-data.json") for u in s.urls)
    assert "/main/" in s.urls[0] and "/28c65cdfbc3338e2e040016eea4b7fdf556e4d57/" in s.urls[1]
    assert "tutor data import" in s.offline_hint


# --- the judge -----------------------------------------------------------------


@pytest.fixture
def fake_ollama():
    """An Ollama look-alike on 127.0.0.1: lists models, and answers each chat with a score it was told to give."""
    asked: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/api/tags":
                self._reply({"models": [{"name": "llama3:latest"}]})
            else:
                self.send_error(404)

        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(request)
            content = request["messages"][0]["content"]
            score = "Score: 85" if "GARDEN" in content.split("The model answered:")[1] else "I would say 10."
            self._reply({"model": request["model"], "message": {"role": "assistant", "content": score}, "done": True})

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()


ROWS = [{"prompt": "Write garden in capitals.", "output": "GARDEN", "model_response": "GARDEN"},
        {"prompt": "Write garden in capitals.", "output": "GARDEN", "model_response": "garden"}]


def test_judge_scores_each_answer_through_ollama(fake_ollama, monkeypatch):
    host, asked = fake_ollama
    monkeypatch.setenv("OLLAMA_HOST", host)
    scores = judge.score_responses(ROWS, model="llama3")
    assert scores.method == "judge" and scores.scores == [85.0, 10.0] and scores.mean == 47.5
    assert f"http://{host}" in scores.note
    assert [a["model"] for a in asked] == ["llama3", "llama3"] and asked[0]["stream"] is False
    assert "Write garden in capitals." in asked[0]["messages"][0]["content"]
    assert asked[0]["options"]["temperature"] == 0


def test_without_ollama_the_score_falls_back_and_says_so(monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")
    scores = judge.score_responses(ROWS)
    assert scores.method == "overlap" and scores.scores == [100.0, 100.0]  # word overlap ignores case
    assert "no Ollama server answers" in scores.note and "word overlap" in scores.note
    assert judge.overlap_score("the cat sat", "a cat sat down") == pytest.approx(100 * 2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))
    assert judge.overlap_score("yes", "") == 0.0


def test_judge_reply_parsing():
    assert judge.parse_score("85") == 85 and judge.parse_score("Score: 7/100") == 7
    assert judge.parse_score("It is 250, no, 90") == 90 and judge.parse_score("none") is None
