"""`localctx inspect` and `models` through the real CLI, including every kind of bad input."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.gguf_factory import llama_like
from tests.slowness import scaled

runner = CliRunner()


def test_inspect_smollm2_json() -> None:
    r = runner.invoke(app, ["inspect", "smollm2", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert (d["arch"], d["n_layer"], d["n_head"], d["n_head_kv"], d["head_dim_k"]) == ("llama", 30, 9, 3, 64)
    assert d["ctx_train"] == 8192 and d["rope"]["freq_base"] == 100000.0


def test_inspect_gemma_json(gemma_path: Path) -> None:
    r = runner.invoke(app, ["inspect", "gemma-3-270m", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert (d["n_layer"], d["sliding_window"], d["head_dim_k"]) == (18, 512, 256)
    assert d["swa_layer_indices"] == [i for i in range(18) if i % 6 != 5]


def test_inspect_human_table() -> None:
    r = runner.invoke(app, ["inspect", "smollm2"])
    assert r.exit_code == 0
    assert "trained context" in r.stdout and "8,192" in r.stdout and "chat template" in r.stdout


def test_models_lists_bundled_and_registered(tmp_path: Path) -> None:
    p = llama_like(tmp_path / "tiny.gguf")
    r = runner.invoke(app, ["models", "add", str(p), "--name", "tiny"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["models", "--json"])
    rows = {m["name"]: m for m in json.loads(r.stdout)}
    assert rows["smollm2"]["arch"] == "llama" and rows["smollm2"]["ctx_train"] == 8192
    assert rows["tiny"]["source"] == "registered" and rows["tiny"]["path"] == str(p.resolve())
    r = runner.invoke(app, ["inspect", "tiny", "--json"])
    assert json.loads(r.stdout)["n_layer"] == 2


def test_near_matches_are_listed() -> None:
    r = runner.invoke(app, ["inspect", "smolm2"])
    assert r.exit_code == 2
    assert "did you mean: smollm2" in r.stderr


def _bad_files(tmp: Path, smollm2: Path) -> dict[str, Path]:
    head = smollm2.read_bytes()[:2_000_000]
    files = {}
    (tmp / "text.gguf").write_text("hello, I am not a model\n" * 10)
    files["not gguf"] = tmp / "text.gguf"
    (tmp / "trunc.gguf").write_bytes(head[:1_000_000])
    files["truncated header"] = tmp / "trunc.gguf"
    (tmp / "trunc-data.gguf").write_bytes(head)
    files["truncated data"] = tmp / "trunc-data.gguf"
    (tmp / "magic.gguf").write_bytes(b"GGML" + head[4:])
    files["wrong magic"] = tmp / "magic.gguf"
    (tmp / "version.gguf").write_bytes(head[:4] + struct.pack("<I", 7) + head[8:])
    files["wrong version"] = tmp / "version.gguf"
    (tmp / "count.gguf").write_bytes(head[:8] + struct.pack("<Q", 2**60) + head[16:])
    files["absurd tensor count"] = tmp / "count.gguf"
    (tmp / "kvcount.gguf").write_bytes(head[:16] + struct.pack("<Q", 2**40) + head[24:])
    files["absurd kv count"] = tmp / "kvcount.gguf"
    # the first key's string length claims 2^62 bytes
    (tmp / "strlen.gguf").write_bytes(head[:24] + struct.pack("<Q", 2**62) + head[32:])
    files["absurd string length"] = tmp / "strlen.gguf"
    files["unknown architecture"] = llama_like(tmp / "frob.gguf", arch="frobnicator")
    (tmp / "adir.gguf").mkdir()
    files["directory"] = tmp / "adir.gguf"
    files["missing file"] = tmp / "missing.gguf"
    (tmp / "empty.gguf").write_bytes(b"")
    files["empty"] = tmp / "empty.gguf"
    return files


@pytest.mark.parametrize("case", [
    "not gguf", "truncated header", "truncated data", "wrong magic", "wrong version", "absurd tensor count",
    "absurd kv count", "absurd string length", "unknown architecture", "directory", "missing file", "empty",
])
def test_bad_input_is_one_line_exit_2(case: str, tmp_path: Path, smollm2_path: Path) -> None:
    path = _bad_files(tmp_path, smollm2_path)[case]
    r = runner.invoke(app, ["inspect", str(path), "--json"])
    assert r.exit_code == 2, (case, r.output)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and path.name in lines[0], lines
    assert "Traceback" not in r.output


def test_bad_input_through_the_real_process(tmp_path: Path, smollm2_path: Path) -> None:
    """The installed entry point, as a user runs it: exit 2, one line, no traceback, quickly."""
    files = _bad_files(tmp_path, smollm2_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for case in ("truncated data", "absurd string length", "wrong magic"):
        p = subprocess.run([sys.executable, "-m", "localctx", "inspect", str(files[case])], capture_output=True,
                           text=True, timeout=scaled(60), env=env)
        assert p.returncode == 2, (case, p.stderr)
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
