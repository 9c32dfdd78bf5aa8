"""What llama.cpp can tell without a real load: the no-alloc dry run (its own buffer sizes) and the
backend/device registry of this build (for ``doctor`` and the memory planner)."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import llama_cpp

from localctx.core.settings import RuntimeSettings
from localctx.engine.base import LoadReport
from localctx.engine.llamalog import first_error, parse_load_lines
from localctx.engine.logsink import capture
from localctx.engine.params import context_params, error_hint, model_params
from localctx.errors import RuntimeLoadError


# ---- dry run ------------------------------------------------------------------------------------
def supports_no_alloc() -> bool:
    """Whether this llama-cpp-python exposes llama.cpp's no-allocation dry-run model parameter."""
    return any(name == "no_alloc" for name, *_ in llama_cpp.llama_model_params._fields_)


def dry_run_report(path: str | Path, settings: RuntimeSettings) -> LoadReport:
    """Create model + context with ``no_alloc`` (llama.cpp sizes every buffer, allocates none) and
    return what it logged; ``applied['model_bytes']`` is llama_model_size.  The dry run requires
    mmap off (llama.cpp asserts), which changes nothing in the sizes it reports."""
    mp = model_params(settings, path)
    mp.no_alloc = True
    mp.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE
    with capture() as lines:
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), mp)
        if not model:
            why = first_error(lines) or "unknown error"
            raise RuntimeLoadError(f"llama.cpp could not load {Path(path).name}: {why}")
        try:
            model_bytes = int(llama_cpp.llama_model_size(model))
            ctx = llama_cpp.llama_init_from_model(model, context_params(settings))
            if not ctx:
                raise RuntimeLoadError(f"llama.cpp could not create a context for {Path(path).name}: "
                                       f"{first_error(lines) or 'unknown error'}", error_hint(first_error(lines)))
            llama_cpp.llama_free(ctx)
        finally:
            llama_cpp.llama_model_free(model)
    report = parse_load_lines(lines)
    report.applied["model_bytes"] = model_bytes
    return report


_BACKEND_NAMES = {"CUDA": "CUDA", "MTL": "Metal", "Metal": "Metal", "Vulkan": "Vulkan", "ROCm": "ROCm", "HIP": "ROCm"}
_GPU_BACKENDS = ("CUDA", "Metal", "Vulkan", "ROCm", "SYCL", "OpenCL", "CANN", "MUSA")


def registry() -> tuple[list[str], list[dict[str, Any]]] | None:
    """(backend names, devices with free/total memory) from ggml's registry; None without libggml.

    llama-cpp-python 0.3.36 binds no ggml_backend_* registry calls, so they are called through
    ctypes on the libggml it ships (same process, same library llama.cpp uses)."""
    from localctx.engine import ggml_lib

    lib = ggml_lib.ggml()
    if lib is None:
        return None
    llama_cpp.llama_backend_init()
    backends = []
    for i in range(lib.ggml_backend_reg_count()):
        name = (lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i)) or b"?").decode()
        backends.append(_BACKEND_NAMES.get(name, name))
    devices = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        devices.append({
            "name": (lib.ggml_backend_dev_name(dev) or b"?").decode(),
            "description": (lib.ggml_backend_dev_description(dev) or b"").decode(),
            "free": int(free.value), "total": int(total.value),
        })
    return backends, devices


def gpu_backends() -> list[str]:
    """The GPU backends this llama.cpp build registered (CUDA, Metal, Vulkan, ...): the one answer
    to "can this install offload", used by the memory planner and ``doctor`` alike."""
    reg = registry()
    return [] if reg is None else [b for b in reg[0] if b in _GPU_BACKENDS]


def backend_report() -> dict[str, Any]:
    """What this llama.cpp build can run on, from ggml's own backend/device registry."""
    report: dict[str, Any] = {
        "version": getattr(llama_cpp, "__version__", None),
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "rpc": bool(llama_cpp.llama_supports_rpc()),
        "backends": [],
        "devices": [],
        "cpu_features": [],
        "notes": [],
    }
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    for part in info.split("|"):
        if "=" in part:
            k, _, v = part.rpartition("=")
            name = k.split(":")[-1].strip()
            if v.strip() == "1" and name:
                report["cpu_features"].append(name)
    reg = registry()
    if reg is None:
        report["notes"].append("ggml library not found next to llama_cpp: backend list unavailable")
        return report
    report["backends"], report["devices"] = reg
    from localctx.engine import cpu_weights

    path = cpu_weights.choose()
    report["cpu_weights"] = {"path": path.name, "reason": path.reason,
                             "extra_buffer_types": list(cpu_weights.extra_bufts())}
    return report
