"""A file collector's positions in its position store: one per file, under the file's identity
(`FileTailer.key`), so a position follows its file through renames.

A batch's position is saved by its ack, which the engine's thread calls once it processed the
batch: a crash at any moment loses no line (it may repeat the batches not acknowledged yet).
A truncation switches a followed file to the copy of its earlier contents: the copy's position
(at the last acknowledged offset) and the truncated file's (at 0) are saved together at once,
and acks of batches read before it go to the copy from then on, under one lock, so whichever
saves are durable at a crash, the restart finds the copy's unread lines.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from structlog.typing import FilteringBoundLogger

from alerter.collectors.base import PositionStore
from alerter.collectors.tail import FileTailer, SavedPosition


class FilePositions:
    def __init__(self, name: str, store: PositionStore, log: FilteringBoundLogger) -> None:
        self._name = name
        self._store = store
        self._log = log
        # Acks (engine thread) against a truncation switching their file to its copy.
        self._lock = threading.Lock()

    def load(self) -> dict[str, SavedPosition]:
        """The positions saved, by key (those that do not parse, or not under their own key,
        left out)."""
        saved: dict[str, SavedPosition] = {}
        for key, text in self._store.load_positions(self._name).items():
            pos = SavedPosition.loads(text)
            if pos is not None and pos.key == key:
                saved[key] = pos
        return saved

    def save(self, tailers: Iterable[FileTailer]) -> None:
        """Each file's position at its read offset."""
        self._store.save_positions(
            self._name, {t.key: t.position(t.offset).dumps() for t in tailers}
        )

    def delete(self, keys: list[str]) -> None:
        self._store.delete_positions(self._name, keys)

    def ack(self, t: FileTailer, offset: int) -> Callable[[], None]:
        """The ack of a batch of `t` read up to `offset`: saves that position (any thread)."""
        pos = t.position(offset)
        generation = t.generations.current

        def ack() -> None:
            with self._lock:
                # Read before a truncation: the position is in the copy now, or nowhere.
                if generation == t.generations.current:
                    target, save = t, pos
                else:
                    successor = t.generations.successors.get(generation)
                    if successor is None:
                        return
                    target = successor
                    save = replace(pos, path=target.path, dev=target.dev, ino=target.ino)
                try:
                    self._store.save_positions(self._name, {save.key: save.dumps()})
                except Exception:  # called from the engine thread: never let it fail there
                    self._log.exception("position_save_failed", path=save.path)
                    return
                target.acked = offset

        return ack

    def switch_to_copy(self, t: FileTailer, copy: FileTailer | None) -> None:
        """`t` was truncated and restarts at 0; what was acknowledged of it is `copy`'s now."""
        with self._lock:  # acks of batches read before it go to the copy from now on
            acked = t.acked
            t.restart(copy)
            saves = {t.key: t.position(0).dumps()}
            if copy is not None:
                copy.acked = acked
                saves[copy.key] = copy.position(acked).dumps()
            try:
                self._store.save_positions(self._name, saves)
            except Exception:  # the acks that follow save them again
                self._log.exception("position_save_failed", path=t.path)
