"""The example polkit rule grants exactly the listed units and verbs to user `alerter`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

RULE = Path(__file__).resolve().parents[3] / "packaging" / "alerter-polkit.rules"

# polkit's JavaScript API, reduced to what the rule uses.
HARNESS = """
const fs = require("fs");
const rules = [];
const polkit = {Result: {YES: "yes", NO: "no", NOT_HANDLED: null}, addRule: (f) => rules.push(f)};
eval(fs.readFileSync(process.argv[2], "utf8"));
const out = JSON.parse(process.argv[3]).map(([id, user, unit, verb]) => {
  const action = {id, lookup: (k) => ({unit, verb})[k]};
  return rules[0](action, {user});
});
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to evaluate the JavaScript rule")
def test_rule_allows_only_listed_units_and_verbs_for_alerter(tmp_path: Path) -> None:
    manage = "org.freedesktop.systemd1.manage-units"
    cases = [
        (manage, "alerter", "web.service", "restart"),
        (manage, "alerter", "web.service", "set-property"),
        (manage, "alerter", "app.service", "restart"),
        (manage, "alerter", "app.service", "stop"),  # verb not listed for this unit
        (manage, "alerter", "ssh.service", "restart"),  # unit not listed
        (manage, "mallory", "web.service", "restart"),  # another user
        ("org.freedesktop.systemd1.manage-unit-files", "alerter", "web.service", "restart"),
        (manage, "alerter", "hasOwnProperty", "restart"),
    ]
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    out = subprocess.run(["node", str(harness), str(RULE), json.dumps(cases)],
                         capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(out.stdout) == ["yes", "yes", "yes", None, None, None, None, None]
