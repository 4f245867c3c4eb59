"""Labels whose text the line's subject chooses (a pack rule's `logs.forgeable`): an action
must not take a unit or pidfile from them, and `alerter check` warns of a ban or command that
reads one (DESIGN "Trust: log text is written by others")."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from alerter.config.load import Config, parse_config
from alerter.errors import ConfigError
from alerter.rules.loader import load_rule_files

PACKS = Path(__file__).resolve().parents[2] / "rules" / "packs"

HEAD = """
collectors:
  - {name: journal, type: journald}
actions:
  - {name: restart-proc, type: systemd, unit: "{{ labels.process }}", operation: restart}
  - {name: hup, type: signal, pidfile: "/run/{{ labels.process }}.pid", signal: HUP}
  - {name: note, type: command, argv: [/usr/local/bin/note, "{{ labels.process }}"]}
  - {name: note-dev, type: command, argv: [/usr/local/bin/note, "{{ labels.device }}"]}
"""


def load(rule_files: str) -> Config:
    return parse_config(HEAD + textwrap.dedent(rule_files), "alerter.yaml", {})


def own_rules(tmp_path: Path) -> str:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "groups: [{name: g, rules: [{alert: Crash, logs: {source: journal, match: "
        "'^(?P<process>\\S+)\\[\\d+\\]: crashed', where: {_TRANSPORT: kernel}, "
        "forgeable: [process]}, by: [process], aggregate: count, over: 1m, "
        "threshold: '>= 1'}]}]\n"
    )
    return str(rules)


def test_an_action_whose_unit_is_a_label_the_subject_chooses_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load(f"rule_files: [{{path: {own_rules(tmp_path)}, actions: {{Crash: [restart-proc]}}}}]\n")
    (found,) = [str(p) for p in exc.value.problems]
    where, message = found.split(": ", 1)
    assert where.startswith("alerter.yaml:9:"), found  # the entry's actions for Crash
    assert message.startswith(
        "Crash (action restart-proc): unit: '{{ labels.process }}' reads labels.process, whose "
        "text the line's subject chooses"
    ), found


def test_a_command_reading_a_label_the_subject_chooses_is_warned_about(tmp_path: Path) -> None:
    cfg = load(f"rule_files: [{{path: {own_rules(tmp_path)}, actions: {{Crash: [note]}}}}]\n")
    assert [w.message.split(":")[1] for w in cfg.warnings] == [" Crash (action note)"]


def test_forgeable_names_a_group_of_match() -> None:
    with pytest.raises(Exception, match="forgeable: 'proc' is no group of match"):
        load_rule_files(
            [
                (
                    "r.yaml",
                    "groups: [{name: g, rules: [{alert: A, logs: {match: '(?P<process>\\w+) x',"
                    " forgeable: [proc]}, by: [process], aggregate: count, over: 1m,"
                    " threshold: '> 1'}]}]\n",
                )
            ],
            default_interval=15.0,
        )


def derived_rules(tmp_path: Path, labels: str, annotations: str = "{}") -> str:
    rules = tmp_path / "derived.yaml"
    rules.write_text(
        "groups: [{name: g, rules: [{alert: OOM, logs: {source: journal, match: "
        "'Killed process \\d+ \\((?P<process>[^)]+)\\)', where: {_TRANSPORT: kernel}, "
        "forgeable: [process]}, by: [process], aggregate: count, over: 15m, "
        f"threshold: '>= 1', labels: {labels}, annotations: {annotations}}}]}}]\n"
    )
    return str(rules)


@pytest.mark.parametrize(
    "labels",
    [
        '{unit: "{{ labels.process }}.service"}',
        "{unit: \"{{ labels.get('process') | lower }}\"}",
        "{unit: \"{{ labels['process'] }}\"}",
        '{unit: "{% for k, v in labels.items() %}{{ v }}{% endfor %}"}',  # every label
    ],
)
def test_a_rule_label_made_from_a_label_the_subject_chooses_is_refused_as_a_unit(
    tmp_path: Path, labels: str
) -> None:
    rules = derived_rules(tmp_path, labels)
    with pytest.raises(ConfigError) as exc:
        parse_config(
            "collectors:\n  - {name: journal, type: journald}\n"
            "actions:\n  - {name: restart, type: systemd, unit: '{{ labels.unit }}'}\n"
            f"rule_files: [{{path: {rules}, actions: {{OOM: [restart]}}}}]\n",
            "alerter.yaml",
            {},
        )
    (found,) = [str(p) for p in exc.value.problems]
    assert "reads labels.unit (made from labels.process), whose text the line's subject" in found


def test_a_rule_label_that_overrides_or_ignores_the_subjects_label_is_not_refused(
    tmp_path: Path,
) -> None:
    rules = derived_rules(tmp_path, '{unit: "web.service", process: "fixed"}')
    cfg = parse_config(
        "collectors:\n  - {name: journal, type: journald}\n"
        "actions:\n  - {name: restart, type: systemd, unit: '{{ labels.unit }}'}\n"
        f"  - {{name: r2, type: systemd, unit: '{{{{ labels.process }}}}'}}\n"
        f"rule_files: [{{path: {rules}, actions: {{OOM: [restart, r2]}}}}]\n",
        "alerter.yaml",
        {},
    )
    assert cfg.warnings == ()


def test_a_command_reading_an_annotation_made_from_the_subjects_label_is_warned_about(
    tmp_path: Path,
) -> None:
    rules = derived_rules(
        tmp_path, "{}", '{summary: "{{ labels.process }} killed", lines: "{{ examples }}"}'
    )
    cfg = parse_config(
        "collectors:\n  - {name: journal, type: journald}\n"
        "actions:\n  - {name: page, type: command, argv: [/bin/page, '{{ annotations.summary }}']}\n"
        "  - {name: page2, type: command, argv: [/bin/page, '{{ annotations.lines }}']}\n"
        f"rule_files: [{{path: {rules}, actions: {{OOM: [page, page2]}}}}]\n",
        "alerter.yaml",
        {},
    )
    told = [w.message for w in cfg.warnings]
    assert len(told) == 2, told
    assert told[0].startswith(
        "warning: OOM (action page): the action reads annotations.summary (made from "
        "labels.process), whose text the line's subject chooses"
    ), told
    assert "annotations.lines (made from examples)" in told[1], told


def test_a_command_on_a_rule_with_labels_the_subject_chooses_is_warned_once_of_its_env(
    tmp_path: Path,
) -> None:
    rules = derived_rules(tmp_path, '{unit: "{{ labels.process }}.service"}')
    cfg = parse_config(
        "collectors:\n  - {name: journal, type: journald}\n"
        "actions:\n  - {name: page, type: command, argv: [/bin/page, '{{ alertname }}']}\n"
        "  - {name: note, type: command, argv: [/bin/note, '{{ labels.process }}']}\n"
        f"rule_files: [{{path: {rules}, actions: {{OOM: [page, note]}}}}]\n",
        "alerter.yaml",
        {},
    )
    told = [w.message for w in cfg.warnings]
    assert len(told) == 2, told  # one per action: note's argv warning says it for note
    assert told[0].startswith(
        "warning: OOM (action page): the command gets every label in its environment "
        "(ALERTER_LABEL_*) and on stdin, labels.process and labels.unit among them, whose text "
        "the line's subject chooses"
    ), told
    assert told[1].startswith("warning: OOM (action note): the action reads labels.process")


def test_a_command_on_a_rule_without_labels_the_subject_chooses_is_not_warned_about(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "plain.yaml"
    rules.write_text(
        "groups: [{name: g, rules: [{alert: Seg, logs: {source: journal, match: "
        "'segfault at (?P<addr>\\w+)', where: {_TRANSPORT: kernel}}, by: [addr], "
        "aggregate: count, over: 1m, threshold: '>= 1', annotations: {s: '{{ examples }}'}}]}]\n"
    )
    cfg = parse_config(
        "collectors:\n  - {name: journal, type: journald}\n"
        "actions:\n  - {name: page, type: command, argv: [/bin/page, '{{ annotations.s }}']}\n"
        f"rule_files: [{{path: {rules}, actions: {{Seg: [page]}}}}]\n",
        "alerter.yaml",
        {},
    )
    assert cfg.warnings == ()
