"""The example polkit rule grants exactly the listed units and verbs to user `alerter`."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from alerter.actions.unitctl import SystemctlController
from tests.conftest import Sandbox, require

from .conftest import T0, Harness, alert, fire

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


@pytest.mark.integration
def test_rule_allows_only_listed_units_and_verbs_for_alerter(tmp_path: Path) -> None:
    node = require("node")  # evaluates the JavaScript rule
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
    out = subprocess.run(
        [node, str(harness), str(RULE), json.dumps(cases)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(out.stdout) == ["yes", "yes", "yes", None, None, None, None, None]


@pytest.mark.integration
def test_unprivileged_alerter_manages_only_the_listed_units_under_real_polkit(
    harness: Harness, systemd_sandbox: Sandbox, tmp_path: Path
) -> None:
    """polkitd in the sandbox, with the example rule (for user nobody and test unit names)
    bind-mounted over /etc/polkit-1/rules.d in the sandbox's own mount namespace only."""
    require("/usr/lib/polkit-1/polkitd")
    sb = systemd_sandbox
    u = f"a6-{secrets.token_hex(3)}"
    web, app = f"{u}-web.service", f"{u}-app.service"
    rules = tmp_path / "rules.d"
    rules.mkdir()
    text = RULE.read_text().replace('subject.user !== "alerter"', 'subject.user !== "nobody"')
    text = text.replace('"web.service"', f'"{web}"').replace('"app.service"', f'"{app}"')
    (rules / "50-alerter.rules").write_text(text)
    rules.chmod(0o755)
    sb.run("mount", "--bind", str(rules), "/etc/polkit-1/rules.d")
    sb.systemctl("try-restart", "polkit.service")
    for unit in (web, app):
        sb.write_unit(unit, "[Service]\nExecStart=/bin/sleep 1000\n")
        sb.systemctl("start", unit)
    as_nobody = SystemctlController(
        prefix=sb.command(
            "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "systemctl"
        )
    )
    r = harness.build(
        f"""
actions:
  - {{name: restart-web, type: systemd, unit: {web}}}
  - {{name: cap-web, type: systemd, unit: {web}, operation: set-property, properties: {{CPUQuota: 30%}}}}
  - {{name: stop-web, type: systemd, unit: {web}, operation: stop}}
  - {{name: restart-app, type: systemd, unit: {app}}}
  - {{name: stop-app, type: systemd, unit: {app}, operation: stop}}
""",
        units=as_nobody,
    )
    before = sb.show(web, "InvocationID")
    r.handle(
        [fire(alert(["restart-web", "cap-web", "stop-web", "restart-app", "stop-app"]), T0)], T0
    )
    assert r.wait_idle(60)
    outcomes = {x["action"]: x["outcome"] for x in r.history()}
    assert outcomes == {
        "restart-web": "ok",
        "cap-web": "ok",
        "stop-web": "failed",
        "restart-app": "ok",
        "stop-app": "failed",
    }
    assert "Interactive authentication required" in next(
        x["detail"] for x in r.history() if x["action"] == "stop-app"
    )
    assert sb.show(web, "InvocationID") != before
    assert sb.show(web, "CPUQuotaPerSecUSec") == "300ms"
    assert sb.show(web, "ActiveState") == sb.show(app, "ActiveState") == "active"
