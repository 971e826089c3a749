"""Downloads of public data, each pinned to a checksum.

A download streams to a temporary file with a progress bar, is retried on
passing network errors, and is kept only if its SHA-256 matches the pinned one.
Offline, the message says how to bring the file in by hand instead.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tutor.core.locations import downloads_dir


class DownloadError(Exception):
    """A download that failed; the message says why and what to do instead."""


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    sha256: str
    size: int  # bytes, for the progress bar; 0 when unknown
    filename: str
    description: str
    licence: str
    offline_hint: str
    kind: str = "corpus"  # "corpus": pretraining text; "sms": the SMS Spam Collection
    member: str | None = None  # in a zip, the file whose SHA-256 is pinned
    mirrors: tuple[str, ...] = ()  # tried in turn when the first source fails or serves other bytes
    max_bytes: int = 0  # where `size` is not published: the most a download may write (0: DEFAULT_MAX)

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors)


SOURCES: dict[str, Source] = {
    "the-verdict": Source(
        name="the-verdict",
        url="https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/01_main-chapter-code/the-verdict.txt",
        sha256="b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
        size=20_479,
        filename="the-verdict.txt",
        description='Edith Wharton, "The Verdict" (1908): the short story the book trains on first',
        licence="public domain",
        offline_hint="copy the-verdict.txt onto this machine and use: tutor train pretrain --corpus the-verdict.txt",
    ),
    "sms-spam": Source(
        name="sms-spam",
        url="https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip",
        sha256="7d039a24a6083ed9ef0f806ebad56bbb976e3aeb8de05669173bfdc4996c239d",  # of SMSSpamCollection inside
        size=0,  # the zip's size is not pinned; its member's checksum is
        filename="sms+spam+collection.zip",
        description="SMS Spam Collection v.1 (Almeida and Gómez Hidalgo, UCI, 2011): 5,574 labelled messages",
        licence="CC BY 4.0",
        offline_hint="copy the UCI zip (or its SMSSpamCollection file) onto this machine and use: tutor data import FILE",
        kind="sms",
        member="SMSSpamCollection",
        max_bytes=50 * 2**20,  # as an imported SMS file may be; the real zip is 0.2 MB
    ),
    "instructions": Source(
        name="instructions",
        url="https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch07/01_main-chapter-code/instruction-data.json",
        mirrors=("https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/28c65cdfbc3338e2e040016eea4b7fdf556e4d57/"
                 "ch07/01_main-chapter-code/instruction-data.json",),
        sha256="7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944",
        size=203_524,
        filename="instruction-data.json",
        description="the book's chapter 7 instruction data: 1,100 {instruction, input, output} entries",
        licence="Apache License 2.0 (Sebastian Raschka)",
        offline_hint="copy instruction-data.json onto this machine and use: tutor data import instruction-data.json",
        kind="instructions",
    ),
}


MARGIN = 64 * 2**10  # bytes past a file's published size before its download is cut
DEFAULT_MAX = 256 * 2**20  # a download whose size is not published


def byte_limit(source: Source) -> int:
    """The most bytes a download of `source` may write: its published size and a small margin (a
    server that sends more is cut off, not believed until the checksum), else its own cap."""
    if source.size > 0:
        return source.size + MARGIN
    return source.max_bytes or DEFAULT_MAX


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def pinned_hash(path: Path, source: Source) -> str:
    """The SHA-256 that the source pins: of the file, or of one member of a zip."""
    if source.member is None:
        return sha256_of(path)
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if Path(n).name == source.member), None)
            return hashlib.sha256(archive.read(name)).hexdigest() if name else "no " + source.member
    except zipfile.BadZipFile:
        return "not a zip file"


def fetch(source: Source, *, retries: int = 3, timeout: float = 30.0,
          progress: Callable[[int, int], None] | None = None, wait: Callable[[float], None] = time.sleep,
          target: Path | None = None, sha256: str | None = None, urls: tuple[str, ...] | None = None) -> Path:
    """The verified file, downloaded if it is not here yet.

    `target` (default: the downloads folder) and `sha256` (default: the source's pin;
    empty: the caller verifies the file itself) and `urls` (default: the source's)
    serve files whose place and hash are known only at run time (GPT-2's weights).
    A partial file left by a broken download is resumed with an HTTP Range request.
    """
    target = target or downloads_dir() / source.filename
    expected = source.sha256 if sha256 is None else sha256
    if target.is_file() and expected and pinned_hash(target, source) == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in urls or source.urls:
        try:
            return _fetch_from(url, source, target, expected, retries=retries, timeout=timeout, progress=progress,
                               wait=wait)
        except DownloadError as exc:
            failures.append(str(exc))
    if len(failures) == 1:
        raise DownloadError(failures[0])
    raise DownloadError(f"{source.name}: none of its {len(failures)} sources worked: " + " / ".join(failures))


def _fetch_from(url: str, source: Source, target: Path, expected: str, *, retries: int, timeout: float,
                progress: Callable[[int, int], None] | None, wait: Callable[[float], None]) -> Path:
    """One source: streamed to a .part file (resumed where a broken attempt left it), retried
    on passing errors, kept only if its checksum matches."""
    partial = target.with_name(target.name + ".part")
    host = urlparse(url).hostname
    limit = byte_limit(source)
    last: Exception | None = None
    for attempt in range(1, retries + 1):
        have = partial.stat().st_size if partial.is_file() else 0
        if have > limit:  # left by a download from before the cut: not worth resuming
            partial.unlink()
            have = 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = have > 0 and response.status == 206
                done = have if resumed else 0
                length = response.headers.get("Content-Length") or ""
                length = int(length) if length.isdigit() else 0
                total = done + length if length else source.size
                if total > limit:
                    raise _too_much(host, source, total, limit, partial)
                with open(partial, "ab" if resumed else "wb") as out:
                    while block := response.read(1 << 16):
                        if done + len(block) > limit:
                            out.close()
                            raise _too_much(host, source, done + len(block), limit, partial)
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
                if length and done < total:
                    raise ConnectionError(f"the connection closed after {done:,} of {total:,} bytes")
            break
        except urllib.error.HTTPError as exc:  # the server answered: retrying will not help
            if exc.code == 416 and have:  # nothing left to fetch: the partial file is whole
                break
            partial.unlink(missing_ok=True)
            raise DownloadError(f"{host} answered {exc.code} {exc.reason} for {source.name}. Instead, {source.offline_hint}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            last = exc  # the partial file is kept: the next attempt resumes it
            if attempt < retries:
                wait(2.0 * attempt)
    else:
        reason = getattr(last, "reason", last)
        raise DownloadError(f"could not reach {host} ({reason}); are you offline? Instead, {source.offline_hint}")
    if expected:
        actual = pinned_hash(partial, source)
        if actual != expected:
            partial.unlink(missing_ok=True)
            raise DownloadError(f"{source.name}: the download's checksum is {actual[:16]}…, expected {expected[:16]}…; "
                                "it was not kept. Try again, or " + source.offline_hint)
    partial.replace(target)
    return target


def _too_much(host: str | None, source: Source, sent: int, limit: int, partial: Path) -> DownloadError:
    """The error for a server that sends more than the file can be; nothing of it is kept."""
    partial.unlink(missing_ok=True)
    published = f"published as {source.size:,} bytes" if source.size else f"at most {limit:,} bytes"
    return DownloadError(f"{host} sent more than {source.name} can be ({sent:,} bytes or more; it is {published}): "
                         f"the download was stopped and nothing was kept. Try again later, or {source.offline_hint}")


def install_download(source: Source, path: Path) -> str:
    """Make a verified download usable (the SMS data imported, a text a corpus); says what it did."""
    if source.kind == "sms":
        from tutor.data.sms import import_file

        return f"{source.name}: checksum verified. " + import_file(path).summary()
    if source.kind == "instructions":
        from tutor.data import instructions

        return (f"{source.name}: checksum verified. " + instructions.import_file(path).summary()
                + ". Fine-tune on it: tutor train instruct --data instructions")
    from tutor.data.corpus import file_corpus

    corpus = file_corpus(path, name=source.name, source=f"{source.description} ({source.licence}); {source.url}")
    return (f"{source.name}: checksum verified; corpus with {corpus.train_chars:,} characters to train on. "
            f"Train on it: tutor train pretrain --corpus {path}")
