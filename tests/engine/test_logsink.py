"""A Ctrl-C whose handler runs inside llama.cpp's log callback must reach the program, not be printed
by ctypes as an ignored exception and dropped (bench used to run on to exit 0 that way)."""

from __future__ import annotations

import signal
import time

import pytest

from localctx.engine import logsink


def test_a_ctrl_c_inside_the_log_callback_is_delivered_after_it(monkeypatch: pytest.MonkeyPatch,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    def interrupted(level: int, text: str) -> None:
        raise KeyboardInterrupt

    handler = signal.getsignal(signal.SIGINT)
    assert handler is signal.default_int_handler, f"SIGINT is not Python's own handler here: {handler!r}"
    monkeypatch.setattr(logsink.SINK, "feed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        logsink._log_callback(2, b"a line\n", None)  # through ctypes, as llama.cpp calls it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the re-posted interrupt arrives
            time.sleep(0.01)
    assert "Exception ignored" not in capfd.readouterr().err
