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
