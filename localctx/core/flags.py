"""RuntimeFlags: the runtime flags a user gave, in llama.cpp's names, before any model is known.

Both front ends build one (the CLI from its options, the TUI from its Plan form) and hand it to the
services, which layer it over the per-model saved settings and the defaults
(``localctx.services.runtime.resolve_settings``).  Validation happens here, once, so a bad value is
refused with the same one-line message whichever front end or command it came through.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from typing import Any

from localctx.core.settings import EXTEND_METHODS, KV_TYPES, RuntimeSettings
from localctx.core.units import parse_bytes
from localctx.errors import SettingsError


@dataclass(frozen=True)
class RuntimeFlags:
    """Raw values of the runtime flags; None means the flag was not given."""

    ctx: int | None = None
    extend: str | None = None
    rope_scaling: str | None = None
    rope_freq_base: float | None = None
    rope_freq_scale: float | None = None
    rope_scale: float | None = None
    yarn_orig_ctx: int | None = None
    yarn_ext_factor: float | None = None
    yarn_attn_factor: float | None = None
    yarn_beta_fast: float | None = None
    yarn_beta_slow: float | None = None
    cache_type_k: str | None = None
    cache_type_v: str | None = None
    flash_attn: str | None = None
    gpu_layers: int | None = None
    threads: int | None = None
    batch_size: int | None = None
    ubatch_size: int | None = None
    swa_full: bool | None = None
    no_mmap: bool | None = None
    mlock: bool | None = None
    seed: int | None = None
    parallel: int | None = None
    rpc: str | None = None
    tensor_split: str | None = None
    rpc_mem: str | None = None

    def overrides(self) -> dict[str, Any]:
        """The given flags as RuntimeSettings field values (validated, llama.cpp's rules)."""
        return flags_to_overrides(self)



FLAG_NAMES = tuple(f.name for f in fields(RuntimeFlags))

#: the RuntimeSettings fields that describe RoPE: set by a user, they turn the extension planner off
ROPE_FIELDS = ("rope_scaling", "rope_freq_base", "rope_freq_scale", "yarn_orig_ctx", "yarn_ext_factor",
               "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow")

#: RuntimeSettings field -> the flag a user types for it (how saved settings are named back); each RoPE
#: field's flag is its name, as llama.cpp spells it (--rope-freq-base, --yarn-beta-slow, ...)
SETTING_FLAGS: dict[str, str] = {
    "n_ctx": "--ctx", "extend": "--extend", **{k: "--" + k.replace("_", "-") for k in ROPE_FIELDS},
    "type_k": "-ctk", "type_v": "-ctv",
    "flash_attn": "-fa", "n_gpu_layers": "-ngl", "n_threads": "-t", "n_batch": "-b", "n_ubatch": "-ub",
    "swa_full": "--swa-full", "use_mmap": "--no-mmap", "use_mlock": "--mlock", "seed": "--seed", "n_seq": "-np",
    "kv_unified": "--kv-unified",
    "rpc": "--rpc", "tensor_split": "--tensor-split", "rpc_mem": "--rpc-mem",
}


def describe_settings(values: dict[str, Any]) -> str:
    """RuntimeSettings field values as the flags that would set them: ``-ctk q8_0 -fa on``."""
    out = []
    for k, v in values.items():
        flag = SETTING_FLAGS.get(k, k)
        if isinstance(v, bool) or v is None:
            if k == "flash_attn":
                out.append(f"-fa {'auto' if v is None else 'on' if v else 'off'}")
            elif k == "use_mmap":
                out.append("--no-mmap" if v is False else "")
            else:
                out.append(flag if v else "")
        else:
            out.append(f"{flag} {v}")
    return " ".join(o for o in out if o)


def command_line(command: str, model: str, values: dict[str, Any]) -> str:
    """A command to repeat, as the user would type it: the model as they named it and these settings
    as flags (``localctx chat smollm2 --ctx 8192 -t 1``), each word quoted for the shell."""
    import shlex

    flags = describe_settings(values)
    return " ".join([command, shlex.quote(model), *(shlex.quote(w) for w in shlex.split(flags))])


def _positive(name: str, value: float | int | None, flag: str) -> None:
    if value is not None and value <= 0:
        raise SettingsError(f"{flag} must be greater than 0 (got {value})")


def flags_to_overrides(f: RuntimeFlags) -> dict[str, Any]:
    """Map given flags onto RuntimeSettings fields, rejecting values llama.cpp would not accept."""
    out: dict[str, Any] = {}
    _positive("ctx", f.ctx, "--ctx")
    for value, flag in ((f.rope_freq_base, "--rope-freq-base"), (f.rope_freq_scale, "--rope-freq-scale"),
                        (f.rope_scale, "--rope-scale"), (f.yarn_orig_ctx, "--yarn-orig-ctx"),
                        (f.batch_size, "--batch-size"), (f.ubatch_size, "--ubatch-size"),
                        (f.threads, "--threads"), (f.parallel, "--parallel")):
        _positive(flag, value, flag)
    if f.ctx is not None:
        out["n_ctx"] = f.ctx
    if f.extend is not None:
        if f.extend not in EXTEND_METHODS:
            raise SettingsError(f"unknown --extend '{f.extend}'", f"use one of: {', '.join(EXTEND_METHODS)}")
        out["extend"] = f.extend
    if f.rope_scaling is not None:
        if f.rope_scaling not in ("none", "linear", "yarn"):
            raise SettingsError(f"unknown --rope-scaling '{f.rope_scaling}'", "use none, linear or yarn")
        out["rope_scaling"] = f.rope_scaling
    if f.rope_scale is not None and f.rope_freq_scale is not None and abs(1 / f.rope_scale - f.rope_freq_scale) > 1e-9:
        raise SettingsError(f"--rope-scale {f.rope_scale} and --rope-freq-scale {f.rope_freq_scale} disagree",
                            "give one of them (--rope-scale N = --rope-freq-scale 1/N)")
    if f.rope_scale is not None:
        out["rope_freq_scale"] = 1.0 / f.rope_scale
    if f.rope_freq_scale is not None:
        out["rope_freq_scale"] = f.rope_freq_scale
    same_name = [(k, k) for k in ROPE_FIELDS if k not in ("rope_scaling", "rope_freq_scale")]  # those two: above
    for src, dst in (*same_name, ("threads", "n_threads"), ("seed", "seed"), ("parallel", "n_seq")):
        if getattr(f, src) is not None:
            out[dst] = getattr(f, src)
    for src, dst, flag in (("cache_type_k", "type_k", "--cache-type-k"), ("cache_type_v", "type_v", "--cache-type-v")):
        v = getattr(f, src)
        if v is not None:
            if v.lower() not in KV_TYPES:
                raise SettingsError(f"unknown {flag} '{v}'", f"use one of: {', '.join(KV_TYPES)}")
            out[dst] = v.lower()
    if f.flash_attn is not None:
        fa = {"on": True, "1": True, "true": True, "enabled": True, "off": False, "0": False, "false": False,
              "disabled": False, "auto": None}
        if f.flash_attn.lower() not in fa:
            raise SettingsError(f"unknown --flash-attn '{f.flash_attn}'", "use on, off or auto")
        out["flash_attn"] = fa[f.flash_attn.lower()]
    if f.gpu_layers is not None:
        if f.gpu_layers < -1:
            raise SettingsError(f"-ngl must be -1 (all layers) or more (got {f.gpu_layers})", "use -ngl -1, 0 or N")
        out["n_gpu_layers"] = f.gpu_layers
    if f.batch_size is not None:
        out["n_batch"] = f.batch_size
    if f.ubatch_size is not None:
        out["n_ubatch"] = f.ubatch_size
    if f.swa_full:
        out["swa_full"] = True
    if f.no_mmap:
        out["use_mmap"] = False
    if f.mlock:
        out["use_mlock"] = True
    if f.rpc is not None:
        out["rpc"] = parse_rpc(f.rpc) if f.rpc.strip() else None  # --rpc "" drops saved servers
    if f.tensor_split is not None:
        out["tensor_split"] = parse_tensor_split(f.tensor_split)
    if f.rpc_mem is not None:
        out["rpc_mem"] = parse_rpc_mem(f.rpc_mem)
        servers = out.get("rpc")
        if servers and len(servers.split(",")) != len(out["rpc_mem"].split(",")):
            raise SettingsError(f"--rpc-mem gives {len(out['rpc_mem'].split(','))} sizes for "
                                f"{len(servers.split(','))} --rpc servers", "give one size per server")
    return out


MAX_RPC_SERVERS = 16  # GGML_RPC_MAX_SERVERS


#: a DNS name's limit; longer hosts are refused before the resolver (its IDNA codec raises on them)
MAX_HOST_CHARS = 253
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


def is_loopback(host: str) -> bool:
    """Only this machine can reach ``host`` (a server bound there needs no key and no warning)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rpc_host_problem(host: str) -> str | None:
    """Why ``host`` cannot be an RPC server's address for llama.cpp, or None.  llama.cpp's RPC client
    resolves names with ``gethostbyname`` and connects over IPv4 only, so an IPv6 literal (bracketed
    or not) is refused by name rather than failing inside ggml."""
    if host.startswith("[") and host.endswith("]") or ":" in host:
        return "is an IPv6 address; llama.cpp's RPC connects over IPv4 only (use an IPv4 address or an SSH tunnel)"
    if not host or len(host) > MAX_HOST_CHARS:
        return f"is not a host name (1-{MAX_HOST_CHARS} characters)"
    if not set(host) <= _HOST_CHARS or any(not 0 < len(label) < 64 for label in host.rstrip(".").split(".")):
        return "is not a host name or IPv4 address (letters, digits, '-' and '.' only)"
    return None


def split_rpc_endpoint(part: str) -> tuple[str, int]:
    """``host:port`` or ``[ipv6]:port`` -> (host, port); SettingsError in one line otherwise."""
    host, sep, port = part.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"cannot read --rpc endpoint '{part[:80]}'",
                            "use HOST:PORT[,HOST:PORT...], e.g. 127.0.0.1:50052")
    problem = rpc_host_problem(host)
    if problem:
        raise SettingsError(f"--rpc host '{host[:80]}{'...' if len(host) > 80 else ''}' {problem}",
                            "use HOST:PORT[,HOST:PORT...], e.g. 127.0.0.1:50052")
    return host, int(port)


def parse_rpc(text: str) -> str:
    """``host:port[,host:port...]`` -> the same, normalised (spaces dropped); SettingsError otherwise."""
    out: list[str] = []
    for part in (p.strip() for p in str(text).split(",")):
        host, port = split_rpc_endpoint(part)
        if f"{host}:{port}" in out:
            raise SettingsError(f"--rpc lists {part} twice", "give each server once")
        out.append(f"{host}:{port}")
    if len(out) > MAX_RPC_SERVERS:
        raise SettingsError(f"--rpc lists {len(out)} servers; llama.cpp takes at most {MAX_RPC_SERVERS}")
    return ",".join(out)


def parse_tensor_split(text: str) -> str:
    """``3,1`` or ``0.6,0.4`` -> normalised text; every share >= 0 and at least one > 0."""
    try:
        values = [float(x) for x in str(text).replace("/", ",").split(",")]
    except ValueError:
        raise SettingsError(f"cannot read --tensor-split '{text}'", "use shares per offload device, e.g. 3,1") from None
    if any(v < 0 or v != v for v in values) or not any(v > 0 for v in values):
        raise SettingsError(f"--tensor-split '{text}' needs shares >= 0, at least one above 0", "e.g. 3,1")
    return ",".join(f"{v:g}" for v in values)


def parse_rpc_mem(text: str) -> str:
    """``8G,16G`` -> bytes per RPC server as text (``8589934592,17179869184``)."""
    return ",".join(str(parse_bytes(p.strip(), what="--rpc-mem size")) for p in str(text).split(","))


def settings_from_flags(flags: RuntimeFlags | None, base: RuntimeSettings | None = None) -> RuntimeSettings:
    """``base`` (default: RuntimeSettings()) with the given flags applied; no model knowledge."""
    base = base or RuntimeSettings()
    return base if flags is None else base.with_(**flags.overrides())


@dataclass(frozen=True)
class SamplingFlags:
    """Raw values of the sampling flags, in llama.cpp's names (``--temp``, ``--top-k``, ...); None means
    the flag was not given.  Every front end builds one; ``overrides`` validates it, once."""

    temp: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    dry_multiplier: float | None = None
    dry_base: float | None = None
    dry_allowed_length: int | None = None
    dry_penalty_last_n: int | None = None

    def overrides(self) -> dict[str, Any]:
        """The given flags as SamplingSettings field values, refused with one line when llama.cpp would
        divide by zero, silently ignore the value, or abort."""
        out = {SAMPLING_FIELDS[k]: v for k, v in ((f.name, getattr(self, f.name)) for f in fields(self))
               if v is not None}
        check_sampling_values(out)
        return out


SAMPLING_FLAG_NAMES = tuple(f.name for f in fields(SamplingFlags))
#: SamplingFlags field -> SamplingSettings field (only --temp is spelled differently)
SAMPLING_FIELDS = {**{n: n for n in SAMPLING_FLAG_NAMES}, "temp": "temperature"}
#: SamplingSettings field -> the flag a user types for it
SAMPLING_SETTING_FLAGS = {v: "--" + k.replace("_", "-") for k, v in SAMPLING_FIELDS.items()}

# (field, lowest allowed, lowest inclusive, highest allowed or None, the hint)
_SAMPLING_RANGES: tuple[tuple[str, float, bool, float | None, str], ...] = (
    ("temperature", 0, True, None, "0 is greedy; 0.7 is a usual value"),
    ("top_k", 0, True, None, "0 turns it off; 40 is a usual value"),
    ("top_p", 0, False, 1, "1.0 turns it off; 0.95 is a usual value"),
    ("min_p", 0, True, 1, "0 turns it off; 0.05 is a usual value"),
    ("repeat_penalty", 0, False, None, "1.0 turns it off; 1.1 is a usual value"),
    ("repeat_last_n", -1, True, None, "-1 is the whole context, 0 turns the penalty off, 64 is usual"),
    ("dry_multiplier", 0, True, None, "0 turns DRY off; 0.8 is a usual value"),
    ("dry_base", 1, True, None, "1.75 is llama.cpp's value (below 1 DRY would do nothing)"),
    ("dry_allowed_length", 0, True, None, "2 is llama.cpp's value"),
    ("dry_penalty_last_n", -1, True, None, "-1 is the whole context, 0 turns DRY off"),
)


def _describe_range(low: float, inclusive: bool, high: float | None) -> str:
    if high is not None:
        return f"between {low:g} and {high:g}" if inclusive else f"above {low:g} and at most {high:g}"
    return f"{low:g} or more" if inclusive else f"greater than {low:g}"


def check_sampling_values(values: dict[str, Any]) -> None:
    """SamplingSettings field values (a flag, a saved setting, a request field), checked against the
    ranges llama.cpp handles; SettingsError (exit 2) naming the flag otherwise."""
    for name, low, inclusive, high, why in _SAMPLING_RANGES:
        v = values.get(name)
        if v is None:
            continue
        flag = SAMPLING_SETTING_FLAGS[name]
        bad = isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf"))
        if not bad:
            bad = v < low or (v == low and not inclusive) or (high is not None and v > high)
        if bad:
            raise SettingsError(f"{flag} must be {_describe_range(low, inclusive, high)} (got {v})", why)


def describe_sampling(values: dict[str, Any]) -> str:
    """SamplingSettings field values as the flags that would set them: ``--temp 0 --dry-multiplier 0.8``."""
    order = list(SAMPLING_SETTING_FLAGS)
    keys = sorted(values, key=lambda k: order.index(k) if k in order else len(order))
    return " ".join(f"{SAMPLING_SETTING_FLAGS.get(k, '--' + k)} {_num(values[k])}" for k in keys
                    if values[k] is not None)


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def check_sampling(max_tokens: int | None = None, temperature: float | None = None,
                   repeat_penalty: float | None = None) -> None:
    """The generation options every front end takes (``-n``, ``--temp``, ``--repeat-penalty``),
    refused with one line before a model loads: llama.cpp would loop, divide by zero or emit nothing."""
    if max_tokens is not None and max_tokens < 1:
        raise SettingsError(f"-n/--max-tokens must be at least 1 (got {max_tokens})", "use e.g. -n 256")
    check_sampling_values({"temperature": temperature, "repeat_penalty": repeat_penalty})
