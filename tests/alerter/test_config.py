"""Config validation: every problem reported as FILE:LINE:COL: message, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.collectors.http import HttpConfig
from alerter.collectors.prometheus import PrometheusConfig
from alerter.config.load import DEFAULT_PROTECTED_UNITS, load_config, parse_config
from alerter.core.values import parse_duration
from alerter.errors import ConfigError
from alerter.notifiers.config import WebhookSettings


def problems(text: str, env: dict[str, str] | None = None, file: str = "cfg.yaml") -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, file, env or {})
    return [str(p) for p in exc.value.problems]


def test_bad_yaml_reports_position() -> None:
    assert problems("global:\n  state_dir: [a,\n") == [
        "cfg.yaml:3:1: invalid YAML: expected the node content, but found '<stream end>'"
    ]


def test_unknown_key_is_an_error_with_a_suggestion() -> None:
    got = problems("global:\n  evaluation_intreval: 10s\n")
    assert got == [
        "cfg.yaml:2:3: global: unknown key 'evaluation_intreval' (did you mean 'evaluation_interval'?)"
    ]


def test_unknown_top_level_key() -> None:
    assert problems("colectors: []\n") == [
        "cfg.yaml:1:1: config: unknown key 'colectors' (did you mean 'collectors'?)"
    ]


def test_wrong_type() -> None:
    assert problems("global:\n  dry_run: 'yes please'\n") == [
        "cfg.yaml:2:12: dry_run: expected true or false, got a string ('yes please')"
    ]


def test_wrong_type_section_not_a_mapping() -> None:
    assert problems("global: [1, 2]\n") == ["cfg.yaml:1:9: global must be a mapping, got a list"]


def test_bad_duration() -> None:
    assert problems("global:\n  evaluation_interval: 10 minutes\n") == [
        "cfg.yaml:2:24: evaluation_interval: invalid duration '10 minutes' (use e.g. 500ms, 10s, 5m, 1h30m, 7d)"
    ]


def test_unknown_collector_type() -> None:
    got = problems("collectors:\n  - name: x\n    type: syslogd\n")
    assert got == [
        "cfg.yaml:3:11: type: unknown value 'syslogd'; expected one of file, journald, host, prometheus, command, http"
    ]


def test_unset_env_var_without_default() -> None:
    got = problems("global:\n  external_url: http://${MYHOST}:9753\n")
    assert got == [
        "cfg.yaml:2:17: external_url: environment variable MYHOST is not set and has no default "
        "(set it, or write ${MYHOST:-default})"
    ]


def test_env_var_with_default_and_set(tmp_path: Path) -> None:
    # the state_dir must not be a file: tmp_path, not a fixed /tmp path another program may own
    text = (
        f"global:\n  state_dir: {tmp_path}/state\n"
        "  external_url: http://${MYHOST:-localhost}:${PORT}\n"
    )
    cfg = parse_config(text, "cfg.yaml", {"PORT": "9999"})
    assert cfg.global_.external_url == "http://localhost:9999"


def test_unreadable_secret_file(tmp_path: Path) -> None:
    got = problems(f"server:\n  token_file: {tmp_path}/missing-token\n")
    assert got == [
        f"cfg.yaml:2:15: token_file: cannot read {tmp_path}/missing-token: No such file or directory"
    ]


def test_non_loopback_listen_needs_token() -> None:
    got = problems("server:\n  listen: 0.0.0.0:9753\n")
    assert got[0].startswith("cfg.yaml:2:11: listen: 0.0.0.0:9753 is not a loopback address")


def test_all_problems_reported_at_once_sorted_by_position() -> None:
    got = problems(
        "global:\n  evaluation_interval: soon\n  bogus: 1\ncollectors:\n  - {name: a, type: nope}\n"
    )
    assert [g.split(": ")[0] for g in got] == ["cfg.yaml:2:24", "cfg.yaml:3:3", "cfg.yaml:5:21"]


def test_duplicate_keys_are_errors() -> None:
    assert problems("global:\n  dry_run: true\n  dry_run: false\n") == [
        "cfg.yaml:3:3: duplicate key 'dry_run'"
    ]


def test_duplicate_collector_names_say_where_the_first_is() -> None:
    got = problems("collectors:\n  - {name: a, type: host}\n  - {name: a, type: host}\n")
    assert got == ["cfg.yaml:3:5: duplicate collector name 'a' (first at cfg.yaml:2:5)"]


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path / "nope.yaml"))
    assert (
        str(exc.value) == f"{tmp_path}/nope.yaml:1:1: cannot read config: No such file or directory"
    )


def test_relative_state_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("global: {state_dir: ./var}\n")
    assert load_config(str(f), env={}).global_.state_dir == str(tmp_path / "var")


def test_embedded_default_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (as on a machine without /etc/alerter/config.yaml, whatever this one has)
    monkeypatch.setattr("alerter.config.load.DEFAULT_PATH", str(tmp_path / "none.yaml"))
    cfg = load_config(None, env={"STATE_DIRECTORY": str(tmp_path)})
    assert cfg.global_.state_dir == str(tmp_path)
    assert {c.type for c in cfg.collectors} >= {"host", "file"}
    assert [n.type for n in cfg.notifiers] == ["console"]


def test_example_config_loads() -> None:
    repo = Path(__file__).resolve().parents[2]
    cfg = load_config(str(repo / "config.example.yaml"), env={})
    assert cfg.global_.state_dir == str(repo / "var")
    assert cfg.server.listen == "127.0.0.1:9753"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10),
        ("5m", 300),
        ("1h30m", 5400),
        ("7d", 604800),
        ("0", 0),
        ("1w", 604800),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "1.5s", "m", "5 m", "-1s", "1s5m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_configured_protected_units_add_to_the_built_in_set() -> None:
    cfg = parse_config(
        "global:\n  protected_units: [web-frontend.service, dbus.service]\n", "c.yaml", {}
    )
    assert cfg.global_.protected_units == (*DEFAULT_PROTECTED_UNITS, "web-frontend.service")
    assert parse_config("global: {}\n", "c.yaml", {}).global_.protected_units == (
        DEFAULT_PROTECTED_UNITS
    )
    assert parse_config(
        "global:\n  protected_units: []\n", "c.yaml", {}
    ).global_.protected_units == (DEFAULT_PROTECTED_UNITS)


def test_a_relative_token_file_is_read_from_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like state_dir and every other path in the config: not from the daemon's working
    directory (systemd starts it in /)."""
    (tmp_path / "api-token").write_text("s3cret\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("server: {listen: '0.0.0.0:9753', token_file: api-token}\n")
    monkeypatch.chdir("/")
    c = load_config(str(cfg))
    assert c.server.token == "s3cret" and c.server.token_file == str(tmp_path / "api-token")


def test_http_headers_have_a_file_form_as_every_secret(tmp_path: Path) -> None:
    """An Authorization header is a secret: `headers_file` holds `Name: value` lines, as curl's
    `-H @FILE`, for the webhook notifier and the prometheus and http collectors alike."""
    (tmp_path / "auth").write_text(
        "# the token\nAuthorization: Bearer s3cret\n\nX-Scope-OrgID: ops\n"
    )
    text = f"""
collectors:
  - {{name: m, type: prometheus, url: "http://127.0.0.1:9/metrics", headers_file: {tmp_path}/auth}}
  - {{name: w, type: http, url: "http://127.0.0.1:9/", headers: {{X-A: b}}, headers_file: {tmp_path}/auth}}
notifiers:
  - {{name: h, type: webhook, url: "http://127.0.0.1:9/", headers_file: {tmp_path}/auth}}
"""
    cfg = parse_config(text, "cfg.yaml", {})
    want = {"Authorization": "Bearer s3cret", "X-Scope-OrgID": "ops"}
    prom, web = (c.spec for c in cfg.collectors)
    assert isinstance(prom, PrometheusConfig) and isinstance(web, HttpConfig)
    assert prom.headers == want and web.headers == {"X-A": "b", **want}
    hook = cfg.notifiers[0].settings
    assert isinstance(hook, WebhookSettings) and hook.headers == want


def test_a_bad_headers_file_is_told_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("Authorization Bearer x\n")
    (tmp_path / "twice").write_text("x-a: 1\n")
    got = problems(f"""notifiers:
  - {{name: h, type: webhook, url: "http://127.0.0.1:9/", headers_file: {tmp_path}/bad}}
  - {{name: i, type: webhook, url: "http://127.0.0.1:9/", headers: {{X-A: b}}, headers_file: {tmp_path}/twice}}
  - {{name: j, type: webhook, url: "http://127.0.0.1:9/", headers_file: {tmp_path}/none}}
""")
    assert [p.split(": ", 1)[1] for p in got] == [
        f"headers_file: {tmp_path}/bad:1: expected 'Name: value'",
        f"headers_file: {tmp_path}/twice:1: x-a is in headers too",
        f"headers_file: cannot read {tmp_path}/none: No such file or directory (check the path "
        "and permissions)",
    ]
