"""`localctx doctor`: what this install can run on, and the exact fix when a GPU goes unused."""

from __future__ import annotations

import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from localctx.core.cpu_load import CpuLoad
from localctx.services.machine import MachineMemory, machine_memory

#: CMAKE_ARGS that make pip build llama-cpp-python with a backend (llama-cpp-python's README)
BACKEND_CMAKE = {
    "CUDA": "-DGGML_CUDA=on",
    "Metal": "-DGGML_METAL=on",
    "Vulkan": "-DGGML_VULKAN=on",
    "ROCm": "-DGGML_HIP=on",
}


@dataclass
class DoctorReport:
    python: str
    platform: str
    llama_cpp_python: str | None
    backends: list[str]  # backends compiled into this llama.cpp build, from its own registry
    devices: list[dict[str, Any]]  # devices llama.cpp sees (name, description, memory)
    gpu_offload: bool
    cpu_features: list[str]
    memory: MachineMemory
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    rpc: bool = False  # this build has llama.cpp's RPC backend (`localctx rpc-server`, --rpc)
    rpc_servers: list[dict[str, Any]] = field(default_factory=list)  # --rpc: each server's answer
    #: the load average against the cores, for the default thread count (None: no load average here)
    cpu_load: CpuLoad | None = None
    #: where the CPU keeps weight matrices: path (llama.cpp default / CPU_REPACK without AMX / plain
    #: CPU buffer), reason, and the extra buffer types this build has
    cpu_weights: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {**asdict(self), "gpu_devices": self.gpu_devices(), "offload": self.offload_line()}
        out["cpu_load"] = self.cpu_load.to_json() if self.cpu_load is not None else None
        return out

    def gpu_devices(self) -> list[str]:
        """The GPUs llama.cpp (or the machine probe) sees here; not the CPU, not RPC servers."""
        seen = [d["name"] for d in self.devices if not str(d.get("name", "")).upper().startswith(("CPU", "RPC"))]
        return seen or [g.name for g in self.memory.gpus]

    def offload_line(self) -> str:
        """What llama.cpp's "supports GPU offload" means on this machine: the build can, and is there a GPU?
        (An RPC-only build says yes too: its devices are other machines.)"""
        gpus = self.gpu_devices()
        if not self.gpu_offload:
            return "no: this llama.cpp build runs on the CPU only"
        if gpus:
            return f"yes: -ngl places layers on {', '.join(gpus)}"
        via = [b for b in self.backends if b.upper() not in ("CPU",)]
        return (f"the build supports it ({', '.join(via) or 'a GPU backend'}), but there is no GPU here: layers "
                "stay on the CPU" + (" unless --rpc sends them to another machine" if self.rpc else ""))


def reinstall_command(backend: str) -> str:
    flag = BACKEND_CMAKE[backend]
    return (f'CMAKE_ARGS="{flag}" .venv/bin/pip install --force-reinstall --no-cache-dir --no-deps '
            "llama-cpp-python==0.3.36")


def check_rpc_servers(endpoints: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each server's reachability, protocol version, devices and memory; a failure is its one line."""
    from localctx.engine import rpc

    out: list[dict[str, Any]] = []
    for e in endpoints:
        try:
            srv = rpc.query(e)
        except rpc.RpcError as exc:
            out.append({"endpoint": e, "ok": False, "error": exc.one_line()})
            continue
        out.append({"endpoint": e, "ok": True, "protocol": srv.version_text,
                    "devices": [{"index": d.index, "free": d.free, "total": d.total} for d in srv.devices]})
    return out


def diagnose(mem: MachineMemory | None = None, rpc_endpoints: tuple[str, ...] = ()) -> DoctorReport:
    """Probe this install.  ``mem`` replaces the machine probe (what a test or the TUI already has);
    ``rpc_endpoints``: RPC servers to check (never registered with llama.cpp here)."""
    from localctx.engine.probe import backend_report
    from localctx.services.cpu import cpu_load

    br = backend_report()
    mem = mem or machine_memory()
    problems: list[str] = []
    fixes: list[str] = []
    for gpu in mem.gpus:
        if gpu.backend not in br["backends"]:
            problems.append(f"{gpu.name} ({gpu.backend}) is present but this llama.cpp build has no {gpu.backend} "
                            "backend: models run on the CPU only")
            if gpu.backend in BACKEND_CMAKE:
                fixes.append(reinstall_command(gpu.backend))
    for note in br.get("notes", []):
        problems.append(note)
    servers = check_rpc_servers(rpc_endpoints) if rpc_endpoints else []
    if rpc_endpoints and not br["rpc"]:
        problems.append("this llama.cpp build has no RPC backend: --rpc cannot be used")
        fixes.append("bash scripts/install.sh  (builds llama.cpp with -DGGML_RPC=on)")
    problems.extend(s["error"] for s in servers if not s["ok"])
    weights = br.get("cpu_weights", {})
    if weights.get("path") == "llama.cpp default" and "AMX" in weights.get("extra_buffer_types", []):
        problems.append("weights go to llama.cpp's AMX buffer (LOCALCTX_REPACK), which crashes this build's first "
                        "decode: unset LOCALCTX_REPACK or set it to cpu")
    return DoctorReport(
        python=sys.version.split()[0],
        platform=f"{platform.system()} {platform.machine()}",
        llama_cpp_python=br["version"],
        backends=br["backends"],
        devices=br["devices"],
        gpu_offload=br["gpu_offload"],
        cpu_features=br["cpu_features"],
        memory=mem,
        problems=problems,
        fixes=fixes,
        rpc=bool(br["rpc"]),
        rpc_servers=servers,
        cpu_load=cpu_load(None),
        cpu_weights=weights,
    )
