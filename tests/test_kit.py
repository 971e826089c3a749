"""Offline workshop kits: `tutor pack` on the instructor's machine, `tutor data import KIT` on each learner's."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.helpers import practice_tsv, run, tiny_checkpoint
from tutor.core import checkpoint, locations
from tutor.data import kit, sms
from tutor.data.corpus import load_corpus
from tutor.engine.lessons import load_registry
from tutor.engine.settings import load_settings

SETTINGS = '[course]\nlessons = "5-8"\nsolutions = false\n'


@pytest.fixture
def instructor(tmp_path, tutor_home, monkeypatch):
    """An instructor's machine: the SMS data imported, a story, a checkpoint, settings."""
    monkeypatch.setenv("TUTOR_HOME", str(tmp_path / "instructor"))
    assert run("data", "import", practice_tsv(tmp_path / "sms.tsv")).exit_code == 0
    (tmp_path / "story.txt").write_text("Once upon a time there was a tokenizer.\n\nIt merged pairs.\n" * 20)
    (tmp_path / "workshop.toml").write_text(SETTINGS)
    tiny_checkpoint(tmp_path / "pretrained-tiny.safetensors")
    return tmp_path


def packed(instructor: Path) -> Path:
    result = run("pack", instructor / "kit.zip", "--corpus", instructor / "story.txt",
                 "--checkpoint", instructor / "pretrained-tiny.safetensors", "--settings", instructor / "workshop.toml")
    assert result.exit_code == 0, result.output
    assert "tutor data import kit.zip" in result.text
    return instructor / "kit.zip"


def learner(monkeypatch, tmp_path) -> Path:
    home = tmp_path / "learner"
    monkeypatch.setenv("TUTOR_HOME", str(home))
    return home


def test_a_kit_carries_everything_to_a_machine_without_network(instructor, monkeypatch):
    path = packed(instructor)
    home = learner(monkeypatch, instructor)
    result = run("data", "import", path)
    assert result.exit_code == 0, result.output
    # The SMS data: the same messages as on the instructor's machine.
    assert sms.load(sms.DATASET) == sms.parse((instructor / "sms.tsv").read_text())[0]
    # The story: a corpus to pretrain on.
    assert "merged pairs" in load_corpus("kit-story").train_text() + load_corpus("kit-story").val_text()
    # The checkpoint: loadable without unpickling, and the default starting point.
    assert locations.kit_checkpoint() == home / "checkpoints" / "pretrained-tiny.safetensors"
    imported, original = checkpoint.load(locations.kit_checkpoint()), checkpoint.load(instructor / "pretrained-tiny.safetensors")
    assert imported.step == 7 and imported.header["weights_only"]
    assert imported.optimizer is None and imported.rng is None and original.optimizer is not None  # a starting point, slimmer
    assert imported.model.keys() == original.model.keys()
    assert all(imported.model[k].equal(original.model[k]) for k in original.model)
    # The settings: ready for `tutor init --from`.
    assert "tutor init DIR --from" in result.text
    made = run("init", instructor / "ws", "--from", locations.workshop_settings_path())
    assert made.exit_code == 0, made.output
    assert load_settings(instructor / "ws" / "tutor.toml", load_registry().numbers()).lessons == (5, 6, 7, 8)


def test_classify_and_generate_start_from_the_kit_checkpoint(instructor, monkeypatch):
    from tutor.cli.common import default_pretrained as _default_pretrained
    from tutor.engine.course import Course
    from tutor.engine.stubs import generate_stubs
    from tutor.engine.workspace import write_workspace

    path = packed(instructor)
    learner(monkeypatch, instructor)
    course = Course(write_workspace(instructor / "ws", {"__init__.py": "", **generate_stubs()}))
    said = []
    assert _default_pretrained(course, said.append) == course.workspace.run_checkpoint()  # no kit yet
    assert run("data", "import", path).exit_code == 0
    assert _default_pretrained(course, said.append) == locations.kit_checkpoint()
    assert "workshop's checkpoint" in said[-1]
    tiny_checkpoint(course.workspace.run_checkpoint())  # the learner's own run wins
    assert _default_pretrained(course, said.append) == course.workspace.run_checkpoint()


def test_nothing_to_pack_is_a_clear_error(tmp_path):
    result = run("pack", tmp_path / "kit.zip")
    assert result.exit_code == 1 and "no data to pack yet" in result.text
    assert not (tmp_path / "kit.zip").exists()


def test_pack_refuses_a_broken_checkpoint_or_settings(instructor):
    (instructor / "broken.safetensors").write_bytes(b"not a checkpoint")
    result = run("pack", instructor / "kit.zip", "--checkpoint", instructor / "broken.safetensors")
    assert result.exit_code == 1 and "could not be read" in result.text
    (instructor / "bad.toml").write_text("[course]\nlessons = [99]\n")
    result = run("pack", instructor / "kit.zip", "--settings", instructor / "bad.toml")
    assert result.exit_code == 1 and "there is no lesson 99" in result.text
    assert not (instructor / "kit.zip").exists()


def rewrite(path: Path, change) -> None:
    """Rebuild a kit with one member or the manifest changed."""
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    change(members)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def corrupt_member(members):
    members["sms/messages.tsv"] = members["sms/messages.tsv"].replace(b"ham", b"hat", 1)


def unsafe_path(members):
    manifest = json.loads(members[kit.MANIFEST])
    manifest["items"][0]["path"] = "../../evil.tsv"
    members[kit.MANIFEST] = json.dumps(manifest).encode()
    members["../../evil.tsv"] = b"x"


def missing_member(members):
    del members["corpus/story.txt"]


def future_format(members):
    manifest = json.loads(members[kit.MANIFEST])
    manifest["format"] = "tutor-kit-9"
    members[kit.MANIFEST] = json.dumps(manifest).encode()


def fake_download(members):
    manifest = json.loads(members[kit.MANIFEST])
    manifest["items"].append({"kind": "download", "name": "the-verdict", "path": "download/the-verdict.txt",
                              "size": 5, "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"})
    members["download/the-verdict.txt"] = b"hello"
    members[kit.MANIFEST] = json.dumps(manifest).encode()


@pytest.mark.parametrize("change, message", [
    (corrupt_member, "sms/messages.tsv is damaged"),
    (unsafe_path, "unsafe path"),
    (missing_member, "not in the zip"),
    (future_format, "format 'tutor-kit-9'"),
    (fake_download, "is not the the-verdict file this tutor pins"),
])
def test_a_bad_kit_imports_nothing(instructor, monkeypatch, change, message):
    path = packed(instructor)
    rewrite(path, change)
    home = learner(monkeypatch, instructor)
    result = run("data", "import", path)
    assert result.exit_code == 1 and message in result.text
    assert not (home / "datasets").exists() and not (home / "checkpoints").exists() and not (home / "corpora").exists()
    assert not (instructor.parent / "evil.tsv").exists()


def test_pack_the_last_run_of_this_workspace(instructor, make_workspace, monkeypatch):

    ws = make_workspace()
    result = run("pack", instructor / "kit.zip", "--checkpoint", "last", cwd=ws.root)
    assert result.exit_code == 1 and "no pretraining run yet" in result.text
    tiny_checkpoint(ws.run_checkpoint())
    result = run("pack", instructor / "kit.zip", "--checkpoint", "last", cwd=ws.root)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(instructor / "kit.zip") as archive:
        assert "checkpoint/checkpoint.safetensors" in archive.namelist()
