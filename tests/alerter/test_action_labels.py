"""`alerter check` warns of an action that reads a label its rule's alerts never have: it would
fail at every firing."""

from __future__ import annotations

from tests.alerter.rule_file_config import load


def test_an_action_reading_a_label_its_rules_alerts_never_have_is_warned_about() -> None:
    # builtin:pam's PAMAuthFailures is keyed by rhost: a ban reading labels.ip would fail at
    # every firing; SSHBruteForce is keyed by ip
    cfg = load("""
        rule_files:
          - {path: builtin:pam, sources: [journal], actions: {PAMAuthFailures: [ban]}}
          - {path: builtin:sshd, sources: [journal], actions: {SSHBruteForce: [ban]}}
        """)
    told = [w.message for w in cfg.warnings if "reads labels." in w.message]
    assert told == [
        "warning: PAMAuthFailures (action ban): the action reads labels.ip, which "
        "PAMAuthFailures's alerts never have (they have: alertname, host, rhost, severity); it "
        "would fail at every firing"
    ]
