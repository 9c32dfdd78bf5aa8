"""Passkey retrieval: can the model find a 5-digit key hidden at a given depth of a context of N tokens?

The llama.cpp passkey texts (``core.passkey``), the same random keys for every method so methods are
compared on identical prompts, greedy decoding, one model load per (method, length).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core import passkey as pk
from localctx.core.model_info import ModelInfo
from localctx.core.settings import RuntimeSettings
from localctx.engine.self_extend import SelfExtend
from localctx.errors import SettingsError
from localctx.services.evaluate.runs import (
    EvalProgress,
    MethodRun,
    check_methods,
    check_variants,
    header,
    load_variant,
    resolve,
    self_extend_of,
    write_results,
)

if TYPE_CHECKING:
    from localctx.engine.llamacpp import LlamaEngine
    from localctx.services.runtime import Flags

MAX_ANSWER_TOKENS = 12  # a 5-digit key plus punctuation; generation stops at '.' or a newline


@dataclass
class PasskeyTrial:
    method: str
    n_ctx: int
    depth: float
    trial: int
    key: int
    answer: str
    correct: bool
    needle_pos: int
    n_prompt: int
    seconds: float


@dataclass
class PasskeyReport:
    info: ModelInfo
    lengths: list[int]
    depths: list[float]
    trials: int
    seed: int
    methods: list[str]
    runs: list[MethodRun] = field(default_factory=list)
    results: list[PasskeyTrial] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    path: Path | None = None  # the results file

    def cell(self, method: str, n_ctx: int, depth: float) -> pk.CellScore:
        hits = [t for t in self.results if t.method == method and t.n_ctx == n_ctx and t.depth == depth]
        return pk.CellScore(correct=sum(t.correct for t in hits), trials=len(hits))

    def to_json(self) -> dict[str, Any]:
        table = {m: {f"{n}@{d:g}": self.cell(m, n, d).__dict__ | {"accuracy": self.cell(m, n, d).accuracy}
                     for n in self.lengths for d in self.depths} for m in self.methods}
        data = header("passkey", self.info)
        data.update({"params": {"lengths": self.lengths, "depths": self.depths, "trials": self.trials,
                                "seed": self.seed, "methods": self.methods, "prompt": "llama.cpp passkey texts",
                                "answer_tokens": MAX_ANSWER_TOKENS, "decoding": "greedy"},
                     "runs": [r.to_json() for r in self.runs], "table": table,
                     "trials": [t.__dict__ for t in self.results], "seconds": round(self.seconds, 1),
                     "interrupted": self.interrupted, "results_file": str(self.path) if self.path else None})
        return data


def trial_keys(seed: int, n_ctx: int, depth: float, trials: int) -> list[int]:
    """The same keys for every method (so methods are compared on identical prompts)."""
    return pk.random_keys(trials, f"{seed}:{n_ctx}:{depth:g}")


def _passkey_trial(engine: LlamaEngine, run: MethodRun, depth: float, trial: int, key: int,
                   tick: Callable[[int], None], should_stop: Callable[[], bool] | None = None) -> PasskeyTrial:
    """One prompt filling the context (minus room for the answer), then a greedy answer."""
    t0 = time.monotonic()
    bos = engine.tokenize("", add_bos=True, special=False)
    prompt = pk.build_prompt(lambda s: engine.tokenize(s, add_bos=False, special=False),
                             pk.prompt_tokens_for_context(run.n_ctx), depth, key, bos=bos)
    se = self_extend_of(run)
    if se:
        SelfExtend(engine, *se).ingest(prompt.tokens, tick)
    else:  # prefix reuse: only the tokens after the common prefix are evaluated
        n = len(prompt.tokens)
        engine.ingest(prompt.tokens, progress=lambda k, todo: tick(n - todo + k), should_stop=should_stop)
    answer = "".join(engine.stream(MAX_ANSWER_TOKENS, stop=["\n", "."]))
    return PasskeyTrial(method=run.method, n_ctx=run.n_ctx, depth=depth, trial=trial, key=key, answer=answer,
                        correct=pk.is_correct(answer, key), needle_pos=prompt.needle_pos, n_prompt=prompt.n_tokens,
                        seconds=round(time.monotonic() - t0, 2))


def run_passkey(model: str | Path | None, *, lengths: Sequence[int], depths: Sequence[float], trials: int = 1,
                methods: Sequence[str] = ("auto",), seed: int = 0, base: RuntimeSettings | None = None,
                flags: Flags = None, progress: EvalProgress | None = None,
                should_stop: Callable[[], bool] | None = None, save: bool = True,
                force: bool = False) -> PasskeyReport:
    """Passkey accuracy per method x length x depth (greedy decoding, random 5-digit keys from ``seed``).

    ``force``: load a length even if the memory plan says it does not fit (every length is checked
    before the first loads).  ``should_stop`` is polled inside llama.cpp's batches too; when it ends
    the run, the partial report comes back (``interrupted``) instead of a KeyboardInterrupt."""
    from localctx.services.runtime import resolve_settings

    methods = check_methods(methods)
    if trials < 1:
        raise SettingsError(f"--trials must be at least 1 (got {trials})")
    lengths = sorted({int(n) for n in lengths})
    if not lengths or lengths[0] < 256:
        raise SettingsError("passkey lengths must be at least 256 tokens", "use e.g. --ctx 4096")
    info = resolve(model)
    base = base or resolve_settings(info, flags)
    check_variants(info, base, methods, lengths, force=force)
    report = PasskeyReport(info=info, lengths=lengths, depths=list(depths), trials=trials, seed=seed,
                           methods=methods)
    total = len(methods) * trials * len(depths) * sum(lengths)
    done = 0
    t0 = time.monotonic()
    try:
        for method in methods:
            for n_ctx in lengths:
                if should_stop and should_stop():
                    raise KeyboardInterrupt
                engine, run = load_variant(info, base, method, n_ctx, force=force)
                report.runs.append(run)
                try:
                    for depth in depths:  # trials of one depth in a row: they share the prefix up to the needle
                        for i, key in enumerate(trial_keys(seed, n_ctx, depth, trials)):
                            if should_stop and should_stop():
                                raise KeyboardInterrupt
                            label = f"{method} {n_ctx} depth {depth:g} #{i + 1}"

                            def tick(k: int, s: int = done, lb: str = label) -> None:
                                if progress is not None:
                                    progress(s + k, total, lb)

                            report.results.append(_passkey_trial(engine, run, depth, i, key, tick, should_stop))
                            done += n_ctx
                            if progress is not None:
                                progress(done, total, label)
                finally:
                    engine.close()
    except KeyboardInterrupt:
        report.interrupted = True
        if not (should_stop and should_stop()):
            raise
    finally:
        report.seconds = time.monotonic() - t0
        if save and (report.results or report.interrupted):
            report.path = write_results("passkey", info, report.to_json())
    return report
