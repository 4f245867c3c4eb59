"""A block of a file as lines: CRs before the newline dropped, over-long lines cut."""

from __future__ import annotations


def split_lines(text: str, size: int, limit: int) -> tuple[list[str], int]:
    """The lines of a block (`text`, decoded from `size` bytes, ending with a newline) and how
    many were cut to `limit` bytes."""
    lines = text.split("\n")
    lines.pop()  # the block ends with a newline
    if "\r" in text:
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    cut = 0
    # A line of n characters has at most 4n bytes: only long blocks need a closer look.
    if size > limit and max(map(len, lines)) * 4 > limit:
        for i, line in enumerate(lines):
            if len(line) * 4 > limit and len(raw := line.encode()) > limit:
                lines[i] = raw[:limit].decode("utf-8", "ignore")
                cut += 1
    return lines, cut


def lines_within(data: bytes, limit: int) -> bool:
    """True when no line of `data` (which ends with a newline) has more than `limit` bytes:
    a newline within every limit+1 bytes from each line's start, found by a few backward
    searches (each jumps up to `limit` bytes) instead of measuring every line."""
    p, end = 0, len(data)
    while end - p > limit + 1:
        q = data.rfind(b"\n", p, p + limit + 1)
        if q < 0:
            return False
        p = q + 1
    return True
