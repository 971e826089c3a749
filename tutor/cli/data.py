"""Commands for data: the corpora and data sets on this machine, downloads and imports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tutor.cli.common import console, die

app = typer.Typer(help="Corpora and data sets: list, download, import.", no_args_is_help=True)


def data_list() -> None:
    """The corpora you have (the default one is built on first use)."""
    from rich.table import Table

    from tutor.data.corpus import DEFAULT, list_corpora

    table = Table(box=None)
    for col in ("name", "documents", "train chars", "held-out chars", "sha256", "source"):
        table.add_column(col)
    corpora = list_corpora()
    for c in corpora:
        table.add_row(c.name, f"{c.documents:,}", f"{c.train_chars:,}", f"{c.val_chars:,}", c.sha256[:12], c.source)
    if not any(c.name == DEFAULT for c in corpora):
        table.add_row(DEFAULT, "-", "-", "-", "-", "built from this machine's Python documentation on first use")
    console.print(table)


def data_download(
    name: Annotated[str, typer.Argument(help="What to download (see `tutor data sources`), or gpt2 for OpenAI's GPT-2 weights.")],
    size: Annotated[str, typer.Option(help="With gpt2: 124M, 355M, 774M or 1558M.")] = "124M",
) -> None:
    """Download a public data set, check its SHA-256, and make it a corpus."""
    from tqdm import tqdm

    if name == "gpt2":
        _download_gpt2(size)
        return

    from tutor.data.corpus import CorpusError
    from tutor.data.download import SOURCES, DownloadError, fetch, install_download
    from tutor.data.instructions import InstructionDataError
    from tutor.data.sms import SmsDataError

    if name not in SOURCES:
        die(f"unknown download {name!r}; known: {', '.join(SOURCES)}")
    source = SOURCES[name]
    with tqdm(total=source.size or None, unit="B", unit_scale=True, desc=name, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total or None
            bar.update(done - bar.n)

        try:
            path = fetch(source, progress=progress)
        except DownloadError as exc:
            bar.close()
            die(str(exc), code=1)
    try:
        console.print(install_download(source, path), soft_wrap=True)
    except (SmsDataError, CorpusError, InstructionDataError) as exc:
        die(str(exc), code=1)


def _download_gpt2(size: str) -> None:
    from tqdm import tqdm

    from tutor.data import gpt2
    from tutor.data.download import DownloadError

    with tqdm(total=None, unit="B", unit_scale=True, desc=f"gpt2-{size}", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total or None
            bar.update(done - bar.n)

        try:
            weights = gpt2.download(size, progress=progress)
        except (DownloadError, gpt2.Gpt2Error) as exc:
            bar.close()
            die(str(exc), code=1)
    console.print(gpt2.describe(weights), soft_wrap=True)


def data_import(path: Annotated[Path, typer.Argument(help="A workshop kit (from `tutor pack`), the UCI SMS Spam Collection zip or its label<TAB>text file, or instruction data (FILE.json: a list of {instruction, input, output}).")]) -> None:
    """Import a workshop kit, the SMS Spam Collection or instruction data from a file (for a workshop without network)."""
    from tutor.data.kit import KitError, is_kit, unpack
    from tutor.data.sms import SmsDataError, import_file, label_counts, load, split

    if path.suffix.lower() == ".json":
        from tutor.data import instructions

        try:
            report = instructions.import_file(path)
        except instructions.InstructionDataError as exc:
            die(str(exc), code=1)
        console.print(report.summary(), soft_wrap=True)
        console.print(instructions.describe(instructions.DATASET, instructions.load()), soft_wrap=True)
        console.print("Fine-tune on it: tutor train instruct --data instructions", soft_wrap=True)
        return

    from tutor.data import gpt2

    if gpt2.is_weights_folder(path):
        try:
            with console.status(f"Verifying GPT-2's weights in {path}…"):
                weights = gpt2.import_folder(path)
        except gpt2.Gpt2Error as exc:
            die(str(exc), code=1)
        console.print(gpt2.describe(weights), soft_wrap=True)
        return
    if is_kit(path):
        try:
            with console.status(f"Importing the kit {path}…"):
                lines = unpack(path)
        except KitError as exc:
            die(str(exc), code=1)
        for line in lines:
            console.print(f"✓ {line}", soft_wrap=True)
        return
    try:
        report = import_file(path)
    except SmsDataError as exc:
        die(str(exc), code=1)
    console.print(report.summary(), soft_wrap=True)
    parts = split(load())
    sizes = ", ".join(f"{name} {len(rows):,} ({label_counts(rows)['spam']} spam)" for name, rows in parts.items())
    console.print(f"Balanced splits (seed 123): {sizes}")


def data_sources() -> None:
    """What `tutor data download` can fetch."""
    from tutor.data.download import SOURCES

    for s in SOURCES.values():
        size = f"{s.size:,} bytes" if s.size else "size not pinned"
        pinned = f"sha256 of {s.member}" if s.member else "sha256"
        console.print(f"[bold]{s.name}[/bold]  {s.description}; {s.licence}; {size}; {pinned} {s.sha256[:16]}…")
    from tutor.data.gpt2 import SOURCES_LINE

    console.print(SOURCES_LINE)
