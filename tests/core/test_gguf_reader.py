"""The lean header reader must agree with the gguf package's GGUFReader, field by field."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from localctx.core.gguf_reader import SkippedArray, read_gguf_header
from tests.gguf_factory import llama_like, write_gguf


def _agree(path: Path) -> int:
    from gguf import GGUFReader

    ref = GGUFReader(str(path))
    mine = read_gguf_header(path)
    ref_keys = [k for k in ref.fields if not k.startswith("GGUF.")]
    assert ref_keys == list(mine.metadata), "same keys in the same order"
    for key in ref_keys:
        want = ref.fields[key].contents()
        got = mine.metadata[key]
        if isinstance(got, SkippedArray):
            assert isinstance(want, list) and len(want) == got.length, key
            continue
        if isinstance(want, float):
            assert math.isclose(want, got, rel_tol=0, abs_tol=0) or (math.isnan(want) and math.isnan(got)), key
        else:
            assert want == got, key
    assert ref.data_offset == mine.data_offset
    assert len(ref.tensors) == len(mine.tensors)
    for rt, mt in zip(ref.tensors, mine.tensors, strict=True):
        assert rt.name == mt.name
        assert tuple(int(x) for x in rt.shape) == mt.shape
        assert int(rt.tensor_type) == mt.ggml_type
        assert int(rt.n_bytes) == mt.n_bytes
        assert int(rt.data_offset) == mine.data_offset + mt.offset
    return len(ref_keys)


def test_agrees_with_gguf_reader_on_smollm2(smollm2_path: Path) -> None:
    assert _agree(smollm2_path) > 20


@pytest.mark.slow
def test_agrees_with_gguf_reader_on_gemma(gemma_path: Path) -> None:
    assert _agree(gemma_path) > 20


@pytest.mark.parametrize("n_layer,n_head_kv", [(1, 1), (3, [1, 2, 1])])
def test_agrees_on_generated_files(tmp_path: Path, n_layer: int, n_head_kv: object) -> None:
    extra = {".attention.sliding_window": 16, "x.f64": 1.5, "x.i64": -(2**40),
             "x.bools": [True, False], "x.strs": ["a", "ü", ""]}
    kvh = n_head_kv
    p = llama_like(tmp_path / "m.gguf", n_layer=n_layer, n_head_kv=1, extra_kv=extra)
    assert _agree(p) > 10
    # per-layer head_count_kv array and a long array that the lean reader skips
    p2 = write_gguf(tmp_path / "arr.gguf", "llama", {".block_count": n_layer, ".attention.head_count_kv": kvh
                    if isinstance(kvh, list) else [kvh] * n_layer, "x.long": list(range(5000))},
                    [("token_embd.weight", (64, 32))])
    _agree(p2)
    h = read_gguf_header(p2)
    assert isinstance(h.metadata["x.long"], SkippedArray) and len(h.metadata["x.long"]) == 5000


def test_reads_no_weights_and_is_fast_on_a_16gb_sparse_file(tmp_path: Path) -> None:
    from tests.gguf_factory import sparse_big_llama

    p = sparse_big_llama(tmp_path / "big.gguf")
    assert p.stat().st_size > 15e9 and p.stat().st_blocks * 512 < 50e6  # a hole, not 16 GB of disk
    h = read_gguf_header(p)
    assert len(h.tensors) == 3 + 32 * 9
    assert h.tensor_bytes + h.data_offset <= p.stat().st_size
