"""Header values llama.cpp would abort or misbehave on are refused before it opens the file.

Each case is a real, loadable tiny llama model with one hostile change (a norm tensor's type swapped,
a NaN/inf/negative hyper-parameter, a key of the wrong type, bad token types...).  Every one must be
refused with exit 2 by `inspect` and by the commands that plan or load a model, with nothing on stdout
and one line on stderr.  Without the checks llama.cpp aborts the interpreter on several of them.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from localctx.core.gguf_reader import read_gguf_header
from localctx.core.model_info import read_model_info
from localctx.errors import GGUFError
from tests.gguf_factory import llama_like
from tests.slowness import scaled

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
F16, I32, Q4_2_REMOVED = 1, 26, 4


def patch_tensor_type(path: Path, name: str, ggml_type: int) -> None:
    """Overwrite the type field of one tensor in the tensor table (the rest of the file is untouched)."""
    data = bytearray(path.read_bytes())
    key = struct.pack("<Q", len(name)) + name.encode()
    at = data.index(key) + len(key)
    (n_dims,) = struct.unpack_from("<I", data, at)
    struct.pack_into("<I", data, at + 4 + 8 * n_dims, ggml_type)
    path.write_bytes(bytes(data))


def _model(tmp_path: Path, extra: dict[str, Any] | None = None, **kw: Any) -> Path:
    return llama_like(tmp_path / "hostile.gguf", extra_kv=extra, **kw)


def _tensor_case(name: str, ggml_type: int):
    def make(tmp_path: Path) -> Path:
        p = _model(tmp_path)
        patch_tensor_type(p, name, ggml_type)
        return p
    return make


def _smollm2_last_norm_f16(tmp_path: Path) -> Path:
    """SmolLM2's header (its last tensor is output_norm.weight) over a hole, that tensor made F16: the
    exact mutation that made llama.cpp abort; shrinking the last tensor breaks no offset."""
    from localctx.models.catalog import _smollm2_path
    from tests.fuzzing import sparse_copy

    p = tmp_path / "smollm2-last-f16.gguf"
    sparse_copy(_smollm2_path(), p)
    assert read_gguf_header(p).tensors[-1].name == "output_norm.weight"
    patch_tensor_type(p, "output_norm.weight", F16)
    return p


def _kv_case(extra: dict[str, Any]):
    return lambda tmp_path: _model(tmp_path, extra)


def _token_types(tmp_path: Path) -> Path:
    p = _model(tmp_path)
    data = bytearray(p.read_bytes())
    key = b"tokenizer.ggml.token_type"
    at = data.index(struct.pack("<Q", len(key)) + key) + 8 + len(key) + 4 + 4  # type ARRAY, elem INT32
    (n,) = struct.unpack_from("<Q", data, at)
    struct.pack_into(f"<{n}i", data, at + 8, *([99] * n))
    p.write_bytes(bytes(data))
    return p


#: trigger -> (how to build it, words the one-line refusal must contain)
CASES: dict[str, tuple[Any, str]] = {
    "norm F32->I32": (_tensor_case("output_norm.weight", I32), "output_norm.weight"),
    "last norm F32->F16": (_smollm2_last_norm_f16, "output_norm.weight"),
    "inner norm F32->F16": (_tensor_case("blk.0.ffn_norm.weight", F16), "offset"),
    "removed type id": (_tensor_case("blk.0.attn_norm.weight", Q4_2_REMOVED), "unknown ggml type"),
    "weight F32->I32": (_tensor_case("blk.0.attn_q.weight", I32), "blk.0.attn_q.weight"),
    "zero layers": (_kv_case({".block_count": 0}), "block_count"),
    "rope dims odd": (_kv_case({".rope.dimension_count": 15}), "rope.dimension_count"),
    "rope dims > head": (_kv_case({".rope.dimension_count": 32}), "rope.dimension_count"),
    "rms eps NaN": (_kv_case({".attention.layer_norm_rms_epsilon": float("nan")}), "layer_norm_rms_epsilon"),
    "rms eps -1": (_kv_case({".attention.layer_norm_rms_epsilon": -1.0}), "layer_norm_rms_epsilon"),
    "rms eps 0": (_kv_case({".attention.layer_norm_rms_epsilon": 0.0}), "layer_norm_rms_epsilon"),
    "freq base NaN": (_kv_case({".rope.freq_base": float("nan")}), "rope.freq_base"),
    "freq base -1": (_kv_case({".rope.freq_base": -1.0}), "rope.freq_base"),
    "freq base inf": (_kv_case({".rope.freq_base": float("inf")}), "rope.freq_base"),
    "yarn factor inf": (_kv_case({".rope.scaling.type": "yarn", ".rope.scaling.factor": float("inf")}),
                        "rope.scaling.factor"),
    "linear factor 0.5": (_kv_case({".rope.scaling.type": "linear", ".rope.scaling.factor": 0.5}),
                          "rope.scaling.factor"),
    "freq_base_swa string": (_kv_case({".rope.freq_base_swa": "10000"}), "rope.freq_base_swa"),
    "chat template int32": (_kv_case({"tokenizer.chat_template": 1}), "tokenizer.chat_template"),
    "context_length float": (_kv_case({".context_length": 2048.0}), "context_length"),
    "rope.scaling.type int": (_kv_case({".rope.scaling.type": 2}), "rope.scaling.type"),
    "token types 99": (_token_types, "token_type"),
}


@pytest.fixture(params=sorted(CASES))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    make, words = CASES[request.param]
    return make(tmp_path), words


def test_the_untouched_model_reads(tmp_path: Path) -> None:
    """The base of every case is fine: what fails below is the one change."""
    read_model_info(_model(tmp_path))


def test_reader_refuses_in_one_line(hostile: tuple[Path, str]) -> None:
    path, words = hostile
    with pytest.raises(GGUFError) as err:
        read_model_info(path)
    line = err.value.one_line()
    assert words in line and path.name in line and "\n" not in line


@pytest.mark.parametrize("command", [
    ["inspect", "{m}"], ["inspect", "{m}", "--json"], ["estimate", "{m}", "--ctx", "4k"],
    ["plan", "{m}", "--ctx", "8k"],
    ["ask", "{m}", "hi", "-t", "1", "--ctx", "256", "-n", "4"], ["ask", "{m}", "hi", "--json", "-t", "1"],
    ["chat", "{m}", "-t", "1", "--ctx", "256"], ["summarize", "{doc}", "--model", "{m}", "-t", "1", "--ctx", "256"],
    ["eval", "ppl", "{m}", "--file", "{doc}", "-t", "1", "--ctx", "256"],
])
def test_commands_refuse_with_exit_2_and_nothing_on_stdout(hostile: tuple[Path, str], command: list[str],
                                                           tmp_path: Path) -> None:
    path, words = hostile
    doc = tmp_path / "doc.txt"
    doc.write_text("The archivist catalogued letters about salt and bridges. " * 20)
    r = runner.invoke(app, [a.format(m=path, doc=doc) for a in command], input="hi\n")
    assert r.exit_code == 2, (command, r.output)
    assert r.stdout == "", r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0], lines


def test_real_process_ask_on_a_swapped_norm_type(tmp_path: Path) -> None:
    """The case that killed the interpreter (SIGABRT, a backtrace on stdout): exit 2, stdout empty."""
    path = _tensor_case("output_norm.weight", I32)(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "localctx", "ask", str(path), "hi", "--json", "-t", "1", "--ctx", "256",
                        "-n", "4"], capture_output=True, text=True, timeout=scaled(120), env=env)
    assert p.returncode == 2 and p.stdout == "", (p.returncode, p.stdout[:500])
    assert p.stderr.count("\n") == 1 and "output_norm.weight" in p.stderr, p.stderr


def test_real_models_pass_the_checks(smollm2_path: Path, gemma_path: Path) -> None:
    for p in (smollm2_path, gemma_path):
        read_model_info(p)
        types = read_gguf_header(p).metadata["tokenizer.ggml.token_type"]
        assert types.lo is not None and 0 <= types.lo <= types.hi <= 6
