"""RuntimeSettings -> llama.cpp's model and context parameters (None always means "from the model")."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

import llama_cpp

from localctx.core.ggml_types import type_id
from localctx.core.settings import RuntimeSettings
from localctx.errors import SettingsError

_SCALING = {None: llama_cpp.LLAMA_ROPE_SCALING_TYPE_UNSPECIFIED, "none": llama_cpp.LLAMA_ROPE_SCALING_TYPE_NONE,
            "linear": llama_cpp.LLAMA_ROPE_SCALING_TYPE_LINEAR, "yarn": llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN}


def _kv_type(name: str) -> int:
    try:
        return type_id(name)
    except KeyError:
        raise SettingsError(f"unknown KV cache type '{name}'", "use f16, q8_0, q4_0, ...") from None


def model_params(s: RuntimeSettings, path: str | Path | None = None) -> Any:
    """``path``: the model file, whose weight matrices CPU_REPACK can take are named when that is
    this machine's CPU weight path (see ``cpu_weights``); without it they stay in the plain buffer."""
    p = llama_cpp.llama_model_default_params()
    ngl = s.n_gpu_layers
    if ngl is None:
        ngl = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    p.n_gpu_layers = 0x7FFFFFFF if ngl < 0 else ngl
    _cpu_weight_buffers(p, s, path, offloads=bool(ngl) and _offload_targets(s))
    if s.use_mmap and s.use_mlock:
        p.load_mode = llama_cpp.LLAMA_LOAD_MODE_MMAP_MLOCK
    elif s.use_mlock:
        p.load_mode = llama_cpp.LLAMA_LOAD_MODE_MLOCK
    elif s.use_mmap:
        p.load_mode = llama_cpp.LLAMA_LOAD_MODE_MMAP
    else:
        p.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE
    _offload_devices(p, s)
    return p


#: ctypes arrays handed to llama.cpp by pointer: kept alive for the life of the process
_KEEP: list[Any] = []


def _offload_devices(p: Any, s: RuntimeSettings) -> None:
    """RPC servers (checked, then registered with ggml) go first, then this machine's GPUs - llama.cpp's
    own order, "to minimize network transfers"; ``tensor_split`` shares the offloaded layers among them."""
    from localctx.engine import rpc

    if s.rpc_servers or rpc.registered():
        # servers registered by an earlier load in this process stay in ggml's registry: a load
        # without --rpc must name its devices, or llama.cpp would offload to those servers too
        devices = (rpc.register(s.rpc_servers) if s.rpc_servers else []) + rpc.local_gpus()
        arr = (ctypes.c_void_p * (len(devices) + 1))(*devices, None)
        _KEEP.append(arr)
        p.devices = ctypes.cast(arr, ctypes.c_void_p)
    split = s.tensor_split_values
    if split:
        n_max = int(llama_cpp.llama_max_devices())
        if len(split) > n_max:
            raise SettingsError(f"--tensor-split has {len(split)} shares; llama.cpp takes at most {n_max}")
        arr_f = (ctypes.c_float * n_max)(*split)
        _KEEP.append(arr_f)
        p.tensor_split = ctypes.cast(arr_f, ctypes.POINTER(ctypes.c_float))


def _offload_targets(s: RuntimeSettings) -> bool:
    """Whether llama.cpp has somewhere to offload layers: a GPU here or an RPC server (a build with
    RPC reports ``llama_supports_gpu_offload`` with no GPU at all)."""
    from localctx.engine import cpu_weights, rpc

    return bool(s.rpc_servers) or rpc.registered() or cpu_weights.gpu_present()


def _cpu_weight_buffers(p: Any, s: RuntimeSettings, path: str | Path | None, *, offloads: bool) -> None:
    """llama.cpp's extra buffers, or none plus CPU_REPACK overrides (``cpu_weights.choose``).  The
    overrides pin tensors to a CPU buffer whatever llama.cpp would offload, so a load that offloads
    layers (GPU, RPC) keeps every weight in the plain buffer instead."""
    from localctx.engine import cpu_weights

    path_choice = cpu_weights.choose()
    p.use_extra_bufts = path_choice.use_extra_bufts
    types = path_choice.repack_types
    if types == () or path is None or offloads or s.rpc_servers:
        return
    made = cpu_weights.override_array(path, "CPU_REPACK", types)
    if made is not None:
        _KEEP.append(made[0])
        p.tensor_buft_overrides = ctypes.cast(made[0], ctypes.c_void_p)


#: set by the test suite (tests/conftest.py): a load with the thread count unset is refused (and, when the
#: value is a file path, recorded there), because llama.cpp's default of one spinning thread per core
#: crawls on a shared machine and turns a seconds-long test into a timeout
REQUIRE_THREADS_ENV = "LOCALCTX_REQUIRE_THREADS"
UNPINNED_MESSAGE = "a model was loaded in the test suite without threads: pass -t 1 / n_threads=1"


def require_pinned_threads(n_threads: int | None, what: str) -> None:
    """Refuse ``what`` (a model load, an RPC server) when the test suite asks for pinned threads and
    none were given.  Outside the test suite (variable unset) this does nothing."""
    flag = os.environ.get(REQUIRE_THREADS_ENV)
    if not flag or n_threads is not None:
        return
    import sys

    line = f"{UNPINNED_MESSAGE} ({what}; pid {os.getpid()}; argv {' '.join(sys.argv)})"
    if flag != "1":  # a file the suite reads after each test: the refusal is seen even if a test swallows it
        try:
            with open(flag, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError:
            pass
    raise SettingsError(line)


def default_threads() -> int:
    """Physical cores, as llama.cpp chooses by default (extra hyper-threads do not speed up its kernels)."""
    import psutil  # a dependency; imported here because only a load needs it

    return max(1, psutil.cpu_count(logical=False) or os.cpu_count() or 1)


def context_params(s: RuntimeSettings) -> Any:
    """RuntimeSettings -> llama_context_params.  None always maps to llama.cpp's "from the model" value
    (0 for n_ctx/base/scale/orig ctx, -1 for the YaRN factors: llama-cpp-python's 32/1/1.0 defaults would
    override a GGUF's own YaRN keys)."""
    p = llama_cpp.llama_context_default_params()
    n_ctx = s.n_ctx or 0
    p.n_ctx = n_ctx
    p.n_batch = min(s.n_batch, n_ctx) if n_ctx else s.n_batch
    p.n_ubatch = min(s.n_ubatch, p.n_batch)
    p.n_seq_max = s.n_seq
    p.kv_unified = s.kv_unified
    threads = s.n_threads or default_threads()
    p.n_threads = threads
    p.n_threads_batch = threads
    if s.rope_scaling not in _SCALING:
        raise SettingsError(f"unknown rope scaling '{s.rope_scaling}'", "use none, linear or yarn")
    p.rope_scaling_type = _SCALING[s.rope_scaling]
    p.rope_freq_base = s.rope_freq_base or 0.0
    p.rope_freq_scale = s.rope_freq_scale or 0.0
    p.yarn_orig_ctx = s.yarn_orig_ctx or 0
    p.yarn_ext_factor = -1.0 if s.yarn_ext_factor is None else s.yarn_ext_factor
    p.yarn_attn_factor = -1.0 if s.yarn_attn_factor is None else s.yarn_attn_factor
    p.yarn_beta_fast = -1.0 if s.yarn_beta_fast is None else s.yarn_beta_fast
    p.yarn_beta_slow = -1.0 if s.yarn_beta_slow is None else s.yarn_beta_slow
    p.type_k = _kv_type(s.type_k)
    p.type_v = _kv_type(s.type_v)
    p.flash_attn_type = {None: llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO, True: llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
                         False: llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED}[s.flash_attn]
    p.swa_full = bool(s.swa_full)
    p.no_perf = False  # we read llama.cpp's perf counters
    return p


def error_hint(line: str | None) -> str | None:
    if line and "flash_attn" in line:
        return "quantized V caches need flash attention: add -fa on (or use -ctv f16)"
    return None


