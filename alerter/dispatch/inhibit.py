"""Inhibition: a firing source alert mutes target alerts that agree on the `equal` labels
(a missing label equals the empty string, as in Alertmanager)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alerter.dispatch.config import InhibitRuleConfig
from alerter.rules.alert import Alert
from alerter.rules.matchers import matches_all


class Inhibitor:
    def __init__(self, rules: Iterable[InhibitRuleConfig]) -> None:
        self.rules = tuple(rules)

    def inhibited_by(
        self, labels: Mapping[str, str], fingerprint: str, firing: Iterable[Alert]
    ) -> list[str]:
        """Fingerprints of the firing alerts that inhibit this one (empty: not inhibited)."""
        if not self.rules:
            return []
        sources = list(firing)
        out: list[str] = []
        for rule in self.rules:
            if not matches_all(rule.target_matchers, labels):
                continue
            want = tuple(labels.get(k, "") for k in rule.equal)
            # An alert matching both sides is not inhibited by another such alert
            # (Alertmanager's excludeTwoSidedMatch), so two of them cannot mute each other.
            two_sided = matches_all(rule.source_matchers, labels)
            for src in sources:
                if src.fingerprint == fingerprint or src.fingerprint in out:
                    continue
                if two_sided and matches_all(rule.target_matchers, src.labels):
                    continue
                if (
                    matches_all(rule.source_matchers, src.labels)
                    and tuple(src.labels.get(k, "") for k in rule.equal) == want
                ):
                    out.append(src.fingerprint)
        return out
