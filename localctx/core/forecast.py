"""Speed forecast: how long prompt processing and generation take as the context fills.

Per-token cost grows with depth because attention reads every cached position:

* prompt processing is compute-bound: ``t_pp(d) = a + b * attn_flops(d)`` — ``a`` is the weight
  matmuls (2 FLOPs per block parameter), ``b`` the cost of one attention FLOP;
* generation is memory-bound: ``t_tg(d) = c + e * kv_bytes(d)`` — ``c`` is reading the weights,
  ``e`` the cost of reading one byte of KV cache.

The features are derived from the model's shape, not from depth alone, so a sliding-window layer
stops growing at its window and a quantized KV cache reads fewer bytes.  Every measurement is a
*segment* — ``n`` tokens evaluated from depth ``start`` in ``ms`` — which is linear in the two
coefficients however long it is, so calibration points, a whole document ingest and a reply all
refine the same least-squares fit.

A model never calibrated on this machine is predicted from one that was: ``a`` and ``c`` scale
with the weight matrices' work, while ``b`` (ms per attention FLOP) and ``e`` (ms per KV byte) are
properties of the machine and carry over unchanged — a roofline from measured throughput.  The
weight work is counted in multiply-adds priced per ggml type (``KernelCosts``, measured on this
machine by a kernel probe), because llama.cpp's CPU kernels differ up to several-fold in speed per
multiply-add between quant types; without a probe it falls back to FLOPs (prompt) and bytes (gen).
Pure: no llama.cpp, no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from localctx.core.ggml_types import row_bytes, type_id
from localctx.core.kernel_costs import KernelCosts
from localctx.core.model_info import ModelInfo
from localctx.core.settings import RuntimeSettings

PROMPT, GEN = "prompt", "gen"
KINDS = (PROMPT, GEN)
REPLY_TOKENS = 500  # the reply a forecast times ("time for a 500-token reply")
#: the smallest error band a forecast claims, however well its calibration fitted
MIN_BAND = 0.05
#: extra band for a forecast scaled from another model by FLOPs and bytes alone: llama.cpp's CPU
#: kernels differ in speed per FLOP by quant type, which that roofline cannot see (gemma-3-270m ran
#: 35-55% faster than SmolLM2-135M's constants predicted, docs/benchmarks.md)
SCALED_BAND = 0.5
#: the same with the weight work priced per type by this machine's kernel probe: what is left is
#: attention, whose cost per FLOP still differs between models (docs/benchmarks.md)
KERNEL_SCALED_BAND = 0.3


# ---- the model's shape ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AttnLayer:
    """One attention layer: work per cached position it attends to, and its window (None: all)."""

    flops_per_pos: float  # QK^T and PV for one query against one cached position
    kv_bytes_per_pos: float  # K and V bytes stored per position
    window: int | None = None


@dataclass(frozen=True)
class ModelShape:
    """What the cost of one token depends on, from the GGUF header and the KV settings."""

    weight_flops: float  # per prompt token: 2 x block parameters (logits are computed once per batch)
    weight_bytes: float  # per generated token: block weights + output layer
    layers: tuple[AttnLayer, ...] = ()
    block_macs: dict[str, float] = field(default_factory=dict)  # per token, by ggml type name
    output_macs: dict[str, float] = field(default_factory=dict)  # the logits matrix, per generated token

    def macs(self, kind: str) -> dict[str, float]:
        """Weight multiply-adds per token by type: the blocks (prompt: logits once per batch, left
        out), plus the output matrix (generation: logits for every token)."""
        if kind == PROMPT:
            return dict(self.block_macs)
        out = dict(self.block_macs)
        for t, n in self.output_macs.items():
            out[t] = out.get(t, 0.0) + n
        return out

    def kernel_ms(self, kind: str, kernels: KernelCosts) -> float | None:
        """ms per token of the weight matrices at this machine's measured speed per type (None: no
        per-type counts, or a kind the probe did not measure)."""
        macs = self.macs(kind)
        if not macs:
            return None
        total = 0.0
        for t, n in macs.items():
            c = kernels.cost(kind, t)
            if c is None:
                return None
            total += n * c
        return total

    def attn_flops(self, start: int, n: int) -> float:
        """Attention FLOPs of ``n`` tokens evaluated from depth ``start`` (summed over tokens)."""
        return sum(lay.flops_per_pos * sum_min(start, n, lay.window) for lay in self.layers)

    def kv_bytes(self, start: int, n: int) -> float:
        """KV cache bytes read by ``n`` tokens generated from depth ``start`` (summed over tokens)."""
        return sum(lay.kv_bytes_per_pos * sum_min(start, n, lay.window) for lay in self.layers)

    def feature(self, kind: str, start: int, n: int) -> float:
        return self.attn_flops(start, n) if kind == PROMPT else self.kv_bytes(start, n)

    def weight_cost(self, kind: str) -> float:
        """The per-token quantity the depth-independent term scales with across models."""
        return self.weight_flops if kind == PROMPT else self.weight_bytes

    def to_json(self) -> dict[str, Any]:
        return {"weight_flops": self.weight_flops, "weight_bytes": self.weight_bytes,
                "block_macs": dict(self.block_macs), "output_macs": dict(self.output_macs),
                "attn_layers": len(self.layers),
                "windowed_layers": sum(1 for lay in self.layers if lay.window)}

    @classmethod
    def weights_from_json(cls, d: dict[str, Any]) -> ModelShape:
        """The weight part of a stored shape (what scaling to another model needs)."""
        def table(v: Any) -> dict[str, float]:
            return {str(k): float(n) for k, n in v.items()} if isinstance(v, dict) else {}

        return cls(float(d["weight_flops"]), float(d["weight_bytes"]), block_macs=table(d.get("block_macs")),
                   output_macs=table(d.get("output_macs")))


def sum_min(start: int, n: int, window: int | None) -> float:
    """sum of min(d, window) for d in [start, start + n): positions attended by each of n tokens."""
    if n <= 0:
        return 0.0
    end = start + n  # exclusive
    if window is None or end <= window:
        return n * start + n * (n - 1) / 2
    if start >= window:
        return float(n * window)
    below = window - start  # tokens start .. window-1 attend to their depth, the rest to the window
    return below * start + below * (below - 1) / 2 + (n - below) * window


def _bytes_per(kv_type: str) -> float:
    return row_bytes(type_id(kv_type), 256) / 256


def shape_of(info: ModelInfo, settings: RuntimeSettings) -> ModelShape:
    """The shape of ``info`` run with ``settings`` (only the KV types matter here)."""
    emb = info.n_vocab * info.n_embd
    block_params = max(0.0, info.n_params - emb * (1 if info.tied_embeddings else 2))
    block_bytes = float(sum(info.layer_tensor_bytes))
    layers: list[AttnLayer] = []
    attn_params = 0.0
    bk, bv = _bytes_per(settings.type_k), _bytes_per(settings.type_v)
    recurrent = info.memory_kind == "recurrent"
    for il in range(info.n_layer):
        heads, kv_heads = info.head_count(il), info.head_count_kv(il)
        swa = info.is_swa(il)
        hk = (info.head_dim_k_swa if swa and info.head_dim_k_swa else None) or info.head_dim_k
        hv = (info.head_dim_v_swa if swa and info.head_dim_v_swa else None) or info.head_dim_v
        attn_params += info.n_embd * (heads * hk + kv_heads * (hk + hv)) + heads * hv * info.n_embd
        if recurrent or not heads or not kv_heads:
            continue
        window = info.sliding_window if swa and info.sliding_window else None  # masked to it, full cache or not
        layers.append(AttnLayer(2.0 * heads * (hk + hv), kv_heads * (hk * bk + hv * bv), window))
    frac = 1.0
    if info.n_expert and info.n_expert_used:  # MoE: only the used experts' FFN weights do work
        active = attn_params + (block_params - attn_params) * info.n_expert_used / info.n_expert
        frac = active / block_params if block_params else 1.0
        block_params, block_bytes = active, block_bytes * frac
    out_bytes = info.output_tensor_bytes + (info.input_tensor_bytes if info.tied_embeddings else 0)
    block_macs = {t: n * frac for t, n in info.block_matrix_params.items()}
    return ModelShape(2.0 * block_params, block_bytes + out_bytes, tuple(layers), block_macs,
                      {t: float(n) for t, n in info.output_matrix_params.items()})


# ---- measurements and the fit --------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """``n`` tokens evaluated (prompt) or generated (gen) from depth ``start`` in ``ms``."""

    kind: str
    start: int
    n: int
    ms: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Segment:
        return cls(str(d["kind"]), int(d["start"]), int(d["n"]), float(d["ms"]))


@dataclass(frozen=True)
class CostFit:
    """Per-token ms = ``base_ms`` + ``per_unit_ms`` x feature(depth), with how well it fitted."""

    kind: str
    base_ms: float  # ms per token at depth 0 (weights)
    per_unit_ms: float  # ms per attention FLOP (prompt) or per KV byte read (gen)
    error: float  # rms relative error of the individual measurements against the fit
    max_error: float
    n_points: int
    max_depth: int  # the deepest depth measured: beyond it the forecast extrapolates

    def segment_ms(self, shape: ModelShape, start: int, n: int) -> float:
        return self.base_ms * n + self.per_unit_ms * shape.feature(self.kind, start, n)

    def tok_s(self, shape: ModelShape, depth: int) -> float:
        ms = self.segment_ms(shape, depth, 1)
        return 1000.0 / ms if ms > 0 else math.inf

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CostFit:
        return cls(**{k: d[k] for k in ("kind", "base_ms", "per_unit_ms", "error", "max_error", "n_points",
                                        "max_depth")})


def _solve(rows: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least squares of sum (u*a + v*b - 1)^2 for rows (u, v), with a, b >= 0."""
    suu = sum(u * u for u, _ in rows)
    svv = sum(v * v for _, v in rows)
    suv = sum(u * v for u, v in rows)
    su, sv = sum(u for u, _ in rows), sum(v for _, v in rows)
    det = suu * svv - suv * suv
    if det > 1e-12 * max(suu * svv, 1e-300):
        a = (su * svv - sv * suv) / det
        b = (sv * suu - su * suv) / det
        if a >= 0 and b >= 0:
            return a, b
    # a boundary: one coefficient at zero (noise made the slope negative, or no depth spread)
    only_a = (su / suu, 0.0) if suu > 0 else (0.0, 0.0)
    only_b = (0.0, sv / svv) if svv > 0 else (0.0, 0.0)

    def loss(ab: tuple[float, float]) -> float:
        return sum((u * ab[0] + v * ab[1] - 1) ** 2 for u, v in rows)

    if svv == 0 or len({round(v / u, 12) if u else v for u, v in rows}) < 2:
        return only_a  # all points at one depth: the slope cannot be told, assume flat
    return min((only_a, only_b), key=loss)


def fit(shape: ModelShape, segments: Iterable[Segment], kind: str) -> CostFit | None:
    """Fit one kind's coefficients to the segments: medians of repeats at one (start, n), relative
    least squares (a 10% miss counts the same at 8K as at 0).  None when there is nothing to fit."""
    segs = [s for s in segments if s.kind == kind and s.n > 0 and s.ms > 0]
    if not segs:
        return None
    groups: dict[tuple[int, int], list[float]] = {}
    for s in segs:
        groups.setdefault((s.start, s.n), []).append(s.ms)
    rows = []
    for (start, n), values in groups.items():
        y = statistics.median(values)
        rows.append((n, shape.feature(kind, start, n), y))
    # scale the feature column to O(1) so the 2x2 system is well conditioned
    scale = max((x / n for n, x, _ in rows), default=0.0) or 1.0
    a, b_scaled = _solve([(n / y, x / scale / y) for n, x, y in rows])
    b = b_scaled / scale
    rel = [(a * s.n + b * shape.feature(kind, s.start, s.n)) / s.ms - 1 for s in segs]
    return CostFit(kind, a, b, math.sqrt(sum(r * r for r in rel) / len(rel)), max(abs(r) for r in rel),
                   len(segs), max(s.start + s.n for s in segs))


def scale_fit(cost: CostFit, source: ModelShape, target: ModelShape, kernels: KernelCosts | None = None) -> CostFit:
    """``cost`` (fitted on ``source``) carried to ``target`` on the same machine and settings: the
    weight term in proportion to the weight matrices' work priced by ``kernels`` (per type), or
    without them to the weight FLOPs (prompt) or bytes (gen); the per-FLOP and per-byte attention
    cost unchanged."""
    src_k = source.kernel_ms(cost.kind, kernels) if kernels is not None else None
    dst_k = target.kernel_ms(cost.kind, kernels) if kernels is not None else None
    if kernels is not None and src_k and dst_k:
        # the matrices' measured cost swapped for the target's; the rest of the source's time per
        # token (norms, rope, graph overhead) carries over as it is
        base = max(cost.base_ms - src_k, 0.0) + dst_k
        return replace(cost, base_ms=base)
    src = source.weight_cost(cost.kind)
    ratio = target.weight_cost(cost.kind) / src if src > 0 else 1.0
    return replace(cost, base_ms=cost.base_ms * ratio)


# ---- the forecast --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forecast:
    """How long a context takes: ingest a document that fills it, then a reply at that depth."""

    n_ctx: int
    document_tokens: int  # the document that fills the context, leaving room for the reply
    ingest_s: float
    prompt_tok_s: float  # average over the ingest
    gen_tok_s: float  # at the depth the document leaves
    reply_tokens: int
    reply_s: float
    band: float  # +- fraction the forecast claims
    source: str  # "measured" | "scaled"
    calibrated_on: str  # the model the coefficients were measured on
    fit_error: dict[str, float] = field(default_factory=dict)  # rms relative error per kind
    extrapolated: bool = False  # deeper than anything measured
    observations: int = 0  # real ingests/replies folded into the fit
    kernel_probe: bool = False  # scaled with this machine's measured price per weight type

    @property
    def label(self) -> str:
        return "measured" if self.source == "measured" else "scaled, not measured"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["label"] = self.label
        return d


def band_for(fits: Sequence[CostFit], depth: int, scaled_band: float = 0.0) -> float:
    """The error a forecast claims: twice the fit's rms error (at least ``MIN_BAND``), widened by
    half per doubling past the deepest measurement, plus ``scaled_band`` for a forecast scaled from
    another model (``SCALED_BAND`` or ``KERNEL_SCALED_BAND``)."""
    base = max([MIN_BAND] + [2 * f.error for f in fits])
    deepest = min(f.max_depth for f in fits) if fits else 0
    if deepest and depth > deepest:
        base *= 1 + 0.5 * math.log2(depth / deepest)
    return base + scaled_band


def forecast(shape: ModelShape, prompt: CostFit, gen: CostFit, n_ctx: int, *, source: str = "measured",
             calibrated_on: str = "", reply_tokens: int = REPLY_TOKENS, observations: int = 0,
             scaled_band: float | None = None, kernel_probe: bool = False) -> Forecast:
    """Time to ingest ``n_ctx - reply_tokens`` tokens from an empty cache, generation speed at that
    depth and the time of the reply.  ``scaled_band``: the extra band of a scaled forecast (default
    ``SCALED_BAND`` when ``source`` is not "measured")."""
    if scaled_band is None:
        scaled_band = SCALED_BAND if source != "measured" else 0.0
    reply = max(1, min(reply_tokens, n_ctx // 2))
    doc = max(1, n_ctx - reply)
    ingest_ms = prompt.segment_ms(shape, 0, doc)
    reply_ms = gen.segment_ms(shape, doc, reply)
    return Forecast(
        n_ctx=n_ctx, document_tokens=doc, ingest_s=ingest_ms / 1000, prompt_tok_s=doc / ingest_ms * 1000,
        gen_tok_s=gen.tok_s(shape, doc), reply_tokens=reply, reply_s=reply_ms / 1000,
        band=band_for((prompt, gen), n_ctx, scaled_band), source=source, calibrated_on=calibrated_on,
        fit_error={PROMPT: prompt.error, GEN: gen.error}, extrapolated=n_ctx > min(prompt.max_depth, gen.max_depth),
        observations=observations, kernel_probe=kernel_probe)


def human_seconds(s: float) -> str:
    """3.2 s, 4 min 10 s, 1 h 05 min: how long to wait, in the unit a person reads."""
    if s < 10:
        return f"{s:.1f} s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 3600:
        m, sec = divmod(int(round(s)), 60)
        return f"{m} min {sec:02d} s"
    h, m = divmod(int(round(s / 60)), 60)
    return f"{h} h {m:02d} min"


def summary(f: Forecast) -> str:
    """One line: ingest time, generation speed at depth, reply time, the band and where it came from."""
    return (f"fill {f.document_tokens:,} tokens in ~{human_seconds(f.ingest_s)} ({f.prompt_tok_s:,.0f} tok/s), "
            f"then {f.gen_tok_s:,.1f} tok/s: a {f.reply_tokens}-token reply in ~{human_seconds(f.reply_s)} "
            f"(±{f.band:.0%}, {f.label}" + (f" from {f.calibrated_on}" if f.source != "measured" else "") + ")")
