"""Offline kits: one zip a workshop copies to every machine.

A kit holds the data sets this machine has (the verified downloads, the
imported SMS collection), any text files to pretrain on, optionally a
pretrained checkpoint and the workshop's course settings. `tutor pack` writes
it; `tutor data import KIT.zip` unpacks it into the user data folder. The
manifest pins the size and SHA-256 of every file, and the importer reads only
the files the manifest names, each checked before it is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from tutor.core import locations as paths
from tutor.core.locations import data_home, datasets_dir, kit_checkpoints_dir, kit_corpora_dir, safe_name, workshop_settings_path
from tutor.core.safe_read import loads_json, open_regular
from tutor.data.download import sha256_of

MANIFEST = "tutor-kit.json"
FORMAT = "tutor-kit-1"
KINDS = ("download", "sms", "corpus", "checkpoint", "settings", "gpt2")
MAX_MEMBER = 8 * 2**30  # no single kit file is trusted beyond 8 GB
MAX_TOTAL = 16 * 2**30  # nor a whole kit beyond 16 GB, once decompressed


class KitError(Exception):
    """A kit that cannot be written or read; the message says why and what to do."""


@dataclass(frozen=True)
class Item:
    kind: str  # one of KINDS
    name: str
    path: str  # inside the zip
    size: int
    sha256: str


def is_kit(path: Path) -> bool:
    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as archive:
            return MANIFEST in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


# --- packing ---


def available_data() -> list[tuple[str, str, Path]]:
    """(kind, name, file) of the data on this machine that a kit can carry."""
    from tutor.core.locations import downloads_dir
    from tutor.data import sms
    from tutor.data.download import SOURCES, pinned_hash

    found = []
    for source in SOURCES.values():
        path = downloads_dir() / source.filename
        if path.is_file() and pinned_hash(path, source) == source.sha256:
            found.append(("download", source.name, path))
    imported = datasets_dir() / sms.DATASET / "messages.tsv"
    if imported.is_file() and not any(name == sms.DATASET for _, name, _ in found):
        found.append(("sms", sms.DATASET, imported))
    from tutor.data import gpt2

    weights = gpt2.find_weights()
    if weights is not None and weights.name in gpt2.SIZES:  # one of OpenAI's four: its settings are known
        found.append(("gpt2", weights.name, weights.path))
    return found


def pack(out: Path, *, corpora: list[Path] = (), checkpoint: Path | None = None, settings: Path | None = None,
         log: Callable[[str], None] = lambda _: None) -> list[Item]:
    """Write a kit of this machine's data, the given text files, checkpoint and settings."""
    from tutor.data.corpus import CorpusError, check_text_file

    entries: list[tuple[str, str, Path]] = list(available_data())
    for path in corpora:
        try:
            check_text_file(Path(path))
        except CorpusError as exc:
            raise KitError(str(exc)) from None
        entries.append(("corpus", Path(path).stem, Path(path)))
    if settings is not None:
        from tutor.engine.lessons import load_registry
        from tutor.engine.settings import load_settings

        load_settings(settings, load_registry().numbers(), required=True)  # SettingsError names the key at fault
        entries.append(("settings", "workshop.toml", Path(settings)))
    with tempfile.TemporaryDirectory(prefix="tutor-pack-") as staging:
        if checkpoint is not None:
            from tutor.core.checkpoint import CheckpointError, weights_only

            slim = Path(staging) / Path(checkpoint).name
            try:
                weights_only(Path(checkpoint), slim)  # learners fine-tune from it; they do not resume it
            except CheckpointError as exc:
                raise KitError(str(exc)) from None
            entries.append(("checkpoint", Path(checkpoint).name, slim))
        return _write(out, entries, log)


def _write(out: Path, entries: list[tuple[str, str, Path]], log: Callable[[str], None]) -> list[Item]:
    if not any(kind in ("download", "sms", "corpus") for kind, _, _ in entries):
        raise KitError("there is no data to pack yet: `tutor data download sms-spam` (or `tutor data import FILE`) "
                       "first, or add text to pretrain on with --corpus FILE")
    out = Path(out).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    items: list[Item] = []
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name + ".", suffix=".part")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            used: set[str] = set()
            for kind, name, path in entries:
                member = f"{kind}/{path.name}"
                if member in used:
                    raise KitError(f"two files named {path.name} in one kit; rename one of them")
                used.add(member)
                log(f"adding {kind} {name} ({path.stat().st_size:,} bytes)")
                # Checkpoints do not shrink when deflated; storing them is much faster.
                archive.write(path, member, compress_type=zipfile.ZIP_STORED if kind in ("checkpoint", "gpt2") else None)
                items.append(Item(kind, name, member, path.stat().st_size, sha256_of(path)))
            manifest = {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "items": [asdict(i) for i in items]}
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2))
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return items


# --- unpacking ---


MAX_MANIFEST = 1 << 20  # bytes: a manifest lists a handful of files
_FIELDS = {"kind": str, "name": str, "path": str, "size": int, "sha256": str}


def inside(folder: Path, name: str) -> Path:
    try:
        return paths.inside(folder, name)
    except ValueError as exc:
        raise KitError(f"{exc}; nothing was imported") from None


def _parse_manifest(raw: bytes) -> list[Item]:
    """The manifest's items, or a KitError that says what is wrong with its shape."""
    if len(raw) > MAX_MANIFEST:
        raise KitError(f"the manifest is larger than {MAX_MANIFEST // 1024} KB")
    try:
        manifest = loads_json(raw)
    except ValueError as exc:
        raise KitError(f"the manifest is not JSON ({str(exc)[:80]})") from None
    if not isinstance(manifest, dict):
        raise KitError("the manifest is not a JSON object")
    if manifest.get("format") != FORMAT:
        raise KitError(f"it is a kit of format {str(manifest.get('format'))[:40]!r}; this tutor reads {FORMAT}. "
                       "Update the tutor, or pack the kit again with this version.")
    entries = manifest.get("items")
    if not isinstance(entries, list):
        raise KitError("the manifest has no list of items")
    items = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
            raise KitError(f"item {index} of the manifest must have exactly the fields {', '.join(_FIELDS)}")
        for field_name, kind in _FIELDS.items():
            value = entry[field_name]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise KitError(f"item {index} of the manifest: {field_name} must be a {kind.__name__}")
        items.append(Item(**entry))
    return items


def read_manifest(archive: zipfile.ZipFile, where: Path) -> list[Item]:
    try:
        info = archive.getinfo(MANIFEST)
        if info.file_size > MAX_MANIFEST:
            raise KitError(f"the manifest is larger than {MAX_MANIFEST // 1024} KB")
        items = _parse_manifest(archive.read(MANIFEST))
    except KitError as exc:
        raise KitError(f"{where}: {exc}") from None
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise KitError(f"{where}: the kit's manifest is damaged ({exc})") from None
    names = set(archive.namelist())
    for item in items:
        member = PurePosixPath(item.path)
        if item.kind not in KINDS:
            raise KitError(f"{where}: unknown kind {item.kind!r} in the manifest (a newer tutor's kit?)")
        if member.is_absolute() or ".." in member.parts or len(member.parts) != 2 or not safe_name(member.name):
            raise KitError(f"{where}: the manifest names an unsafe path {item.path!r}; nothing was imported")
        if not safe_name(item.name):
            raise KitError(f"{where}: the manifest names an unsafe name {item.name!r}; nothing was imported")
        if item.path not in names:
            raise KitError(f"{where}: {item.path} is in the manifest but not in the zip; copy the kit again")
        if archive.getinfo(item.path).file_size != item.size or not 0 <= item.size <= MAX_MEMBER:
            raise KitError(f"{where}: {item.path} does not have the size the manifest pins; copy the kit again")
    total = sum(item.size for item in items)
    if total > MAX_TOTAL:
        raise KitError(f"{where}: the kit decompresses to {total / 2**30:.1f} GB, more than a kit may hold "
                       f"({MAX_TOTAL // 2**30} GB); nothing was imported")
    free = min(shutil.disk_usage(tempfile.gettempdir()).free, shutil.disk_usage(_existing(data_home())).free)
    if 2 * total > free:  # a copy to check, then the one installed
        raise KitError(f"{where}: the kit needs {2 * total / 2**20:,.0f} MB of free disk to check and install, "
                       f"and {free / 2**20:,.0f} MB are free; nothing was imported")
    return items


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _extract(archive: zipfile.ZipFile, item: Item, folder: Path, where: Path) -> Path:
    """One member, streamed to `folder` and checked against the manifest's SHA-256."""
    target = folder / PurePosixPath(item.path).name
    digest = hashlib.sha256()
    written = 0
    try:
        with archive.open(item.path) as src, open(target, "wb") as dst:
            while block := src.read(1 << 20):
                written += len(block)
                if written > item.size:  # counted while decompressing: the zip's header may lie
                    raise KitError(f"{where}: {item.path} decompresses to more than the {item.size:,} bytes the "
                                   "manifest pins; nothing was imported")
                digest.update(block)
                dst.write(block)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise KitError(f"{where}: {item.path} is damaged ({exc}); copy the kit again") from None
    if digest.hexdigest() != item.sha256:
        raise KitError(f"{where}: {item.path} is damaged (its SHA-256 is not the manifest's); copy the kit again")
    return target


def _place(source: Path, target: Path) -> Path:
    """Move a checked file into the data folder atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def _verify(item: Item, file: Path, where: Path) -> None:
    """What each kind must be, beyond its checksum, before anything is installed."""
    from tutor.data import sms
    from tutor.data.download import SOURCES, pinned_hash

    try:
        if item.kind == "download":
            source = SOURCES.get(item.name)
            if source is None or pinned_hash(file, source) != source.sha256:
                raise KitError(f"{item.path} is not the {item.name} file this tutor pins")
        elif item.kind == "sms":
            _, report = sms.parse(sms.read_source(file))
            if report.spam == 0 or report.ham == 0:
                raise KitError(f"{item.path}: {report.summary()}; a classifier needs ham and spam")
        elif item.kind == "corpus":
            from tutor.data.corpus import check_text_file

            check_text_file(file)
        elif item.kind == "checkpoint":
            from tutor.core.checkpoint import load

            load(file)
        elif item.kind == "gpt2":
            from tutor.data import gpt2

            if item.name not in gpt2.SIZES:
                raise KitError(f"{item.path}: GPT-2 {item.name!r} is not one of {', '.join(gpt2.SIZES)}")
            gpt2.verify_structure(file, size=item.name)
        elif item.kind == "settings":
            from tutor.engine.lessons import load_registry
            from tutor.engine.settings import load_settings

            load_settings(file, load_registry().numbers(), required=True)
    except KitError as exc:
        raise KitError(f"{where}: {exc}; nothing was imported") from None
    except Exception as exc:  # each loader's own error says what is wrong with the file
        raise KitError(f"{where}: {item.path}: {exc}; nothing was imported") from None


def unpack(path: Path, log: Callable[[str], None] = lambda _: None) -> list[str]:
    """Import everything a kit holds; returns one line per item saying where it went.

    Every member is checked before anything is installed, so a damaged kit
    changes nothing.
    """
    from tutor.core.locations import downloads_dir
    from tutor.data import sms
    from tutor.data.corpus import file_corpus
    from tutor.data.download import SOURCES, install_download

    path = Path(path)
    done: list[str] = []
    try:
        raw = open_regular(path)  # a kit is a regular file: never a device, a FIFO or a socket
    except OSError as exc:
        raise KitError(f"{path} is not a readable zip ({exc})") from None
    try:
        archive = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError) as exc:
        raw.close()
        raise KitError(f"{path} is not a readable zip ({exc})") from None
    with raw, archive, tempfile.TemporaryDirectory(prefix="tutor-kit-") as tmp:
        items = read_manifest(archive, path)
        files = []
        for item in items:
            log(f"checking {item.path}")
            folder = Path(tmp) / item.kind
            folder.mkdir(exist_ok=True)
            file = _extract(archive, item, folder, path)
            _verify(item, file, path)
            files.append((item, file))
        # Every destination resolved and checked before anything is written.
        for item, file in files:
            inside(kit_checkpoints_dir() if item.kind == "checkpoint" else kit_corpora_dir(), item.name)
            inside(kit_corpora_dir(), file.name)
        for item, file in files:
            if item.kind == "download":
                source = SOURCES[item.name]
                done.append(install_download(source, _place(file, downloads_dir() / source.filename)))
            elif item.kind == "sms":
                report = sms.import_file(file)
                done.append(f"{sms.DATASET}: {report.summary()}")
            elif item.kind == "corpus":
                stored = _place(file, inside(kit_corpora_dir(), file.name))
                corpus = file_corpus(stored, name=f"kit-{item.name}")
                done.append(f"corpus {corpus.name}: {corpus.train_chars:,} characters to train on "
                            f"(tutor train pretrain --corpus {stored})")
            elif item.kind == "checkpoint":
                target = _place(file, inside(kit_checkpoints_dir(), item.name))
                os.utime(target)  # the newest import is the default starting point
                done.append(f"pretrained checkpoint {target} (the default for `tutor train classify` "
                            "until you pretrain your own)")
            elif item.kind == "gpt2":
                from tutor.data import gpt2

                done.append(gpt2.describe(gpt2.import_folder(file)))
            elif item.kind == "settings":
                target = _place(file, workshop_settings_path())
                done.append(f"workshop settings {target}: make a workspace with `tutor init DIR --from {target}`")
    return done
