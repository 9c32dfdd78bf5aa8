"""What llama.cpp knows about each architecture that the GGUF does not say itself.

Written from llama.cpp's rules (llama-hparams.cpp set_swa_pattern, llama-arch.cpp
llm_arch_is_recurrent/hybrid, llama-model.cpp create_memory), not copied from its code.  Unknown
architectures get a stated assumption, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

#: architectures that allocate no KV cache at all (encoders, diffusion LMs)
NO_KV_ARCHS = frozenset({
    "bert", "jina-bert-v2", "jina-bert-v3", "nomic-bert", "nomic-bert-moe", "neo-bert", "eurobert",
    "modern-bert", "gemma-embedding", "wavtokenizer-dec", "dream", "llada", "llada-moe", "rnd1", "t5encoder",
})
#: purely recurrent: F32 state per sequence, no attention KV
RECURRENT_ARCHS = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})
#: attention KV for some layers plus recurrent state for the others
HYBRID_ARCHS = frozenset({
    "jamba", "falcon-h1", "plamo2", "granitehybrid", "lfm2", "lfm2moe", "nemotron_h", "nemotron_h_moe",
    "qwen3next", "kimi-linear", "qwen35", "qwen35moe",
})
#: architectures whose KV cache is MLA-compressed (K only in current llama.cpp when *_mla keys exist)
MLA_ARCHS = frozenset({"deepseek2", "deepseek3", "kimi-k2", "glm4moe-lite", "minicpm3", "plm"})


@dataclass(frozen=True)
class SwaRule:
    """Default sliding-window layer pattern: period n, and whether the dense layer comes first."""

    period: int
    dense_first: bool = False
    default_window: int = 0  # used when the GGUF has no sliding_window key
    needs_window_key: bool = False  # SWA only if the GGUF's sliding_window > 0
    all_layers: bool = False  # every (attention) layer is SWA


SWA_RULES: dict[str, SwaRule] = {
    "gemma2": SwaRule(2, default_window=4096),
    "gemma3": SwaRule(6, needs_window_key=True),
    "gemma3n": SwaRule(5),
    "llama4": SwaRule(4, default_window=8192),
    "gpt-oss": SwaRule(2, default_window=128),
    "cohere2": SwaRule(4),
    "olmo2": SwaRule(4, needs_window_key=True),
    "exaone4": SwaRule(4, needs_window_key=True),
    "plamo3": SwaRule(8),
    "lfm2": SwaRule(1, needs_window_key=True, all_layers=True),
    "lfm2moe": SwaRule(1, needs_window_key=True, all_layers=True),
}

#: architectures llama.cpp forces to full attention even when the GGUF has a window
SWA_FORCED_OFF = frozenset({"phi3"})


def swa_layers(arch: str, n_layer: int, window: int | None, pattern: object) -> tuple[list[bool], str]:
    """Which layers use the sliding window, and a note on where that came from.

    ``pattern`` is the value of ``<arch>.attention.sliding_window_pattern`` if present: an int period
    or a per-layer bool array (llama.cpp reads both).
    """
    if arch in SWA_FORCED_OFF:
        return [False] * n_layer, "llama.cpp runs this architecture with full attention"
    if isinstance(pattern, list) and len(pattern) == n_layer:
        return [bool(x) for x in pattern], "per-layer sliding_window_pattern array in the GGUF"
    rule = SWA_RULES.get(arch)
    period: int | None = pattern if isinstance(pattern, int) and pattern >= 0 else None
    if rule is None and period is None:
        if window:
            note = f"window {window} in the GGUF but no SWA rule known for '{arch}': assumed full attention"
            return [False] * n_layer, note
        return [False] * n_layer, "no sliding window"
    if rule is not None and rule.needs_window_key and not window:
        return [False] * n_layer, "sliding_window absent or 0: full attention"
    if rule is not None and rule.all_layers:
        return [True] * n_layer, "every attention layer is SWA"
    if period is not None:
        n = period
    else:
        assert rule is not None  # both None returned above
        n = rule.period
    dense_first = rule.dense_first if rule else False
    if n == 0:
        return [True] * n_layer, "pattern 0: every layer is SWA"
    if dense_first:
        flags = [il % n != 0 for il in range(n_layer)]
    else:
        flags = [il % n < n - 1 for il in range(n_layer)]
    src = "sliding_window_pattern key" if period is not None else f"llama.cpp's default for {arch}"
    return flags, f"period {n} ({src}): {'first' if dense_first else 'last'} layer of each period is dense"


def memory_kind(arch: str) -> str:
    """'none' | 'recurrent' | 'hybrid' | 'kv' - which memory module llama.cpp builds."""
    if arch in NO_KV_ARCHS:
        return "none"
    if arch in RECURRENT_ARCHS:
        return "recurrent"
    if arch in HYBRID_ARCHS:
        return "hybrid"
    return "kv"


def _gguf_arch_names() -> frozenset[str]:
    """Architecture names the gguf package (which tracks llama.cpp's llama-arch.cpp) knows."""
    from localctx.core.ggml_types import gguf_constants

    try:
        return frozenset(str(v) for v in gguf_constants().MODEL_ARCH_NAMES.values())
    except AttributeError:  # pragma: no cover - older gguf
        return frozenset()


#: architectures llama.cpp can load (per gguf's table) plus those localctx has rules for; anything
#: else is "unknown": inspect reports it, loading commands refuse it before llama.cpp opens the file
KNOWN_ARCHS = _gguf_arch_names() | NO_KV_ARCHS | RECURRENT_ARCHS | HYBRID_ARCHS | MLA_ARCHS | frozenset(SWA_RULES)
