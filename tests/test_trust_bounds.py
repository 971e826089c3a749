"""Hostile inputs are refused, bounded or reported clearly: links to devices, FIFOs, oversized
and deeply nested files, NaN weights, checkpoints whose settings lie about their tensors,
vast tokenizers, malformed rank messages, misbehaving judges and download servers."""

from __future__ import annotations

import json
import os
import struct
import threading
from pathlib import Path

import pytest

from tests.helpers import run
from tutor.core import safe_read

V, CTX, D, HEADS, LAYERS = 64, 16, 16, 4, 2


def within(seconds: float, call):
    """call(), which must return (or raise) within `seconds`: a hang fails the test instead of the run."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def hostile(path: Path, kind: str) -> Path:
    """`path` made a link to /dev/zero, or a FIFO nothing writes to."""
    path.unlink(missing_ok=True)
    if kind == "zero":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    return path


def tiny_gpt2(folder: Path, change=None) -> Path:
    import torch  # noqa: F401 - safetensors.torch needs it
    from safetensors.torch import save_file

    from tutor.checks.gpt2_refs import gpt2_state_dict

    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.contiguous() for k, v in gpt2_state_dict(V, CTX, D, LAYERS, seed=0).items()}
    if change:
        change(sd)
    save_file(sd, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"n_head": HEADS, "n_embd": D, "n_layer": LAYERS}))
    return folder


def raw_safetensors(path: Path, header: bytes, body: int = 0) -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(body))
    return path


# --- 1. regular files only, every read capped ----------------------------------------


@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_read_regular_refuses_devices_and_fifos_at_once(tmp_path, kind):
    path = hostile(tmp_path / "f", kind)
    with pytest.raises(safe_read.NotRegular, match="character device" if kind == "zero" else "FIFO"):
        within(10, lambda: safe_read.read_regular(path, 1 << 20))


def test_read_regular_caps_what_it_reads(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 2000)
    assert safe_read.read_regular(path, 2000) == b"x" * 2000
    with pytest.raises(safe_read.TooLarge, match="more than the 1,000 bytes") as caught:
        safe_read.read_regular(path, 1000)
    assert isinstance(caught.value, OSError) and caught.value.size == 2000


@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_a_weights_folder_whose_config_is_a_device_or_a_fifo_is_refused(tmp_path, kind):
    from tutor.data import gpt2

    stick = tiny_gpt2(tmp_path / "stick")
    hostile(stick / "config.json", kind)
    with pytest.raises(gpt2.Gpt2Error, match="config.json.*not a regular file"):
        within(20, lambda: gpt2.import_folder(stick))
    result = within(30, lambda: run("data", "import", stick))
    assert result.exit_code == 1 and "not a regular file" in result.text and "Traceback" not in result.output
    assert gpt2.find_weights() is None


def test_a_weights_folder_with_a_regular_config_still_imports(tmp_path):
    from tutor.data import gpt2

    weights = gpt2.import_folder(tiny_gpt2(tmp_path / "stick"))
    assert weights.config.n_heads == HEADS and (weights.folder / "config.json").is_file()


@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_a_progress_file_linked_to_a_device_or_a_fifo_is_set_aside(tmp_path, kind):
    from tutor.engine.progress import ProgressStore

    store = ProgressStore(tmp_path / "ws", home=tmp_path / "home")
    store.path.parent.mkdir(parents=True)
    hostile(store.path, kind)
    fresh = within(10, lambda: ProgressStore(tmp_path / "ws", home=tmp_path / "home"))
    assert fresh.lessons == {} and "not a regular file" in fresh.warning and "untouched" in fresh.warning
    assert not store.path.exists() and not store.path.is_symlink()


@pytest.mark.parametrize("kind", ["zero", "fifo"])
def test_data_files_that_are_devices_or_fifos_are_refused(tmp_path, kind):
    from tutor.data import instructions, kit, sms
    from tutor.data.corpus import CorpusError, file_corpus

    for name in ("kit.zip", "sms.txt", "data.json", "corpus.txt"):
        hostile(tmp_path / name, kind)
    assert within(10, lambda: kit.is_kit(tmp_path / "kit.zip")) is False
    with pytest.raises(kit.KitError, match="not a regular file"):
        within(10, lambda: kit.unpack(tmp_path / "kit.zip"))
    with pytest.raises(sms.SmsDataError, match="not a regular file"):
        within(10, lambda: sms.import_file(tmp_path / "sms.txt"))
    with pytest.raises(instructions.InstructionDataError, match="not a regular file"):
        within(10, lambda: instructions.import_file(tmp_path / "data.json"))
    with pytest.raises(CorpusError):
        within(10, lambda: file_corpus(tmp_path / "corpus.txt"))
    result = within(30, lambda: run("data", "import", tmp_path / "sms.txt"))
    assert result.exit_code == 1 and "not a regular file" in result.text and "Traceback" not in result.output


# --- 2. NaN weights are refused at import --------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_gpt2_weights_with_nan_or_inf_are_refused_at_import_naming_the_tensor(tmp_path, bad):
    from tutor.data import gpt2

    def poison(sd):
        sd["h.1.mlp.c_fc.weight"][0, 3] = bad

    stick = tiny_gpt2(tmp_path / "stick", poison)
    with pytest.raises(gpt2.Gpt2Error, match=r"NaN or infinite weights in 'h\.1\.mlp\.c_fc\.weight'"):
        gpt2.import_folder(stick)
    assert gpt2.find_weights() is None
    result = run("data", "import", stick)
    assert result.exit_code == 1 and "h.1.mlp.c_fc.weight" in result.text and "your code" not in result.text


# --- 3. malformed safetensors headers ------------------------------------------------


def test_a_deeply_nested_header_is_refused_by_name(tmp_path):
    from tutor.data import gpt2

    path = raw_safetensors(tmp_path / "model.safetensors", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(gpt2.Gpt2Error, match="nested too deeply"):
        gpt2.verify_structure(path)
    result = run("data", "import", tmp_path)
    assert result.exit_code == 1 and "nested too deeply" in result.text and "Traceback" not in result.output


@pytest.mark.parametrize("entry, words", [
    ({"dtype": "F32", "shape": [8, 4], "data_offsets": "0,128"}, "data_offsets"),
    ({"dtype": "F32", "shape": [8, 4], "data_offsets": [128, 0]}, "data_offsets"),
    ({"dtype": "F32", "shape": [8, 4], "data_offsets": [0, 128.0]}, "data_offsets"),
    ({"dtype": "F32", "shape": "8x4", "data_offsets": [0, 128]}, "shape"),
    ({"dtype": "F32", "shape": [8, True], "data_offsets": [0, 128]}, "shape"),
    ({"dtype": 4, "shape": [8, 4], "data_offsets": [0, 128]}, "dtype"),
    ([1, 2], "not an object"),
])
def test_a_header_entry_of_the_wrong_types_is_named(tmp_path, entry, words):
    from tutor.data import gpt2

    path = raw_safetensors(tmp_path / "model.safetensors", json.dumps({"wte.weight": entry}).encode(), 128)
    with pytest.raises(gpt2.Gpt2Error, match=f"'wte.weight' is malformed.*{words}"):
        gpt2.verify_structure(path)


def test_loads_json_names_deep_nesting():
    assert safe_read.loads_json(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    with pytest.raises(ValueError, match="nested too deeply"):
        safe_read.loads_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        safe_read.loads_json("[" * 10 + "]" * 10, max_depth=5)


# --- 4. a checkpoint's settings checked against its tensors before a model is built ---------


def _gpt_checkpoint(path: Path, cfg: dict, *, arch: str = "gpt", blocks: int = 1, vocab: int = 300, d: int = 8,
                    context: int = 16, tokenizer: dict | None = None) -> Path:
    """A checkpoint holding a tiny GPT's tensors, with `cfg` for its model_cfg (true or not)."""
    import torch

    from tutor.core import checkpoint

    model = torch.nn.Module()
    model.tok_emb = torch.nn.Embedding(vocab, d)
    if arch == "gpt":
        model.pos_emb = torch.nn.Embedding(context, d)
    model.trf_blocks = torch.nn.Sequential(*[torch.nn.Linear(d, d) for _ in range(blocks)])
    model.out_head = torch.nn.Linear(d, vocab, bias=False)
    header = {"step": 1, "arch": arch, "model_cfg": cfg}
    if tokenizer is not None:
        header["tokenizer"] = tokenizer
    checkpoint.save(path, header, model)
    return path


TRUE_CFG = {"vocab_size": 300, "context_length": 16, "emb_dim": 8, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
            "qkv_bias": False}


def _never_imported(module):
    raise AssertionError(f"the learner's model/{module}.py was imported for a checkpoint that cannot be used")


@pytest.mark.parametrize("change, words", [
    ({"emb_dim": 4096}, r"tok_emb.weight has shape \(300, 8\)"),
    ({"context_length": 1_000_000}, r"pos_emb.weight has shape \(16, 8\)"),
    ({"n_layers": 900}, "n_layers is 900, its tensors hold 1 blocks"),
    ({"n_heads": 3}, "n_heads 3 does not divide"),
    ({"vocab_size": 1_000_000}, "tok_emb.weight"),
])
def test_a_checkpoint_whose_settings_do_not_match_its_tensors_is_refused_before_a_model_is_built(tmp_path, change, words):
    from tutor.core import checkpoint
    from tutor.learner import model_from_checkpoint

    path = _gpt_checkpoint(tmp_path / "c.safetensors", {**TRUE_CFG, **change})
    with pytest.raises(checkpoint.CheckpointError, match=words) as caught:
        checkpoint.load(path)
    assert "your code" not in str(caught.value)
    # A header made in memory (not read from a file) is checked where the model is built, too.
    good = checkpoint.load(_gpt_checkpoint(tmp_path / "good.safetensors", TRUE_CFG))
    bad = checkpoint.Checkpoint({**good.header, "model_cfg": {**TRUE_CFG, **change}}, good.model, None, None)
    with pytest.raises(checkpoint.CheckpointError, match=words):
        model_from_checkpoint(_never_imported, bad)


def test_a_huge_emb_dim_with_other_tensor_names_is_refused_by_its_parameter_count(tmp_path):
    """No tensor of the usual names to compare with: the parameter count the settings describe
    (~50 G here, 200 GB of float32) against the handful the file holds."""
    import torch

    from tutor.core import checkpoint

    checkpoint.save(tmp_path / "c.safetensors", {"step": 1, "model_cfg": {**TRUE_CFG, "emb_dim": 65_536, "n_heads": 1}},
                    torch.nn.Linear(3, 2))
    with pytest.raises(checkpoint.CheckpointError, match="describe a model of [0-9,]+ parameters, the checkpoint holds 8"):
        checkpoint.load(tmp_path / "c.safetensors")


def test_a_model_too_large_for_this_machine_is_refused_before_it_is_built(tmp_path, monkeypatch):
    """A Llama's settings match its few tensors, but its context_length asks for a mask of 10^12 entries."""
    from tutor.core import checkpoint

    cfg = {"vocab_size": 300, "context_length": 1_000_000, "emb_dim": 8, "n_heads": 2, "n_kv_groups": 1,
           "n_layers": 1, "hidden_dim": 16, "rope_base": 10_000.0}
    path = _gpt_checkpoint(tmp_path / "c.safetensors", cfg, arch="llama")
    monkeypatch.setattr(checkpoint, "memory_budget", lambda: 16 * 2**30)
    with pytest.raises(checkpoint.CheckpointError, match="would take [0-9,.]+ GB to build, more than this machine's 16.0 GB"):
        checkpoint.load(path)


def test_a_true_checkpoint_still_loads(tmp_path):
    from tutor.core import checkpoint

    assert checkpoint.load(_gpt_checkpoint(tmp_path / "c.safetensors", TRUE_CFG)).model_cfg == TRUE_CFG


# --- 5. tokenizer ranks counted and checked before tiktoken sees them ------------------------


def _b64(token: bytes) -> str:
    import base64

    return base64.b64encode(token).decode()


def test_two_million_ranks_are_refused_not_a_panic_in_tiktoken(tmp_path):
    from tutor.core import checkpoint
    from tutor.learner import RanksError, encoding_from_ranks

    ranks = {i.to_bytes(3, "little"): i for i in range(2_000_000)}
    with pytest.raises(RanksError, match="2,000,000 ranks, more than 1,000,000"):
        encoding_from_ranks(r"\S+|\s+", ranks, {})
    path = _gpt_checkpoint(tmp_path / "c.safetensors", {}, tokenizer={
        "ranks": [_b64(token) for token in ranks], "special_tokens": {"<|endoftext|>": 2_000_000}})
    with pytest.raises(checkpoint.CheckpointError, match="2,000,000 ranks, more than 1,000,000"):
        checkpoint.load(path)


@pytest.mark.parametrize("ranks, specials, words", [
    ({bytes([b]): b for b in range(1, 256)} | {b"ab": 0}, {}, "byte 0 first"),
    ({bytes([b]): b for b in range(256)} | {b"": 256}, {}, "a token of 0 bytes"),
    ({bytes([b]): b for b in range(256)} | {b"ab": 2**40}, {}, "the rank 1099511627776"),
    ({bytes([b]): b for b in range(256)}, {"<|e|>": 5}, "not one after the 256 ranks"),
    ({bytes([b]): b for b in range(256)}, {"<|e|>": 2**40}, "not one after"),
])
def test_ranks_that_would_panic_or_overflow_tiktoken_are_named(ranks, specials, words):
    from tutor.learner import RanksError, encoding_from_ranks

    with pytest.raises(RanksError, match=words):
        encoding_from_ranks(r"\S+|\s+", ranks, specials)


def test_a_checkpoint_whose_ranks_lack_single_bytes_is_refused(tmp_path):
    from tutor.core import checkpoint

    path = _gpt_checkpoint(tmp_path / "c.safetensors", TRUE_CFG, tokenizer={
        "ranks": [_b64(i.to_bytes(2, "little")) for i in range(299)], "special_tokens": {"<|endoftext|>": 299}})
    with pytest.raises(checkpoint.CheckpointError, match="single bytes have no rank"):
        checkpoint.load(path)
    good = _gpt_checkpoint(tmp_path / "good.safetensors", TRUE_CFG, tokenizer={
        "ranks": [_b64(bytes([b])) for b in range(256)] + [_b64(b"ab")], "special_tokens": {"<|endoftext|>": 257}})
    assert len(checkpoint.load(good).ranks()) == 257
    too_many = _gpt_checkpoint(tmp_path / "ids.safetensors", {**TRUE_CFG}, tokenizer={
        "ranks": [_b64(bytes([b])) for b in range(256)], "special_tokens": {"<|endoftext|>": 400}})
    with pytest.raises(checkpoint.CheckpointError, match="ids up to 400, its model_cfg has vocab_size 300"):
        checkpoint.load(too_many)


# --- 6. a rank's malformed status lines are ignored with a warning -----------------------------


class _Trainer:
    """What run_parallel and its relay use of a trainer: the CLI's progress callback formats numbers."""

    def __init__(self, out: Path) -> None:
        from types import SimpleNamespace

        self.out, self.checkpoint_path = out, out / "model.safetensors"
        self.settings = SimpleNamespace(batch_size=8)
        self.device, self.logs, self.events = "cpu", [], []

    def log(self, text: str) -> None:
        self.logs.append(text)

    def on_event(self, event: dict) -> None:
        if event["event"] == "step":
            f"{event['loss']:.3f}"  # as the CLI's progress bar does
        self.events.append(event)


MALFORMED = [
    '{"tutor-rank": "hello", "rank": "zero", "pid": 1}',
    '{"tutor-rank": "hello", "rank": 0, "pid": "abc"}',
    '{"tutor-rank": "error", "rank": 1.5, "message": "x"}',
    '{"tutor-rank": "event", "rank": 0, "event": {"event": "checkpoint", "step": "ten"}}',
    '{"tutor-rank": "event", "rank": 0, "event": {"event": "step", "loss": "low"}}',
    '{"tutor-rank": "event", "rank": 0, "event": {"event": "done", "val_loss": "low", "step": 3, "checkpoint": "c"}}',
    '{"tutor-rank": "event", "rank": 0, "event": ["done"]}',
    '{"tutor-rank": "event", "rank": 0, "event": {"event": "done", "test": {"accuracy": "all"}, "checkpoint": "c"}}',
]


def test_malformed_rank_status_lines_are_ignored_with_a_warning(tmp_path):
    from tutor.training.distributed import _Relay

    trainer = _Trainer(tmp_path)
    relay = _Relay(trainer)
    for line in [*MALFORMED, '{"tutor-rank": "log", "rank": 0, ' + "[" * 100_000]:
        relay.line(line + "\n")
    assert relay.done is None and relay.pids == {} and relay.errors == {} and relay.last_checkpoint is None
    warnings = [text for text in trainer.logs if text.startswith("warning: ignored a malformed status line")]
    assert len(warnings) == 5 and "more malformed status lines" in trainer.logs[5]
    relay.line('{"tutor-rank": "event", "rank": 0, "event": {"event": "done", "val_loss": 2.5, "step": 3, '
               '"checkpoint": "c"}}\n')
    assert relay.done == {"event": "done", "val_loss": 2.5, "step": 3, "checkpoint": "c"}


def test_a_several_process_run_whose_ranks_send_malformed_lines_ends_without_a_crash(tmp_path, monkeypatch):
    """The launcher (here a stand-in printing what a confused rank could) exits 0: run_parallel
    carries on past every malformed line and returns the run's end."""
    import sys

    from tutor.training import distributed

    script = tmp_path / "ranks.py"
    script.write_text("".join(f"print({line!r})\n" for line in MALFORMED))
    monkeypatch.setattr(distributed, "_spec", lambda trainer, device: {})
    monkeypatch.setattr(distributed, "launcher_command", lambda launch, command: [sys.executable, str(script)])
    trainer = _Trainer(tmp_path / "run")
    done = distributed.run_parallel(trainer, distributed.Launch(nproc=2))
    assert done["checkpoint"] == str(trainer.checkpoint_path) and done["step"] is None
    assert sum(text.startswith("warning: ignored a malformed") for text in trainer.logs) == 5


def test_a_header_without_tensors_is_bounded_by_memory_only(monkeypatch):
    """GPT-2's shape, whose weights the learner's loader brings: no tensors to compare, a size to bound."""
    from tutor.core import checkpoint
    from tutor.data import gpt2

    cfg = gpt2.Config(gpt2.VOCAB, gpt2.CONTEXT, 768, 12, 12).model_cfg()
    assert checkpoint.model_problem({"arch": "gpt", "model_cfg": cfg}, {}) == ""
    monkeypatch.setattr(checkpoint, "memory_budget", lambda: 2**28)
    assert "more than this machine's 0.2 GB" in checkpoint.model_problem({"arch": "gpt", "model_cfg": cfg}, {})


@pytest.mark.parametrize("arch", ["gpt", "llama"])
@pytest.mark.parametrize("preset", ["micro", "tiny"])
def test_the_reference_models_and_their_classifiers_pass_the_size_check(arch, preset):
    """No false refusals: the count from the settings is the reference model's own."""
    from dataclasses import replace

    from lessons.reference.classifier import make_classifier
    from lessons.reference.gpt import GPTModel
    from lessons.reference.llama import LlamaModel
    from tutor.core import checkpoint
    from tutor.training.presets import PRESETS

    cfg = replace(PRESETS[preset], arch=arch).model_cfg()
    model = (GPTModel if arch == "gpt" else LlamaModel)(cfg)
    header = {"arch": arch, "model_cfg": cfg}
    assert checkpoint.model_problem(header, {k: tuple(v.shape) for k, v in model.named_parameters()}) == ""
    assert checkpoint.model_size(cfg, arch)[0] == pytest.approx(sum(p.numel() for p in model.parameters()), rel=0.01)
    make_classifier(model, 2)
    assert checkpoint.model_problem(header, {k: tuple(v.shape) for k, v in model.named_parameters()}) == ""


# --- 7. the judge: bounded answers, checked types, a plausible spread of scores --------------------


class _Hostile:
    """An Ollama look-alike on 127.0.0.1 that lists models, then answers each chat as `mode` says.
    Every loop that sends is bounded; a client that hangs up ends it."""

    def __init__(self, mode: str) -> None:
        import http.server
        import time

        hostile = self
        self.mode, self.asked = mode, 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, payload) -> None:
                self._raw(json.dumps(payload).encode() if not isinstance(payload, bytes) else payload)

            def _raw(self, body: bytes, length: int | None = None) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._json({"models": [{"name": "llama3:latest"}]})

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                hostile.asked += 1
                mode = hostile.mode
                try:
                    if mode == "number":
                        self._json({"message": {"role": "assistant", "content": 85}})
                    elif mode == "list":
                        self._json([{"message": {"content": "85"}}])
                    elif mode == "deep":
                        self._json(b"[" * 100_000 + b"]" * 100_000)
                    elif mode == "huge-declared":
                        self._raw(b"{", length=600 * 2**20)
                        for _ in range(600):
                            self.wfile.write(b" " * 2**20)
                    elif mode == "huge":  # no length given: the answer ends when the connection does
                        self.protocol_version = "HTTP/1.0"
                        self.send_response(200)
                        self.end_headers()
                        for _ in range(600):
                            self.wfile.write(b" " * 2**20)
                    elif mode in ("trickle", "trickle-headers"):
                        if mode == "trickle":
                            self._raw(b"", length=400)
                            parts = [b" "] * 400
                        else:
                            parts = [bytes([c]) for c in b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{}"]
                        for part in parts:
                            self.wfile.write(part)
                            self.wfile.flush()
                            time.sleep(0.05)
                    elif mode == "same":
                        self._json({"message": {"role": "assistant", "content": "Score: 50"}})
                    elif mode == "words":
                        self._json({"message": {"role": "assistant", "content": "a fine answer"}})
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


JUDGED = [{"prompt": f"Name a colour ({i}).", "output": "red", "model_response": ["red", "blue", "a car"][i % 3]}
          for i in range(6)]


@pytest.mark.parametrize("mode, words", [
    ("number", "no message content as text"),
    ("list", "no message content as text"),
    ("deep", "nested too deeply"),
    ("huge-declared", "more than the 1,048,576 a reply can be"),
    ("huge", "more than the 1,048,576 bytes a reply can be"),
    ("trickle", "no whole answer within 1 s"),
    ("trickle-headers", "no whole answer within 1 s"),
])
def test_a_judge_that_answers_badly_is_reported_and_the_overlap_used(monkeypatch, mode, words):
    import time

    from tutor.training import judge

    server = _Hostile(mode)
    monkeypatch.setenv("OLLAMA_HOST", server.host)
    try:
        started = time.monotonic()
        scores = within(30, lambda: judge.score_responses(JUDGED, timeout=1.0))
        assert time.monotonic() - started < 10
    finally:
        server.close()
    assert scores.method == "overlap" and "unusable as a judge" in scores.note and words in scores.note
    assert scores.scores == [judge.overlap_score(r["output"], r["model_response"]) for r in JUDGED]
    assert server.asked == 1  # the first bad answer ends the judging


@pytest.mark.parametrize("mode, words", [("same", "the same score (50)"), ("words", "gave no score for 6 of 6")])
def test_a_judge_with_no_spread_is_reported_as_unusable_not_averaged(monkeypatch, mode, words):
    from tutor.training import judge

    server = _Hostile(mode)
    monkeypatch.setenv("OLLAMA_HOST", server.host)
    try:
        scores = within(30, lambda: judge.score_responses(JUDGED))
    finally:
        server.close()
    assert scores.method == "overlap" and words in scores.note and "unusable as a judge" in scores.note
    assert server.asked == len(JUDGED)


def _evaluating_trainer(tmp_path, monkeypatch):
    """An InstructTrainer whose model, checkpoint and tokenizer are stand-ins: evaluate's own steps only."""
    from types import SimpleNamespace

    from tutor.data import instructions as idata
    from tutor.training import instruct

    monkeypatch.setattr(instruct.ckpt, "load", lambda path: SimpleNamespace(model_cfg={"context_length": 16}))
    monkeypatch.setattr(instruct, "model_from_checkpoint", lambda load, checkpoint: None)
    monkeypatch.setattr(instruct, "importer", lambda workspace: None)
    monkeypatch.setattr(instruct, "greedy_answers", lambda model, prompts, **kw: [[1] for _ in prompts])
    trainer = instruct.InstructTrainer(None, instruct.InstructSettings(data=idata.DATASET), None, tmp_path)
    trainer._log = SimpleNamespace(emit=lambda event: None)
    ins = SimpleNamespace(format_input=lambda e: e["instruction"], extract_response=lambda text, prompt: "red")
    encoding = SimpleNamespace(eot_token=0, encode_ordinary=lambda text: [1], decode=lambda ids: " red")
    test = [{"instruction": f"Name a colour ({i}).", "input": "", "output": "red"} for i in range(4)]
    return trainer, test, ins, encoding


def test_the_test_answers_are_written_before_the_judge_is_asked(tmp_path, monkeypatch):
    from tutor.training import judge

    trainer, test, ins, encoding = _evaluating_trainer(tmp_path, monkeypatch)

    def judge_that_fails(rows, **kw):
        assert len(json.loads(trainer.responses_path.read_text())) == len(test)
        raise RuntimeError("the judge fell over")

    monkeypatch.setattr(judge, "score_responses", judge_that_fails)
    with pytest.raises(RuntimeError):
        trainer.evaluate(test, ins, encoding, 1.5)
    written = json.loads(trainer.responses_path.read_text())
    assert [r["model_response"] for r in written] == ["red"] * 4 and "prompt" not in written[0]


def test_evaluation_against_a_hostile_judge_ends_with_scores_and_answers(tmp_path, monkeypatch):
    trainer, test, ins, encoding = _evaluating_trainer(tmp_path, monkeypatch)
    server = _Hostile("deep")
    monkeypatch.setenv("OLLAMA_HOST", server.host)
    try:
        done = within(30, lambda: trainer.evaluate(test, ins, encoding, 1.5))
    finally:
        server.close()
    assert done["score"]["method"] == "overlap" and "nested too deeply" in done["score"]["note"]
    assert [r["score"] for r in json.loads(trainer.responses_path.read_text())] == [100.0] * 4


# --- 8. a download is cut at its published size -----------------------------------------------


@pytest.fixture
def flood():
    """A server on 127.0.0.1 that answers every file with up to 300 MB (1 MB at a time, stopping when
    the client hangs up), with a Content-Length that says so, or none (HTTP/1.0, the end is the close)."""
    import http.server

    sent: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            declared = self.path.endswith("declared")
            if not declared:
                self.protocol_version = "HTTP/1.0"
            self.send_response(200)
            if declared:
                self.send_header("Content-Length", str(300 * 2**20))
            self.end_headers()
            total = 0
            try:
                for _ in range(300):
                    self.wfile.write(b"x" * 2**20)
                    total += 2**20
            except (BrokenPipeError, ConnectionResetError):
                pass
            sent.append(total)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", sent
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("path", ["file-declared", "file-undeclared"])
def test_a_download_is_cut_at_its_published_size(tmp_path, flood, path):
    from tutor.data.download import MARGIN, DownloadError, Source, fetch

    url, _ = flood
    published = 2**20
    source = Source("book", f"{url}/{path}", "0" * 64, published, "book.txt", "a test book", "public domain",
                    "copy book.txt by hand")
    seen: list[int] = []
    target = tmp_path / "book.txt"
    with pytest.raises(DownloadError, match="sent more than book can be .*published as 1,048,576 bytes.*nothing was kept"):
        within(30, lambda: fetch(source, target=target, retries=1, timeout=5, progress=lambda done, total: seen.append(done),
                                 wait=lambda s: None))
    assert max(seen, default=0) <= published + MARGIN
    assert not target.exists() and not (tmp_path / "book.txt.part").exists()


def test_a_download_of_unpublished_size_is_cut_at_its_cap(tmp_path, flood):
    from tutor.data.download import DownloadError, Source, fetch

    url, _ = flood
    source = Source("config", f"{url}/config.json", "", 0, "config.json", "", "MIT", "copy it by hand",
                    max_bytes=2**20)
    with pytest.raises(DownloadError, match="at most 1,048,576 bytes"):
        within(30, lambda: fetch(source, target=tmp_path / "config.json", retries=1, timeout=5, wait=lambda s: None))
    assert not (tmp_path / "config.json").exists() and not (tmp_path / "config.json.part").exists()
