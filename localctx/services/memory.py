"""Memory planning for front ends: estimate a model at a context, judge it against this machine,
find the largest context that fits, and (on request) ask llama.cpp's dry run for its own numbers.

Stable API (used by `localctx estimate`, `localctx plan` and the TUI's live gauge):
``estimate``, ``plan_for_machine``, ``verdict``, ``max_context``, ``verify``.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localctx.core.memory import CTX_PAD, MemoryPlan, plan_memory
from localctx.core.model_info import ModelInfo
from localctx.core.placement import OffloadDevice, rpc_device_name
from localctx.core.settings import RuntimeSettings
from localctx.core.units import gib as _gib
from localctx.errors import SettingsError
from localctx.services.machine import MachineMemory

MAX_SEARCH_CTX = 1 << 22  # 4M tokens: the binary search's ceiling


#: RAM kept free for the OS, the page cache of mapped weights and other programs: a fixed part for
#: this process (Python, llama-cpp-python, the tokenizer, Textual: 300-450 MiB RSS measured before any
#: model buffer) plus a share of the machine, since llama.cpp's log does not count either.
RAM_RESERVE_FIXED = 512 << 20
RAM_RESERVE_FRACTION = 0.05
#: VRAM kept free beyond the plan's per-backend overhead (driver fragmentation, other processes)
VRAM_RESERVE_FRACTION = 0.03


def ram_reserve(machine: MachineMemory) -> int:
    """Bytes of RAM every verdict keeps free (the safety margin stated in every memory message)."""
    return RAM_RESERVE_FIXED + int(machine.ram_total * RAM_RESERVE_FRACTION)


def reserve_note(machine: MachineMemory) -> str:
    return (f"{_gib(ram_reserve(machine))} of RAM is kept free for the OS and other programs "
            f"({RAM_RESERVE_FRACTION:.0%} of RAM + {RAM_RESERVE_FIXED >> 20} MiB for this process)")


@dataclass(frozen=True)
class DeviceVerdict:
    device: str
    need: int  # bytes the plan puts on this device (incl. assumed overhead)
    available: int | None  # free bytes now (None: unknown)
    fits: bool | None  # None: unknown free memory
    reserve: int = 0  # bytes of ``available`` kept free as a safety margin

    @property
    def usable(self) -> int | None:
        """Free bytes less the safety margin: what a plan may take."""
        return None if self.available is None else max(0, self.available - self.reserve)

    @property
    def headroom(self) -> int | None:
        return None if self.usable is None else self.usable - self.need


@dataclass(frozen=True)
class Verdict:
    fits: bool | None
    devices: list[DeviceVerdict]
    summary: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for dv, src in zip(d["devices"], self.devices, strict=True):
            dv["headroom"] = src.headroom
            dv["usable"] = src.usable
        return d


# ---- which devices llama.cpp would use ----------------------------------------------------------------
def llama_gpu_backends() -> list[str]:
    """GPU backends the installed llama.cpp was built with: ggml's own backend registry (engine.probe),
    the one place that answers it."""
    from localctx.engine.probe import gpu_backends

    return gpu_backends()


def machine_devices(machine: MachineMemory) -> tuple[int, str | None, list[str]]:
    """(n_gpus, backend, notes) that llama.cpp on this install would offload to."""
    if not machine.gpus:
        return 0, None, []
    built = llama_gpu_backends()
    usable = [g for g in machine.gpus if g.backend in built or g.backend == "Metal"]
    if not usable:
        return 0, None, [f"{machine.gpus[0].name} found, but this llama.cpp was built without "
                         f"{machine.gpus[0].backend}: planned for the CPU"]
    return len(usable), usable[0].backend, []


RPC_QUERY_TTL_S = 10.0  # max_context plans dozens of contexts: ask each server once, not each time
_RPC_SEEN: dict[str, tuple[float, Any]] = {}


def rpc_servers(endpoints: tuple[str, ...]) -> list[Any]:
    """Each server's devices and free memory (engine.rpc.query; RpcError in one line if one fails)."""
    from localctx.engine import rpc

    out = []
    for e in endpoints:
        seen = _RPC_SEEN.get(e)
        if seen is None or time.monotonic() - seen[0] > RPC_QUERY_TTL_S:
            seen = (time.monotonic(), rpc.query(e))
            _RPC_SEEN[e] = seen
        out.append(seen[1])
    return out


def rpc_devices(settings: RuntimeSettings) -> tuple[list[OffloadDevice], list[str]]:
    """The RPC servers' devices as offload devices, llama.cpp's order: from ``--rpc-mem`` (planning
    offline, one device per server) or else asked from each server."""
    eps = settings.rpc_servers
    if not eps:
        return [], []
    if settings.rpc_mem:
        sizes = [int(x) for x in settings.rpc_mem.split(",")]
        if len(sizes) != len(eps):
            raise SettingsError(f"--rpc-mem gives {len(sizes)} sizes for {len(eps)} --rpc servers",
                                "give one size per server")
        return ([OffloadDevice(rpc_device_name(e), "RPC", m, m, e) for e, m in zip(eps, sizes, strict=True)],
                ["RPC servers' memory as given by --rpc-mem (not asked)"])
    devs = [OffloadDevice(rpc_device_name(d.endpoint, d.index), "RPC", d.free, d.total, d.endpoint)
            for srv in rpc_servers(eps) for d in srv.devices]
    return devs, []


# ---- the API ---------------------------------------------------------------------------------------------
def plan_for_machine(info: ModelInfo, settings: RuntimeSettings, machine: MachineMemory | None = None) -> MemoryPlan:
    """plan_memory with this machine's GPUs (as llama.cpp on this install would use them)."""
    n_gpus, backend, notes = machine_devices(machine) if machine is not None else (0, None, [])
    remote, rnotes = rpc_devices(settings)
    local = [OffloadDevice(f"GPU{i}", backend or "GPU",
                           machine.gpus[i].free_bytes if machine is not None and i < len(machine.gpus) else None)
             for i in range(n_gpus)]
    plan = plan_memory(info, settings, offload=remote + local)
    plan.notes.extend(notes + rnotes)
    return plan


def estimate(model_ref: str | Path | None, settings: RuntimeSettings,
             machine: MachineMemory | None = None) -> MemoryPlan:
    """Resolve a model reference, read its header (never its weights) and plan its memory."""
    info = load_model_info(model_ref)
    return plan_for_machine(info, settings, machine)


def load_model_info(model_ref: str | Path | None) -> ModelInfo:
    """The header of a local model; for ``owner/repo[:QUANT|:FILE]`` the pulled copy, or else its header
    read over HTTP Range requests without a download (all shards of a split model; see localctx.hub)."""
    ref = None if model_ref is None else str(model_ref)
    from localctx.hub.select import looks_like_hub_ref

    if ref is not None and looks_like_hub_ref(ref) and not Path(ref).expanduser().exists():
        from localctx.hub.client import model_info_remote

        return model_info_remote(ref)
    from localctx.services.models import inspect_model

    return inspect_model(ref)


def verdict(plan: MemoryPlan, machine: MachineMemory | None = None) -> Verdict:
    """Does the plan fit the memory free right now, device by device?"""
    if machine is None:
        from localctx.services.machine import machine_memory

        machine = machine_memory()
    devs: list[DeviceVerdict] = []
    notes: list[str] = []
    ram_res = ram_reserve(machine)

    def dev(name: str, need: int, free: int | None, reserve: int) -> DeviceVerdict:
        fits = None if free is None else need <= max(0, free - reserve)
        return DeviceVerdict(name, need, free, fits, reserve)

    if machine.unified_memory:
        on_host = sum(d.total for d in plan.devices if d.endpoint is None)
        devs.append(dev("RAM (unified)", on_host, machine.ram_available, ram_res))  # GPU and CPU share RAM
        for g, gpu in zip(machine.gpus, [d for d in plan.gpus if d.endpoint is None], strict=False):
            devs.append(dev(gpu.device, gpu.total, g.free_bytes, 0))
    else:
        devs.append(dev("RAM", plan.cpu.total, machine.ram_available, ram_res))
        local = [d for d in plan.gpus if d.endpoint is None]
        for i, gpu in enumerate(local):
            found = machine.gpus[i] if i < len(machine.gpus) else None
            free = found.free_bytes if found is not None else None
            res = int((found.total_bytes or 0) * VRAM_RESERVE_FRACTION) if found is not None else 0
            devs.append(dev(gpu.device, gpu.total, free, res))
    for gpu, off in zip(plan.gpus, plan.offload, strict=False):
        if off.remote:  # an RPC server: its own free memory, less the same share kept free as on a GPU
            devs.append(dev(gpu.device, gpu.total, off.free, int((off.total or 0) * VRAM_RESERVE_FRACTION)))
    known = [d.fits for d in devs if d.fits is not None]
    fits = all(known) if known else None
    short = [d for d in devs if d.fits is False]
    if fits:
        summary = "fits: " + ", ".join(f"{d.device} needs {_gib(d.need)} of {_gib(d.usable)} usable" for d in devs)
    elif short:
        summary = "does not fit: " + ", ".join(
            f"{d.device} needs {_gib(d.need)}, {_gib(d.usable)} usable ({_gib(d.available)} free "
            f"less {_gib(d.reserve)} kept free)" for d in short)
    else:
        summary = "unknown: free memory could not be read"
    notes.append(reserve_note(machine))
    if plan.cpu.weights and plan.gpus:
        notes.append("weights on the CPU are memory-mapped; the OS can page them out under pressure, slowing "
                     "generation")
    return Verdict(fits, devs, summary, notes)


def max_context(info: ModelInfo, settings: RuntimeSettings, machine: MachineMemory | None = None,
                *, ceiling: int = MAX_SEARCH_CTX) -> int:
    """The largest context (a multiple of 256) whose plan fits this machine; 0 if not even 256 does.

    Binary search: every component grows with n_ctx, so fit is monotonic.  Other settings are kept.
    """
    if machine is None:
        from localctx.services.machine import machine_memory

        machine = machine_memory()

    def fits(n: int) -> bool:
        return bool(verdict(plan_for_machine(info, settings.with_(n_ctx=n), machine), machine).fits)

    if not fits(CTX_PAD):
        return 0
    lo, hi = 1, ceiling // CTX_PAD  # in units of 256 cells
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid * CTX_PAD):
            lo = mid
        else:
            hi = mid - 1
    return lo * CTX_PAD




# ---- llama.cpp's own numbers ----------------------------------------------------------------------
@dataclass(frozen=True)
class Verification:
    """llama.cpp's numbers for the same settings, from its no-alloc dry run (or a real load)."""

    mode: str  # "dry-run" | "load" | "skipped"
    weights: int | None = None
    kv: int | None = None
    recurrent: int | None = None
    output: int | None = None
    compute: int | None = None
    note: str = ""

    @property
    def total(self) -> int | None:
        parts = [self.weights, self.kv, self.recurrent, self.output, self.compute]
        return None if self.compute is None else sum(p or 0 for p in parts)


_RS = re.compile(r"llama_memory_recurrent: size =\s*([\d.]+) MiB")


def verify(info: ModelInfo, settings: RuntimeSettings, plan: MemoryPlan) -> Verification:
    """Ask llama.cpp itself (through the runtime adapter): dry run when supported, else a real load
    at this context only when our plan says it fits (a load that does not fit could swap or crash)."""
    from localctx.engine import llamacpp, probe  # the adapter: the only room that imports llama_cpp

    s = settings.with_(n_gpu_layers=0) if not plan.gpus else settings
    if probe.supports_no_alloc():
        report = probe.dry_run_report(info.path, s)
        mode, note, weights = "dry-run", "llama.cpp no_alloc dry run: sized, nothing allocated", \
            report.applied.get("model_bytes")
    else:
        if not verdict(plan).fits:
            return Verification("skipped", note="this llama-cpp-python has no no_alloc dry run, and a real "
                                "load would not fit this machine: not loaded")
        with llamacpp.LlamaEngine(info.path, s) as eng:
            report = eng.report
        mode, note, weights = "load", "real load (this llama-cpp-python has no no_alloc dry run)", None
    rs = sum(round(float(m.group(1)) * (1 << 20)) for line in report.lines if (m := _RS.search(line)))
    return Verification(mode, weights, report.kv_bytes or 0, rs, report.output_bytes,
                        sum(report.compute_bytes.values()) if report.compute_bytes else None, note)
