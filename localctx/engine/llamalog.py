"""Read llama.cpp's own log lines into a LoadReport (pure text parsing, no llama_cpp import).

llama.cpp prints what it really allocated and which context parameters it really applied; that is
the ground truth localctx shows users and tests against.  Formats checked against llama-cpp-python
0.3.36's vendored llama.cpp, e.g.::

    llama_context: n_ctx                 = 32768
    llama_context: freq_scale            = 0.25
    llama_context:        CPU  output buffer size =     0.19 MiB
    llama_kv_cache: size =  720.00 MiB ( 32768 cells,  30 layers,  1/1 seqs), K (f16): ..., V (f16): ...
    sched_reserve:        CPU compute buffer size =    98.25 MiB
    load_tensors: RPC0[127.0.0.1:50052] model buffer size =    21.14 MiB   (per device: model_buffers)
    llama_kv_cache: RPC0[127.0.0.1:50052] KV buffer size =     3.75 MiB  (per device: kv_buffers)
    llama_init_from_model: custom YaRN scaling detected, re-adjusting n_ctx_train(8192)...
    llama_init_from_model: n_ctx_train adjusted to 32768
"""

from __future__ import annotations

import re
from typing import Any

from localctx.engine.base import LoadReport

# ggml_log_level as llama.cpp uses it now (llama-cpp-python's _logger.py still has the old order)
DEBUG, INFO, WARN, ERROR, CONT = 1, 2, 3, 4, 5

_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
_SIZE = r"([\d.]+)\s*(B|KiB|MiB|GiB)"
_CTX_PARAM = re.compile(r"^llama_context:\s+(\w+)\s+=\s+(\S+)\s*$")
_KV_SIZE = re.compile(r"^llama_kv_cache(?:_iswa)?:\s+size\s+=\s+" + _SIZE + r"\s*\(\s*(\d+) cells,\s*(\d+) layers,"
                      r".*?K \((\w+)\):\s+" + _SIZE + r",\s*V \((\w+)\):\s+" + _SIZE)
_COMPUTE = re.compile(r"^\w+:\s+(\S+) compute buffer size\s+=\s+" + _SIZE)
_OUTPUT = re.compile(r"^llama_context:\s+(\S+)\s+output buffer size\s+=\s+" + _SIZE)
_KV_BUF = re.compile(r"^llama_kv_cache(?:_iswa)?:\s+(\S+) KV buffer size\s+=\s+" + _SIZE)
_MODEL_BUF = re.compile(r"^load_tensors:\s+(\S+) model buffer size\s+=\s+" + _SIZE)
_YARN_ADJUST = re.compile(r"n_ctx_train adjusted to (\d+)")
_MODEL_INFO = re.compile(r"^print_info:\s+(rope scaling|freq_base_train|freq_scale_train|n_ctx_orig_yarn|n_ctx_train|"
                         r"n_swa|rope type|rope_finetuned)\s+=\s+(.*?)\s*$")
_INT_PARAMS = {"n_seq_max", "n_ctx", "n_ctx_seq", "n_batch", "n_ubatch", "causal_attn", "n_outputs_max"}


def to_bytes(value: str, unit: str) -> int:
    return round(float(value) * _UNITS[unit])


def _convert(key: str, raw: str) -> Any:
    if key in _INT_PARAMS:
        try:
            return int(raw)
        except ValueError:
            return raw
    if key in ("freq_base", "freq_scale"):
        return float(raw)
    if raw in ("true", "false"):
        return raw == "true"
    return raw


def _number(raw: str) -> Any:
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            pass
    return raw


def parse_load_lines(lines: list[tuple[int, str]]) -> LoadReport:
    """Turn (level, line) pairs captured during model + context creation into a LoadReport."""
    report = LoadReport()
    applied: dict[str, Any] = {}
    kv_total = 0
    kv_seen = False
    for level, line in lines:
        text = line.rstrip()
        if level >= INFO:
            report.lines.append(text)
        if level == WARN:
            report.warnings.append(text)
        elif level == ERROR:
            report.errors.append(text)
        if m := _CTX_PARAM.match(text):
            applied[m.group(1)] = _convert(m.group(1), m.group(2))
        elif m := _KV_SIZE.match(text):
            # iSWA models print one line per cache (full + SWA): sum them
            kv_total += to_bytes(m.group(1), m.group(2))
            kv_seen = True
            applied.setdefault("kv_caches", []).append({
                "bytes": to_bytes(m.group(1), m.group(2)), "cells": int(m.group(3)), "layers": int(m.group(4)),
                "type_k": m.group(5), "type_v": m.group(8),
            })
        elif m := _KV_BUF.match(text):
            # per device, e.g. "RPC0[10.0.0.2:50052] KV buffer size" when layers live on RPC servers
            kv_bufs = applied.setdefault("kv_buffers", {})
            kv_bufs[m.group(1)] = kv_bufs.get(m.group(1), 0) + to_bytes(m.group(2), m.group(3))
        elif m := _MODEL_BUF.match(text):
            bufs = applied.setdefault("model_buffers", {})
            bufs[m.group(1)] = bufs.get(m.group(1), 0) + to_bytes(m.group(2), m.group(3))
        elif m := _OUTPUT.match(text):
            report.output_bytes = (report.output_bytes or 0) + to_bytes(m.group(2), m.group(3))
        elif m := _COMPUTE.match(text):
            report.compute_bytes[m.group(1)] = to_bytes(m.group(2), m.group(3))
        elif m := _MODEL_INFO.match(text):
            # the model's own (trained) RoPE values as llama.cpp read them from the GGUF
            applied.setdefault("model", {})[m.group(1).replace(" ", "_")] = _number(m.group(2))
        elif "custom YaRN scaling detected" in text:
            applied["yarn_adjusted"] = True
        elif m := _YARN_ADJUST.search(text):
            applied["n_ctx_train_adjusted"] = int(m.group(1))
        elif "Flash Attention was auto, set to" in text or text.endswith("Flash Attention enabled"):
            applied["flash_attn_resolved"] = "enabled" if "enabled" in text else text.rsplit(" ", 1)[-1]
        elif text.endswith("Flash Attention disabled"):
            applied["flash_attn_resolved"] = "disabled"
    if kv_seen:
        report.kv_bytes = kv_total
    # what llama.cpp applied for YaRN, derived from its own numbers: n_ctx_train := orig / freq_scale
    if applied.get("yarn_adjusted") and "n_ctx_train_adjusted" in applied and applied.get("freq_scale"):
        applied["yarn_orig_ctx"] = round(applied["n_ctx_train_adjusted"] * applied["freq_scale"])
    report.applied = applied
    return report


def first_error(lines: list[tuple[int, str]]) -> str | None:
    """The first ERROR line llama.cpp printed (what verbose=False would have hidden), if any."""
    for level, line in lines:
        if level == ERROR and line.strip():
            return line.strip()
    return None
