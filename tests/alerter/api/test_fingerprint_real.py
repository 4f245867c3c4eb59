"""alerter's fingerprints equal a real Alertmanager 0.25's for the same label sets."""

from __future__ import annotations

import random

import pytest
import requests

from alerter.rules.alert import fingerprint
from tests.alerter.notifiers.test_alertmanager_real import alertmanager  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

VALUES = ["", "a", "10.0.0.1", "/srv/données", "Zoë", "☃ 𝄞 日本語", "ÿ", "x" * 300, 'q"\\', "\x01"]


def label_sets(n: int) -> list[dict[str, str]]:
    rnd = random.Random(15)
    names = ["alertname", "host", "ip", "severity", "mount", "a", "zz", "job_1", "_x"]
    out = []
    for i in range(n):
        labels = {k: rnd.choice(VALUES) or "v" for k in rnd.sample(names, rnd.randint(1, 6))}
        labels["alertname"] = f"A{i}"  # one alert per set
        out.append(labels)
    return out


def test_fingerprints_equal_alertmanagers(alertmanager: str) -> None:  # noqa: F811
    sets = label_sets(60)
    r = requests.post(
        f"{alertmanager}/api/v2/alerts", json=[{"labels": s} for s in sets], timeout=5
    )
    assert r.status_code == 200, r.text
    got = {
        a["labels"]["alertname"]: a
        for a in requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
    }
    assert len(got) == len(sets)
    for s in sets:
        a = got[s["alertname"]]
        assert a["labels"] == s
        assert fingerprint(s) == a["fingerprint"], s
