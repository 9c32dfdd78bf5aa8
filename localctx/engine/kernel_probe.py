"""Kernel probe: how fast this machine multiplies by a weight matrix of each ggml type.

A model never calibrated here is forecast from one that was, by the work its weight matrices do.
That work is not priced by FLOPs or bytes alone: llama.cpp's CPU kernels differ several-fold in
speed per multiply-add between types (some types go through a GEMM library or a repacked layout,
others are dequantised block by block), and one core computing a token is bound by arithmetic, not
memory.  So the probe writes one small random-weight llama model, has llama.cpp quantise it to each
type (every tensor, ``pure``), and times a prompt micro-batch and single-token decodes with the
user's speed settings: the cost per multiply-add of each type on this machine, by both clocks the
calibration uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np

from localctx.core.settings import RuntimeSettings
from localctx.engine.llamacpp import LlamaEngine
from localctx.errors import RuntimeLoadError

#: the types quantised models are made of (K-quant mixes, legacy quants, the IQ4 pair), widest first
PROBE_TYPES = ("F16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0", "IQ4_NL", "IQ4_XS",
               "Q3_K", "Q2_K")
#: llama.cpp's file type whose ``pure`` quantisation makes every tensor the given type
_FTYPES = {"F16": "F16", "Q8_0": "Q8_0", "Q6_K": "Q6_K", "Q5_K": "Q5_K_M", "Q5_1": "Q5_1", "Q5_0": "Q5_0",
           "Q4_K": "Q4_K_M", "Q4_1": "Q4_1", "Q4_0": "Q4_0", "IQ4_NL": "IQ4_NL", "IQ4_XS": "IQ4_XS",
           "Q3_K": "Q3_K_M", "Q2_K": "Q2_K"}


@dataclass(frozen=True)
class ProbeShape:
    """The probe model: wide enough that its matrices leave the caches a real model leaves."""

    n_embd: int = 1024
    n_ff: int = 2816
    n_layer: int = 4
    n_head: int = 16
    n_head_kv: int = 4
    vocab: int = 256

    @property
    def block_macs(self) -> int:
        """Multiply-adds per token in the blocks' weight matrices (q, k, v, o, gate, up, down)."""
        hd = self.n_embd // self.n_head
        per_layer = 2 * self.n_embd * self.n_embd + 2 * self.n_embd * hd * self.n_head_kv + 3 * self.n_embd * self.n_ff
        return self.n_layer * per_layer


@dataclass(frozen=True)
class ProbeTiming:
    """``tokens`` evaluated as one micro-batch (prompt) or one at a time (gen) with every weight of
    ``type_name``; ``macs`` multiply-adds of block weights per token."""

    type_name: str
    kind: str
    tokens: int
    macs: int
    counter_ms: float
    cpu_ms: float

    def ms_per_mac(self, clock: str = "counters") -> float:
        ms = self.cpu_ms if clock == "cpu" else self.counter_ms
        return ms / self.tokens / self.macs


def write_probe_model(path: Path, shape: ProbeShape = ProbeShape(), seed: int = 0) -> Path:
    """A random-weight F16 llama model (speed does not depend on the values)."""
    from gguf import GGUFWriter

    hd = shape.n_embd // shape.n_head
    w = GGUFWriter(str(path), "llama")
    w.add_type("model")
    w.add_context_length(4096)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(hd)
    w.add_vocab_size(shape.vocab)
    # byte-level BPE: a SentencePiece vocabulary without byte tokens is one llama.cpp refuses (its
    # tokenizer aborts on text that needs one), and the pre-load checks refuse it too
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"<t{i}>" for i in range(shape.vocab)])
    w.add_token_merges(["< t"])
    w.add_token_scores([0.0] * shape.vocab)
    w.add_token_types([1] * shape.vocab)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    rng = np.random.default_rng(seed)
    e, f, kv = shape.n_embd, shape.n_ff, shape.n_head_kv * hd

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)

    ones = np.ones(e, dtype=np.float32)
    w.add_tensor("token_embd.weight", matrix(shape.vocab, e))
    w.add_tensor("output_norm.weight", ones)
    w.add_tensor("output.weight", matrix(shape.vocab, e))
    for i in range(shape.n_layer):
        for name, t in (("attn_norm", ones), ("attn_q", matrix(e, e)), ("attn_k", matrix(kv, e)),
                        ("attn_v", matrix(kv, e)), ("attn_output", matrix(e, e)), ("ffn_norm", ones),
                        ("ffn_gate", matrix(f, e)), ("ffn_up", matrix(f, e)), ("ffn_down", matrix(e, f))):
            w.add_tensor(f"blk.{i}.{name}.weight", t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def quantize(src: Path, dst: Path, type_name: str, threads: int = 0) -> Path:
    """``src`` with every tensor (but the 1-D norms) quantised to ``type_name`` by llama.cpp
    (``threads`` 0: every core; quantising is not what the probe times)."""
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{_FTYPES.get(type_name, '?')}", None)
    if ftype is None:
        raise RuntimeLoadError(f"the kernel probe cannot make {type_name} (llama.cpp needs an importance "
                               f"matrix for it, or this build does not know it)")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.pure = True
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0 or not dst.is_file():
        raise RuntimeLoadError(f"llama.cpp could not quantise the probe model to {type_name} (code {rc})")
    return dst


def probe_settings(settings: RuntimeSettings, n_ctx: int) -> RuntimeSettings:
    """The user's speed settings (threads, flash attention, KV types, offload, batches) at a small context."""
    return RuntimeSettings(n_ctx=n_ctx, type_k=settings.type_k, type_v=settings.type_v,
                           flash_attn=settings.flash_attn, n_gpu_layers=settings.n_gpu_layers,
                           n_threads=settings.n_threads, n_batch=settings.n_batch, n_ubatch=settings.n_ubatch,
                           rpc=settings.rpc, tensor_split=settings.tensor_split)


def _timed(engine: LlamaEngine, run: Callable[[], object]) -> tuple[float, float]:
    c0, t0 = engine.counters(), time.thread_time()
    run()
    c1, t1 = engine.counters(), time.thread_time()
    return c1.t_prompt_ms - c0.t_prompt_ms, (t1 - t0) * 1000


def time_model(path: Path, type_name: str, settings: RuntimeSettings, macs: int, *, prompt_tokens: int = 128,
               gen_tokens: int = 8, rounds: int = 2) -> list[ProbeTiming]:
    """Time one micro-batch of ``prompt_tokens`` from an empty cache and ``gen_tokens`` single-token
    decodes after it, ``rounds`` times (the least of each is kept: the cost without interruptions)."""
    chunk = max(1, min(prompt_tokens, settings.n_ubatch, settings.n_batch))
    engine = LlamaEngine(path, probe_settings(settings, n_ctx=chunk + gen_tokens + 16))
    try:
        tokens = [3 + (i * 37) % (engine.n_vocab - 3) for i in range(chunk + gen_tokens)]
        best: dict[str, tuple[float, float]] = {}

        def decode_one_by_one() -> None:
            for k in range(chunk + 1, chunk + gen_tokens + 1):
                engine.ingest(tokens[:k])

        for _ in range(rounds):
            engine.ingest([])
            for kind, run in (("prompt", lambda: engine.ingest(tokens[:chunk])), ("gen", decode_one_by_one)):
                counter_ms, cpu_ms = _timed(engine, run)
                old = best.get(kind)
                best[kind] = (min(old[0], counter_ms), min(old[1], cpu_ms)) if old else (counter_ms, cpu_ms)
    finally:
        engine.close()
    return [ProbeTiming(type_name, kind, chunk if kind == "prompt" else gen_tokens, macs, *best[kind])
            for kind in ("prompt", "gen")]


def run_probe(settings: RuntimeSettings, workdir: Path, types: Sequence[str] | None = None, *,
              shape: ProbeShape = ProbeShape(), progress: Callable[[int, int, str], None] | None = None,
              rounds: int = 2) -> list[ProbeTiming]:
    """Write the probe model into ``workdir``, quantise it to each type (default ``PROBE_TYPES``) and
    time it; each quantised file is deleted once timed.  A type llama.cpp cannot make or run here is
    skipped."""
    types = PROBE_TYPES if types is None else tuple(types)
    workdir.mkdir(parents=True, exist_ok=True)
    src = write_probe_model(workdir / "probe-F16.gguf", shape)
    out: list[ProbeTiming] = []
    try:
        for i, type_name in enumerate(types):
            if progress is not None:
                progress(i, len(types), type_name)
            path = src if type_name == "F16" else workdir / f"probe-{type_name}.gguf"
            try:
                if path != src:
                    quantize(src, path, type_name)
                out.extend(time_model(path, type_name, settings, shape.block_macs, rounds=rounds))
            except RuntimeLoadError:
                continue
            finally:
                if path != src:
                    path.unlink(missing_ok=True)
    finally:
        src.unlink(missing_ok=True)
    if progress is not None:
        progress(len(types), len(types), "done")
    return out


