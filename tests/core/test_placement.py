"""llama.cpp's layer split, reproduced before loading (the live check against llama.cpp's own log is
tests/cli/test_rpc_server.py; these pin the rule's edges)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.memory import plan_memory
from localctx.core.model_info import read_model_info
from localctx.core.placement import OffloadDevice, layer_devices, rpc_device_name, shares_for, split_points
from localctx.core.rpc_forecast import forecast
from localctx.core.settings import RuntimeSettings


def test_output_layer_goes_first_and_the_rest_stays_on_the_cpu() -> None:
    # 30 layers, -ngl 20: the output layer and the top 19 repeating layers leave the CPU
    placed = layer_devices(30, 20, [1.0, 1.0])
    assert placed[:11] == [0] * 11
    assert placed[11:21] == [1] * 10 and placed[21:] == [2] * 10  # 9 layers + the output layer
    assert layer_devices(30, 1, [1.0]) == [0] * 30 + [1]  # -ngl 1: only the output layer
    assert layer_devices(30, 0, [1.0]) == [0] * 31
    assert layer_devices(30, 99, [1.0, 3.0]).count(1) == 8  # a quarter of 31 slots, rounded as llama.cpp does


def test_split_points_are_single_precision_and_end_at_one() -> None:
    pts = split_points([24105.0 * 2**20, 24101.0 * 2**20])
    assert pts[-1] == 1.0 and 0.5 < pts[0] < 0.5001


def test_tensor_split_overrides_free_memory_and_zero_shares_mean_by_memory() -> None:
    devs = [OffloadDevice("a", "RPC", 1 << 30), OffloadDevice("b", "RPC", 3 << 30)]
    assert shares_for(devs, (1.0, 1.0)) == [1.0, 1.0]
    assert shares_for(devs, (0.0, 0.0)) == [float(1 << 30), float(3 << 30)]
    assert shares_for([OffloadDevice("g", "CUDA")], None) == [1.0]  # unknown free memory: even


@pytest.fixture(scope="module")
def info(smollm2_path: Path):  # type: ignore[no-untyped-def]
    return read_model_info(smollm2_path)


def test_every_layer_is_counted_once_across_devices(info) -> None:  # type: ignore[no-untyped-def]
    devs = [OffloadDevice(rpc_device_name(f"127.0.0.1:{p}"), "RPC", 8 << 30, 8 << 30, f"127.0.0.1:{p}")
            for p in (1, 2)]
    alone = plan_memory(info, RuntimeSettings(n_ctx=4096))
    for ngl in (1, 10, 31, 99):
        split = plan_memory(info, RuntimeSettings(n_ctx=4096, n_gpu_layers=ngl), offload=devs)
        assert split.kv_bytes == alone.kv_bytes
        tied = info.input_tensor_bytes if split.placement[-1] else 0  # the tied embeddings' copy
        assert split.weights_bytes == alone.weights_bytes + tied
        net = forecast(split, info.n_embd, info.n_vocab)
        assert net is not None and sum(s.layers for s in net.servers) == min(ngl, 31) - 1
        assert net.seconds_per_token > 0 and "RPC is for fitting" in net.notes[-1]
    assert forecast(alone, info.n_embd, info.n_vocab) is None
