"""`localctx doctor` reads the real llama.cpp build and this machine."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.services.doctor import diagnose
from localctx.services.machine import GpuInfo, MachineMemory

runner = CliRunner()


def test_doctor_json_matches_this_machine() -> None:
    r = runner.invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["llama_cpp_python"] == "0.3.36"
    assert "CPU" in d["backends"] and any(dev["name"] == "CPU" for dev in d["devices"])
    assert d["memory"]["ram_total"] == psutil.virtual_memory().total
    flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    if "avx2" in flags:
        assert "AVX2" in d["cpu_features"]
    if "avx2" not in flags:
        assert "AVX2" not in d["cpu_features"]


def test_gpu_without_backend_gets_the_reinstall_command() -> None:
    fake_gpu_machine = MachineMemory(32 << 30, 16 << 30, [GpuInfo(0, "NVIDIA RTX 4090", "CUDA", 24 << 30, 23 << 30)])
    rep = diagnose(fake_gpu_machine)
    assert "CUDA" not in rep.backends  # this build is CPU-only
    assert any("no CUDA backend" in p for p in rep.problems)
    assert rep.fixes == ['CMAKE_ARGS="-DGGML_CUDA=on" .venv/bin/pip install --force-reinstall --no-cache-dir '
                         '--no-deps llama-cpp-python==0.3.36']


def test_doctor_human_output() -> None:
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 0 and "llama.cpp backends" in r.stdout and "RAM" in r.stdout
    assert "CPU weight path" in r.stdout


def test_a_busy_machine_is_named_with_the_thread_count_that_fits(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LOCALCTX_LOAD", "3.5,2")
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 0, r.output
    assert "load average 3.50 on 2 cores; llama.cpp threads 2 (the default: one per core)" in r.stdout
    (line,) = [ln for ln in r.stderr.splitlines() if "busy" in ln]
    assert line.startswith("warning: this machine is busy (load average 3.50 on 2 cores, no spare core)")
    assert "-t 1 is faster now" in r.stderr.replace("\n", " ")
    d = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["cpu_load"]
    assert (d["busy"], d["spare_cores"], d["threads"], d["suggested_threads"]) == (True, 0, 2, 1)
    assert d["notice"].startswith("this machine is busy")

    monkeypatch.setenv("LOCALCTX_LOAD", "0.2,2")
    r = runner.invoke(app, ["doctor"])
    assert "the cores are free for them" in r.stdout and "busy" not in r.stderr
    assert json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)["cpu_load"]["notice"] is None


def test_the_real_load_average_is_read_when_none_is_given(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    from localctx.services.cpu import cpu_load

    monkeypatch.delenv("LOCALCTX_LOAD")
    before = os.getloadavg()[0]
    got = cpu_load(None)
    after = os.getloadavg()[0]
    assert got is not None and min(before, after) - 0.5 <= got.load_1m <= max(before, after) + 0.5
    assert got.cores == len(os.sched_getaffinity(0)) and got.threads == psutil.cpu_count(logical=False)
    assert not got.threads_given and cpu_load(1).threads == 1
    monkeypatch.setenv("LOCALCTX_LOAD", "lots")
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 2 and "cannot read LOCALCTX_LOAD='lots'" in r.stderr and "Traceback" not in r.output
