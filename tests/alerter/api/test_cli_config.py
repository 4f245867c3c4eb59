"""The client commands find the daemon and its token from `-c CONFIG` (server.listen and
server.token_file), as `alerter run -c CONFIG` serves them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerter.cli.main import main
from tests.alerter.api import daemon_fixture
from tests.alerter.api.daemon_fixture import Running
from tests.conftest import HTTPReceiver, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def running(tmp_path: Path, http_receiver: HTTPReceiver) -> Iterator[Running]:
    yield from daemon_fixture.start(tmp_path, http_receiver.url)


def test_client_commands_take_url_and_token_from_the_config(
    running: Running, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the daemon's config with the port it got (it listens on port 0)
    text = (tmp_path / "config.yaml").read_text()
    port = running.daemon.server.port
    cfg = tmp_path / "client.yaml"
    cfg.write_text(text.replace("127.0.0.1:0", f"127.0.0.1:{port}"))

    # adding a silence needs the token: without the config, refused
    assert main(["silence", "add", "code=500", "-m", "deploy", "--url", running.url]) == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert main(["silence", "add", "code=500", "-m", "deploy", "-c", str(cfg)]) == 0
    sid = capsys.readouterr().out.strip()
    assert running.daemon.run_state is not None
    assert main(["silence", "ls", "-q", "-c", str(cfg)]) == 0
    assert capsys.readouterr().out.split() == [sid]
    assert main(["status", "-c", str(cfg)]) == 0
    assert "firing: 0" in capsys.readouterr().out
    running.write("ERROR 404")
    wait_for(lambda: main(["alerts", "-c", str(cfg)]) == 0 and "404" in capsys.readouterr().out)
    assert main(["silence", "expire", sid, "-c", str(cfg)]) == 0


def test_client_tables_show_a_log_lines_terminal_escapes_escaped(
    tmp_path: Path, http_receiver: HTTPReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    # a label from a log line, a silence's comment from an API client: neither reaches the
    # terminal as an escape sequence (ESC [2J clears the screen, OSC 0 sets its title)
    rules = daemon_fixture.app_errors_rules(1).replace("(?P<code>\\d+)", "(?P<code>\\S+)")
    started = daemon_fixture.start(tmp_path, http_receiver.url, rules)
    running = next(started)
    url, token = running.url, ["--token-file", str(running.token_file)]

    def rows(first: str) -> str:
        """The table's rows (the daemon, in this process, may log to the same stdout)."""
        return "\n".join(x for x in capsys.readouterr().out.splitlines() if x.startswith(first))

    def alerts() -> str | None:
        assert main(["alerts", "--url", url]) == 0
        return rows("AppErrors") or None

    try:
        running.write("ERROR 4\x1b[2J04")
        shown = wait_for(alerts)
        assert "code=4\\x1b[2J04" in shown and "\x1b" not in shown
        add = ["silence", "add", "code=x", "-m", "\x1b]0;owned\x07", "--url", url, *token]
        assert main(add) == 0
        capsys.readouterr()
        assert main(["silence", "ls", "--url", url]) == 0
        listed = rows("")
        assert "\\x1b]0;owned\\x07" in listed and "\x1b" not in listed and "\x07" not in listed
    finally:
        started.close()
