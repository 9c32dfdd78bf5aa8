"""Which buffers llama.cpp keeps weight matrices in on the CPU, and why.

llama.cpp's CPU backend can re-lay a weight matrix at load time into an "extra" buffer type whose
kernels are faster than the plain buffer's: CPU_REPACK (interleaved Q4_0/Q4_K/IQ4_NL/... rows for
AVX2/AVX-512) and, on CPUs with AMX tiles, AMX.  ``use_extra_bufts`` turns them all on or all off,
and on AMX CPUs the vendored llama.cpp (0.3.36) segfaults in its first decode when weights sit in
the AMX buffer (``scripts/repro_amx.py`` shows which buffer crashes for which types).  CPU_REPACK
alone runs fine there, so on those machines localctx loads with the extra buffers off and names the
weight matrices CPU_REPACK can take through ``tensor_buft_overrides`` - of the types whose repacked
kernels are the faster ones there (``REPACK_TYPES``).

llama.cpp puts an overridden tensor in the named buffer without checking it, so each tensor is
tested the way llama.cpp tests it for its own choice (``weight_buft_supported``): a mul_mat of the
weight, placed in a dummy buffer of that type, asked of the CPU device's ``supports_op``.  Only
tensors whose op llama.cpp's tensor table lists as a mul_mat are candidates (the token embedding is
read by row, and its tied copy as the output matrix has the same name, so it stays plain).
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import llama_cpp

from localctx.core.ggml_types import quant_sizes, type_id

#: the ways weights can be kept (``doctor`` and the calibration key use these names)
LLAMA_DEFAULT = "llama.cpp default"
CPU_REPACK = "CPU_REPACK without AMX"
CPU_REPACK_ALL = "CPU_REPACK without AMX, every type it takes"
PLAIN = "plain CPU buffer"
#: the types CPU_REPACK gets on the AMX path.  Its x86 kernels (repack.cpp) take Q4_0, IQ4_NL, Q4_K,
#: Q2_K and MXFP4, but on an AMX-class CPU only the first two beat the plain buffer's prompt kernels
#: (measured with scripts/bench_cpu_path.py: ~1.5x; Q4_K ~0.7x and Q2_K ~0.8x, whose plain AVX-512
#: kernels are faster for prompts though slower for single tokens; MXFP4 unmeasured)
REPACK_TYPES = ("Q4_0", "IQ4_NL")

#: GGUF tensor kinds that llama.cpp's tensor table (llama-arch.cpp) multiplies with GGML_OP_MUL_MAT
_MUL_MAT_KINDS = ("attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "attn_q_a", "attn_q_b",
                  "attn_kv_a_mqa", "attn_kv_b", "ffn_gate", "ffn_up", "ffn_down", "ffn_gate_shexp",
                  "ffn_up_shexp", "ffn_down_shexp")
#: ... and with GGML_OP_MUL_MAT_ID (mixture-of-experts stacks)
_MUL_MAT_ID_KINDS = ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")
_BLOCK = re.compile(r"^blk\.(\d+)\.([a-z_]+)\.weight$")
_ENV = "LOCALCTX_REPACK"
#: LOCALCTX_REPACK values: llama.cpp's default extra buffers (AMX included), CPU_REPACK only, none
ENV_VALUES = {"1": LLAMA_DEFAULT, "all": LLAMA_DEFAULT, "cpu": CPU_REPACK, "cpu-all": CPU_REPACK_ALL,
              "0": PLAIN, "off": PLAIN}


@dataclass(frozen=True)
class WeightPath:
    """The CPU weight path a load will use (``name`` one of the three above) and why."""

    name: str
    reason: str

    @property
    def use_extra_bufts(self) -> bool:
        return self.name == LLAMA_DEFAULT

    @property
    def repack_types(self) -> tuple[str, ...] | None:
        """The types named into CPU_REPACK (None: every type it takes; empty: no overrides)."""
        return REPACK_TYPES if self.name == CPU_REPACK else None if self.name == CPU_REPACK_ALL else ()

    @property
    def calibration_key(self) -> bool | str:
        """What the speed-calibration key records: True/False for llama.cpp's own switch (the values
        measurements were stored under before the CPU_REPACK paths existed), the name for those."""
        return self.name if self.name in (CPU_REPACK, CPU_REPACK_ALL) else self.use_extra_bufts


# ---- ggml, through ctypes ------------------------------------------------------------------------
class _InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


class BuftOverride(ctypes.Structure):
    """llama.h's ``llama_model_tensor_buft_override`` (llama-cpp-python types the field as void*)."""

    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


_GGML_TYPE_F32, _GGML_TYPE_I32 = 0, 26
_DEVICE_TYPE_CPU = 0
_BUFFER_OFFSET = 8  # ggml_tensor: enum ggml_type type; struct ggml_backend_buffer * buffer; ...
_EXTRA_BUFTS_FN = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)


@lru_cache(maxsize=1)
def _base() -> ctypes.CDLL | None:
    from localctx.engine import ggml_lib

    lib = ggml_lib.load("ggml-base")
    if lib is None:
        return None
    vp, i64 = ctypes.c_void_p, ctypes.c_int64
    for fn, restype, argtypes in (
        ("ggml_init", vp, [_InitParams]), ("ggml_free", None, [vp]), ("ggml_tensor_overhead", ctypes.c_size_t, []),
        ("ggml_new_tensor_2d", vp, [vp, ctypes.c_int, i64, i64]),
        ("ggml_new_tensor_3d", vp, [vp, ctypes.c_int, i64, i64, i64]),
        ("ggml_mul_mat", vp, [vp, vp, vp]), ("ggml_mul_mat_id", vp, [vp, vp, vp, vp]),
        ("ggml_backend_buft_alloc_buffer", vp, [vp, ctypes.c_size_t]), ("ggml_backend_buffer_free", None, [vp]),
        ("ggml_backend_buft_name", ctypes.c_char_p, [vp]), ("ggml_backend_dev_supports_op", ctypes.c_bool, [vp, vp]),
        ("ggml_backend_dev_backend_reg", vp, [vp]), ("ggml_backend_reg_get_proc_address", vp, [vp, ctypes.c_char_p]),
    ):
        f = getattr(lib, fn)
        f.restype, f.argtypes = restype, argtypes
    return lib


@lru_cache(maxsize=1)
def extra_bufts() -> dict[str, int]:
    """The CPU device's extra buffer types by name (``AMX``, ``CPU_REPACK``, ...), in llama.cpp's
    order of preference; empty when the ggml libraries or the entry point are missing."""
    from localctx.engine import ggml_lib

    base, ggml = _base(), ggml_lib.ggml()
    if base is None or ggml is None:
        return {}
    llama_cpp.llama_backend_init()
    dev = ggml.ggml_backend_dev_by_type(_DEVICE_TYPE_CPU)
    if not dev:
        return {}
    addr = base.ggml_backend_reg_get_proc_address(base.ggml_backend_dev_backend_reg(dev),
                                                  b"ggml_backend_dev_get_extra_bufts")
    if not addr:
        return {}
    arr = _EXTRA_BUFTS_FN(addr)(dev)
    out: dict[str, int] = {}
    i = 0
    while arr and arr[i]:
        out[(base.ggml_backend_buft_name(arr[i]) or b"?").decode()] = int(arr[i])
        i += 1
    return out


def gpu_present() -> bool:
    """Whether ggml registered a GPU device (discrete or integrated) that layers could go to."""
    from localctx.engine import ggml_lib

    lib = ggml_lib.ggml()
    if lib is None:
        return False
    llama_cpp.llama_backend_init()
    return any(lib.ggml_backend_dev_type(lib.ggml_backend_dev_get(i)) in (1, 2)
               for i in range(lib.ggml_backend_dev_count()))


def _cpu_device() -> int:
    from localctx.engine import ggml_lib

    lib = ggml_lib.ggml()
    assert lib is not None  # only called after extra_bufts() found the libraries
    return int(lib.ggml_backend_dev_by_type(_DEVICE_TYPE_CPU))


@lru_cache(maxsize=4096)
def buft_takes(buft_name: str, ggml_type: int, shape: tuple[int, ...], op: str = "mul_mat") -> bool:
    """Whether the extra buffer type ``buft_name`` can hold a weight of this type and shape used by
    ``op`` (``mul_mat`` or ``mul_mat_id``): llama.cpp's own ``weight_buft_supported`` test."""
    buft = extra_bufts().get(buft_name)
    lib = _base()
    block = quant_sizes().get(ggml_type, (0, 0))[0]
    # ggml aborts the process on a type it does not know or a row that is not whole blocks
    if buft is None or lib is None or not 1 <= len(shape) <= 3 or block <= 0 or min(shape) <= 0 or shape[0] % block:
        return False
    ne = tuple(shape) + (1,) * (3 - len(shape))
    ctx = lib.ggml_init(_InitParams(lib.ggml_tensor_overhead() * 8, None, True))
    if not ctx:
        return False
    buf = None
    try:
        w = lib.ggml_new_tensor_3d(ctx, ggml_type, *ne)
        if op == "mul_mat_id":
            used = 1  # ids per token: supports_op does not look at it
            b = lib.ggml_new_tensor_3d(ctx, _GGML_TYPE_F32, ne[0], used, 512)
            ids = lib.ggml_new_tensor_2d(ctx, _GGML_TYPE_I32, used, 512)
            op_tensor = lib.ggml_mul_mat_id(ctx, w, b, ids)
        else:
            b = lib.ggml_new_tensor_3d(ctx, _GGML_TYPE_F32, ne[0], 512, ne[2])
            op_tensor = lib.ggml_mul_mat(ctx, w, b)
        buf = lib.ggml_backend_buft_alloc_buffer(buft, 0)
        ctypes.c_void_p.from_address(w + _BUFFER_OFFSET).value = buf
        ok = bool(lib.ggml_backend_dev_supports_op(_cpu_device(), op_tensor))
        ctypes.c_void_p.from_address(w + _BUFFER_OFFSET).value = None
        return ok
    finally:
        if buf:
            lib.ggml_backend_buffer_free(buf)
        lib.ggml_free(ctx)


# ---- the choice ----------------------------------------------------------------------------------
def cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return " amx_int8" in line or " amx_tile" in line
    except OSError:
        pass
    return False


@lru_cache(maxsize=8)
def _choose(env: str | None) -> WeightPath:
    bufts = extra_bufts()
    names = ", ".join(bufts) or "none"
    if env is not None and env.strip().lower() in ENV_VALUES:
        name = ENV_VALUES[env.strip().lower()]
        if name in (CPU_REPACK, CPU_REPACK_ALL) and "CPU_REPACK" not in bufts:
            return WeightPath(PLAIN, f"{_ENV}={env}, but this llama.cpp build has no CPU_REPACK buffer")
        return WeightPath(name, f"{_ENV}={env} (extra buffer types in this build: {names})")
    bad = f"{_ENV}={env} is not one of {', '.join(ENV_VALUES)}, so ignored; " if env else ""
    if "AMX" in bufts or (not bufts and cpu_has_amx()):
        why = "weights in the AMX buffer crash this llama.cpp build's first decode (scripts/repro_amx.py)"
        if "CPU_REPACK" in bufts:
            return WeightPath(CPU_REPACK, f"{bad}{why}; CPU_REPACK alone does not, so it is kept for "
                                          f"{', '.join(REPACK_TYPES)} weights (the types it speeds up here)")
        return WeightPath(PLAIN, f"{bad}{why}, and this build has no CPU_REPACK buffer")
    return WeightPath(LLAMA_DEFAULT, f"{bad}no AMX buffer in this build (extra buffer types: {names})")


def choose() -> WeightPath:
    """The path loads take on this machine: llama.cpp's defaults unless its AMX buffer is present
    (then CPU_REPACK alone), ``LOCALCTX_REPACK`` first (1/all, cpu, cpu-all, 0/off)."""
    return _choose(os.environ.get(_ENV))


# ---- per-model overrides -------------------------------------------------------------------------
def _op_for(name: str) -> str | None:
    if name == "output.weight":
        return "mul_mat"
    m = _BLOCK.match(name)
    if m is None:
        return None
    kind = m.group(2)
    return "mul_mat" if kind in _MUL_MAT_KINDS else "mul_mat_id" if kind in _MUL_MAT_ID_KINDS else None


def repack_targets(tensors: Sequence[Any], buft_name: str = "CPU_REPACK",
                   types: Collection[str] | None = None) -> list[str]:
    """Names of the weight tensors (``TensorInfo``-like: ``name``, ``ggml_type``, ``shape``) that
    ``buft_name`` can hold for the op llama.cpp uses them with (of ``types`` only, unless None)."""
    ids = None if types is None else {type_id(t) for t in types}
    out = []
    for t in tensors:
        op = _op_for(t.name)
        if ids is not None and int(t.ggml_type) not in ids:
            continue
        if op is not None and buft_takes(buft_name, int(t.ggml_type), tuple(int(d) for d in t.shape), op):
            out.append(t.name)
    return out


def override_patterns(names: Sequence[str]) -> list[str]:
    """Anchored regexes matching exactly ``names``, one per tensor kind (llama.cpp compiles every
    pattern once per tensor it loads, so few patterns keep loading fast)."""
    blocks: dict[str, list[str]] = {}
    singles = []
    for n in names:
        m = _BLOCK.match(n)
        if m is None:
            singles.append("^" + re.escape(n) + "$")
        else:
            blocks.setdefault(m.group(2), []).append(m.group(1))
    return singles + [rf"^blk\.(?:{'|'.join(ids)})\.{kind}\.weight$" for kind, ids in blocks.items()]


def override_array(path: str | Path, buft_name: str = "CPU_REPACK",
                   types: Collection[str] | None = None) -> tuple[Any, int] | None:
    """A NULL-terminated ``llama_model_tensor_buft_override`` array putting ``path``'s eligible weight
    matrices (of ``types``, or all) in ``buft_name``, and how many tensors it names; None when there
    are none (or the header cannot be read: llama.cpp's own load reports that)."""
    from localctx.core.gguf_reader import read_gguf_header
    from localctx.errors import GGUFError

    buft = extra_bufts().get(buft_name)
    if buft is None:
        return None
    try:
        header = read_gguf_header(path)
    except (GGUFError, OSError):
        return None
    names = repack_targets(header.tensors, buft_name, types)
    if not names:
        return None
    patterns = override_patterns(names)
    arr = (BuftOverride * (len(patterns) + 1))(*(BuftOverride(p.encode(), buft) for p in patterns),
                                               BuftOverride(None, None))
    return arr, len(names)
