"""LlamaEngine: the one adapter between localctx and llama.cpp (the only module importing llama_cpp).

It drives llama-cpp-python's thin ``_internals`` wrappers (model, context, batch, sampler) rather than
the ``Llama`` class, so that: llama.cpp's defaults are ours to choose (n_ctx never 512, swa_full off,
flash attention "auto", YaRN betas "from the model"); no n_ctx x n_vocab score arrays are allocated;
and every log line llama.cpp prints is captured (``llama_log_set``) to report real allocations and
to surface real errors that ``verbose=False`` would hide.  Checked against llama-cpp-python 0.3.36.

KV positions are never shifted by this engine (no "context shift"): shifting re-applies YaRN's
magnitude scaling to cached keys and corrupts them.  Prefix reuse only
removes cells (``seq_rm``), which is safe under any RoPE setting.  ``shift_positions`` exists for
Self-Extend experiments and refuses to run while YaRN is active.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import _internals as _ll

from localctx.core.chat_templates import PLAIN
from localctx.core.flags import ROPE_FIELDS
from localctx.core.model_info import ModelInfo
from localctx.core.rope import ExtensionPlan
from localctx.core.sampling import GREEDY, SamplingSettings
from localctx.core.settings import RuntimeSettings
from localctx.engine import abort, chat_template, rpc
from localctx.engine.base import Cancelled, Counters, LoadReport, Progress
from localctx.engine.cancel import AbortWatch
from localctx.engine.llamalog import first_error, parse_load_lines
from localctx.engine.logsink import capture, recent_error
from localctx.engine.metadata import read_metadata
from localctx.engine.params import context_params, error_hint, model_params, require_pinned_threads
from localctx.engine.sampling import logprobs_at, make_sampler
from localctx.engine.stops import StopFilter
from localctx.engine.vocab import Vocab
from localctx.errors import ContextOverflowError, LocalctxError, RuntimeLoadError, SettingsError

STATE_VERSION = 1
abort.install()  # an unforeseen ggml abort: one line on stderr and exit 1, never a backtrace on stdout


# ---- the engine ----------------------------------------------------------------------------------
class LlamaEngine:
    """A loaded model + one context + the tokens its KV cache holds (sequence 0)."""

    def __init__(self, path: str | Path, settings: RuntimeSettings | None = None, *,
                 info: ModelInfo | None = None, plan: ExtensionPlan | None = None) -> None:
        self.path = Path(path)
        self.settings = settings or RuntimeSettings()
        self.info = info  # the header localctx read before loading (None: loaded without the gate)
        self.plan = plan  # the context-extension plan these settings carry
        self._model: Any = None
        self._ctx: Any = None
        self._batch: Any = None
        require_pinned_threads(self.settings.n_threads, f"loading {self.path.name}")
        abort.set_model(self.path)
        watch = rpc.LoadWatch() if self.settings.rpc_servers else None
        with capture() as lines, watch or nullcontext():
            try:
                params = model_params(self.settings, self.path)
                if watch is not None:
                    params.progress_callback = watch.callback
                self._model = _ll.LlamaModel(path_model=str(self.path), params=params, verbose=False)
            except ValueError as exc:
                raise RuntimeLoadError(f"llama.cpp could not load {self.path.name}: "
                                       f"{first_error(lines) or exc}") from None
            self.n_ctx_train = int(self._model.n_ctx_train())  # read before a YaRN context mutates it
            try:
                self._ctx = _ll.LlamaContext(model=self._model, params=context_params(self.settings), verbose=False)
            except ValueError as exc:
                self._model.close()
                raise RuntimeLoadError(f"llama.cpp could not create a context for {self.path.name}: "
                                       f"{first_error(lines) or exc}", error_hint(first_error(lines))) from None
        self.report: LoadReport = parse_load_lines(lines)
        self.n_ctx = int(llama_cpp.llama_n_ctx(self._ctx.ctx))
        self.n_batch = int(llama_cpp.llama_n_batch(self._ctx.ctx))
        self.n_vocab = int(self._model.n_vocab())
        self.n_swa = int(llama_cpp.llama_model_n_swa(self._model.model))
        self.vocab = Vocab(self._model.vocab)
        self._batch = _ll.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)
        self._tokens: list[int] = []
        self._logits_ready = False  # the last decode's last output row belongs to _tokens[-1]
        self._positions_moved = False  # shift_positions was used: positions != indices
        self._formatters: dict[bool, Any] = {}
        self._template_override: str | None = None  # --chat-template
        self._template_origin: str | None = None  # how errors name it (None: the model file's own)
        self._abort = AbortWatch(self._ctx.ctx)  # Ctrl-C lands inside a batch of prompt work
        self.stop_reason: str | None = None  # why the last stream ended: eos|stop|length|context|cancelled
        self.metadata: dict[str, str] = read_metadata(self._model.model)
        self.yarn_active = (self.settings.rope_scaling == "yarn" or (
            self.settings.rope_scaling is None and self.metadata.get(
                f"{self.metadata.get('general.architecture', '')}.rope.scaling.type") == "yarn"))

    # ---- tokens (the vocabulary does the work) -------------------------------------------------
    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = True) -> list[int]:
        return self.vocab.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self.vocab.detokenize(tokens)

    def format_chat(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        """The model's chat template applied to ``messages``: compiled once in Jinja's sandbox, rendered
        under a step and time budget (engine/chat_template.py); any failure is one LocalctxError line."""
        fmt = self._formatters.get(add_generation_prompt)
        if fmt is None:
            template = self._template()
            fmt = chat_template.compile_formatter(template, bos=self.vocab.token_text(self.vocab.bos),
                                                  eos=self.vocab.token_text(self.vocab.eos),
                                                  add_generation_prompt=add_generation_prompt, model=self.path,
                                                  origin=self._template_origin if self._template_override else None)
            self._formatters[add_generation_prompt] = fmt
        return chat_template.render(fmt, messages, model=self.path, n_ctx=self.n_ctx)

    def _template(self) -> str:
        """--chat-template, else the GGUF's own, else the plain completion prompt (never a foreign
        template: its markers are plain text to this tokenizer and leak into the answers)."""
        return self._template_override or self.metadata.get("tokenizer.chat_template") or PLAIN

    def set_chat_template(self, template: str | None, origin: str | None = None) -> None:
        """Render with this Jinja template from now on (None: the GGUF's own, or the plain prompt);
        ``origin`` names it in errors (``the chat template file x.jinja``)."""
        self._template_override = template
        self._template_origin = origin
        self._formatters = {}

    @property
    def has_chat_template(self) -> bool:
        """False when prompts are rendered as plain completions (no chat template)."""
        return self._template() != PLAIN

    # ---- KV cache -------------------------------------------------------------------------------
    @property
    def cached_tokens(self) -> list[int]:
        return list(self._tokens)

    def _next_pos(self) -> int:
        if not self._positions_moved:
            return len(self._tokens)
        return int(llama_cpp.llama_memory_seq_pos_max(self._ctx.memory, 0)) + 1

    def _decode(self, tokens: Sequence[int], *, all_logits: bool = False) -> None:
        """Evaluate one batch (<= n_batch tokens) after the cache; logits for the last (or all)."""
        b = self._batch.batch
        pos0 = self._next_pos()
        n = len(tokens)
        for i, t in enumerate(tokens):
            b.token[i] = t
            b.pos[i] = pos0 + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = all_logits
        b.logits[n - 1] = True
        b.n_tokens = n
        abort.set_model(self.path)
        rc = llama_cpp.llama_decode(self._ctx.ctx, b)
        if rc != 0:
            self._logits_ready = False
            if rc == 2 and self._abort.active:  # our abort callback: drop what the batch left, keep the rest
                if not self._positions_moved:
                    llama_cpp.llama_memory_seq_rm(self._ctx.memory, 0, len(self._tokens), -1)
                raise Cancelled()
            if rc == 1:
                raise ContextOverflowError(f"llama.cpp found no KV space for {n} more tokens after "
                                           f"{len(self._tokens)} (n_ctx {self.n_ctx})", len(self._tokens) + n,
                                           self.n_ctx, "use a larger --ctx")
            raise RuntimeLoadError(f"llama_decode failed ({rc}): {recent_error() or 'see the log'}")
        self._tokens.extend(tokens)
        self._logits_ready = True

    def _clear(self) -> None:
        llama_cpp.llama_memory_clear(self._ctx.memory, True)
        self._tokens = []
        self._logits_ready = False
        self._positions_moved = False

    def _truncate(self, keep: int) -> int:
        """Drop cached cells from position ``keep`` on; returns how many tokens remain cached."""
        if keep >= len(self._tokens):
            return len(self._tokens)
        if self._positions_moved or not llama_cpp.llama_memory_seq_rm(self._ctx.memory, 0, keep, -1):
            self._clear()
            return 0
        self._tokens = self._tokens[:keep]
        self._logits_ready = False
        if self.n_swa and not self.settings.swa_full and keep:
            # a small SWA cache keeps only the last window: reuse needs positions [keep - n_swa, keep)
            # (for iSWA memory llama.cpp reports the SWA cache's minimum; -1 = it holds nothing any more)
            pos_min = int(llama_cpp.llama_memory_seq_pos_min(self._ctx.memory, 0))
            if pos_min < 0 or pos_min > max(0, keep - self.n_swa):
                self._clear()
                return 0
        return keep

    def ingest(self, tokens: Sequence[int], *, progress: Progress | None = None,
               should_stop: Callable[[], bool] | None = None) -> int:
        tokens = list(tokens)
        if len(tokens) > self.n_ctx:
            raise ContextOverflowError(f"{len(tokens)} tokens do not fit the context of {self.n_ctx}",
                                       len(tokens), self.n_ctx, "use a larger --ctx or a shorter input")
        if not tokens:
            self._clear()
            return 0
        lcp = 0
        limit = min(len(tokens), len(self._tokens))
        while lcp < limit and tokens[lcp] == self._tokens[lcp]:
            lcp += 1
        if lcp == len(tokens) == len(self._tokens) and self._logits_ready:
            return 0
        if lcp == len(tokens):
            lcp -= 1  # re-evaluate the last token to get its logits back
        start = self._truncate(lcp)
        todo = tokens[start:]
        done = 0
        with self._abort.watch(should_stop):
            for i in range(0, len(todo), self.n_batch):
                if should_stop is not None and should_stop():
                    raise Cancelled()
                chunk = todo[i:i + self.n_batch]
                self._decode(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, len(todo))
        return done

    # ---- generation -----------------------------------------------------------------------------
    def _ensure_logits(self) -> None:
        """Generation needs the last cached token's logits; re-evaluate that one token if they are gone."""
        if self._logits_ready:
            return
        if not self._tokens:
            raise LocalctxError("nothing to continue from: ingest a prompt before generating")
        if self._positions_moved:  # positions != indices: remove the last cell by its position
            last_pos = int(llama_cpp.llama_memory_seq_pos_max(self._ctx.memory, 0))
            llama_cpp.llama_memory_seq_rm(self._ctx.memory, 0, last_pos, -1)
            self._decode([self._tokens.pop()])
        else:
            self.ingest(list(self._tokens))

    def stream(self, max_tokens: int, *, sampling: SamplingSettings = GREEDY, stop: Sequence[str] = (),
               should_stop: Callable[[], bool] | None = None) -> Iterator[str]:
        self.stop_reason = None
        self._ensure_logits()
        seed = self.settings.seed if sampling.seed is None else sampling.seed
        sampler = make_sampler(self._model, self.n_vocab, sampling, seed=seed, n_ctx=self.n_ctx)
        text = StopFilter(stop)
        try:
            for _ in range(max_tokens):
                if should_stop is not None and should_stop():
                    self.stop_reason = "cancelled"
                    break
                if len(self._tokens) >= self.n_ctx:
                    self.stop_reason = "context"
                    break
                tok = sampler.sample(self._ctx, -1)
                sampler.accept(tok)
                if self.vocab.is_eog(tok):
                    self.stop_reason = "eos"
                    break
                self._decode([tok])  # generated tokens stay in the cache
                piece, hit = text.feed(self.vocab.detokenize_bytes([tok], False))
                if piece:
                    yield piece
                if hit:
                    self.stop_reason = "stop"
                    break
            else:
                self.stop_reason = "length"
            rest = text.flush()
            if rest and self.stop_reason != "stop":
                yield rest
        finally:
            sampler.close()

    # ---- counters and state ---------------------------------------------------------------------
    def counters(self) -> Counters:
        # llama.cpp books timings when the backend synchronizes; force it so the numbers are current.
        # Note llama_perf_context reports max(1, n) for both counts: compare differences, not zeros.
        llama_cpp.llama_synchronize(self._ctx.ctx)
        d = llama_cpp.llama_perf_context(self._ctx.ctx)
        return Counters(n_prompt_eval=int(d.n_p_eval), n_gen=int(d.n_eval), t_prompt_ms=float(d.t_p_eval_ms),
                        t_gen_ms=float(d.t_eval_ms))

    def fingerprint(self) -> dict[str, Any]:
        """What a saved KV state depends on (K is stored after RoPE): model file, layout, RoPE, KV types."""
        st = self.path.stat()
        s = self.settings
        rope = {k: getattr(s, k) for k in ROPE_FIELDS}
        # base and scale as llama.cpp applied them (the model's own values when the settings left them unset)
        rope.update(rope_freq_base=self.report.applied.get("freq_base"),
                    rope_freq_scale=self.report.applied.get("freq_scale"))
        return {"version": STATE_VERSION, "llama_cpp": llama_cpp.__version__, "model": self.path.name,
                "model_size": st.st_size, "n_ctx": self.n_ctx, "n_seq": s.n_seq, "type_k": s.type_k,
                "type_v": s.type_v, "swa_full": s.swa_full, **rope}

    def save_state(self, path: Path) -> None:
        """Write llama.cpp's own state file (the KV cache and its tokens) to ``path`` and nothing else.

        Integrity is the caller's (services/state_cache.py): it picks a per-process temporary name,
        checksums the file once, records the fingerprint and renames it into place."""
        arr = (llama_cpp.llama_token * max(1, len(self._tokens)))(*self._tokens)
        with capture() as lines:
            ok = llama_cpp.llama_state_save_file(self._ctx.ctx, str(path).encode(), arr, len(self._tokens))
        if not ok:
            raise RuntimeLoadError(f"llama.cpp could not write the state file {path}: "
                                   f"{first_error(lines) or 'write failed (disk full or not writable?)'}")

    def load_state(self, path: Path) -> None:
        """Load a state file written by ``save_state``.  llama.cpp trusts what it reads, so the caller
        checks size, checksum and fingerprint first; a file llama.cpp still rejects is a RuntimeLoadError."""
        cap = self.n_ctx
        out = (llama_cpp.llama_token * cap)()
        n_out = ctypes.c_size_t(0)
        with capture() as lines:
            ok = llama_cpp.llama_state_load_file(self._ctx.ctx, str(path).encode(), out, cap, ctypes.byref(n_out))
        if not ok:
            self._clear()
            raise RuntimeLoadError(f"llama.cpp rejected the state file {path}: {first_error(lines) or '?'}")
        self._tokens = list(out[:n_out.value])
        self._logits_ready = False
        self._positions_moved = False

    def token_logprobs(self, tokens: Sequence[int], *, progress: Progress | None = None,
                       before_batch: Callable[[int], None] | None = None,
                       should_stop: Callable[[], bool] | None = None) -> list[float]:
        """``before_batch(n_cached)`` runs before each batch (Self-Extend groups KV positions there with
        ``shift_positions`` while the window is evaluated); ``should_stop`` as in ``ingest``."""
        tokens = list(tokens)
        if len(tokens) > self.n_ctx:
            raise ContextOverflowError(f"a window of {len(tokens)} tokens does not fit n_ctx {self.n_ctx}",
                                       len(tokens), self.n_ctx)
        self._clear()
        out: list[float] = []
        with self._abort.watch(should_stop):
            return self._logprobs_loop(tokens, out, progress, before_batch, should_stop)

    def _logprobs_loop(self, tokens: list[int], out: list[float], progress: Progress | None,
                       before_batch: Callable[[int], None] | None,
                       should_stop: Callable[[], bool] | None) -> list[float]:
        for start in range(0, len(tokens), self.n_batch):
            if should_stop is not None and should_stop():
                raise Cancelled()
            if before_batch is not None:
                before_batch(start)
            chunk = tokens[start:start + self.n_batch]
            self._decode(chunk, all_logits=True)
            targets = tokens[start + 1:start + 1 + len(chunk)]
            if targets:
                ptr = llama_cpp.llama_get_logits(self._ctx.ctx)
                view = np.ctypeslib.as_array(ptr, shape=(len(chunk), self.n_vocab))  # no copy
                out.extend(logprobs_at(view, targets))
            if progress is not None:
                progress(min(start + len(chunk), len(tokens)), len(tokens))
        return out

    # ---- Self-Extend primitives (positions move; refused under YaRN) ----------------------------
    def shift_positions(self, p0: int, p1: int, delta: int = 0, divide: int = 1) -> None:
        """Add ``delta`` to, or integer-divide by ``divide``, the positions of cells in [p0, p1)."""
        if self.yarn_active:
            raise SettingsError("KV positions cannot be shifted while YaRN is active (it corrupts cached keys)",
                                "use --extend self-extend without YaRN, or YaRN alone")
        if not llama_cpp.llama_memory_can_shift(self._ctx.memory):
            raise SettingsError("this model's KV cache cannot shift positions (M-RoPE or recurrent)")
        if delta:
            llama_cpp.llama_memory_seq_add(self._ctx.memory, 0, p0, p1, delta)
        if divide > 1:
            llama_cpp.llama_memory_seq_div(self._ctx.memory, 0, p0, p1, divide)
        self._positions_moved = True
        self._logits_ready = False

    def close(self) -> None:
        for attr in ("_batch", "_ctx", "_model"):
            obj = getattr(self, attr, None)
            if obj is not None:
                obj.close()
                setattr(self, attr, None)

    def __enter__(self) -> LlamaEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - __del__ runs at interpreter exit too and must never raise
            pass
