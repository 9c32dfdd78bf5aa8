"""The serving core behind `localctx serve`: one engine, one worker thread, one fair queue.

Requests from any number of clients become ``Job``s; the worker runs them one at a time in the order
they came (llama.cpp holds one KV cache here, and one generation at a time keeps the prefix cache
useful and every stream uncorrupted).  A waiting job costs nothing but a queue slot; the queue is
bounded (``QueueFull``: the front end answers 503 with Retry-After).  A job is cancelled through its
``should_stop`` flag, which the engine polls between tokens and inside llama.cpp's prompt work
(engine/cancel.py), so a client that goes away frees the engine within a fraction of a second.

The worker reports through the job's ``emit`` callback (pieces of text, then ``Usage`` or an error),
so this module knows nothing about HTTP.  Rendering a request into tokens is services/serve_render.py.

A request samples as ``chat`` would with the same flags: its sampling fields are flags over the
model's saved settings (``services.runtime.resolve_sampling``, read when the job runs, so a
``plan MODEL --save`` applies from the next request on).  Its reply passes through the same loop guard
(``core.loops.LoopGuard``): a reply that starts repeating itself is stopped, what came before the
repetition is kept, and ``Usage.stop_reason`` says "loop".
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core.loops import LoopGuard
from localctx.engine.base import Cancelled, Engine
from localctx.errors import LocalctxError
from localctx.services.serve_render import ServeRequest, Usage, render, restore_prefix

if TYPE_CHECKING:
    from localctx.core.flags import SamplingFlags
    from localctx.core.sampling import SamplingSettings
    from localctx.services.runtime import Flags, RunPlan
    from localctx.services.state_cache import StateCache

#: how many jobs may wait behind the running one before new ones get 503
DEFAULT_QUEUE = 16


class QueueFull(LocalctxError):
    """Every queue slot is taken: try again in ``retry_after`` seconds."""

    exit_code = 1

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"the server is busy: {waiting} requests are already waiting (--queue {waiting})",
                         f"retry after {retry_after} s, or start the server with a longer --queue")
        self.retry_after = retry_after


#: what the worker reports: ("piece", str) | ("done", Usage) | ("error", LocalctxError)
Event = tuple[str, Any]


@dataclass
class Job:
    """One request in the queue.  ``emit`` is called from the worker thread."""

    request: ServeRequest
    emit: Callable[[Event], None]
    cancelled: bool = False
    started: float | None = None
    usage: Usage | None = None
    seq: int = 0
    notices: list[str] = field(default_factory=list)

    def cancel(self) -> None:
        """Stop at the next poll (safe from any thread); a queued job is skipped."""
        self.cancelled = True

    def should_stop(self) -> bool:
        return self.cancelled


@dataclass
class LoadedModel:
    ref: str  # the id the model was asked for by
    plan: RunPlan
    engine: Engine
    fingerprint: str | None = None  # the model file's, for saved KV states (computed on first use)


class ServingCore:
    """Owns the engine and the worker.  ``start`` before ``submit``; ``close`` drains and unloads."""

    def __init__(self, flags: Flags = None, *, force: bool = False, max_queue: int = DEFAULT_QUEUE,
                 state_cache: StateCache | None = None, state_min_tokens: int = 512,
                 chat_template: str | None = None, sampling: SamplingFlags | None = None) -> None:
        self.flags = flags
        self.sampling = sampling  # the server's sampling flags (what a plan shows; requests carry them too)
        self.force = force  # applies to the models named at start-up; later loads are always gated
        self.max_queue = max_queue
        self.state_cache = state_cache
        self.state_min_tokens = state_min_tokens
        self.chat_template = chat_template  # --chat-template: a built-in name or a Jinja file
        self.loaded: LoadedModel | None = None
        self.running: Job | None = None
        self.served = 0  # jobs finished (answered, failed or cancelled)
        self.last: Usage | None = None  # the last answered request's numbers (the operator's status line)
        #: llama.cpp's own counters after the last job, read on the worker thread (never during a decode)
        self.counters: dict[str, int] | None = None
        self._queue: deque[Job] = deque()
        self._cv = threading.Condition()
        self._closing = False
        self._seq = 0
        self._thread = threading.Thread(target=self._work, name="localctx-serve-worker", daemon=True)
        self._gate_lock = threading.Lock()

    # ---- models ------------------------------------------------------------------------------
    def plan(self, ref: str) -> RunPlan:
        """The load gate's plan for ``ref`` with the server's runtime and sampling flags (loads nothing)."""
        from localctx.services.runtime import make_plan

        return make_plan(ref, self.flags, sampling=self.sampling)

    def preload(self, refs: Sequence[str]) -> list[RunPlan]:
        """Plan every named model first (a refusal names the model, before anything loads, unless
        ``force``); then load the first."""
        from localctx.services.runtime import check_fits

        plans = [self.plan(r) for r in refs]
        if not self.force:
            for rp in plans:
                check_fits(rp)
        if plans:
            self._load(refs[0], plans[0], force=self.force)
        return plans

    def _load(self, ref: str, rp: RunPlan, *, force: bool = False) -> LoadedModel:
        from localctx.services.runtime import load_planned

        with self._gate_lock:
            self.unload()  # one model at a time: the next one is planned and gated alone
            engine = load_planned(rp, force=force)
            if self.chat_template is not None:
                from localctx.core.chat_templates import resolve_template

                engine.set_chat_template(resolve_template(self.chat_template))
            self.loaded = LoadedModel(ref, rp, engine)
            self._snapshot()
            return self.loaded

    def unload(self) -> None:
        if self.loaded is not None:
            self.loaded.engine.close()
            self.loaded = None

    def engine_for(self, ref: str, path: Path) -> LoadedModel:
        """The loaded model when it is ``path``, else load ``ref`` through the gate (refused, not an
        out-of-memory crash, when it does not fit)."""
        cur = self.loaded
        if cur is not None and _same_file(cur.engine.path, path):
            return cur
        self.unload()  # plan with the memory the current model held counted as free
        return self._load(ref, self.plan(str(path)))

    # ---- queue -------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> Job:
        with self._cv:
            if self._closing:
                raise LocalctxError("the server is shutting down", "retry against a running server")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(self.max_queue, retry_after=max(1, len(self._queue)))
            self._seq += 1
            job.seq = self._seq
            self._queue.append(job)
            self._cv.notify()
        return job

    def status(self) -> dict[str, Any]:
        """What /health shows: idle or busy, queue length, the loaded model and llama.cpp's counters."""
        with self._cv:
            waiting = sum(not j.cancelled for j in self._queue)
            busy = self.running is not None
        lm = self.loaded
        return {"state": "busy" if busy else "idle", "queued": waiting, "accepted": self._seq, "served": self.served,
                "model": lm.ref if lm else None, "counters": self.counters,
                "last": None if self.last is None else self.last.summary()}

    def close(self, timeout: float | None = None, *, cancel: bool = False) -> None:
        """Let the queued jobs finish (the front end stops taking new ones first), then unload;
        ``cancel``: stop the running job and drop the queued ones instead (a second Ctrl-C)."""
        with self._cv:
            self._closing = True
            if cancel:
                for job in [*self._queue, *([self.running] if self.running else [])]:
                    job.cancel()
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.unload()

    # ---- the worker --------------------------------------------------------------------------
    def _next(self) -> Job | None:
        with self._cv:
            while not self._queue and not self._closing:
                self._cv.wait()
            if not self._queue:
                return None
            job = self._queue.popleft()
            self.running = job
            return job

    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                if not job.cancelled:
                    job.started = time.perf_counter()
                    self._run(job)
            except Cancelled:
                pass  # the client went away; the engine holds exactly what it evaluated
            except LocalctxError as exc:
                job.emit(("error", exc))
            except Exception as exc:  # noqa: BLE001 - one bad request must not kill the worker
                job.emit(("error", exc))
            finally:
                self._snapshot()
                with self._cv:
                    self.running = None
                    self.served += 1

    def _run(self, job: Job) -> None:
        req = job.request
        lm = self.engine_for(req.model, req.model_path)
        engine = lm.engine
        rendered = render(engine, req)
        job.notices += rendered.notices
        c0 = engine.counters()
        evaluated, state = 0, "off"
        # documents always go through the saved states (as `ask` and `chat` do); a plain system prompt
        # only when it is long enough for a file read to beat evaluating it
        long_prefix = len(rendered.prefix) >= self.state_min_tokens
        if self.state_cache is not None and rendered.prefix and (req.documents or long_prefix):
            if lm.fingerprint is None:
                from localctx.services.state_cache import model_fingerprint

                lm.fingerprint = model_fingerprint(engine.path)
            evaluated, state = restore_prefix(engine, self.state_cache, lm.fingerprint, rendered.prefix,
                                              req.document_names, job.should_stop)
            if self.state_cache.last_error:
                job.notices.append(self.state_cache.last_error)
        evaluated += engine.ingest(rendered.tokens, should_stop=job.should_stop)
        n_prompt = len(rendered.tokens)
        first, guard = self._generate(job, engine, rendered.max_tokens, rendered.stops)
        if engine.stop_reason == "cancelled":
            raise Cancelled()
        from localctx.services.forecast import observe_counters

        c1 = engine.counters()
        observe_counters(engine, c0, c1, prompt_start=n_prompt - evaluated, gen_start=n_prompt)
        n_out = max(0, len(engine.cached_tokens) - n_prompt)
        dg, tg = c1.n_gen - c0.n_gen, c1.t_gen_ms - c0.t_gen_ms
        stop_reason = "loop" if guard is not None and guard.loop is not None else engine.stop_reason or "stop"
        job.usage = Usage(prompt_tokens=n_prompt, cached_tokens=n_prompt - evaluated, completion_tokens=n_out,
                          finish_reason="length" if stop_reason in ("length", "context") else "stop",
                          state=state, ttft_s=None if first is None or job.started is None
                          else first - job.started, stop_reason=stop_reason,
                          gen_tok_s=dg / tg * 1000 if dg > 1 and tg > 0 else None, passage=rendered.passage)
        self.last = job.usage
        job.emit(("done", job.usage))

    def sampling_for(self, path: Path, req: ServeRequest) -> SamplingSettings:
        """The request's sampling as ``chat`` with the same flags would have it: the defaults (and the
        request's seed) < the model's saved settings < the server's flags < the request's fields."""
        from localctx.services.runtime import resolve_sampling

        return resolve_sampling(path, req.options.sampling_flags, base=req.options.sampling).settings

    def _generate(self, job: Job, engine: Engine, max_tokens: int, stops: Sequence[str]
                  ) -> tuple[float | None, LoopGuard | None]:
        """Stream the reply to the job through the loop guard (when the request has it on); returns
        (when the first token came, the guard)."""
        req = job.request
        guard = LoopGuard() if req.options.loop_guard else None
        stream = engine.stream(max_tokens, sampling=self.sampling_for(engine.path, req), stop=stops,
                               should_stop=job.should_stop)
        first: float | None = None
        try:
            for raw in stream:
                if first is None:
                    first = time.perf_counter()
                piece = raw if guard is None else guard.feed(raw)
                if guard is not None and guard.loop is not None:
                    break  # the sampler could not stop it: end the reply here
                if piece:
                    job.emit(("piece", piece))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        rest = guard.flush() if guard is not None else ""
        if rest and engine.stop_reason != "cancelled":
            job.emit(("piece", rest))
        if guard is not None and guard.loop is not None:
            span = " ".join(guard.loop.span.split())
            span = span if len(span) <= 40 else span[:39] + "…"
            job.notices.append(f"reply stopped: it began repeating itself (\"{span}\"); what came before the "
                               "repetition is kept")
        return first, guard


    def _snapshot(self) -> None:
        lm = self.loaded
        if lm is None:
            return
        try:
            c = lm.engine.counters()
        except Exception:  # noqa: BLE001 - a counter read must never take the worker down
            return
        self.counters = {"prompt_tokens_evaluated": c.n_prompt_eval, "tokens_generated": c.n_gen}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False
