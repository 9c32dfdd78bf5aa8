"""The CPU weight path on the real llama.cpp build: which buffer each weight lands in, and no crash.

On this AMX machine llama.cpp's AMX buffer crashes the first decode (scripts/repro_amx.py); each
kernel-probe type is loaded and decoded through localctx in its own process, so a crash fails the
case instead of the test run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from localctx.core.gguf_reader import read_gguf_header
from localctx.engine import cpu_weights
from localctx.engine.kernel_probe import PROBE_TYPES, ProbeShape, quantize, write_probe_model

#: every matrix a multiple of 256 wide and of 8 rows: the shapes each repack kernel accepts
SHAPE = ProbeShape(n_embd=256, n_ff=512, n_layer=1, n_head=4, n_head_kv=2, vocab=256)

CHILD = """
import json, sys
from localctx.core.settings import RuntimeSettings
from localctx.engine.llamacpp import LlamaEngine
eng = LlamaEngine(sys.argv[1], RuntimeSettings(n_ctx=64, n_threads=1))
eng.ingest([5 + i for i in range(16)])
eng.ingest([5 + i for i in range(18)])
print(json.dumps(eng.report.applied.get("model_buffers", {})))
eng.close()
"""


@pytest.fixture(scope="module")
def probe_f16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_probe_model(tmp_path_factory.mktemp("cpu-weights") / "probe-F16.gguf", SHAPE)


def _amx_machine() -> bool:
    return "AMX" in cpu_weights.extra_bufts()


@pytest.mark.parametrize("type_name", PROBE_TYPES)
def test_each_probe_type_loads_and_decodes_on_the_chosen_path(probe_f16: Path, tmp_path: Path, type_name: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALCTX_REPACK", raising=False)
    path = probe_f16 if type_name == "F16" else quantize(probe_f16, tmp_path / f"{type_name}.gguf", type_name, 1)
    r = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ))
    assert r.returncode == 0, f"{type_name}: exit {r.returncode}\n{r.stderr[-2000:]}"
    buffers = json.loads(r.stdout.strip().splitlines()[-1])
    chosen = cpu_weights.choose()
    if chosen.name == cpu_weights.CPU_REPACK:
        assert "AMX" not in buffers
        assert ("CPU_REPACK" in buffers) == (type_name in cpu_weights.REPACK_TYPES), buffers
    elif chosen.name == cpu_weights.PLAIN:
        assert set(buffers) <= {"CPU", "CPU_Mapped"}


def test_an_amx_cpu_takes_cpu_repack_without_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALCTX_REPACK", raising=False)
    chosen = cpu_weights.choose()
    if _amx_machine():
        assert chosen.name == cpu_weights.CPU_REPACK and not chosen.use_extra_bufts
        assert "AMX buffer crash" in chosen.reason
        assert chosen.calibration_key == cpu_weights.CPU_REPACK  # never True/False: no old measurement reused
    else:
        assert chosen.name == cpu_weights.LLAMA_DEFAULT and chosen.use_extra_bufts is True
        assert chosen.calibration_key is True  # measurements stored before this path existed still match


@pytest.mark.parametrize(("value", "name"), [("1", cpu_weights.LLAMA_DEFAULT), ("all", cpu_weights.LLAMA_DEFAULT),
                                             ("0", cpu_weights.PLAIN), ("off", cpu_weights.PLAIN),
                                             ("cpu", cpu_weights.CPU_REPACK),
                                             ("cpu-all", cpu_weights.CPU_REPACK_ALL)])
def test_the_env_override_names_the_path(monkeypatch: pytest.MonkeyPatch, value: str, name: str) -> None:
    monkeypatch.setenv("LOCALCTX_REPACK", value)
    chosen = cpu_weights.choose()
    assert chosen.name == name and f"LOCALCTX_REPACK={value}" in chosen.reason


def test_an_unknown_env_value_is_ignored_and_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCTX_REPACK", "fast")
    chosen = cpu_weights.choose()
    monkeypatch.delenv("LOCALCTX_REPACK")
    assert chosen.name == cpu_weights.choose().name and "LOCALCTX_REPACK=fast is not one of" in chosen.reason


def test_only_mul_mat_weights_cpu_repack_can_take_are_named(gemma_path: Path) -> None:
    tensors = read_gguf_header(gemma_path).tensors
    assert cpu_weights.repack_targets(tensors, types=cpu_weights.REPACK_TYPES) == []  # its Q4_K stays plain
    names = cpu_weights.repack_targets(tensors)  # every type CPU_REPACK takes (LOCALCTX_REPACK=cpu-all)
    by_name = {t.name: t for t in tensors}
    assert names and {by_name[n].type_name for n in names} == {"Q4_K"}
    assert "token_embd.weight" not in names  # read by row, and its tied output copy has the same name
    q4k_matrices = [t.name for t in tensors if t.type_name == "Q4_K" and t.name.startswith("blk.")]
    assert sorted(names) == sorted(q4k_matrices)
    patterns = [re.compile(p) for p in cpu_weights.override_patterns(names)]
    assert len(patterns) < 8  # one per tensor kind: llama.cpp compiles each once per tensor
    assert [t.name for t in tensors if any(p.search(t.name) for p in patterns)] == names


def test_the_output_matrix_is_named_but_never_the_token_embedding(probe_f16: Path, tmp_path: Path) -> None:
    q = quantize(probe_f16, tmp_path / "q4_0.gguf", "Q4_0", 1)  # pure: token_embd and output Q4_0 too
    names = cpu_weights.repack_targets(read_gguf_header(q).tensors, types=cpu_weights.REPACK_TYPES)
    assert "output.weight" in names and "token_embd.weight" not in names
    assert len(names) == 1 + 7 * SHAPE.n_layer  # q, k, v, o, gate, up, down per block
    made = cpu_weights.override_array(q, "CPU_REPACK", cpu_weights.REPACK_TYPES)
    assert made is not None and made[1] == len(names)
    assert cpu_weights.override_array(q, "CPU_REPACK", ("Q8_0",)) is None


def test_buft_takes_follows_llama_cpp_shape_rules() -> None:
    if "CPU_REPACK" not in cpu_weights.extra_bufts():
        pytest.skip("this build has no CPU_REPACK buffer")
    q4_0, q5_0 = 2, 6
    assert cpu_weights.buft_takes("CPU_REPACK", q4_0, (256, 64))
    assert not cpu_weights.buft_takes("CPU_REPACK", q4_0, (256, 60))  # rows not a multiple of 8
    assert not cpu_weights.buft_takes("CPU_REPACK", q5_0, (256, 64))  # no repack kernel for the type
    assert not cpu_weights.buft_takes("NO_SUCH_BUFFER", q4_0, (256, 64))
    # what ggml would abort on is refused before it is asked
    assert not cpu_weights.buft_takes("CPU_REPACK", q4_0, (250, 64))  # a row that is not whole blocks
    assert not cpu_weights.buft_takes("CPU_REPACK", 999, (256, 64))  # no such type


def test_doctor_reports_the_path_and_why() -> None:
    from localctx.services.doctor import diagnose

    rep = diagnose()
    chosen = cpu_weights.choose()
    assert rep.cpu_weights["path"] == chosen.name and rep.cpu_weights["reason"] == chosen.reason
    assert rep.cpu_weights["extra_buffer_types"] == list(cpu_weights.extra_bufts())
    assert not any("AMX" in p for p in rep.problems)


def test_speed_calibrations_are_keyed_by_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from localctx.services.forecast import machine_identity

    monkeypatch.delenv("LOCALCTX_REPACK", raising=False)
    machine_identity.cache_clear()
    try:
        assert machine_identity()["repack"] == cpu_weights.choose().calibration_key
        # the kernel probe's and the calibrations' folder: another path is another machine
        monkeypatch.setenv("LOCALCTX_REPACK", "0")
        machine_identity.cache_clear()
        assert machine_identity()["repack"] is False
    finally:
        machine_identity.cache_clear()
