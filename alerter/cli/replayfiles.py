"""Replay's input files: a log read as the daemon reads it, a few MiB at a time.

A file compressed by logrotate (gzip, bzip2, xz: told by its first bytes) is read as it is; a
zstd one is refused with the command that unpacks it. Bytes that are not UTF-8 become U+FFFD,
and lines end at `\n` only, a `\r` that ends one dropped, as the daemon's collector splits them.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable, Iterator
from typing import IO

_BLOCK = 1 << 22  # characters read at a time


class ReplayError(Exception):
    """What is wrong with the replay's input, and how to fix it (printed as it is)."""


# what logrotate's `compress` (gzip by default, or its compresscmd) leaves: told by the
# file's first bytes, not its name
_COMPRESSED: tuple[tuple[bytes, Callable[..., IO[str]]], ...] = (
    (b"\x1f\x8b", gzip.open),
    (b"BZh", bz2.open),
    (b"\xfd7zXZ\x00", lzma.open),
)
_ZSTD = b"\x28\xb5\x2f\xfd"


def open_log(path: str) -> IO[str]:
    """A log file as text, decompressed when it is gzip, bzip2 or xz (UTF-8; a byte that is
    not becomes U+FFFD, as the daemon reads it). Line ends are not translated: a `\r` is
    text, as it is to the daemon (`blocks` drops it where it ends a line)."""
    with open(path, "rb") as f:
        head = f.read(6)
    for magic, opener in _COMPRESSED:
        if head.startswith(magic):
            return opener(path, "rt", encoding="utf-8", errors="replace", newline="")
    if head.startswith(_ZSTD):
        raise ReplayError(
            f"{path}: zstd-compressed, which replay does not read: decompress it first "
            f"(`zstd -dc {path} > FILE`) and replay FILE"
        )
    return open(path, encoding="utf-8", errors="replace", newline="")


def tail(path: str, size: int = 1 << 16) -> str | None:
    """The whole lines in the last `size` bytes of a plain file, as `blocks` gives them; None
    for a compressed one (its end is read only by reading it all) or one that cannot be read
    (`blocks` says why). A seek to the end: cheap whatever the file's size."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
            if head.startswith(_ZSTD) or any(head.startswith(m) for m, _ in _COMPRESSED):
                return None
            end = f.seek(0, 2)
            f.seek(max(0, end - size))
            data = f.read(size)
    except OSError:
        return None
    if end > size:  # (the first line is cut)
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return _lines_end(data.decode("utf-8", errors="replace"))


def _lines_end(text: str) -> str:
    """`text` without the `\r` that ends a line (CRLF files), as the daemon reads lines: a
    `\r` inside a line stays (it starts no line of its own)."""
    text = text.replace("\r\n", "\n") if "\r" in text else text
    return text[:-1] if text.endswith("\r") else text


def blocks(path: str) -> Iterator[str]:
    """The file's text a few MiB at a time, each block whole lines joined by newlines (the
    newline after its last line left out)."""
    try:
        with open_log(path) as f:
            carry = ""
            while True:
                text = f.read(_BLOCK)
                if not text:
                    if carry:
                        yield _lines_end(carry)
                    return
                cut = text.rfind("\n")
                if cut < 0:
                    carry += text
                    continue
                yield _lines_end(carry + text[:cut])
                carry = text[cut + 1 :]
    except (OSError, EOFError, lzma.LZMAError) as e:  # (gzip.BadGzipFile is an OSError)
        why = e.strerror if isinstance(e, OSError) and e.strerror else e  # (not "[Errno 13] ...")
        raise ReplayError(f"{path}: cannot read it: {why}") from None
