"""Files from outside are hostile: kits, zips, checkpoints, settings and progress files.
Nothing they hold lands outside its folder, and each bad one gets a clear error."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.helpers import practice_tsv, run, tiny_checkpoint
from tutor.core import checkpoint
from tutor.data import kit, sms


def _kit(path: Path, items: list[dict], members: dict[str, bytes], manifest: object = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        body = manifest if manifest is not None else {"format": kit.FORMAT, "items": items}
        archive.writestr(kit.MANIFEST, body if isinstance(body, (bytes, str)) else json.dumps(body))
    return path


def _item(kind: str, name: str, member: str, data: bytes) -> dict:
    import hashlib

    return {"kind": kind, "name": name, "path": member, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("name", ["../../victim_file.txt", "..", "a/b", ".hidden", "x\\..\\y"])
def test_a_kit_name_never_writes_outside_its_folder(tmp_path, tutor_home, name):
    ckpt = tiny_checkpoint(tmp_path / "c.safetensors").read_bytes()
    story = b"Once upon a time a tokenizer merged pairs.\n\n" * 40
    items = [_item("checkpoint", name, "checkpoint/c.safetensors", ckpt), _item("corpus", name, "corpus/story.txt", story)]
    path = _kit(tmp_path / "evil.zip", items, {"checkpoint/c.safetensors": ckpt, "corpus/story.txt": story})
    victim = tutor_home.parent / "victim_file.txt"
    result = run("data", "import", path)
    assert result.exit_code != 0
    assert "unsafe name" in result.text and "nothing was imported" in result.text
    assert not victim.exists() and not any(tutor_home.rglob("*.safetensors"))


@pytest.mark.parametrize("manifest, words", [
    ([], "not a JSON object"),
    ("[" * 100_000, "not JSON"),
    ({"format": kit.FORMAT, "items": [{"kind": "corpus", "name": "a", "path": 5, "size": 1, "sha256": "x"}]}, "path must be a str"),
    ({"format": kit.FORMAT, "items": {"a": 1}}, "no list of items"),
    ({"format": kit.FORMAT, "items": [7]}, "exactly the fields"),
    ({"format": 5, "items": []}, "kit of format"),
])
def test_a_malformed_manifest_is_a_clear_error(tmp_path, tutor_home, manifest, words):
    path = _kit(tmp_path / "bad.zip", [], {}, manifest=manifest)
    result = run("data", "import", path)
    assert result.exit_code != 0 and words in result.text, result.text
    assert "Traceback" not in result.output


def test_a_member_that_decompresses_past_its_pinned_size_is_refused(tmp_path, tutor_home):
    big = b"a" * (4 * 2**20)
    item = _item("corpus", "story", "corpus/story.txt", b"small")  # the manifest claims 5 bytes
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("corpus/story.txt", big)
        archive.writestr(kit.MANIFEST, json.dumps({"format": kit.FORMAT, "items": [item]}))
    # The zip's own header says 4 MB, so the size check refuses it before any byte is written.
    assert run("data", "import", path).exit_code != 0
    # A header that lies too: streamed, counted, refused.
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("corpus/story.txt")
        member.file_size = 5
        with pytest.raises(kit.KitError, match="decompresses to more than|is damaged"):
            kit._extract(archive, kit.Item(**item), tmp_path, path)


def test_a_zip_bomb_of_sms_data_is_refused_while_decompressing(tmp_path, tutor_home):
    path = tmp_path / "smsspamcollection.zip"
    line = b"ham\tsee you at home, mum says dinner at 7\n"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("SMSSpamCollection", "w") as member:
            for _ in range((sms.MAX_BYTES // len(line)) + 50_000):
                member.write(line)
    assert path.stat().st_size < 2**20  # a small zip ...
    result = run("data", "import", path)
    assert result.exit_code != 0 and "once decompressed" in result.text  # ... refused by what it holds
    assert not (sms.datasets_dir() / sms.DATASET).exists()


def _rewrite_header(path: Path, change) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["tutor"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    change(header, tensors)
    save_file(tensors, str(path), metadata={"tutor": json.dumps(header)})


@pytest.mark.parametrize("change, words", [
    (lambda h, t: h.update(optimizer=5), "optimizer state"),
    (lambda h, t: h.update(step="abc"), "step is 'abc'"),
    (lambda h, t: h.update(settings=[1]), "settings is not a table"),
    (lambda h, t: h.update(tokenizer={"ranks": ["@@@"], "special_tokens": {}}), "not valid base64"),
])
def test_odd_checkpoint_headers_are_clear_errors(tmp_path, change, words):
    path = tiny_checkpoint(tmp_path / "c.safetensors")
    _rewrite_header(path, change)
    with pytest.raises(checkpoint.CheckpointError, match=words.replace("(", r"\(")):
        checkpoint.load(path)


def test_altered_tensor_bytes_are_named(tmp_path):
    path = tiny_checkpoint(tmp_path / "c.safetensors")
    checkpoint.load(path)  # intact: loads
    _rewrite_header(path, lambda h, t: t["model.weight"].mul_(1.01))
    with pytest.raises(checkpoint.CheckpointError, match="do not match the checksum"):
        checkpoint.load(path)


def test_nan_weights_are_named_not_blamed_on_the_learning_rate(tmp_path):
    import torch

    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight[0, 0] = float("nan")
    checkpoint.save(tmp_path / "c.safetensors", {"step": 1, "model_cfg": {}}, model)
    with pytest.raises(checkpoint.CheckpointError, match=r"NaN or infinite weights \(weight\)"):
        checkpoint.load(tmp_path / "c.safetensors")


def test_a_good_kit_still_imports(tmp_path, tutor_home):
    data = practice_tsv(tmp_path / "sms.tsv").read_bytes()
    path = _kit(tmp_path / "ok.zip", [_item("sms", "sms-spam", "sms/messages.tsv", data)], {"sms/messages.tsv": data})
    result = run("data", "import", path)
    assert result.exit_code == 0, result.output
