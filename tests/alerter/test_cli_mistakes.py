"""The `alerter` command given wrong input, as a new operator gives it: every mistake is told in
a line that names what to change, with a meaningful exit code, and never as a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from alerter.cli.main import main
from tests.conftest import HTTPReceiver

ALERTER = [sys.executable, "-m", "alerter"]


def test_bans_del_with_a_token_file_it_cannot_read_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for token in (tmp_path / "missing", tmp_path):  # no such file; a directory
        assert main(["bans", "del", "--token-file", str(token), "192.0.2.1"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"alerter: cannot read --token-file {token}: "), err
        assert err.count("\n") == 1


@pytest.mark.parametrize("args", [["version"], ["completion", "bash"], ["check", "-c", "C"]])
def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path, args: list[str]) -> None:
    # `alerter ... | head -1`: head has gone when alerter writes; a program killed by SIGPIPE
    # ends with 141 in the shell, and prints nothing
    cfg = tmp_path / "c.yaml"
    cfg.write_text("global: {state_dir: s}\n")
    args = [str(cfg) if a == "C" else a for a in args]
    read_end, write_end = os.pipe()
    os.close(read_end)  # no reader at all: the first write fails
    try:
        out = subprocess.run(
            [*ALERTER, *args], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write_end)
    assert out.stderr == ""
    assert out.returncode == 141


@pytest.mark.parametrize("url", ["127.0.0.1:9753", "localhost:9753", "ftp://127.0.0.1:9753"])
def test_a_url_without_http_is_told_as_not_a_url(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "--url", url]) == 1
    assert capsys.readouterr().err == (
        f"alerter: --url {url}: not a URL; give http://HOST:PORT (e.g. http://127.0.0.1:9753)\n"
    )


def test_a_refused_token_says_which_token_to_give(
    tmp_path: Path, http_receiver: HTTPReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    http_receiver.statuses.extend([401, 401])
    add = ["silence", "add", "a=b", "-m", "why", "--url", http_receiver.url]
    assert main(add) == 1
    assert capsys.readouterr().err == (
        "alerter: POST /api/v2/silences: HTTP 401: Unauthorized: give the daemon's API token:"
        " -c CONFIG (its server.token_file), or --token-file FILE\n"
    )
    (tmp_path / "token").write_text("wrong\n")
    assert main([*add, "--token-file", str(tmp_path / "token")]) == 1
    assert capsys.readouterr().err == (
        "alerter: POST /api/v2/silences: HTTP 401: Unauthorized: the token given is not the"
        " daemon's (its server.token_file)\n"
    )


def test_client_commands_read_the_server_section_of_a_config_whose_rules_are_broken(
    tmp_path: Path, http_receiver: HTTPReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    # a failed reload leaves the daemon running on its last good rules: its operator can still
    # silence its alerts with -c, which needs only server.listen and server.token_file
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "broken.yaml").write_text("groups: [\n")
    port = http_receiver.url.rsplit(":", 1)[1]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"server: {{listen: '127.0.0.1:{port}', token_file: token}}\n"
        "collectors: [{name: h, type: hostt}]\nrule_files: [broken.yaml]\n"
    )
    assert main(["silence", "expire", "-c", str(cfg), "0a1b"]) == 0, capsys.readouterr().err
    (got,) = http_receiver.wait(1)
    assert (got.method, got.path) == ("DELETE", "/api/v2/silence/0a1b")
    assert got.headers["Authorization"] == "Bearer s3cret"


def test_client_commands_tell_a_config_they_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "-c", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"alerter: -c {tmp_path}: a directory; give the daemon's config file\n"
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("server: {listen: 'localhost'}\n")
    assert main(["status", "-c", str(cfg)]) == 1
    assert capsys.readouterr().err == (
        f"alerter: -c {cfg}: cannot tell the daemon's address and token ({cfg}:1:18: listen:"
        " expected HOST:PORT, got 'localhost'); give --url and --token-file instead\n"
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["silence", "add", "a=b", "-m", "x", "-d", "5 m"],
            "alerter silence add: error: argument -d/--duration: invalid duration '5 m'"
            " (use e.g. 500ms, 10s, 5m, 1h30m, 7d)",
        ),
        (
            ["silence", "add", "a=b", "-m", "x", "-d", "0s"],
            "alerter silence add: error: argument -d/--duration: '0s': must be more than 0s",
        ),
        (
            ["silence", "add", "a=b", "-m", "x", "--start", "yesterday"],
            "alerter silence add: error: argument --start: 'yesterday' is not an RFC 3339 time"
            " (e.g. 2024-05-01T12:00:00Z)",
        ),
        (
            ["silence", "add", "a=~(", "-m", "x"],
            "alerter silence add: error: argument MATCHER: invalid regex in matcher a=~'(':"
            " missing ): ( (matchers use Go's RE2 syntax)",
        ),
        (
            ["alerts", "severity"],
            "alerter alerts: error: argument MATCHER: invalid matcher 'severity': expected"
            ' name="value" (operators = != =~ !~)',
        ),
        (
            ["bans", "add", "192.0.2.7", "-d", "5 m"],
            "alerter bans add: error: argument -d/--duration: invalid duration '5 m'"
            " (use e.g. 500ms, 10s, 5m, 1h30m, 7d)",
        ),
        (
            ["bans", "add", "192.0.2.7", "-p", "99999"],
            "alerter bans add: error: argument -p/--port: expected a port number from 1 to"
            " 65535, got 99999",
        ),
        (
            ["bans", "add", "web1"],
            "alerter bans add: error: argument ADDRESS: not one IP address: 'web1'",
        ),
    ],
)
def test_a_value_the_command_line_cannot_take_is_a_usage_error_naming_its_option(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # refused before a request (--url: nothing listens there); these were exit 1 or 2, told by
    # the daemon ("POST /api/v1/bans: HTTP 400: ...") or by the CLI without the option
    with pytest.raises(SystemExit) as ended:
        main([*argv, "--url", "http://127.0.0.1:1"])
    assert ended.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == said


def test_a_silence_that_ends_before_it_starts_is_refused_before_it_is_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["silence", "add", "a=b", "-m", "x", "--end", "2020-01-01T00:00:00Z"]
    assert main([*argv, "--start", "2020-01-01T01:00:00Z", "--url", "http://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == (
        "alerter silence add: --end 2020-01-01T00:00:00.000Z is not after the start"
        " 2020-01-01T01:00:00.000Z\n"
    )


RULE_FILE = "groups:\n  - name: g\n    rules: []\n"
TEST_FILE = "rule_files: [r.yaml]\ntests: []\n"
CONFIG = "global: {state_dir: s}\nrule_files: [r.yaml]\n"


@pytest.mark.parametrize(
    ("argv", "text", "said"),
    [
        (
            ["check", "-c"],
            RULE_FILE,
            "a rule file (groups:), not a config: name it in a config's rule_files, and check"
            " that config (alerter check -c CONFIG)",
        ),
        (
            ["check", "-c"],
            TEST_FILE,
            "a rule test file (tests:), not a config: run it with alerter test FILE",
        ),
        (
            ["test"],
            RULE_FILE,
            "a rule file (groups:), not a rule test file: alerter test runs files of tests"
            " (rule_files:, tests:) that name the rule files they test",
        ),
        (
            ["test"],
            CONFIG,
            "an alerter config, not a rule test file: check it with alerter check -c FILE",
        ),
    ],
)
def test_one_of_alerters_files_given_for_another_is_told_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], text: str, said: str
) -> None:
    # (was one "unknown key" line per top-level key: `config: unknown key 'groups'`)
    (tmp_path / "r.yaml").write_text(RULE_FILE)
    f = tmp_path / "f.yaml"
    f.write_text(text)
    assert main([*argv, str(f)]) == 1
    assert capsys.readouterr().out == f"{f}:1:1: {said}\n"


def test_a_rule_file_given_as_the_client_commands_config_is_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # (its missing server: section read as the default address)
    f = tmp_path / "r.yaml"
    f.write_text(RULE_FILE)
    assert main(["alerts", "-c", str(f)]) == 1
    assert f"({f}:1:1: a rule file (groups:), not a config: " in capsys.readouterr().err


@pytest.fixture
def other_server() -> Iterator[str]:
    """A web server that is not alerter (--url naming Prometheus, Grafana, a proxy): an HTML
    page of 404 for most paths, JSON of another shape for one."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/api/v1/status":
                body, status, kind = b'{"status": "ok"}', 200, "application/json"
            else:
                body, status, kind = (
                    b"<!DOCTYPE html>\n<html>\n<p>404</p>\n</html>\n",
                    404,
                    "text/html",
                )
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_that_is_not_alerters_says_so_in_one_line(
    other_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # were the whole HTML page, and a KeyError traceback
    not_alerter = f"the answer is not alerter's API: is {other_server} alerter's address?"
    assert main(["bans", "ls", "--url", other_server]) == 1
    assert capsys.readouterr().err == (
        f"alerter: GET /api/v1/bans: HTTP 404: Not Found; {not_alerter} (--url sets it)\n"
    )
    assert main(["status", "--url", other_server]) == 1
    assert (
        capsys.readouterr().err == f"alerter: GET /api/v1/status: {not_alerter} (--url sets it)\n"
    )


def test_a_rule_file_a_glob_matches_but_that_cannot_be_read_is_not_said_to_match_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.d" / "ssh.yaml").mkdir(parents=True)  # (as root, chmod 000 reads)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("global: {state_dir: s}\nrule_files: ['rules.d/*.yaml']\n")
    assert main(["check", "-c", str(cfg)]) == 1
    assert capsys.readouterr().out == (
        f"{cfg}:2:14: rule_files: cannot read {tmp_path}/rules.d/ssh.yaml: Is a directory\n"
    )  # (and was followed by "warning: rule_files: rules.d/*.yaml matches no file")
