"""GPT-2's weights, offline: a local HTTP server plays the hub and its mirror with tiny files.

Resume of a partial file, a wrong checksum, a 404 then the second host, a truncated
file, a file that lacks a tensor; the import of a folder; the tokenizer built from
the shipped files; and the reference loader on the verified weights.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch

from tutor.checks.gpt2_refs import gpt2_forward, gpt2_state_dict
from tutor.core import locations
from tutor.data import gpt2
from tutor.data.download import DownloadError

V, CTX, D, HEADS, LAYERS = 64, 16, 16, 4, 2
REPO = gpt2.SIZES["124M"].repo


def tiny_file(path: Path, drop: str | None = None, seed: int = 0) -> bytes:
    from safetensors.torch import save_file

    sd = gpt2_state_dict(V, CTX, D, LAYERS, seed=seed)
    sd.pop(drop, None)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path.read_bytes()


class Hub:
    """One host: the tree API with an LFS hash, and resolve/main/FILE with Range support."""

    def __init__(self, files: dict[str, bytes], *, sha: str | None = None, missing: bool = False, cut_first: bool = False):
        self.files, self.missing, self.cut_first = files, missing, cut_first
        self.sha = sha or hashlib.sha256(files["model.safetensors"]).hexdigest()
        self.requests: list[tuple[str, str | None]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                hub.requests.append((self.path, self.headers.get("Range")))
                if self.path == f"/api/models/{REPO}/tree/main":
                    body = json.dumps([{"type": "file", "path": "model.safetensors", "size": len(hub.files["model.safetensors"]),
                                        "lfs": {"oid": hub.sha, "size": len(hub.files["model.safetensors"])}},
                                       {"type": "file", "path": "config.json", "size": 10}]).encode()
                    return self._send(200, body)
                name = self.path.rsplit("/", 1)[-1]
                if hub.missing or not self.path.startswith(f"/{REPO}/resolve/main/") or name not in hub.files:
                    return self._send(404, b"not found")
                data = hub.files[name]
                start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                if start >= len(data) and start:
                    return self._send(416, b"")
                if name == "model.safetensors" and hub.cut_first:
                    hub.cut_first = False  # the first answer promises all and sends half
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if start:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                    self.send_header("Content-Length", str(len(data) - start))
                    self.end_headers()
                    self.wfile.write(data[start:])
                    return
                self._send(200, data)

            def _send(self, code, body):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "home"))
    # the four sizes are GPT-2's; the tests' tiny one stands in for 124M
    monkeypatch.setitem(gpt2.SIZES, "124M", gpt2.Size("124M", REPO, D, LAYERS, HEADS))
    monkeypatch.setattr(gpt2, "VOCAB", V)
    monkeypatch.setattr(gpt2, "CONTEXT", CTX)
    return tmp_path


@pytest.fixture
def files(tmp_path):
    return {"model.safetensors": tiny_file(tmp_path / "tiny.safetensors"),
            "config.json": json.dumps({"n_head": HEADS, "n_embd": D, "n_layer": LAYERS}).encode()}


def _download(*hubs, **kw):
    return gpt2.download("124M", hosts=tuple(h.url for h in hubs), wait=lambda s: None, timeout=5, **kw)


def test_download_verifies_by_the_hub_hash_and_the_structure(home, files):
    hub = Hub(files)
    seen = []
    try:
        w = _download(hub, progress=lambda done, total: seen.append((done, total)))
    finally:
        hub.close()
    assert w.path.read_bytes() == files["model.safetensors"]
    assert w.sha256 == hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert (w.config.emb_dim, w.config.n_layers, w.config.n_heads, w.config.vocab_size) == (D, LAYERS, HEADS, V)
    assert seen[-1][0] == len(files["model.safetensors"])
    assert gpt2.find_weights("124M") == w and gpt2.find_weights() == w
    for name, pin in gpt2.TOKENIZER_FILES.items():
        assert hashlib.sha256((w.folder / name).read_bytes()).hexdigest() == pin
    assert not list(w.folder.glob("*.part"))


def test_a_partial_file_is_resumed_with_a_range_request(home, files):
    hub = Hub(files, cut_first=True)
    try:
        w = _download(hub)
    finally:
        hub.close()
    assert w.path.read_bytes() == files["model.safetensors"]
    ranges = [r for path, r in hub.requests if path.endswith("model.safetensors")]
    assert ranges[0] is None and ranges[1] == f"bytes={len(files['model.safetensors']) // 2}-"


def test_a_wrong_checksum_keeps_nothing(home, files):
    hub = Hub(files, sha="0" * 64)
    try:
        with pytest.raises(DownloadError, match="checksum"):
            _download(hub)
    finally:
        hub.close()
    assert gpt2.find_weights() is None
    assert not list(locations.weights_dir("124M").glob("model.safetensors*"))


def test_a_404_falls_back_to_the_second_host(home, files):
    first, second = Hub(files, missing=True), Hub(files)
    try:
        w = _download(first, second)
    finally:
        first.close()
        second.close()
    assert w.path.read_bytes() == files["model.safetensors"]
    assert any(p.endswith("model.safetensors") for p, _ in first.requests)


def test_a_file_that_lacks_a_tensor_is_refused_and_removed(home, files, tmp_path):
    bad = dict(files, **{"model.safetensors": tiny_file(tmp_path / "bad.safetensors", drop="h.1.mlp.c_fc.bias")})
    hub = Hub(bad)
    try:
        with pytest.raises(gpt2.Gpt2Error, match=r"h\.1\.mlp\.c_fc\.bias"):
            _download(hub)
    finally:
        hub.close()
    assert not (locations.weights_dir("124M") / "model.safetensors").exists()
    assert gpt2.find_weights() is None


def test_offline_names_the_import(home, files):
    hub = Hub(files)
    hub.close()
    with pytest.raises(DownloadError, match="tutor data import"):
        _download(hub)


def test_import_verifies_a_folder(home, files, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "model.safetensors").write_bytes(files["model.safetensors"])
    (stick / "config.json").write_bytes(files["config.json"])
    w = gpt2.import_folder(stick)
    assert w.config.n_heads == HEADS and w.path.read_bytes() == files["model.safetensors"]
    assert gpt2.find_weights() == w
    (stick / "model.safetensors").write_bytes(files["model.safetensors"][:-100])
    with pytest.raises(gpt2.Gpt2Error, match="truncated"):
        gpt2.import_folder(stick)
    tiny_file(stick / "model.safetensors", drop="ln_f.bias")
    with pytest.raises(gpt2.Gpt2Error, match="ln_f.bias"):
        gpt2.import_folder(stick)
    (stick / "model.safetensors").write_bytes(files["model.safetensors"])
    (stick / "encoder.json").write_text("{}")
    with pytest.raises(gpt2.Gpt2Error, match="encoder.json"):
        gpt2.import_folder(stick)


def test_a_pickle_is_never_loaded(home, tmp_path):
    torch.save({"wte.weight": torch.zeros(2, 2)}, tmp_path / "model.safetensors")
    with pytest.raises(gpt2.Gpt2Error):
        gpt2.import_folder(tmp_path)


def test_the_tokenizer_is_built_from_the_shipped_files():
    enc = gpt2.encoding()
    assert enc.encode("Hello, world") == [15496, 11, 995]
    assert enc.encode("Hello, I am") == [15496, 11, 314, 716]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert enc.n_vocab == 50257
    text = "Every effort moves you, naïvely — 123 tokens."
    assert enc.decode(enc.encode(text)) == text


def test_the_four_sizes_count_as_the_lessons_say():
    counts = {name: gpt2.Config(50257, 1024, s.emb_dim, s.n_layers, s.n_heads).parameters() for name, s in gpt2.SIZES.items()}
    assert counts == {"124M": 124_439_808, "355M": 354_823_168, "774M": 774_030_080, "1558M": 1_557_611_200}
    assert gpt2.Config(50257, 1024, 768, 12, 12).parameters(tied=False) == 163_037_184
    text = (Path(__file__).resolve().parents[1] / "lessons/24_load_gpt2_weights/lesson.md").read_text()
    for _name, n in counts.items():
        assert f"{n:,}" in text


def test_the_reference_loader_on_verified_weights_gives_gpt2s_logits(home, files, tmp_path):
    from lessons.reference.gpt import GPTModel
    from lessons.reference.gpt2_weights import load_gpt2_weights

    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "model.safetensors").write_bytes(files["model.safetensors"])
    (stick / "config.json").write_bytes(files["config.json"])
    w = gpt2.import_folder(stick)
    sd = gpt2.load_state_dict(w)
    model = load_gpt2_weights(GPTModel(w.config.model_cfg()), sd).eval()
    idx = torch.randint(0, V, (2, 9))
    with torch.no_grad():
        assert torch.allclose(model(idx), gpt2_forward(gpt2_state_dict(V, CTX, D, LAYERS, seed=0), HEADS, idx), atol=1e-4)


def test_a_workshop_kit_carries_the_weights(home, files, tmp_path, monkeypatch):
    from tutor.data import kit

    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "model.safetensors").write_bytes(files["model.safetensors"])
    w = gpt2.import_folder(stick)
    assert w.name == "124M"  # the tests' tiny stand-in for it
    story = tmp_path / "story.txt"
    story.write_text("It had always been his fate to have his work praised. " * 40)
    items = kit.pack(tmp_path / "kit.zip", corpora=[story])
    assert any(i.kind == "gpt2" and i.name == "124M" for i in items)
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "learner"))
    assert gpt2.find_weights() is None
    lines = kit.unpack(tmp_path / "kit.zip")
    assert any("GPT-2 124M" in line for line in lines)
    assert gpt2.find_weights().path.read_bytes() == files["model.safetensors"]


def test_absurd_sizes_in_a_header_are_refused_before_anything_is_built(home, tmp_path):
    """A header from outside names a block a hundred million layers deep: the check refuses it at
    once instead of listing every block it would then expect."""
    import struct

    header = {"wte.weight": {"dtype": "F32", "shape": [8, 4], "data_offsets": [0, 128]},
              "wpe.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [128, 192]},
              "h.100000000.ln_1.weight": {"dtype": "F32", "shape": [4], "data_offsets": [192, 208]}}
    raw = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(208))
    with pytest.raises(gpt2.Gpt2Error, match="100000001 layers"):
        gpt2.verify_structure(path)


def test_each_fine_tuning_of_gpt2_takes_the_books_recipe_and_what_the_user_gives_wins(home, files, tmp_path):
    """Chapter 6's recipe for the classifier, chapter 7's for instructions; the tiny model keeps its own
    defaults (lr 2e-3 for 8 epochs would wreck GPT-2's weights)."""
    from tutor.training.gpt2 import classify_start
    from tutor.training.instruct import instruct_start

    weights, recipe = instruct_start(None, epochs=None, lr=None, batch_size=None)
    assert weights is None and recipe == {"epochs": 12, "peak_lr": 2e-3, "batch_size": 16, "min_lr": 2e-4}
    with pytest.raises(gpt2.Gpt2Error, match="tutor data download gpt2"):
        instruct_start("gpt2", epochs=None, lr=None, batch_size=None)
    stick = tmp_path / "stick"
    stick.mkdir()
    for name, data in files.items():
        (stick / name).write_bytes(data)
    gpt2.import_folder(stick)
    weights, recipe = instruct_start("gpt2", epochs=None, lr=None, batch_size=None)
    assert weights is not None and recipe == {"epochs": 2, "peak_lr": 5e-5, "batch_size": 8, "weight_decay": 0.1,
                                              "min_lr": 5e-6}
    _, recipe = instruct_start("gpt2", epochs=3, lr=1e-4, batch_size=None)
    assert (recipe["epochs"], recipe["peak_lr"], recipe["batch_size"]) == (3, 1e-4, 8)
    weights, recipe = classify_start("gpt2", epochs=None, lr=None)
    assert weights is not None and recipe == {"lr": 5e-5, "weight_decay": 0.1, "epochs": 5, "batch_size": 8}
