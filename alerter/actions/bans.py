"""Bans: the executor (the record of bans is `banbook.BanBook`).

A ban is decided on the main loop (`BanExecutor.decide`: its length from the address's earlier
bans, written to the store) and applied by a worker (`apply`: one nft element with the time left
until the recorded end). The kernel lifts it at that end. On start, `start` re-applies every ban
whose end has not passed with the time left, so a restart or reboot neither lifts nor extends
it. A dry run records its bans (flagged) and never touches the firewall.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import structlog

from alerter.actions.banaddr import Address, Allowlist, parse_address
from alerter.actions.banbook import MANUAL, RETENTION, Ban, BanBook
from alerter.actions.banconfig import DEFAULT_WITHIN, BanSpec
from alerter.actions.config import ActionConfig
from alerter.actions.executors import ActionPlan
from alerter.actions.nft import Element, Firewall
from alerter.core.values import format_duration
from alerter.errors import ActionError
from alerter.protocols import Clock
from alerter.store.db import StateStore

log = structlog.get_logger(__name__)

DEFAULT_MAX_BANS = 10_000


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def window_words(seconds: float) -> str:
    """'24h' for a day, as people say it of ban counts; other spans as durations."""
    if seconds % 3600 == 0 and seconds <= 48 * 3600:
        return f"{int(seconds // 3600)}h"
    return format_duration(seconds)


def sentence(ban: Ban, nth: int, within: float) -> str:
    """'banned 203.0.113.7 for 20m, 2nd ban in 24h' ('would ban ...' in a dry run)."""
    verb = "would ban" if ban.dry_run else "banned"
    ports = f" (ports {', '.join(map(str, ban.ports))})" if ban.ports else ""
    length = format_duration(round(ban.until - ban.time, 3))
    return f"{verb} {ban.address}{ports} for {length}, {ordinal(nth)} ban in {window_words(within)}"


class BanRefused(ActionError):
    """A ban not made: `outcome` says why (an action-history outcome)."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


REFUSED_ALLOWED = "refused_allowed"
REFUSED_CAP = "refused_cap"
RECHECK = 60.0  # seconds: a refusal the runner cannot see end is looked at again this often
SKIPPED_BANNED = "skipped_banned"


class BanExecutor:
    """The `ban` action type; also the API's and the CLI's way to ban and lift by hand."""

    def __init__(
        self,
        actions: Iterable[ActionConfig],
        store: StateStore,
        firewall: Firewall,
        clock: Clock,
        *,
        allowlist: Allowlist | None = None,
        dry_run: bool = False,
        max_bans: int = DEFAULT_MAX_BANS,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.specs = {a.name: a.spec for a in actions if isinstance(a.spec, BanSpec)}
        self.book = BanBook(store, on_error)
        self.firewall = firewall
        self.clock = clock
        self.dry_run = dry_run
        self.max_bans = max_bans
        nets = [n for s in self.specs.values() for n in s.allow]
        self.allowlist = allowlist if allowlist is not None else Allowlist(nets)
        longest = max((s.increment.within for s in self.specs.values() if s.increment), default=0.0)
        self.retention = max(RETENTION, longest)
        self._next_prune = float("-inf")

    # --- start: re-apply what the store says is in force -----------------------------------

    def start(self) -> None:
        """Load the bans in force; unless in a dry run, set up the table and re-apply them with
        the time they have left. A firewall error is logged, not raised: alerting goes on."""
        now = self.clock.now()
        bans = self.book.load(now)
        real = [b for b in bans if not b.dry_run]
        if self.dry_run or not (self.specs or real):
            return  # no ban configured and none in force: leave nftables alone
        try:
            # the port lists of the bans in force too: the chain is rewritten with their drop
            # rules from the first nft run (a reload may have dropped or changed `ports`)
            self.firewall.setup([*(s.ports for s in self.specs.values()), *(b.ports for b in real)])
            now = self.clock.now()
            if real:
                self.firewall.restore([(b.address, b.ports, b.until - now) for b in real])
            found = self.firewall.elements()
        except ActionError as e:
            log.error("bans_not_restored", error=str(e), bans=len(real))
            return
        if real:
            log.info("bans_restored", bans=len(real))
        self._agree(found, {(b.address, b.ports) for b in real}, now)

    def _agree(
        self, found: Sequence[Element], known: set[tuple[Address, tuple[int, ...]]], now: float
    ) -> None:
        """Make the store and the kernel agree on what a crash left half done: an element whose
        latest ban the store says was lifted is deleted (the crash came between the lift's two
        writes); any other element no ban in force explains (a ban by hand cut between its two
        writes, a ban the store refused, a state_dir reset) is recorded as a ban by hand with
        the time the kernel gives it, so it is listed and can be lifted."""
        for e in found:
            if (e.address, e.ports) in known or e.expires <= 0:
                continue
            what = {"address": str(e.address), "ports": list(e.ports)}
            if self.book.lifted_last(e.address, e.ports):
                try:
                    self.firewall.delete(e.address, e.ports)
                except ActionError as err:
                    log.error("ban_lift_not_finished", **what, error=str(err))
                    continue
                log.warning("ban_lift_finished", **what)
            else:
                detail = "found in nftables at start, not in the state store"
                self.book.add(
                    Ban(0, e.address, e.ports, now, now + e.expires, MANUAL, detail=detail)
                )
                log.warning("ban_found_in_nftables", **what, seconds=e.expires)

    # --- deciding (main loop) ----------------------------------------------------------------

    def vet(self, plan: ActionPlan, dry: bool, now: float) -> tuple[str, str] | None:
        """Why this ban is not made, as (outcome, detail), or None to go on with the limits."""
        spec = plan.action.spec
        assert isinstance(spec, BanSpec)
        addr = parse_address(plan.target)
        why = self.allowlist.why(addr, spec.allow)
        if why is not None:
            return REFUSED_ALLOWED, f"{addr} is never banned ({why})"
        held = self.book.current(addr, dry, now)
        if held is not None:
            return SKIPPED_BANNED, f"banned until {_clock(held.until)}"
        if self.book.count(now, dry) >= self.max_bans:
            return REFUSED_CAP, f"{self.max_bans} bans in force (global.max_bans)"
        return None

    def lifted_by_hand(self, plan: ActionPlan, dry: bool) -> bool:
        """A repeat of this alert's ban after someone lifted it: left alone until the alert
        resolves and fires again (a lifted ban would otherwise come back at the next tick)."""
        addr = parse_address(plan.target)
        return self.book.lifted_by_hand(addr, dry, plan.alert.fingerprint)

    def refused_until(self, refusal: str, plan: ActionPlan, dry: bool, now: float) -> float | None:
        """Until when a repeat of this plan, refused by `vet`, is not decided again: the end of
        the address's ban in force; past the cap or on the allowlist, a minute (a place frees
        when a ban ends or is lifted by hand, which the runner does not see, and a reload makes
        a new allowlist). Not at the first ban's end: every alert held by the cap would wake
        then, each tick, for one place."""
        if refusal in (REFUSED_CAP, REFUSED_ALLOWED):
            return now + RECHECK
        return self.banned_until(plan, dry, now)

    def banned_until(self, plan: ActionPlan, dry: bool, now: float) -> float | None:
        held = self.book.current(parse_address(plan.target), dry, now)
        return held.until if held is not None else None

    def decide(self, plan: ActionPlan, dry: bool, now: float) -> ActionPlan:
        """Record the ban (its length from the address's earlier bans); the plan carries it."""
        spec = plan.action.spec
        assert isinstance(spec, BanSpec)
        within = spec.increment.within if spec.increment else DEFAULT_WITHIN
        addr = parse_address(plan.target)
        earlier = self.book.earlier(addr, now - within, dry)
        ban = Ban(
            0,
            addr,
            spec.ports,
            now,
            now + spec.duration_after(earlier),
            plan.action.name,
            plan.alert.fingerprint,
            plan.alert.alertname,
            dry,
        )
        what = sentence(ban, earlier + 1, within)
        ban = self.book.add(replace(ban, detail=what))
        self._prune(now)
        return replace(plan, undo_state={"what": what, "ban": ban})

    # --- the Executor protocol (workers) -----------------------------------------------------

    def undo_state(self, plan: ActionPlan) -> None:
        return None  # what apply returns is all the undo needs

    def apply(self, plan: ActionPlan) -> tuple[str, dict[str, Any]]:
        ban = plan.undo_state.get("ban")
        if not isinstance(ban, Ban):  # a plan not from decide(): nothing was decided
            raise ActionError("internal error: a ban plan without its decision")
        left = ban.until - self.clock.now()
        if left <= 0:
            return "ended before it was applied", {}
        try:
            self.firewall.add(ban.address, ban.ports, left)
        except ActionError:
            self.book.forget(ban)
            raise
        return "", {}

    def undo(self, plan: ActionPlan) -> str:
        lifted = self.lift(parse_address(plan.target), plan.action.dry_run or self.dry_run)
        return "lifted" if lifted else "not in force"

    # --- by hand (API, CLI) ------------------------------------------------------------------

    def ban(
        self, address: Address, seconds: float, ports: Sequence[int] = (), comment: str = ""
    ) -> Ban:
        """Ban now, as a person asked; raises BanRefused (allowlist, cap) or ActionError."""
        now = self.clock.now()
        why = self.allowlist.why(address)
        if why is not None:
            raise BanRefused(REFUSED_ALLOWED, f"{address} is never banned ({why})")
        if self.book.current(address, self.dry_run, now) is None and (
            self.book.count(now, self.dry_run) >= self.max_bans
        ):
            raise BanRefused(REFUSED_CAP, f"{self.max_bans} bans in force (global.max_bans)")
        ban = Ban(0, address, tuple(sorted(set(ports))), now, now + seconds, MANUAL)
        ban = replace(ban, dry_run=self.dry_run, detail=comment)
        if not self.dry_run:
            self.firewall.add(address, ban.ports, seconds)
        ban = self.book.add(ban)
        log.info("ban_added", address=str(address), seconds=seconds, dry_run=self.dry_run)
        return ban

    def lift(self, address: Address, dry: bool | None = None) -> Ban | None:
        """End the bans on `address` now (their kernel elements go too); returns the newest,
        None if none was in force."""
        dry = self.dry_run if dry is None else dry
        bans = self.book.lift(address, dry, self.clock.now())
        if not bans:
            return None
        if not dry:
            for ports in sorted({b.ports for b in bans}):
                try:
                    self.firewall.delete(address, ports)
                except ActionError as e:
                    if "No such file or directory" not in str(e):  # already gone from the kernel
                        raise
        log.info("ban_lifted", address=str(address), dry_run=dry)
        return bans[0]

    def _prune(self, now: float) -> None:
        if now >= self._next_prune:
            self._next_prune = now + 3600.0
            self.book.prune(now - self.retention)


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M:%S UTC")
