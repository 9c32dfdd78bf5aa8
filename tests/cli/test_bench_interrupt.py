"""Ctrl-C during `localctx bench` stops it like ingest, summarize and eval stop: exit 130, one line that
says what was kept, no traceback, and no calibration stored from a run that did not measure every depth."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.cli._interactive import Interactive


def _measuring(pid: int) -> bool:
    """The model is mapped and the process has since spent CPU seconds that only measuring spends
    (loading the 135M model takes well under one)."""
    try:
        mapped = ".gguf" in Path(f"/proc/{pid}/maps").read_text()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return mapped and cpu_s > 4


def test_ctrl_c_stops_bench_with_130_and_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("LOCALCTX_HOME", str(home))
    argv = [sys.executable, "-m", "localctx", "bench", "smollm2", "-t", "1", "--depths", "0,1k,2k,4k",
            "--repeats", "9", "--no-kernel-probe"]  # minutes of work: it can only end early by the Ctrl-C
    run = Interactive(argv)
    proc = run.proc
    try:
        run.wait(lambda: _measuring(proc.pid), "the calibration to be under way")
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        assert proc.wait(timeout=90) == 130, run.err.decode("utf-8", "replace")[-3000:]
        assert time.monotonic() - t0 < 30  # within a batch, not after the remaining rounds
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run.drain()
    err = run.err.decode("utf-8", "replace")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert lines[-1].startswith("error: interrupted: bench stopped") and "nothing was stored" in lines[-1], lines
    assert not [p for p in home.rglob("*") if p.is_file() and "calib" in str(p).lower()]
    assert run.out == b""
