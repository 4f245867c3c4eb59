"""A pack rule copied into a user's rule file (to change its threshold, say) keeps the pack's
speed: its regexes, unchanged, run in Python's `re` as the pack's do, because the pack's tests
prove them linear there (tests/rules/test_pack_patterns_linear.py). Changed in any way, a
pattern `re` cannot be proved linear in runs in RE2, as any user's pattern does."""

from __future__ import annotations

import io
import textwrap
from argparse import Namespace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerter.cli.rules import cmd_test
from alerter.config.load import Config, parse_config
from alerter.config.rulefiles import shipped_patterns
from alerter.core.saferegex import is_re2
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.model import Rule, RuleSet
from tests.rules.test_packs import PACK_TESTS, PACKS


def pack_rule(pack: str, alert: str) -> dict[str, Any]:
    text = resources.files("alerter.rules").joinpath("packs", f"{pack}.yaml").read_text()
    for g in yaml.safe_load(text)["groups"]:
        for r in g.get("rules", ()):
            if r["alert"] == alert:
                return dict(r)
    raise AssertionError(f"{pack} has no rule {alert}")


def load_copy(tmp_path: Path, rule: dict[str, Any]) -> Config:
    (tmp_path / "ssh.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "mine", "rules": [rule]}]})
    )
    cfg = textwrap.dedent("""
        collectors:
          - {name: auth, type: file, paths: [/var/log/auth.log], parser: {type: syslog}}
        rule_files: [ssh.yaml]
        """)
    return parse_config(cfg, str(tmp_path / "alerter.yaml"), {})


def only_rule(cfg: Config) -> Rule:
    (rule,) = cfg.rules.rules()
    return rule


def test_a_copied_pack_rule_with_its_own_threshold_runs_its_regexes_in_re(tmp_path: Path) -> None:
    rule = pack_rule("sshd", "SSHBruteForce")
    rule["threshold"] = ">= 10"
    logs = only_rule(load_copy(tmp_path, rule)).logs
    assert logs is not None and logs.match is not None and logs.exclude is not None
    assert not is_re2(logs.match) and not is_re2(logs.exclude)


def test_a_changed_copy_runs_in_re2(tmp_path: Path) -> None:
    rule = pack_rule("sshd", "SSHBruteForce")
    rule["logs"] = {**rule["logs"], "match": rule["logs"]["match"].replace("Failed", "Failed ?")}
    logs = only_rule(load_copy(tmp_path, rule)).logs
    assert logs is not None and logs.match is not None and logs.exclude is not None
    assert is_re2(logs.match)  # changed: not the pack's, and not provably linear in `re`
    assert not is_re2(logs.exclude)  # still the pack's as written


@pytest.mark.parametrize("pack", PACKS)
def test_a_pack_copied_whole_passes_the_packs_tests_with_every_regex_in_re(
    tmp_path: Path, pack: str
) -> None:
    text = resources.files("alerter.rules").joinpath("packs", f"{pack}.yaml").read_text()
    (tmp_path / "copy.yaml").write_text(text)
    tests = (PACK_TESTS / f"{pack}.test.yaml").read_text()
    assert f"rule_files: [builtin:{pack}]" in tests
    (tmp_path / "t.yaml").write_text(tests.replace(f"builtin:{pack}", "copy.yaml"))
    out = io.StringIO()
    assert cmd_test(Namespace(files=[str(tmp_path / "t.yaml")]), out) == 0, out.getvalue()
    copy = load_rule_files([("copy.yaml", text)], 15.0, shipped_patterns())
    rules = copy.rules()
    regexes = [x for r in rules if r.logs is not None for x in (r.logs.match, r.logs.exclude)]
    assert [x.pattern for x in regexes if x is not None and is_re2(x)] == []
    # and the batch paths read it as they read the pack (the forms they derive stay in `re`)
    shipped = load_rule_files([(f"builtin:{pack}", text)], 15.0)
    assert plans(copy) == plans(shipped)


def plans(rules: RuleSet) -> list[str]:
    return [r.plan.label for r in Engine(rules, {})._log_rules]


def test_every_pack_regex_is_known_and_nothing_else() -> None:
    known = shipped_patterns()
    found: set[str] = set()
    for f in resources.files("alerter.rules").joinpath("packs").iterdir():
        if f.name.endswith(".yaml"):
            for g in yaml.safe_load(f.read_text())["groups"]:
                for r in [*g.get("rules", ()), *g.get("metrics", ())]:
                    found.update(
                        v for k, v in r.get("logs", {}).items() if k in ("match", "exclude")
                    )
    assert known == found and len(known) >= 30
