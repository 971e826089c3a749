"""Reading files from outside: regular files only, every read capped.

A file handed to the tutor (a weights folder, a kit, a data file, the progress
file) may be a link to a device (`/dev/zero` never ends), a FIFO (a read waits
forever for a writer) or far larger than what it claims to be. `open_regular`
opens without blocking, then checks what was opened (fstat of the open file, so
a swap between a check and the open changes nothing) and refuses anything that
is not a regular file; `read_regular` reads at most `limit` bytes of one.
`loads_json` parses JSON and names JSON nested too deeply to be a real file's,
rather than letting the parser's recursion error through.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path
from typing import IO, Any

MAX_JSON_DEPTH = 64  # no file the tutor reads nests deeper than a few levels


class FileRefused(OSError):
    """A file from outside that is not a regular file, or is larger than its cap; the message says which."""

    def __str__(self) -> str:  # the sentence alone, without OSError's "[Errno ...]"
        return str(self.args[0]) if self.args else "file refused"


class NotRegular(FileRefused):
    """A device, a FIFO, a socket or a folder where a regular file was expected."""


class TooLarge(FileRefused):
    """A file larger than its cap; `size` is what it holds (at least `limit + 1`), `limit` the cap."""

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size, self.limit = size, limit


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_regular(path: Path | str) -> IO[bytes]:
    """`path` opened for reading in binary, or FileRefused when it is (or links to) anything but a
    regular file. Opened with O_NONBLOCK, so a FIFO cannot make the open itself wait."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegular(f"{path} is {_kind(mode)}, not a regular file: only regular files are read")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(f: IO[bytes], limit: int, name: Path | str) -> bytes:
    """At most `limit` bytes of an open file; FileRefused if it holds more."""
    data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{name} is larger than {_size(limit)}, more than such a file can be: it was not read",
                       len(data), limit)
    return data


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them; FileRefused (an OSError) for a
    device, a FIFO, a socket or a file larger than `limit`, before more than `limit + 1` bytes are read."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise TooLarge(f"{path} is {_size(size)}, more than the {_size(limit)} such a file can be: "
                           "it was not read", size, limit)
        return read_limited(f, limit, path)


def read_regular_text(path: Path | str, limit: int) -> str:
    """read_regular, decoded as UTF-8 (UnicodeDecodeError, a ValueError, when it is not)."""
    return read_regular(path, limit).decode("utf-8")


def loads_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads, with JSON nested deeper than `max_depth` refused as ValueError naming it
    (the parser's own limit is a RecursionError, far deeper)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to be what it claims to be") from None
    if _depth(value, max_depth) > max_depth:
        raise ValueError(f"the JSON is nested too deeply (more than {max_depth} levels) to be what it claims to be")
    return value


def _depth(value: Any, limit: int) -> int:
    """How deeply lists and objects nest in `value`, counted without recursion and stopping past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:,.1f} MB"
    if n >= 2**10:
        return f"{n / 2**10:,.0f} KB"
    return f"{n:,} bytes"
