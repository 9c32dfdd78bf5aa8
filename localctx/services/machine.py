"""What this machine has: RAM, GPUs and their free memory.  No llama.cpp import here.

GPU probing: NVIDIA through `nvidia-smi` (when present); Apple Silicon has unified memory, so its
"VRAM" is the RAM that Metal may wire (about 2/3-3/4 of it by default, per macOS's recommended
working set).  Anything unreadable is reported as unknown, never guessed.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    backend: str  # CUDA | Metal | ...
    total_bytes: int | None
    free_bytes: int | None


@dataclass(frozen=True)
class MachineMemory:
    ram_total: int
    ram_available: int
    gpus: list[GpuInfo] = field(default_factory=list)
    unified_memory: bool = False
    notes: list[str] = field(default_factory=list)


def _nvidia_gpus() -> list[GpuInfo]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            continue
        try:
            gpus.append(GpuInfo(int(parts[0]), parts[1], "CUDA", int(parts[2]) << 20, int(parts[3]) << 20))
        except ValueError:
            continue
    return gpus


def _memory_override() -> MachineMemory | None:
    """``LOCALCTX_MEMORY=TOTAL,AVAILABLE`` (e.g. ``16G,12G``): plan for that RAM instead of this
    machine's (another machine's budget, or a fixed machine for tests); no GPUs."""
    import os

    text = os.environ.get("LOCALCTX_MEMORY")
    if not text:
        return None
    from localctx.core.units import parse_bytes
    from localctx.errors import SettingsError

    parts = text.split(",")
    if len(parts) != 2:
        raise SettingsError(f"cannot read LOCALCTX_MEMORY='{text}'", "use TOTAL,AVAILABLE such as 16G,12G")
    total, avail = (parse_bytes(v, what="LOCALCTX_MEMORY") for v in parts)
    if total <= 0 or avail <= 0 or avail > total:
        raise SettingsError(f"LOCALCTX_MEMORY='{text}' is not TOTAL,AVAILABLE with 0 < AVAILABLE <= TOTAL")
    return MachineMemory(total, avail, [], False, [f"memory from LOCALCTX_MEMORY={text}, not read from this machine"])


def machine_memory() -> MachineMemory:
    override = _memory_override()
    if override is not None:
        return override
    import psutil

    vm = psutil.virtual_memory()
    notes: list[str] = []
    gpus = _nvidia_gpus()
    unified = False
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        unified = True
        # Metal's recommendedMaxWorkingSetSize is ~75% of RAM on >= 36 GB machines, ~66% below
        frac = 0.75 if vm.total >= 36 << 30 else 2 / 3
        gpus.append(GpuInfo(0, "Apple Silicon GPU", "Metal", int(vm.total * frac), int(vm.available * frac)))
        notes.append("unified memory: GPU and CPU share RAM; Metal may wire about "
                     f"{frac:.0%} of it (raise with `sudo sysctl iogpu.wired_limit_mb=...`)")
    return MachineMemory(vm.total, vm.available, gpus, unified, notes)
