"""The runner's firings: kept across a restart until the alert resolves, or goes stale."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from alerter.actions.firings import FIRINGS_NS, STALE_AFTER, Firings
from alerter.store.db import StateStore

from .conftest import T0, CountedWalks


def _checkpoint(store: StateStore, firings: Firings, ok: bool = True) -> None:
    """A checkpoint that commits (ok) or is rolled back."""
    try:
        with store.transaction() as db:
            firings.write(db, T0, lambda: None)
            if not ok:
                raise sqlite3.OperationalError("disk I/O error")
    except sqlite3.OperationalError:
        assert not ok
    firings.written(ok)


def test_a_firing_that_never_resolved_goes_on_after_a_restart(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    try:
        errors: list[str] = []
        Firings(store, errors.append).fired("fp", T0, keep=True, active_at=T0)
        again = Firings(store, errors.append)  # the next process
        assert again.fired("fp", T0 + 30, keep=True, active_at=T0 + 30) == T0
        again.resolved("fp", T0 + 60, active_at=T0 + 30)
        _checkpoint(store, again)
        assert store.kv_items(FIRINGS_NS) == {}
        assert again.since("fp") == T0  # for the resolved notification's notes
        assert (
            Firings(store, errors.append).fired("fp", T0 + 90, keep=True, active_at=T0 + 90)
            == T0 + 90
        )
        assert errors == []
    finally:
        store.close()


def test_only_alerts_with_a_once_per_firing_action_are_stored(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    try:
        firings = Firings(store, lambda operation: None)
        assert firings.fired("fp", T0, keep=False, active_at=T0) == T0
        assert firings.firing("fp", T0 - 5, keep=False) == T0
        assert store.kv_items(FIRINGS_NS) == {}
    finally:
        store.close()


def test_a_stored_firing_whose_alert_neither_fires_nor_resolves_is_dropped_in_time(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state")
    try:
        Firings(store, lambda operation: None).fired("gone", T0, keep=True, active_at=T0)
        Firings(store, lambda operation: None).fired("live", T0, keep=True, active_at=T0)
        firings = Firings(store, lambda operation: None)
        firings.sweep({"live"}, T0 + 10)
        firings.sweep({"live"}, T0 + 10 + STALE_AFTER - 60)
        assert set(store.kv_items(FIRINGS_NS)) == {"gone", "live"}
        firings.sweep({"live"}, T0 + 10 + STALE_AFTER)
        _checkpoint(store, firings)
        assert set(store.kv_items(FIRINGS_NS)) == {"live"}
    finally:
        store.close()


def test_a_resolve_is_durable_with_the_checkpoint_that_covers_it(tmp_path: Path) -> None:
    # after a crash the engine comes back from the last checkpoint: a resolve it does not hold
    # must not have ended the stored firing either, or the lines read again start a new one
    store = StateStore(tmp_path / "state")
    try:
        firings = Firings(store, lambda operation: None)
        firings.fired("fp", T0, keep=True, active_at=T0)
        firings.resolved("fp", T0 + 20, active_at=T0)
        assert firings.dirty()
        assert (
            Firings(store, lambda operation: None).fired(
                "fp", T0 + 30, keep=True, active_at=T0 + 30
            )
            == T0
        )
        _checkpoint(store, firings, ok=False)  # the store refused it: still to do
        assert firings.dirty()
        assert (
            Firings(store, lambda operation: None).fired(
                "fp", T0 + 30, keep=True, active_at=T0 + 30
            )
            == T0
        )
        _checkpoint(store, firings)
        assert not firings.dirty()
        assert store.kv_items(FIRINGS_NS) == {}
    finally:
        store.close()


def test_a_new_firing_before_the_checkpoint_is_kept_by_it(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    try:
        firings = Firings(store, lambda operation: None)
        firings.fired("fp", T0, keep=True, active_at=T0)
        firings.resolved("fp", T0 + 20, active_at=T0)
        assert firings.fired("fp", T0 + 40, keep=True, active_at=T0 + 40) == T0 + 40
        stored = {"fp": {"since": T0 + 40, "active_at": T0 + 40}}
        assert store.kv_items(FIRINGS_NS) == stored  # written at once
        _checkpoint(store, firings)
        assert store.kv_items(FIRINGS_NS) == stored
    finally:
        store.close()


def test_the_resolve_of_an_earlier_firing_leaves_the_stored_one(tmp_path: Path) -> None:
    # fire, checkpoint, resolve, fire again, crash: the engine comes back with the first firing
    store = StateStore(tmp_path / "state")
    try:
        firings = Firings(store, lambda operation: None)
        firings.fired("fp", T0, keep=True, active_at=T0)
        _checkpoint(store, firings)
        firings.resolved("fp", T0 + 20, active_at=T0)
        firings.fired("fp", T0 + 30, keep=True, active_at=T0 + 30)
        again = Firings(store, lambda operation: None)  # the next process
        again.resolved("fp", T0 + 40, active_at=T0)  # the first firing, restored, resolves
        assert not again.dirty()
        # the lines read again fire the second firing again: it is the stored one
        assert again.fired("fp", T0 + 41, keep=True, active_at=T0 + 41) == T0 + 30
        # which is now the replayed alert's, in the store with the next checkpoint
        assert store.kv_items(FIRINGS_NS) == {"fp": {"since": T0 + 30, "active_at": T0 + 30}}
        _checkpoint(store, again)
        assert store.kv_items(FIRINGS_NS) == {"fp": {"since": T0 + 30, "active_at": T0 + 41}}
        again.resolved("fp", T0 + 60, active_at=T0 + 41)  # its own resolve ends it
        _checkpoint(store, again)
        assert store.kv_items(FIRINGS_NS) == {}
    finally:
        store.close()


def test_a_restored_firing_that_goes_on_as_the_stored_one_ends_at_its_resolve(
    tmp_path: Path,
) -> None:
    # as above, but the restored first firing takes the lines read again and never resolves
    # between: it is the second firing, and its resolve ends that
    store = StateStore(tmp_path / "state")
    try:
        firings = Firings(store, lambda operation: None)
        firings.fired("fp", T0, keep=True, active_at=T0)
        _checkpoint(store, firings)
        firings.resolved("fp", T0 + 20, active_at=T0)
        firings.fired("fp", T0 + 30, keep=True, active_at=T0 + 30)
        again = Firings(store, lambda operation: None)
        assert again.firing("fp", T0, keep=True) == T0 + 30  # a tick: firing since T0
        again.resolved("fp", T0 + 60, active_at=T0)
        _checkpoint(store, again)
        assert store.kv_items(FIRINGS_NS) == {}
        assert (
            Firings(store, lambda operation: None).fired(
                "fp", T0 + 90, keep=True, active_at=T0 + 90
            )
            == T0 + 90
        )
    finally:
        store.close()


def test_an_entry_of_an_older_version_ends_at_any_resolve(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    try:
        store.kv_put(FIRINGS_NS, "fp", {"since": T0 + 30})  # no active_at
        firings = Firings(store, lambda operation: None)
        firings.resolved("fp", T0 + 40, active_at=T0)
        _checkpoint(store, firings)
        assert store.kv_items(FIRINGS_NS) == {}
    finally:
        store.close()


class PruneByCopy(Firings):
    """The resolve as it was (the oracle): past `keep_since` starts, each resolve copied them
    all, keeping those less than a day old."""

    old_keep = 10_000
    keep_since = 10**9

    def resolved(self, fingerprint: str, now: float, *, active_at: float) -> None:
        active = self._active.get(fingerprint)
        kept = active is not None and active_at < active and fingerprint in self._stored
        super().resolved(fingerprint, now, active_at=active_at)
        if not kept and len(self._since) > self.old_keep:
            n = len(self._since)
            self._since = {k: v for k, v in self._since.items() if now - v < 86400.0}
            self.forgotten += n - len(self._since)


def test_a_resolve_past_the_kept_starts_walks_none_of_them(tmp_path: Path) -> None:
    """Past 10k firings in memory every resolve copied them all (a storm resolving 100k alerts
    did 10^10 steps); now it drops only the starts over a day old, oldest first."""
    store = StateStore(tmp_path / "state")
    try:
        firings = Firings(store, lambda operation: None)
        for i in range(10_100):
            firings.fired(f"fp{i}", T0 + i, keep=False, active_at=T0 + i)
        firings._since = counted = CountedWalks(firings._since)
        for i in range(50):
            firings.resolved(f"fp{i}", T0 + 86_400 + 20 + i, active_at=T0 + i)
        assert counted.walks == 0
        assert firings.forgotten == 70  # fp0..fp69 started a day before the last resolve
        assert firings.since("fp69") is None
        assert firings.since("fp70") == T0 + 70
    finally:
        store.close()


@pytest.mark.parametrize("seed", range(20))
def test_the_starts_dropped_are_those_the_copy_dropped(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    stores = [StateStore(tmp_path / "new"), StateStore(tmp_path / "old")]
    new, old = Firings(stores[0], lambda o: None), PruneByCopy(stores[1], lambda o: None)
    new.keep_since = old.old_keep = rng.randint(3, 12)
    now = T0
    try:
        for _ in range(400):
            fp = f"fp{rng.randint(0, 20)}"
            op = rng.random()
            active_at = now - rng.choice([0, 0, 30, 90_000])
            keep = rng.random() < 0.3
            for f in (new, old):
                if op < 0.3:
                    f.fired(fp, now, keep, active_at=active_at)
                elif op < 0.5:
                    f.firing(fp, active_at, keep=False)
                elif op < 0.8:
                    f.resolved(fp, now, active_at=active_at)
            if op >= 0.8:
                now += rng.choice([1, 60, 3600, 40_000, 86_400])
            assert new.forgotten == old.forgotten
            assert {f"fp{i}": new.since(f"fp{i}") for i in range(21)} == {
                f"fp{i}": old.since(f"fp{i}") for i in range(21)
            }
    finally:
        for s in stores:
            s.close()
