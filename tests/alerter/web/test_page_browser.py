"""The web page in Debian's headless Chromium (selenium, chromium-driver) against the real
daemon: a file collector, one log rule and a loopback webhook receiver (daemon_fixture).

Prints what it measures (time to show a new alert, render time with 1,000 alerts, page weight)
and takes a screenshot of the page with alerts: into docs/screenshot.png (the README's) when
ALERTER_SCREENSHOT is set, else into the test's temporary directory, so a test run leaves the
checkout as it was."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.rules.alert import fingerprint
from alerter.testing import running_daemon
from tests.alerter.api import daemon_fixture
from tests.alerter.api.daemon_fixture import TOKEN, Running
from tests.conftest import REPO, HTTPReceiver, receiving, require, wait_for

pytestmark = pytest.mark.integration

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

DOCS_SCREENSHOT = REPO / "docs" / "screenshot.png"
WIDE = (1280, 900)


@pytest.fixture(scope="module")
def receiver() -> Iterator[HTTPReceiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, receiver: HTTPReceiver) -> Iterator[Running]:
    yield from daemon_fixture.start(tmp_path_factory.mktemp("web"), receiver.url)


@pytest.fixture(scope="module")
def browser(running: Running) -> Iterator[Any]:
    """Quits before the daemon stops (its polls would meet a daemon shutting down)."""
    chromium = require("/usr/bin/chromium")
    driver_path = require("/usr/bin/chromedriver")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.add_argument(f"--window-size={WIDE[0]},{WIDE[1]}")
    drv = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=opts)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def page(browser: Any, running: Running) -> Any:
    """The page freshly opened at desktop width, its script polling."""
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Network.enable", {})
    _online(browser, True)
    browser.get(running.url + "/")
    wait_for(lambda: browser.find_element(By.ID, "live").text.startswith("live"), timeout=30)
    return browser


def _online(drv: Any, online: bool) -> None:
    drv.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": not online, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def _alert_id(code: str) -> str:
    labels = {"alertname": "AppErrors", "code": code, "severity": "warning", "env": "test"}
    labels["host"] = socket.gethostname()
    return "alert-" + fingerprint(labels)


def _find(drv: Any, css: str) -> Any:
    found = drv.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None


def test_an_alert_fired_by_a_log_line_appears_live_and_its_markup_is_text(
    page: Any, running: Running
) -> None:
    line = 'ERROR 501 <script>window.pwned = 1</script><b id="bold">bold</b> &amp; "q"'
    t0 = time.monotonic()
    running.write(line)
    el = wait_for(lambda: _find(page, f"#{_alert_id('501')}"), timeout=30)
    print(f"\nnew alert shown {1000 * (time.monotonic() - t0):.0f} ms after its line was written")
    assert "firing" in el.get_attribute("class") or "pending" in el.get_attribute("class")
    example = el.find_element(By.CSS_SELECTOR, "pre.ex").text
    assert line in example  # the text itself, entities and all
    assert page.find_elements(By.ID, "bold") == []
    assert page.execute_script("return window.pwned === undefined") is True
    # no reload happened: the page's own navigation is the one opened before the line
    assert page.execute_script("return performance.getEntriesByType('navigation').length") == 1


def test_silencing_from_the_page_mutes_the_webhook(
    page: Any, running: Running, receiver: HTTPReceiver, tmp_path: Path
) -> None:
    target = _alert_id("502")
    running.write("ERROR 502 to be silenced")
    wait_for(lambda: _find(page, f"#{target}"), timeout=30)
    wait_for(lambda: _codes_sent(receiver, "502"), timeout=30)  # it was notified before

    # two clicks, by keyboard: Enter on "Silence…" opens the prefilled form, Enter creates it
    _act(page, f"#{target} button.silence", lambda b: b.send_keys(Keys.ENTER))
    matchers = page.find_element(By.ID, "silence-matchers").get_attribute("value")
    assert 'code="502"' in matchers and 'alertname="AppErrors"' in matchers
    page.switch_to.active_element.send_keys(Keys.ENTER)
    # the first write asks for the API token once; it is kept in the tab's session storage
    wait_for(lambda: page.find_element(By.ID, "token-dialog").is_displayed(), timeout=30)
    page.find_element(By.ID, "token-input").send_keys(TOKEN + Keys.ENTER)
    wait_for(lambda: "silenced" in _class(page, target))
    assert page.execute_script("return sessionStorage.getItem('alerter-token')") == TOKEN
    silences = requests.get(running.url + "/api/v2/silences", timeout=5).json()
    (s,) = [s for s in silences if {"name": "code", "value": "502"} in _plain(s["matchers"])]
    assert s["createdBy"] == "web" and s["status"]["state"] == "active"

    # the receiver is told no more of 502: the next notification of the group lacks it
    seen = len(receiver.requests)
    running.write("ERROR 503 after the silence")
    wait_for(lambda: _codes_sent(receiver, "503", since=seen), timeout=30)
    assert not _codes_sent(receiver, "502", since=seen)
    shot = DOCS_SCREENSHOT if os.environ.get("ALERTER_SCREENSHOT") else tmp_path / "page.png"
    page.set_window_size(WIDE[0], 1400)  # the alerts, silences, rules and collectors
    page.save_screenshot(str(shot))
    page.set_window_size(*WIDE)

    # expiring it from the page (token already there: one click)
    _act(page, f"#silence-{s['id']} button.expire", lambda b: b.click())
    wait_for(lambda: "expired" in _class(page, f"silence-{s['id']}"))
    wait_for(lambda: "silenced" not in _class(page, target))


def test_a_link_to_an_alert_no_longer_firing_says_so(page: Any, running: Running) -> None:
    page.get(running.url + "/#alert-0123456789abcdef")
    wait_for(lambda: page.find_element(By.ID, "notice").is_displayed(), timeout=30)
    assert "0123456789abcdef is no longer" in page.find_element(By.ID, "notice").text


def test_the_page_reconnects_after_losing_the_connection(page: Any, running: Running) -> None:
    _online(page, False)
    wait_for(lambda: "offline" in page.find_element(By.ID, "live").text, timeout=30)
    running.write("ERROR 504 while offline")
    wait_for(lambda: _alert_in_api(running, "504"), timeout=30)
    assert _find(page, f"#{_alert_id('504')}") is None
    _online(page, True)
    wait_for(lambda: _find(page, f"#{_alert_id('504')}"), timeout=30)
    wait_for(lambda: page.find_element(By.ID, "live").text.startswith("live"))


def test_usable_at_375_px_wide(page: Any, running: Running) -> None:
    running.write("ERROR 505 on a phone " + "x" * 300)
    wait_for(lambda: _find(page, f"#{_alert_id('505')}"), timeout=30)
    page.get(running.url + "/")

    def phone() -> bool:  # (once in CI, loaded, the page came up at the window's 1500 px)
        page.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True},
        )
        return bool(page.execute_script("return window.innerWidth") == 375)

    wait_for(phone, timeout=30)
    # nothing wider than the screen: no sideways scrolling of the page
    assert page.execute_script("return document.documentElement.scrollWidth") <= 375
    button = page.find_element(By.CSS_SELECTOR, f"#{_alert_id('505')} button.silence")
    rect = button.rect
    assert rect["x"] >= 0 and rect["x"] + rect["width"] <= 375
    button.click()
    dialog = page.find_element(By.ID, "silence-dialog")
    assert dialog.is_displayed() and dialog.rect["width"] <= 375
    page.find_element(By.ID, "silence-cancel").click()
    assert not dialog.is_displayed()


def test_light_and_dark_follow_the_browsers_preference(page: Any) -> None:
    def background(scheme: str) -> str:
        page.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )
        return str(page.execute_script("return getComputedStyle(document.body).backgroundColor"))

    try:
        assert background("light") == "rgb(255, 255, 255)"
        assert background("dark") == "rgb(21, 24, 28)"
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


# Per alert on the page: <li>, <b> name, button, labels, summary, example line (and a tag when
# silenced, the actions when some were taken), each with its one text node.
MAX_ELEMENTS_PER_ALERT = 6
MAX_NODES_PER_ALERT = 12
MAX_HTML_BYTES_PER_ALERT = 420  # with these labels and a short line (host name aside)


def test_a_thousand_alerts_render_time_and_page_weight(page: Any, running: Running) -> None:
    """What "renders in < 100 ms with 1,000 alerts" means here, printed for the page with a
    few alerts and with 1,000 (the difference is what the alerts cost): the browser's
    main-thread CPU for the load and its style + layout share (DevTools Performance metrics,
    counted from just before the navigation) and Navigation Timing's domContentLoadedEventEnd -
    responseStart (wall clock: first byte to a parsed, scripted page). Times grow with the
    machine's load, so they are printed, not asserted. Asserted: what makes it fast and does
    not vary with the load: DOM nodes and HTML bytes per alert, and that a live update
    touches only what changed."""
    weight = _weight(page)
    print(f"\npage weight with a few alerts: {weight} bytes (HTML, CSS, JS)")
    assert weight < 100_000
    few = _load(page, running.url + "/")
    print(f"{few['alerts']} alerts: {_figures(few)}")

    running.write(*(f"ERROR {code} one of many" for code in range(1000, 2000)))
    wait_for(lambda: _count_in_api(running) >= 1000, timeout=30)
    many = _load(page, running.url + "/")
    n = many["alerts"]
    assert n >= 1000
    print(
        f"{n} alerts: {_figures(many)}; HTML {many['html'] / n:.0f} bytes, "
        f"{many['elements'] / n:.1f} elements and {many['nodes'] / n:.1f} nodes an alert"
    )
    host = len(socket.gethostname())
    # + the group's heading and its blocks of alerts (about 64 each)
    assert many["elements"] <= MAX_ELEMENTS_PER_ALERT * n + n // 32 + 10
    assert many["nodes"] <= MAX_NODES_PER_ALERT * n + n // 32 + 20
    assert many["html"] <= (MAX_HTML_BYTES_PER_ALERT + host) * n

    # a notification's link lands on its alert, below the sticky navigation
    far = _alert_id("1900")
    page.get(f"{running.url}/#{far}")
    top = page.execute_script(
        f"return document.getElementById('{far}').getBoundingClientRect().top"
    )
    below = page.execute_script(
        "return document.querySelector('nav').getBoundingClientRect().bottom"
    )
    assert below <= top < page.execute_script("return window.innerHeight")

    # live: one new alert among 1,000 puts in that alert and the group's new heading only
    page.execute_script("performance.clearMeasures('alerter-render:alerts')")
    running.write("ERROR 2000 one more")
    wait_for(lambda: _find(page, f"#{_alert_id('2000')}"), timeout=30)
    one = _render(page)
    assert one["changed"] <= 3, one  # the alert, the heading (its count), maybe a whitespace
    # the whole section sent again (as after a lost connection): parsed, compared, kept
    page.execute_script(
        "performance.clearMeasures('alerter-render:alerts');"
        "document.querySelector('[data-section=alerts]').dataset.digest = ''"
    )
    again = wait_for(lambda: (r := _render(page))["changed"] >= 0 and r)
    assert again["changed"] == 0, again
    print(
        f"live update: one new alert {one['ms']:.1f} ms ({one['changed']} nodes changed); "
        f"all {n + 1} alerts received again {again['ms']:.1f} ms (nothing changed)"
    )


def _load(drv: Any, url: str) -> dict[str, Any]:
    """Open url from a blank page and measure its load (see the test above)."""
    drv.get("about:blank")
    drv.execute_cdp_cmd("Performance.disable", {})
    drv.execute_cdp_cmd("Performance.enable", {})  # the metrics count from here
    before = _cpu(drv)
    drv.get(url)
    cpu = {k: v - before.get(k, 0.0) for k, v in _cpu(drv).items()}
    if cpu["ThreadTime"] <= 0:  # the page got a renderer of its own: its figures are its load's
        cpu = _cpu(drv)
    out = dict(
        drv.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "const s = document.getElementById('sec-alerts');"
            "const it = document.createNodeIterator(s); let nodes = 0;"
            "while (it.nextNode()) nodes++;"
            "return {dcl: n.domContentLoadedEventEnd - n.responseStart, bytes: n.encodedBodySize,"
            " alerts: s.querySelectorAll('li.alert').length,"
            " elements: s.querySelectorAll('*').length, nodes: nodes - 1,"
            " html: new Blob([s.innerHTML]).size}"
        )
    )
    return {**out, **cpu}


def _figures(m: dict[str, Any]) -> str:
    return (
        f"main-thread CPU for the load {m['ThreadTime']:.0f} ms (style "
        f"{m['RecalcStyleDuration']:.0f} ms + layout {m['LayoutDuration']:.0f} ms), "
        f"first byte to DOMContentLoaded {m['dcl']:.0f} ms, page HTML {m['bytes']} bytes"
    )


def _cpu(drv: Any) -> dict[str, float]:
    wanted = ("ThreadTime", "RecalcStyleDuration", "LayoutDuration")
    metrics = drv.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return {m["name"]: 1000 * m["value"] for m in metrics if m["name"] in wanted}


def _render(drv: Any) -> dict[str, Any]:
    """The script's latest re-render of the alerts section: its time and the nodes changed."""
    return dict(
        drv.execute_script(
            "const m = performance.getEntriesByName('alerter-render:alerts');"
            "const e = m[m.length - 1];"
            "return e ? {ms: e.duration, changed: e.detail.changed} : {ms: -1, changed: -1}"
        )
    )


def _class(drv: Any, element_id: str) -> str:
    """The element's class attribute, read in one step (sections are swapped as they change)."""
    return str(
        drv.execute_script(
            "const e = document.getElementById(arguments[0]); return e ? e.className : ''",
            element_id,
        )
    )


def _text(drv: Any, element_id: str) -> str:
    return str(
        drv.execute_script(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : ''",
            element_id,
        )
    )


def _act(drv: Any, css: str, do: Any) -> None:
    """Find the element and act on it, again if a section swap replaced it in between."""

    def attempt() -> bool:
        try:
            do(drv.find_element(By.CSS_SELECTOR, css))
        except StaleElementReferenceException:
            return False
        return True

    wait_for(attempt, timeout=30)


def _weight(drv: Any) -> int:
    return int(
        drv.execute_script(
            "return performance.getEntriesByType('navigation')[0].encodedBodySize +"
            " performance.getEntriesByType('resource')"
            ".filter(r => r.name.includes('/static/'))"
            ".reduce((s, r) => s + r.encodedBodySize, 0)"
        )
    )


def _plain(matchers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": m["name"], "value": m["value"]} for m in matchers]


def _codes_sent(rec: HTTPReceiver, code: str, since: int = 0) -> bool:
    for r in list(rec.requests)[since:]:
        alerts = r.json()["alerts"]
        if any(a["labels"].get("code") == code and a["status"] == "firing" for a in alerts):
            return True
    return False


def _alerts(running: Running) -> list[dict[str, Any]]:
    body = requests.get(running.url + "/api/v1/alerts", timeout=5).json()
    return list(body["data"]["alerts"])


def _alert_in_api(running: Running, code: str) -> bool:
    return any(a["labels"].get("code") == code for a in _alerts(running))


def _count_in_api(running: Running) -> int:
    return len(_alerts(running))


BAN_RULES = """
groups:
  - name: auth
    interval: 1s
    rules:
      - alert: AuthFailures
        logs: {source: auth, match: 'failed login from (?P<ip>\\S+)'}
        aggregate: count
        over: 5m
        by: [ip]
        threshold: ">= 1"
        actions: [ban]
"""


def test_actions_taken_and_bans_show_and_a_ban_is_lifted_from_the_page(
    browser: Any, tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(BAN_RULES)
    (tmp_path / "token").write_text("ban-token\n")
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"""
global: {{state_dir: state, dry_run: true}}
server: {{listen: "127.0.0.1:0", token_file: token}}
collectors:
  - {{name: auth, type: file, paths: ["{log}"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
actions:
  - {{name: ban, type: ban, address: "{{{{ labels.ip }}}}", duration: 10m, repeat: false}}
notifiers: [{{name: out, type: console}}]
route: {{receiver: out}}
"""
    )
    with running_daemon(cfg) as d:
        url = f"http://127.0.0.1:{d.server.port}"
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser.get(url + "/")
        browser.execute_script("sessionStorage.clear()")
        log.write_text("failed login from 203.0.113.7\n")
        row = "ban-203.0.113.7"
        sel = f'[id="{row}"]'  # the address's dots are not an id selector's
        wait_for(lambda: _find(browser, sel), timeout=30)
        assert "dry run" in _text(browser, row)
        assert "ban 203.0.113.7" in _text(browser, "sec-actions")  # the recent actions
        alert = _find(browser, "li.alert")
        assert "ban 203.0.113.7" in alert.find_element(By.CSS_SELECTOR, ".acts").text

        _act(browser, f"{sel} button.lift", lambda b: b.click())
        wait_for(lambda: browser.find_element(By.ID, "token-dialog").is_displayed(), timeout=30)
        browser.find_element(By.ID, "token-input").send_keys("ban-token" + Keys.ENTER)
        wait_for(lambda: _find(browser, sel) is None, timeout=30)
        bans = requests.get(url + "/api/v1/bans", timeout=5).json()["data"]
        assert bans == []
        browser.get("about:blank")  # no polls while this daemon stops
