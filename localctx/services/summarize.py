"""Summaries of files longer than the context: one pass when the text fits, else map-reduce.

Used by both front ends: the CLI renders the events as a Rich progress bar, the TUI posts them as
messages.  Map: each chunk (a slice of the ONE tokenization of the file, see core/chunking) is
summarized on its own; reduce: consecutive summaries are merged, level by level, until one prompt
holds them all.  Every step is checked to fit (prompt + its output cap <= n_ctx) before it runs.
Every finished step is saved at once to a checkpoint keyed by file hash, model, settings, length and
focus, so an interrupted run (Ctrl-C, crash) resumes from what is done; ``fresh`` ignores it.
The shared instruction comes BEFORE the text and the per-chunk label after it, so the engine's
prefix reuse (``ingest`` keeps the common prefix) skips re-evaluating the instruction for each chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from localctx.core.chunking import Chunk, TokenizedText, plan_chunks, tokenize_text
from localctx.core.extract import Extracted
from localctx.core.flags import SamplingFlags
from localctx.core.loops import LoopGuard
from localctx.core.sampling import GREEDY, SamplingSettings
from localctx.engine.base import Cancelled, Engine
from localctx.errors import LocalctxError
from localctx.services.runtime import Flags
from localctx.services.summary_checkpoint import Checkpoint, engine_identity, step_hash
from localctx.services.summary_progress import OnEvent, SummaryClock, SummaryEvent
from localctx.services.summary_prompts import (
    BACK_TO_BACK,
    MARGIN,
    PROMPT_VERSION,
    Prompter,
    clean_summary,
    map_instruction,
    reduce_instruction,
    single_instruction,
)

__all__ = ["Checkpoint", "SummarizeOptions", "SummaryCancelled", "SummaryEvent", "SummaryPlan", "SummaryResult",
           "clean_summary", "open_engine", "plan_summary", "summarize"]

LENGTHS: dict[str, tuple[int, int]] = {  # (tokens per chunk/merge summary, tokens of the final summary)
    "short": (96, 192),
    "medium": (160, 384),
    "long": (256, 768),
}
class SummaryCancelled(Exception):
    """``should_stop`` asked to stop; finished steps are saved in the checkpoint."""


@dataclass(frozen=True)
class SummarizeOptions:
    length: str = "medium"  # short | medium | long
    focus: str | None = None
    fresh: bool = False  # ignore (and overwrite) a matching checkpoint
    map_tokens: int | None = None  # cap of each chunk/merge summary; None: from length
    final_tokens: int | None = None  # cap of the final summary; None: from length
    chunk_tokens: int | None = None  # cap of each chunk; None: as large as the context allows
    fan_in: int | None = None  # most summaries merged in one step (>= 2); None: as many as fit the context
    sampling: SamplingSettings = GREEDY
    loop_guard: bool = True  # stop a summary that starts repeating itself (core.loops), keep what came before

    def caps(self) -> tuple[int, int]:
        if self.length not in LENGTHS:
            raise LocalctxError(f"unknown length '{self.length}'", "use short, medium or long")
        m, f = LENGTHS[self.length]
        return self.map_tokens or m, self.final_tokens or f


@dataclass
class Step:
    """One model call (or a carried-over summary) in the summary tree."""

    id: str  # single | map-3 | reduce-1-0 | final
    kind: str  # single | map | reduce | final
    level: int  # 0: chunks; 1..: merges
    children: list[int]  # chunk indexes (map/single) or indexes into the level below
    prompt_tokens: int = 0
    max_output: int = 0
    output_tokens: int = 0
    evaluated_tokens: int = 0  # prompt tokens llama.cpp actually evaluated (prefix reuse makes this smaller)
    seconds: float = 0.0
    summary: str = ""
    stop_reason: str | None = None
    resumed: bool = False  # taken from the checkpoint, not run now


@dataclass
class SummaryResult:
    source: str
    path: str
    kind: str
    sha256: str
    model: str
    n_ctx: int
    length: str
    focus: str | None
    mode: str  # single | map-reduce
    file_tokens: int
    chunk_budget: int
    chunks: list[Chunk]
    levels: list[list[Step]]
    summary: str
    tokens_evaluated: int = 0
    tokens_generated: int = 0
    seconds: float = 0.0  # this run only
    resumed_steps: int = 0  # steps taken from the checkpoint of an earlier run (not run, not timed now)
    checkpoint: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # what the user must know (a summary cut at a loop)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        n_steps = sum(1 for lvl in self.levels for s in lvl if s.kind != "carry")
        bits = [f"model {self.model}", f"context {self.n_ctx}", f"length {self.length}"]
        if self.focus:
            bits.append(f"focus “{self.focus}”")
        bits.append(f"{self.file_tokens:,} tokens" + (f" in {len(self.chunks)} chunks, {len(self.levels) - 1} "
                                                        "merge levels" if self.mode == "map-reduce" else ""))
        bits.append(steps_text(n_steps, self.resumed_steps, self.seconds))
        return f"# Summary of {self.source}\n\n{self.summary.strip()}\n\n---\n*{' · '.join(bits)}*\n"


def steps_text(n_steps: int, resumed: int, seconds: float) -> str:
    """``9 steps, 120 s`` or, after a resume, ``9 steps (4 reused from an earlier run), 5 run in 120 s``."""
    total = f"{n_steps} step{'s' if n_steps != 1 else ''}"
    if not resumed:
        return f"{total}, {seconds:.0f} s"
    return f"{total} ({resumed} reused from an earlier run), {n_steps - resumed} run in {seconds:.0f} s"


# ---- the run ----------------------------------------------------------------------------------------
def summarize(engine: Engine, doc: Extracted, options: SummarizeOptions | None = None, *,
              on_event: OnEvent | None = None, should_stop: Callable[[], bool] | None = None) -> SummaryResult:
    """Summarize ``doc`` with ``engine``; raises LocalctxError (exit 2) when the context is too small
    for the prompt template, SummaryCancelled when ``should_stop`` turns true (work so far is saved)."""
    return _Run(engine, doc, options or SummarizeOptions(), on_event, should_stop).run()


@dataclass
class SummaryPlan:
    """What a summarize run would do, and what its checkpoint already holds (nothing is generated)."""

    mode: str
    file_tokens: int
    chunk_budget: int
    chunks: list[Chunk]
    checkpoint: str
    finished: dict[str, dict[str, Any]]  # step id -> saved record


def plan_summary(engine: Engine, doc: Extracted, options: SummarizeOptions | None = None) -> SummaryPlan:
    """The chunk plan and the finished steps of a matching checkpoint (for a resume preview or a report)."""
    return _Run(engine, doc, options or SummarizeOptions(), None, None).plan()


class _Run:
    def __init__(self, engine: Engine, doc: Extracted, opts: SummarizeOptions, on_event: OnEvent | None,
                 should_stop: Callable[[], bool] | None) -> None:
        self.engine, self.src, self.opts = engine, doc, opts
        self.on_event, self.should_stop = on_event, should_stop
        self.map_cap, self.final_cap = opts.caps()
        self.name = doc.path.name
        self.prompter = Prompter(engine)
        self.doc: TokenizedText = tokenize_text(
            doc.text, lambda s: engine.tokenize(s, add_bos=False, special=False), engine.detokenize)
        self.n_ctx = engine.n_ctx
        self.clock = SummaryClock(on_event, self.map_cap)
        self.notices: list[str] = []

    # -- budgets --
    def _budgets(self) -> tuple[bool, int, int, int]:
        """(fits in one pass, chunk budget, merge input budget, final input budget)."""
        n, mc, fc = self.n_ctx, self.map_cap, self.final_cap
        sh, st = self.prompter.parts(*single_instruction(self.name, fc, self.opts))
        if len(sh) + self.doc.n_tokens + len(st) + fc + MARGIN <= n:
            return True, self.doc.n_tokens, 0, 0
        mh, mt = self.prompter.parts(map_instruction(self.name, mc, self.opts)[0],
                                     map_instruction(self.name, mc, self.opts)[1].format(part=9999, parts=9999))
        rh, rt = self.prompter.parts(*reduce_instruction(self.name, mc, self.opts, final=False))
        fh, ft = self.prompter.parts(*reduce_instruction(self.name, fc, self.opts, final=True))
        over_m, over_r, over_f = len(mh) + len(mt), len(rh) + len(rt), len(fh) + len(ft)
        chunk = n - over_m - mc - MARGIN
        if self.opts.chunk_tokens:
            chunk = min(chunk, self.opts.chunk_tokens)
        merge_in, final_in = n - over_r - mc - MARGIN, n - over_f - fc - MARGIN
        item = mc + 8  # a summary plus its "- " bullet and newline
        min_chunk = max(64, mc)
        if chunk < min_chunk or merge_in < 2 * item or final_in < 2 * item:
            need = max(over_m + mc + min_chunk, over_r + mc + 2 * item, over_f + fc + 2 * item) + MARGIN
            raise LocalctxError(
                f"context {n} is too small to summarize {self.name} with --length {self.opts.length}: the prompt "
                f"template takes {max(over_m, over_r, over_f)} tokens and each summary up to {mc}",
                f"use --ctx {need} or more" + (", or --length short" if self.opts.length != "short" else ""))
        return False, chunk, merge_in, final_in

    # -- one model call --
    def _call(self, ckpt: Checkpoint, step: Step, head: list[int], body: Sequence[int], tail: list[int],
              input_hash: str) -> Step:
        prompt = [*head, *body, *tail]
        step.prompt_tokens, step.max_output = len(prompt), (self.final_cap if step.kind in ("final", "single")
                                                            else self.map_cap)
        rec = ckpt.get(step.id, input_hash)
        if rec is not None:
            step.summary, step.output_tokens = rec["summary"], rec["output_tokens"]
            step.evaluated_tokens, step.seconds, step.stop_reason = rec["evaluated_tokens"], rec["seconds"], \
                rec["stop_reason"]
            step.resumed = True
        else:
            if self.should_stop is not None and self.should_stop():
                raise SummaryCancelled()
            if step.prompt_tokens + step.max_output > self.n_ctx:  # the planner's promise, checked
                raise LocalctxError(f"internal: step {step.id} needs {step.prompt_tokens}+{step.max_output} "
                                    f"tokens > n_ctx {self.n_ctx}")
            self._run_step(step, prompt)
            ckpt.put(step.id, input_hash, step)
        if step.stop_reason == "loop":
            self.notices.append(f"{self.name}: the {_step_name(step)} stopped where it began repeating itself; "
                                "what came before the repetition is kept")
        self.clock.step_done(step.id, step.prompt_tokens, resumed=step.resumed)
        return step

    def _run_step(self, step: Step, prompt: list[int]) -> None:
        """Evaluate the prompt, generate the summary (cut where it starts to loop), time both."""
        t0 = time.perf_counter()
        clock = self.clock
        clock.reading_step(step.id, step.max_output)
        try:
            step.evaluated_tokens = self.engine.ingest(
                prompt, progress=lambda done, total: clock.read(len(prompt) - total + done),  # reused prefix: read
                should_stop=self.should_stop)
        except Cancelled:
            raise SummaryCancelled() from None
        clock.writing_step(len(prompt))
        guard = LoopGuard() if self.opts.loop_guard else None
        tokens = self.engine.stream(step.max_output, sampling=self.opts.sampling, should_stop=self.should_stop)
        pieces: list[str] = []
        for piece in tokens:
            pieces.append(piece)
            if guard is not None:
                guard.feed(piece)
                if guard.loop is not None:  # the sampler could not stop it: end this summary here
                    close = getattr(tokens, "close", None)
                    if close is not None:
                        close()
                    break
            clock.wrote(max(0, len(self.engine.cached_tokens) - len(prompt)))
        if self.engine.stop_reason == "cancelled" and (guard is None or guard.loop is None):
            raise SummaryCancelled()  # before any loop check: a stopped step is redone, never saved cut
        text = guard.kept if guard is not None else "".join(pieces)
        # the guard's loop, or a shorter phrase said three times in a row (clean_summary cuts it: say so)
        looped = guard is not None and (guard.loop is not None or BACK_TO_BACK.search(text) is not None)
        step.stop_reason = "loop" if looped else self.engine.stop_reason
        step.output_tokens = max(0, len(self.engine.cached_tokens) - len(prompt))
        clock.wrote(step.output_tokens)
        step.summary = clean_summary(text, truncated=step.stop_reason in ("length", "loop"))
        step.seconds = time.perf_counter() - t0

    # -- the tree --
    def checkpoint(self, chunk_budget: int) -> Checkpoint:
        o = self.opts
        return Checkpoint({"v": PROMPT_VERSION, "file": self.src.sha256, "engine": engine_identity(self.engine),
                           "length": o.length, "focus": o.focus, "caps": [self.map_cap, self.final_cap],
                           "chunk": chunk_budget, "sampling": o.sampling.to_json(),
                           **({} if o.loop_guard else {"loop_guard": False})},  # guarded: keys as before
                          o.fresh, str(self.src.path))

    def plan(self) -> SummaryPlan:
        single, chunk_budget, _, _ = self._budgets()
        chunks = [Chunk(0, 0, self.doc.n_tokens, 0, len(self.doc.text), "end")] if single else \
            plan_chunks(self.doc, chunk_budget)
        ckpt = self.checkpoint(chunk_budget)
        return SummaryPlan("single" if single else "map-reduce", self.doc.n_tokens, chunk_budget, chunks,
                           str(ckpt.path), ckpt.steps)

    def run(self) -> SummaryResult:
        t0 = time.perf_counter()
        single, chunk_budget, merge_in, final_in = self._budgets()
        o = self.opts
        ckpt = self.checkpoint(chunk_budget)
        if single:
            chunks = [Chunk(0, 0, self.doc.n_tokens, 0, len(self.doc.text), "end")]
            head, tail = self.prompter.parts(*single_instruction(self.name, self.final_cap, o))
            self.clock.steps_total, self.clock.tokens_total = 1, len(head) + self.doc.n_tokens + len(tail)
            self.clock.emit("plan", "single")
            step = self._call(ckpt, Step("single", "single", 0, [0]), head, self.doc.tokens, tail, "doc")
            levels = [[step]]
        else:
            chunks = plan_chunks(self.doc, chunk_budget)
            levels = self._map_reduce(ckpt, chunks, merge_in, final_in)
        final = levels[-1][-1]
        ran = [s for lvl in levels for s in lvl if not s.resumed and s.kind != "carry"]
        self.clock.emit("done", final.id)
        return SummaryResult(
            source=self.name, path=str(self.src.path), kind=self.src.kind, sha256=self.src.sha256,
            model=self.engine.path.name, n_ctx=self.n_ctx, length=o.length, focus=o.focus,
            mode="single" if single else "map-reduce", file_tokens=self.doc.n_tokens, chunk_budget=chunk_budget,
            chunks=chunks, levels=levels, summary=final.summary,
            tokens_evaluated=sum(s.evaluated_tokens for s in ran), tokens_generated=sum(s.output_tokens for s in ran),
            seconds=time.perf_counter() - t0, resumed_steps=self.clock.resumed, checkpoint=str(ckpt.path),
            settings={"map_tokens": self.map_cap, "final_tokens": self.final_cap, "sampling": o.sampling.to_json(),
                      "loop_guard": o.loop_guard},
            notices=list(self.notices))

    def _map_reduce(self, ckpt: Checkpoint, chunks: list[Chunk], merge_in: int, final_in: int) -> list[list[Step]]:
        mh_text, mt_fmt = map_instruction(self.name, self.map_cap, self.opts)
        fan = self.opts.fan_in
        if fan is not None and fan < 2:
            raise LocalctxError(f"fan-in must be at least 2 (got {fan})")
        est_merges = _estimate_merges(len(chunks), self.map_cap + 8, merge_in, final_in, fan)
        self.clock.steps_total = len(chunks) + est_merges
        self.clock.tokens_total = self.doc.n_tokens + len(chunks) * 60 + est_merges * merge_in
        self.clock.emit("plan", "map")
        level: list[Step] = []
        for c in chunks:
            head, tail = self.prompter.parts(mh_text, mt_fmt.format(part=c.index + 1, parts=len(chunks)))
            step = Step(f"map-{c.index}", "map", 0, [c.index])
            level.append(self._call(ckpt, step, head, c.tokens(self.doc), tail,
                                    step_hash([c.token_start, c.token_end])))
        levels = [level]
        for depth in range(1, 64):
            items = [self._item(k, s.summary) for k, s in enumerate(levels[-1])]
            if sum(len(t) for t in items) <= final_in and (fan is None or len(items) <= fan):
                head, tail = self.prompter.parts(*reduce_instruction(self.name, self.final_cap, self.opts, True))
                body = [t for it in items for t in it]
                self.clock.steps_total = self.clock.steps_done + 1
                final = self._call(ckpt, Step("final", "final", depth, list(range(len(items)))), head, body, tail,
                                   step_hash([head, body, tail]))
                levels.append([final])
                return levels
            head, tail = self.prompter.parts(*reduce_instruction(self.name, self.map_cap, self.opts, False))
            groups = _pack(items, merge_in, fan)
            self.clock.steps_total = self.clock.steps_done + sum(1 for g in groups if len(g) > 1) + \
                _estimate_merges(len(groups), self.map_cap + 8, merge_in, final_in, fan)
            nxt: list[Step] = []
            for j, g in enumerate(groups):
                if len(g) == 1:  # nothing to merge: carry it up unchanged, no model call
                    src = levels[-1][g[0]]
                    nxt.append(Step(f"carry-{depth}-{j}", "carry", depth, g, summary=src.summary))
                    continue
                body = [t for k in g for t in items[k]]
                nxt.append(self._call(ckpt, Step(f"reduce-{depth}-{j}", "reduce", depth, g), head, body, tail,
                                      step_hash([head, body, tail])))
            levels.append(nxt)
        raise LocalctxError("internal: the merge tree did not converge")  # _pack halves the count each level

    def _item(self, k: int, summary: str) -> list[int]:
        toks = self.engine.tokenize(f"- {' '.join(summary.split()) or '(nothing)'}\n", add_bos=False,
                                    special=False)
        return toks[: self.map_cap + 8]  # re-tokenized output can exceed the cap by a token or two


def _step_name(step: Step) -> str:
    return {"map": f"summary of part {step.children[0] + 1}", "reduce": f"merge {step.id}",
            "final": "final summary", "single": "summary"}.get(step.kind, step.id)


def _pack(items: list[list[int]], budget: int, fan_in: int | None = None) -> list[list[int]]:
    """Consecutive items grouped greedily so each group's tokens fit ``budget`` (and holds at most
    ``fan_in``); since every item is at most half the budget and fan_in >= 2, every group but the
    last holds two or more: the count at least halves each level, so the tree terminates."""
    groups: list[list[int]] = [[]]
    used = 0
    for k, it in enumerate(items):
        if groups[-1] and (used + len(it) > budget or (fan_in is not None and len(groups[-1]) >= fan_in)):
            groups.append([])
            used = 0
        groups[-1].append(k)
        used += len(it)
    return groups


def _estimate_merges(n_items: int, item: int, merge_in: int, final_in: int, fan_in: int | None = None) -> int:
    """Merge steps (final included) when every summary is as long as its cap: the progress total."""
    steps = 0
    while (n_items * item > final_in or (fan_in is not None and n_items > fan_in)) and n_items > 1:
        per = max(2, min(merge_in // item, fan_in or merge_in))
        groups = -(-n_items // per)
        steps += n_items // per + (1 if n_items % per > 1 else 0)
        n_items = groups
    return steps + 1


def open_engine(model: str | None, flags: Flags = None, *, force: bool = False,
                on_plan: Callable[[Any], None] | None = None, sampling: SamplingFlags | None = None) -> Engine:
    """Load ``model`` for summarizing through the one load gate (extension plan, memory verdict):
    refused before llama.cpp allocates anything when it does not fit, unless ``force``.
    ``on_plan(run_plan)`` sees the plan before the load (to name the saved settings it applies).
    ``sampling``: the sampling flags given (so the saved values they override are not named)."""
    from localctx.services import runtime

    rp = runtime.make_plan(model, flags, sampling=sampling)
    if on_plan is not None:
        on_plan(rp)
    return runtime.load_planned(rp, force=force)
