"""The memory gauge draws one bar per device, RPC servers included (planned offline with --rpc-mem)."""

from __future__ import annotations

from pathlib import Path

from localctx.core.flags import RuntimeFlags
from localctx.core.model_info import read_model_info
from localctx.services.machine import MachineMemory
from localctx.services.runtime import plan_settings, resolve_settings
from localctx.tui.widgets import gauge_rows


def test_one_bar_per_device_with_each_servers_own_memory(smollm2_path: Path) -> None:
    info = read_model_info(smollm2_path)
    flags = RuntimeFlags(ctx=2048, gpu_layers=20, rpc="127.0.0.1:1,127.0.0.1:2", rpc_mem="1G,64M")
    rp = plan_settings(info, resolve_settings(info, flags), MachineMemory(16 << 30, 12 << 30, []))
    rows = gauge_rows(rp.memory, rp.verdict)
    assert [r.label for r in rows] == ["RAM", "RPC0[127.0.0.1:1]", "RPC0[127.0.0.1:2]"]
    by_name = {d.device: d for d in rp.memory.devices}
    for r in rows[1:]:
        d = by_name[r.label]
        assert r.parts["weights"] == d.weights and r.parts["kv"] == d.kv and r.need == d.total
    assert rows[1].available == 1 << 30 and rows[2].available == 64 << 20
    assert rows[2].fits is False and rows[1].fits is True  # the output layer's logits buffer does not fit 64 MiB
