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

from tutor.engine.paths import data_home


class DownloadError(Exception):
    """A download that failed; the message says why and what to do instead."""


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    sha256: str
    size: int
    filename: str
    description: str
    licence: str
    offline_hint: str


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
}


def downloads_dir() -> Path:
    return data_home() / "downloads"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, *, retries: int = 3, timeout: float = 30.0,
          progress: Callable[[int, int], None] | None = None, wait: Callable[[float], None] = time.sleep) -> Path:
    """The verified file, downloaded if it is not here yet."""
    target = downloads_dir() / source.filename
    if target.is_file() and sha256_of(target) == source.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    host = urlparse(source.url).hostname
    last: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(source.url, timeout=timeout) as response, open(partial, "wb") as out:
                total = int(response.headers.get("Content-Length") or source.size)
                done = 0
                while block := response.read(1 << 16):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            break
        except urllib.error.HTTPError as exc:  # the server answered: retrying will not help
            partial.unlink(missing_ok=True)
            raise DownloadError(f"{host} answered {exc.code} {exc.reason} for {source.name}. Instead, {source.offline_hint}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            last = exc
            partial.unlink(missing_ok=True)
            if attempt < retries:
                wait(2.0 * attempt)
    else:
        reason = getattr(last, "reason", last)
        raise DownloadError(f"could not reach {host} ({reason}); are you offline? Instead, {source.offline_hint}")
    actual = sha256_of(partial)
    if actual != source.sha256:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"{source.name}: the download's checksum is {actual[:16]}…, expected {source.sha256[:16]}…; "
                            "it was not kept. Try again, or " + source.offline_hint)
    partial.replace(target)
    return target
