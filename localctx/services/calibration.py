"""Calibration runs: time prompt micro-batches and short generations at a few context depths.

Each measurement is read by two clocks: llama.cpp's own counters (wall time inside ``llama_decode``,
what a user waits) and this thread's CPU time (what the work costs when no other process takes the
core; exact only with one thread, where ggml computes on the calling thread).  ``localctx bench``
stores the counters; the benchmark script compares both on a shared machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from localctx.core import forecast as fc
from localctx.engine.base import Cancelled, Engine

#: polled between measurements and inside llama.cpp's batches; true ends the calibration (Ctrl-C)
StopCheck = Callable[[], bool] | None

DEFAULT_DEPTHS = (0, 1024, 2048, 4096)


@dataclass(frozen=True)
class Timing:
    """One measurement by two clocks: llama.cpp's counters (wall time inside llama_decode) and this
    thread's CPU time (immune to other processes taking the core; exact only with one thread)."""

    kind: str
    start: int
    n: int
    counter_ms: float
    cpu_ms: float
    depth: int | None = None  # the calibration depth it measures (None: a fill on the way to one)

    def segment(self, clock: str = "counters") -> fc.Segment:
        return fc.Segment(self.kind, self.start, self.n, self.cpu_ms if clock == "cpu" else self.counter_ms)


_WORDS = ("the river archive ledger counted letters from every harbour town while clerks argued about bells "
          "salt rope and copper wire measured twice before winter closed the northern road again").split()


def filler_tokens(engine: Engine, n: int) -> list[int]:
    """``n`` tokens of plain text (content does not change a dense model's speed)."""
    out: list[int] = []
    i = 0
    while len(out) < n + 1:
        words = " ".join(_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(40))
        out.extend(engine.tokenize(f"{i}. {words.capitalize()}.\n"))
        i += 1
    return out[:n]


def _timed_ingest(engine: Engine, tokens: Sequence[int], depth: int | None = None,
                  stop: StopCheck = None) -> Timing | None:
    """Ingest ``tokens`` (prefix reuse: only the uncached rest is evaluated), timed; None if nothing was."""
    c0, t0 = engine.counters(), time.thread_time()
    evaluated = engine.ingest(tokens, should_stop=stop)
    c1, t1 = engine.counters(), time.thread_time()
    n = c1.n_prompt_eval - c0.n_prompt_eval
    if evaluated <= 1 or n <= 1:
        return None
    return Timing(fc.PROMPT, len(tokens) - evaluated, n, c1.t_prompt_ms - c0.t_prompt_ms, (t1 - t0) * 1000, depth)


def _timed_gen(engine: Engine, n: int, depth: int | None, stop: StopCheck = None) -> Timing | None:
    """Generate up to ``n`` greedy tokens after what is cached, timed (None: it stopped at once)."""
    start = len(engine.cached_tokens)
    c0, t0 = engine.counters(), time.thread_time()
    for _ in engine.stream(n, should_stop=stop):
        pass
    if stop is not None and stop():
        raise Cancelled
    c1, t1 = engine.counters(), time.thread_time()
    dg = c1.n_gen - c0.n_gen
    if dg <= 0:
        return None
    # the CPU clock also saw the sampler; llama.cpp's counter only the decodes
    return Timing(fc.GEN, start, dg, c1.t_gen_ms - c0.t_gen_ms, (t1 - t0) * 1000, depth)


def measure_prompt(engine: Engine, tokens: Sequence[int], start: int, n: int, stop: StopCheck = None
                   ) -> list[Timing]:
    """Time ``n`` prompt tokens evaluated after exactly ``start`` cached ones; the fill up to
    ``start``, when one was needed, is timed too (it is a measurement as good as any)."""
    out = []
    if start:
        fill = _timed_ingest(engine, tokens[:start], stop=stop)
        if fill is not None:
            out.append(fill)
    else:
        engine.ingest([])
    chunk = _timed_ingest(engine, tokens[:start + n], depth=start, stop=stop)
    if chunk is not None:
        out.append(chunk)
    return out


def measure_gen(engine: Engine, tokens: Sequence[int], depth: int, n: int, stop: StopCheck = None
                ) -> list[Timing]:
    """Time up to ``n`` greedy tokens generated after ``depth`` cached ones (and the fill up to
    ``depth`` when one was needed); no generation timing if the model stopped at once."""
    fill = _timed_ingest(engine, tokens[:max(depth, 1)], stop=stop)  # generation needs one token to follow
    gen = _timed_gen(engine, n, depth, stop)
    return [t for t in (fill, gen) if t is not None]


def _can_cut_back(engine: Engine) -> bool:
    """A sliding-window cache keeps only its window: cut back, it is emptied (and refilled from 0)."""
    info = engine.info
    return info is None or not any(info.swa_layers) or engine.settings.swa_full


def _round_up(engine: Engine, tokens: list[int], ds: Sequence[int], chunk: int, gen_tokens: int,
              tick: Callable[[str], None], stop: StopCheck = None) -> list[Timing]:
    """From an empty cache up through the depths without ever cutting the cache back: the generated
    tokens are spliced into the filler text, so the prompt micro-batch continues after them."""
    engine.ingest([])
    out: list[Timing] = []
    for d in ds:
        here = max(d, 1, len(engine.cached_tokens))
        if here + gen_tokens + chunk > engine.n_ctx:
            break
        tick(f"generation at depth {d:,}")
        gen = [_timed_ingest(engine, tokens[:here], stop=stop), _timed_gen(engine, gen_tokens, d, stop)]
        made = engine.cached_tokens[here:]
        tokens[here:here + len(made)] = made
        tick(f"prompt at depth {d:,}")
        start = len(engine.cached_tokens)
        last = _timed_ingest(engine, tokens[:start + chunk], depth=d, stop=stop)
        out.extend(t for t in gen + [last] if t is not None)
    return out


def _round_down(engine: Engine, tokens: list[int], ds: Sequence[int], chunk: int, gen_tokens: int,
                tick: Callable[[str], None], stop: StopCheck = None) -> list[Timing]:
    """Down through the depths, only truncating a cache filled by a round up (no refill)."""
    out: list[Timing] = []
    for d in ds[::-1]:
        tick(f"generation at depth {d:,}")
        out.extend(measure_gen(engine, tokens, d, gen_tokens, stop))
        tick(f"prompt at depth {d:,}")
        out.extend(measure_prompt(engine, tokens, d, chunk, stop))
    return out


def calibration_depths(engine: Engine, depths: Sequence[int], chunk: int, gen_tokens: int) -> list[int]:
    """The requested depths that leave room for a chunk and a generation in this context."""
    room = engine.n_ctx - chunk - gen_tokens - 2  # the first token, then a generation and a micro-batch
    return sorted({d for d in depths if 0 <= d <= room})


def calibrate(engine: Engine, depths: Sequence[int] = DEFAULT_DEPTHS, *, repeats: int = 2, gen_tokens: int = 16,
              progress: Callable[[int, int, str], None] | None = None, should_stop: StopCheck = None
              ) -> list[Timing]:
    """Time one prompt micro-batch and a short greedy generation at each depth, ``repeats`` rounds;
    ``should_stop`` turning true ends it within a batch with ``Cancelled`` (no partial calibration:
    a fit needs every depth).

    Rounds alternate up and down the depths: going up fills the cache (and times the fill), going
    down only truncates it, so two rounds cost one fill (a sliding-window cache, which cannot be cut
    back, goes up every round); generation and prompt alternate at every depth so a burst of load
    elsewhere touches both alike."""
    chunk = max(16, min(engine.settings.n_ubatch, engine.n_batch))
    ds = calibration_depths(engine, depths, chunk, gen_tokens)
    if not ds:
        return []  # no room in this context for even one measurement
    tokens = filler_tokens(engine, min(engine.n_ctx, ds[-1] + (chunk + gen_tokens) * (len(ds) + 1) + 1))
    total, done = 2 * repeats * len(ds), [0]

    def tick(label: str) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled
        if progress is not None:
            progress(done[0], total, label)
        done[0] += 1

    out: list[Timing] = []
    for r in range(repeats):
        down = r % 2 == 1 and _can_cut_back(engine)
        out.extend((_round_down if down else _round_up)(engine, tokens, ds, chunk, gen_tokens, tick, should_stop))
    if progress is not None:
        progress(total, total, "done")
    return out
