"""The packs' labels whose text the line's subject chooses (`logs.forgeable`): the kernel
pack's process names; `alerter check` refuses a unit taken from one, warns of a command."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from alerter.config.load import Config, parse_config
from alerter.errors import ConfigError
from alerter.rules.loader import load_rule_files
from alerter.rules.model import Rule
from tests.alerter.test_subject_labels import HEAD

PACKS = Path(__file__).resolve().parents[2] / "rules" / "packs"


def load(rule_files: str) -> Config:
    return parse_config(HEAD + textwrap.dedent(rule_files), "alerter.yaml", {})


def test_a_unit_named_by_a_processs_own_name_is_refused_though_the_kernel_wrote_the_line() -> None:
    # the auditor's case: a local user names a program `postgresql` and makes it segfault
    # (or get OOM-killed): the kernel writes the line, with the comm the process chose
    with pytest.raises(ConfigError) as exc:
        load("""
            rule_files:
              - path: builtin:kernel
                sources: [journal]
                actions: {KernelOOMKill: [restart-proc], KernelSegfault: [restart-proc, hup]}
            """)
    found = [str(p) for p in exc.value.problems]
    assert len(found) == 3, found
    assert found[0].startswith(
        "alerter.yaml:13:15: KernelOOMKill (action restart-proc): unit: '{{ labels.process }}' "
        "reads labels.process, whose text the line's subject chooses"
    )
    assert "KernelSegfault (action hup): pidfile:" in found[2]
    assert all("Name the" in f for f in found)


def test_a_command_reading_such_a_label_is_warned_about_and_a_trusted_label_is_not() -> None:
    cfg = load("""
        rule_files:
          - path: builtin:kernel
            sources: [journal]
            actions: {KernelSegfault: [note], KernelIOError: [note-dev]}
        """)
    told = [w.message for w in cfg.warnings]
    assert len(told) == 1, told
    assert told[0].startswith(
        "warning: KernelSegfault (action note): the action reads labels.process, whose text "
        "the line's subject chooses"
    )


def test_a_label_read_under_default_or_through_get_still_counts() -> None:
    with pytest.raises(ConfigError):
        parse_config(
            HEAD.replace(
                '"{{ labels.process }}", operation', "\"{{ labels.get('process') }}\", operation"
            )
            + "rule_files: [{path: builtin:kernel, sources: [journal],"
            " actions: {KernelOOMKill: [restart-proc]}}]\n",
            "alerter.yaml",
            {},
        )


# Every pack rule's labels taken from the line: those the subject chooses (`forgeable`) and
# those it cannot. A new pack rule or label must be placed here, on purpose.
SUBJECT_CHOOSES = {
    "KernelOOMKill": {"process"},  # the task's comm: its executable's name or PR_SET_NAME
    "KernelSegfault": {"process"},
}
TRUSTED = {
    "ip",  # the peer address the server writes in its own place (sshd, nginx, apache ...)
    "rhost",  # PAM_RHOST, set by the service (sshd: the peer), read where it is unambiguous
    "device",  # the block device the kernel names
    "unit",  # PID 1's UNIT= (builtin:systemd); the syslog copy is forgeable as a whole
    "user",  # sudo's and su's invoking account (from its credentials, root's entries only)
    "source",  # deadman: the collector's name
}


def pack_rules() -> list[Rule]:
    files = [(f"builtin:{p.stem}", p.read_text()) for p in sorted(PACKS.glob("*.yaml"))]
    rules = load_rule_files(files, default_interval=15.0).rules()
    return [r for r in rules if r.logs is not None]


def test_every_pack_rules_line_labels_are_placed_as_chosen_by_the_subject_or_not() -> None:
    rules = pack_rules()
    assert rules
    for rule in rules:
        assert rule.logs is not None
        new = [rule.field] if rule.field and rule.aggregate == "new_value" else []
        line_labels = {*rule.by, *new}
        chosen = line_labels & set(rule.logs.forgeable)
        assert chosen == SUBJECT_CHOOSES.get(rule.alert, set()), rule.alert
        assert line_labels - chosen <= TRUSTED, rule.alert
