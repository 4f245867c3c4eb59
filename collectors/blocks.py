"""A followed file's blocks as event batches: lines split (CRs dropped, over-long lines cut and
counted as too_long) and joined into multiline events when configured. A batch's lines are
parsed later, each when the engine looks at it (core/events.py: LogBatch), which also
counts their parse errors."""

from __future__ import annotations

from collections.abc import Callable

from alerter.collectors.base import CollectorStats
from alerter.collectors.lines import lines_within, split_lines
from alerter.collectors.multiline import Joiner, MultilineConfig, Pending
from alerter.collectors.parsers import ParserConfig, batch, make_parser
from alerter.collectors.tail import Chunk, FileTailer
from alerter.core.events import LogBatch

# Hands a batch of `FileTailer`'s lines on, to be acknowledged at an offset; False: stop.
Send = Callable[[FileTailer, LogBatch, int], bool]


class Blocks:
    def __init__(
        self,
        name: str,
        parser: ParserConfig,
        multiline: MultilineConfig | None,
        max_line_bytes: int,
        stats: CollectorStats,
        clock: Callable[[], float],
        send: Send,
    ) -> None:
        self.name = name
        self.max_line_bytes = max_line_bytes
        self.joiner = Joiner(multiline, max_line_bytes) if multiline else None
        self._parser = make_parser(parser, clock)
        self._stats = stats
        self._clock = clock
        self._send_batch = send

    def emit(self, t: FileTailer, chunk: Chunk, mono: float) -> bool:
        """Hand on the events of one block of `t`; False when the sink refused them."""
        if self.joiner is not None:
            return self._emit_multiline(t, chunk, mono)
        if chunk.cut:
            self._stats.dropped(self.name, "too_long", 1)
            return self._put(t, [chunk.data.decode("utf-8", "replace")], chunk.end, chunk.more)
        text = chunk.data.decode("utf-8", "replace")
        if (
            "\r" in text
            or ("\ufffd" in text and not text.isascii())
            or not lines_within(chunk.data, self.max_line_bytes)
        ):
            lines, cut = split_lines(text, len(chunk.data), self.max_line_bytes)
            if cut:
                self._stats.dropped(self.name, "too_long", cut)
            return self._put(t, lines, chunk.end, chunk.more)
        # The common block: its lines are the text as read, which the batch carries whole
        # (the chunk ends with a newline).
        events = batch(self._parser, self.name, self._clock(), text=text[:-1], backlog=chunk.more)
        return self._send_batch(t, events, chunk.end)

    def flush_timed_out(self, tailers: dict[str, FileTailer], now: float) -> None:
        """Hand on the open multiline events nothing followed for their timeout; forget those
        of files no longer in `tailers` (by key)."""
        if not self.joiner:
            return
        self.joiner.keep_only(set(tailers))
        for key, p in self.joiner.timed_out(now):
            self._flush(tailers[key], p)

    def forget(self) -> None:
        """Drop every open multiline event (the collector stops: a restart reads them again
        from their saved start)."""
        if self.joiner is not None:
            self.joiner.keep_only(set())

    def moved(self, key: str, to: str | None) -> None:
        """The file `key` continues as `to` (its copy, after a truncation), or ends."""
        if self.joiner is not None:
            if to is not None:
                self.joiner.move(key, to)
            else:
                self.joiner.pop(key)

    def close(self, t: FileTailer) -> None:
        """`t` is done: hand on its open multiline event."""
        p = self.joiner.pop(t.key) if self.joiner is not None else None
        if p is not None:
            self._flush(t, p)

    def _flush(self, t: FileTailer, p: Pending) -> None:
        if p.cut:
            self._stats.dropped(self.name, "too_long", 1)
        self._put(t, [p.text()], p.end)

    def _put(self, t: FileTailer, lines: list[str], ack_offset: int, backlog: bool = False) -> bool:
        """`backlog`: read while more of the file was waiting (`Chunk.more`)."""
        events = batch(self._parser, self.name, self._clock(), lines=lines, backlog=backlog)
        return self._send_batch(t, events, ack_offset)

    def _emit_multiline(self, t: FileTailer, chunk: Chunk, mono: float) -> bool:
        assert self.joiner is not None
        if chunk.cut:
            self._stats.dropped(self.name, "too_long", 1)
            raws = [chunk.data]
        else:
            raws = chunk.data.split(b"\n")
            raws.pop()
        joined = self.joiner.feed(t.key, raws, chunk.start, chunk.end, mono)
        if joined.cut:
            self._stats.dropped(self.name, "too_long", joined.cut)
        # Saved position: the start of the event still open, so a restart reads it whole.
        if joined.events:
            return self._put(t, joined.events, joined.ack_offset, chunk.more)
        return True
