"""The contract between localctx's services and the llama.cpp runtime adapter.

Services (chat, summarize, eval, TUI) depend on this protocol, never on ``llama_cpp`` itself;
``localctx.engine.llamacpp.LlamaEngine`` is the one implementation, and the ``engine`` package is the
only place that imports ``llama_cpp``.  Everything a service reads from an engine is declared here:
nothing is patched onto an engine after construction and no service needs ``getattr`` to find out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from localctx.core.sampling import GREEDY, SamplingSettings

if TYPE_CHECKING:
    from localctx.core.model_info import ModelInfo
    from localctx.core.rope import ExtensionPlan
    from localctx.core.settings import RuntimeSettings

#: progress callback: (tokens done, tokens total)
Progress = Callable[[int, int], None]


class Cancelled(KeyboardInterrupt):
    """``should_stop`` turned true during ``ingest``/``token_logprobs``: llama.cpp stopped between graph
    nodes, the batch in flight was dropped and the cache holds exactly ``cached_tokens``.  A
    KeyboardInterrupt, so code that keeps its work on Ctrl-C keeps it here too."""


@dataclass
class Counters:
    """llama.cpp's own counters since the engine was loaded (llama_perf_context)."""

    n_prompt_eval: int = 0  # tokens evaluated as prompt (prefill)
    n_gen: int = 0  # tokens generated (decode)
    t_prompt_ms: float = 0.0
    t_gen_ms: float = 0.0


@dataclass
class LoadReport:
    """What llama.cpp said while loading: parsed allocations and the raw log lines."""

    kv_bytes: int | None = None
    compute_bytes: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    output_bytes: int | None = None
    #: context parameters llama.cpp printed as applied (n_ctx, n_ctx_seq, freq_base, freq_scale,
    #: flash_attn, yarn_orig_ctx when it auto-adjusted for YaRN, per-cache kv_caches, ...)
    applied: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # llama.cpp WARN lines (e.g. context overflow)
    errors: list[str] = field(default_factory=list)  # llama.cpp ERROR lines

    @property
    def total_bytes(self) -> int:
        """KV + compute + output buffers llama.cpp allocated for the context (weights excluded)."""
        return (self.kv_bytes or 0) + sum(self.compute_bytes.values()) + (self.output_bytes or 0)


class Engine(Protocol):
    path: Path
    settings: RuntimeSettings  # what the engine was loaded with (after the extension plan)
    info: ModelInfo | None  # the header read before loading (None only when loaded around the gate)
    plan: ExtensionPlan | None  # the context-extension plan the settings carry
    n_ctx: int  # the context llama.cpp actually created (after padding)
    n_batch: int
    n_vocab: int
    report: LoadReport
    metadata: dict[str, str]  # the GGUF's metadata as llama.cpp read it
    stop_reason: str | None  # why the last stream ended: eos|stop|length|context|cancelled

    @property
    def has_chat_template(self) -> bool: ...

    def fingerprint(self) -> dict[str, Any]:
        """What a saved KV state depends on: model file, layout, RoPE values, KV types."""
        ...

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def format_chat(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        """Render messages with the chat template set by ``set_chat_template``, else the GGUF's own,
        else a plain completion prompt (documents, question, "Answer:")."""
        ...

    def set_chat_template(self, template: str | None, origin: str | None = None) -> None:
        """Use this Jinja chat template (``--chat-template``); None: back to the model's own."""
        ...

    def ingest(self, tokens: Sequence[int], *, progress: Progress | None = None,
               should_stop: Callable[[], bool] | None = None) -> int:
        """Make the KV cache hold exactly ``tokens``: keep the longest common prefix with what is
        cached, evaluate only the rest.  Returns how many tokens were evaluated.  ``should_stop`` is
        polled while llama.cpp computes (raises Cancelled within a fraction of a second)."""
        ...

    def stream(
        self,
        max_tokens: int,
        *,
        sampling: SamplingSettings = GREEDY,
        stop: Sequence[str] = (),
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[str]:
        """Generate after the cached tokens, yielding text pieces; generated tokens stay cached.
        ``sampling.seed`` None: the runtime settings' seed."""
        ...

    @property
    def cached_tokens(self) -> list[int]: ...

    def counters(self) -> Counters: ...

    def save_state(self, path: Path) -> None:
        """Write llama.cpp's state file to ``path``, nothing beside it; RuntimeLoadError if it cannot.
        Checksums, fingerprints and atomic renames are services/state_cache.py's (one integrity layer)."""
        ...

    def load_state(self, path: Path) -> None:
        """Restore a state written by save_state (checked by the caller first); RuntimeLoadError if
        llama.cpp rejects it."""
        ...

    def token_logprobs(self, tokens: Sequence[int], *, progress: Progress | None = None,
                       should_stop: Callable[[], bool] | None = None) -> list[float]:
        """Evaluate ``tokens`` from an empty cache in one window; log p(token_i | tokens_<i) for i >= 1."""
        ...

    def close(self) -> None: ...
