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
