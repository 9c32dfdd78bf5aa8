"""`localctx serve` refuses bad start-up input in one line before it listens or loads anything."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.cli.test_contract import loads  # noqa: F401  (the fixture: records, and refuses, every model load)

runner = CliRunner()


def _line(r: Any, code: int) -> str:
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output, r.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "words"), [
    (["smollm2", "--overflow", "squeeze"], "unknown overflow policy 'squeeze'"),
    (["smollm2", "--temp", "-1"], "--temp"),
    (["smollm2", "--port", "70000"], "--port 70000 is not a TCP port"),
    (["no-such-model", "--port", "0"], "no model matches 'no-such-model'"),
    (["smollm2", "--chat-template", "no-such-template", "--port", "0"], "no-such-template"),
])
def test_bad_start_up_input_is_one_line_exit_2(args: list[str], words: str, loads: list[str]) -> None:  # noqa: F811
    assert words in _line(runner.invoke(app, ["serve", *args]), 2)
    assert loads == []


def test_a_port_in_use_is_one_line(loads: list[str]) -> None:  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        line = _line(runner.invoke(app, ["serve", "smollm2", "--port", str(port)]), 2)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line and loads == []


def test_a_model_that_does_not_fit_is_refused_before_loading(loads: list[str]) -> None:  # noqa: F811
    line = _line(runner.invoke(app, ["serve", "smollm2", "--ctx", "100m", "--port", "0"]), 1)
    assert "does not fit this machine" in line and "--force" in line and loads == []
