"""Multiline events: lines joined until the next line that starts an event (`start`), up to
`max_lines` lines and `max_bytes` bytes (the rest of a longer event's lines are dropped and the
event counted once as too_long), or until no line followed for `timeout`.

One `Joiner` per collector holds the open event of each followed file (by its key) with the byte
range it came from: the saved position of a file with an open event is that event's start, so a
restart reads it whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerter.core.saferegex import compile_pattern


@dataclass(frozen=True, slots=True)
class MultilineConfig:
    start: str  # a line matching this begins an event; other lines continue the previous one
    timeout: float = 0.5  # flush the last event when no line followed it for this long
    max_lines: int = 1000


@dataclass(slots=True)
class Pending:
    """An event still open: its lines, their size, and the byte range they came from."""

    lines: list[str]
    size: int
    start: int
    end: int
    since: float
    cut: bool = False

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class Joined:
    """What a block gave: the events it completed, the offset to save (the start of the event
    still open, or the block's end) and how many events were cut to `max_bytes`."""

    events: list[str]
    ack_offset: int
    cut: int


class Joiner:
    def __init__(self, cfg: MultilineConfig, max_bytes: int) -> None:
        self.cfg = cfg
        self.max_bytes = max_bytes
        self._start = compile_pattern(cfg.start).search  # linear: the lines are anyone's
        self._open: dict[str, Pending] = {}  # file key -> its open event

    def feed(self, key: str, raws: list[bytes], start: int, end: int, mono: float) -> Joined:
        """Join the lines `raws` of one block (bytes `start` to `end` of the file `key`; each
        raw line without its newline, or one cut line filling the block)."""
        done: list[str] = []
        cut = 0
        p = self._open.get(key)
        offset = start
        for raw in raws:
            line_start = offset
            offset = min(end, offset + len(raw) + 1)
            line = raw.decode("utf-8", "replace").removesuffix("\r")
            if p is not None and (
                self._start(line) is not None or len(p.lines) >= self.cfg.max_lines
            ):
                done.append(p.text())
                cut += p.cut
                p = None
            if p is None:
                p = Pending([line], len(raw), line_start, offset, mono)
            else:
                if p.size + 1 + len(raw) <= self.max_bytes:
                    p.lines.append(line)
                    p.size += 1 + len(raw)
                else:
                    p.cut = True  # the rest of this event's lines are dropped
                p.end, p.since = offset, mono
        if p is not None:
            self._open[key] = p
        return Joined(done, p.start if p is not None else end, cut)

    def timed_out(self, now: float) -> list[tuple[str, Pending]]:
        """The open events no line followed for `timeout`, removed."""
        out = [(k, p) for k, p in self._open.items() if now - p.since >= self.cfg.timeout]
        for k, _ in out:
            del self._open[k]
        return out

    def pop(self, key: str) -> Pending | None:
        return self._open.pop(key, None)

    def move(self, key: str, to: str) -> None:
        """The file `key` continues as `to` (a truncated file's contents in their copy)."""
        p = self._open.pop(key, None)
        if p is not None:
            self._open[to] = p

    def keep_only(self, keys: set[str]) -> None:
        """Forget the open events of files no longer followed."""
        for k in self._open.keys() - keys:
            del self._open[k]

    def __bool__(self) -> bool:
        return bool(self._open)
