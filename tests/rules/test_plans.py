"""Each log rule's plan (rules/plans/), chosen once at load: the plan of every shipped pack
rule is pinned here, so a rule that silently falls to a slower plan (a Python whose private
regex parser changed, a derivation that stopped proving a pattern linear) fails the suite."""

from __future__ import annotations

import dataclasses
from importlib import resources

import pytest

from alerter.config.rulefiles import shipped_patterns
from alerter.rules import prefilter
from alerter.rules.loader import load_rule_files
from alerter.rules.model import Rule
from alerter.rules.plans import STRATEGIES, EveryLine, Plan, plan_for
from tests.rules.test_batches import RULES

PACKS = sorted(
    f.name.removesuffix(".yaml")
    for f in resources.files("alerter.rules").joinpath("packs").iterdir()
    if f.name.endswith(".yaml")
)

# generated from the engine's paths before plans existed (the same for every rule), checked
# against what each plan is for: keyed counts of one-line regexes starting with their literal
# take one finditer; those that do not start with it are gated by it; the nginx ratio and
# spike count in one findall; the quantile takes its values from one, falling back to a
# MULTILINE regex scan when a value is empty
PINNED = {
    "apache/0/ApacheAuthFailures": "KeyedAnyGated(12)",
    "apache/1/ApacheProbes": "KeyedAnyGated(5)",
    "apache/2/ApacheBadRequests": "KeyedAnyGated(6)",
    "deadman/0/LogSourceSilent": "Touch",
    "dovecot/0/DovecotLoginFailures": "Fieldless(KeyedAnyGated(3), else AnyLiteralScan(3))",
    "dovecot/1/DovecotAuthFailures": "Fieldless(KeyedAnyGated(4), else AnyLiteralScan(4))",
    "dovecot-aggressive/0/DovecotSessionsWithoutAuth": "Fieldless(KeyedAnyGated(3), else AnyLiteralScan(3))",
    "nginx-aggressive/0/NginxTLSHandshakeErrors": "KeyedGated",
    "postfix-aggressive/0/PostfixAbortedSessions": "Fieldless(KeyedAnyGated(4), else AnyLiteralScan(4))",
    "postfix-aggressive/1/PostfixFailedAuthSessions": "Fieldless(KeyedGated, else LiteralScan)",
    "postfix-aggressive/2/PostfixSASLMechanismProbes": "Fieldless(KeyedGated, else LiteralScan)",
    # kernel rules filter on journal fields (where: _TRANSPORT / _PID, _UID) that a line
    # without fields passes: a batch without fields is counted per key (Fieldless), others are
    # found by literal and judged one by one; systemd's by regex scan
    "kernel/0/KernelOOMKill": "Fieldless(KeyedGated, else LiteralScan)",
    "kernel/1/KernelIOError": "Fieldless(KeyedGated, else LiteralScan)",
    "kernel/2/KernelSegfault": "Fieldless(KeyedGated, else LiteralScan)",
    "nginx/0/NginxHigh5xxRatio": "BulkCount",
    "nginx/1/NginxRequestSpike": "BulkCount",
    "nginx/2/NginxSlowRequests": "BulkValues(fallback=RegexScan)",
    "nginx/3/NginxClientErrorsFromAddress": "KeyedGated",
    "nginx/4/NginxHTTPAuthFailures": "KeyedAnyGated(2)",
    "nginx/5/NginxRateLimited": "KeyedGated",
    "nginx/6/NginxProbes": "KeyedGated",
    "nginx/7/NginxPathTraversal": "KeyedAnyGated(21)",
    "nginx/8/NginxProbesErrorLog": "KeyedGated",
    "pam/0/PAMAuthFailures": "Fieldless(KeyedGated, else LiteralScan)",
    "pam/1/SudoRefused": "Fieldless(KeyedAnyGated(4), else AnyLiteralScan(4))",
    "pam/2/SuFailures": "Fieldless(KeyedGated, else LiteralScan)",
    "postfix/0/PostfixSASLAuthFailures": "Fieldless(KeyedGated, else LiteralScan)",
    "postfix/1/PostfixRelayDenied": "Fieldless(KeyedAnyGated(1), else AnyLiteralScan(1))",
    "postfix/2/PostfixRejects": "Fieldless(KeyedAnyGated(10), else AnyLiteralScan(10))",
    # sshd rules filter on the journal's _UID (Fieldless, as kernel's) and anchor at the
    # message start; each match holds one of their alternatives' literals, rarer than the
    # ` from ` they share, if any: the lines holding one are searched in place, counted per
    # key (SSHAuthRefused keeps connection state: on a batch without fields a line that only
    # tells its connection's address goes to the state, the others are judged one by one)
    "sshd/0/SSHBruteForce": "Fieldless(AttemptScan(4 + 1 idle), else AnyLiteralScan(5))",
    "sshd/1/SSHInvalidUsers": "Fieldless(KeyedAnyGated(3), else AnyLiteralScan(3))",
    "sshd/2/SSHAuthRefused": "ConnectionScan(12, else AnyLiteralScan(12))",
    "sshd-aggressive/0/SSHPreauthDisconnects": "Fieldless(KeyedAnyGated(2), else AnyLiteralScan(2))",
    "sshd-aggressive/1/SSHProtocolProbes": "ConnectionScan(11, else AnyLiteralScan(11))",
    "sshd-aggressive/2/SSHLoginGraceTimeouts": "Fieldless(KeyedGated, else LiteralScan)",
    "systemd/0/SystemdUnitFailed": "RegexScan",
    "systemd/1/SystemdUnitRestarting": "RegexScan",
    "systemd-syslog/0/SystemdUnitFailedSyslog": "KeyedGated",
    "systemd-syslog/1/SystemdUnitRestartingSyslog": "KeyedGated",
}

# the randomized batch test's rules (tests/rules/test_batches.py): one or more per strategy
PINNED_TEST_RULES = {
    "KeyedCount": "KeyedFindall",
    "OptionalGroupKey": "KeyedFindall",
    "PlainCount": "BulkCount",
    "Ratio": "BulkCount",
    "CountSameShapeAsRatio": "BulkCount",
    "SpanningRatio": "BulkCount",
    "RatioOfField": "RegexScan",
    "SpanningKeyed": "KeyedFindall",
    "SpanningFirst": "EveryLine",
    "SpanningFirstKeyed": "EveryLine",
    "SpanningBulk": "BulkLines",
    "DistinctUsers": "KeyedFindall",
    "LiteralOnly": "LiteralScan",
    "AnchoredKeyed": "KeyedGated",
    "WordBoundaryKeyed": "KeyedGated",
    "QuantileOfGroup": "BulkValues(fallback=RegexScan)",
    "QuantileOptionalGroup": "BulkValues(fallback=RegexScan)",
    "AnyOfLiterals": "AnyLiteralScan(3)",
    "KeyedAnyWeighted": "Fieldless(KeyedAnyGated(2), else AnyLiteralScan(2))",
    "ConnectionCount": "ConnectionScan(4, else AnyLiteralScan(4))",
    "AttemptCount": "Fieldless(AttemptScan(3 + 1 idle), else AnyLiteralScan(4))",
    "WhereRule": "EveryLine",
    "Silent": "Touch",
}


def pack_rules(prefix: str = "builtin:", linear: frozenset[str] = frozenset()) -> list[Rule]:
    """The shipped packs' log rules, loaded as the daemon loads `builtin:NAME` (or, with
    another prefix and the packs' regexes as `linear`, as the daemon loads a user's copy of
    them)."""
    files = [
        (
            f"{prefix}{name}",
            resources.files("alerter.rules").joinpath("packs", f"{name}.yaml").read_text(),
        )
        for name in PACKS
    ]
    return [r for r in load_rule_files(files, 15.0, linear).rules() if r.logs is not None]


def test_every_shipped_pack_rule_gets_its_pinned_plan() -> None:
    assert {r.ident: plan_for(r).label for r in pack_rules()} == PINNED


def test_a_users_unchanged_copy_of_the_packs_gets_the_packs_plans() -> None:
    # its regexes run in `re` as the packs' do (alerter.config.rulefiles.shipped_patterns), and
    # so do the forms the batch paths derive from them (tests/alerter/test_pack_copies.py)
    copies = pack_rules("/etc/alerter/", shipped_patterns())
    assert {r.ident: plan_for(r).label for r in copies} == PINNED


def test_the_randomized_tests_rules_get_their_pinned_plans() -> None:
    rules = load_rule_files([("t.yaml", RULES)], 15.0).rules()
    assert {r.alert: plan_for(r).label for r in rules} == PINNED_TEST_RULES


def test_without_the_private_regex_parser_the_pinned_plans_fail_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a Python whose re._parser changed would do: no derivation, every rule that had a
    batch plan judges every line, each plan saying why, and the pinned table no longer holds
    (so the suite fails instead of the daemon getting slower unnoticed)."""
    monkeypatch.setattr(prefilter, "_parser", None)
    monkeypatch.setattr(prefilter, "PARSER_PROBLEM", "re._parser parses the probe differently")
    plans = {r.ident: plan_for(r) for r in pack_rules()}
    assert {i: p.label for i, p in plans.items()} != PINNED
    for ident, plan in plans.items():
        if ident != "deadman/0/LogSourceSilent":
            assert isinstance(plan, EveryLine)
            assert plan.why == "re._parser parses the probe differently"


@pytest.mark.parametrize(
    ("logs", "why"),
    [
        ("{where: {level: error}}", "no regex"),
        ("{match: '(?i)error'}", "case-insensitive"),
        ("{match: '\\d+x\\d'}", "no literal of 2 or more characters"),
        ("{match: '\\pL+ failed'}", "not Python regex syntax"),  # RE2 syntax
    ],
)
def test_a_rule_without_a_literal_judges_every_line_and_says_why(logs: str, why: str) -> None:
    rule = f"{{alert: A, logs: {logs}, aggregate: count, over: 1m, threshold: '> 1'}}"
    rules = load_rule_files([("t.yaml", f"groups: [{{name: g, rules: [{rule}]}}]")], 15.0)
    plan = plan_for(rules.rules()[0])
    assert isinstance(plan, EveryLine) and why in plan.why


def test_plans_are_frozen_values_chosen_the_same_way_each_time() -> None:
    for rule in pack_rules():
        plan = plan_for(rule)
        assert plan == plan_for(rule)
        assert dataclasses.is_dataclass(plan)
        for f in dataclasses.fields(plan):
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(plan, f.name, None)


def test_every_strategy_is_a_frozen_plan_and_the_last_serves_any_rule() -> None:
    assert STRATEGIES[-1] is EveryLine
    for strategy in STRATEGIES:
        assert issubclass(strategy, Plan)
        assert dataclasses.is_dataclass(strategy)
        assert strategy.__dataclass_params__.frozen
