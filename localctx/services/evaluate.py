"""Measure what a context extension costs: passkey retrieval and perplexity by position.

Used by ``localctx eval`` and the TUI.  Every run loads the model once per (method, length) with the
settings the planner chose, records that plan and what llama.cpp says it applied next to the numbers,
and writes a results file under ``data_dir()/evals/`` so a result can be reproduced.  Ctrl-C writes
what was measured so far (``interrupted: true``) before the interrupt propagates.

Self-Extend runs here (grouped positions while the prompt is evaluated, the llama.cpp
``completion``/``passkey`` scheme) through the engine's ``shift_positions``; it is never combined
with YaRN (the planner and the engine both refuse).
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.core import passkey as pk
from localctx.core import ppl as pplmath
from localctx.core.model_info import ModelInfo
from localctx.core.settings import RuntimeSettings
from localctx.errors import LocalctxError, SettingsError
from localctx.services.eval_load import (
    MethodRun,
    SelfExtend,
    check_methods,
    check_variants,
    load_variant,
    resolve,
    self_extend_of,
)

__all__ = ["MethodRun", "PasskeyReport", "PplReport", "SelfExtend", "check_methods", "load_variant", "resolve",
           "run_passkey", "run_ppl"]

#: (tokens done, tokens total, what is running) - total is an estimate (prefix reuse skips work)
EvalProgress = Callable[[int, int, str], None]
MAX_ANSWER_TOKENS = 12  # a 5-digit key plus punctuation; generation stops at '.' or a newline


# ---- results files -----------------------------------------------------------------------------------
def _stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def write_results(kind: str, info: ModelInfo, data: dict[str, Any]) -> Path:
    d = paths.ensure(paths.data_dir() / "evals")
    path = d / f"{_stamp()}-{kind}-{info.path.stem}.json"
    n = 1
    while path.exists():
        n += 1
        path = d / f"{_stamp()}-{kind}-{info.path.stem}-{n}.json"
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)
    return path


def _header(kind: str, info: ModelInfo) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:  # the llama.cpp build is part of what reproduces a result
        lcp = version("llama_cpp_python")
    except PackageNotFoundError:  # pragma: no cover
        lcp = None
    return {"kind": kind, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "model": {"path": str(info.path), "name": info.name, "arch": info.arch, "size": info.file_size,
                      "n_ctx_train": info.ctx_train}, "llama_cpp_python": lcp}


# ---- passkey -------------------------------------------------------------------------------------------
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
        data = _header("passkey", self.info)
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


def _passkey_trial(engine: Any, run: MethodRun, depth: float, trial: int, key: int,
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
    answer = "".join(engine.stream(MAX_ANSWER_TOKENS, temperature=0.0, stop=["\n", "."]))
    return PasskeyTrial(method=run.method, n_ctx=run.n_ctx, depth=depth, trial=trial, key=key, answer=answer,
                        correct=pk.is_correct(answer, key), needle_pos=prompt.needle_pos, n_prompt=prompt.n_tokens,
                        seconds=round(time.monotonic() - t0, 2))


def run_passkey(model: str | Path | None, *, lengths: Sequence[int], depths: Sequence[float], trials: int = 1,
                methods: Sequence[str] = ("auto",), seed: int = 0, base: RuntimeSettings | None = None,
                flags: Any = None, progress: EvalProgress | None = None,
                should_stop: Callable[[], bool] | None = None, save: bool = True,
                force: bool = False) -> PasskeyReport:
    """Passkey accuracy per method x length x depth (greedy decoding, random 5-digit keys from ``seed``).
    ``should_stop`` is checked between batches: the run ends with what was measured (``interrupted``)."""
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


# ---- perplexity -----------------------------------------------------------------------------------------
@dataclass
class PplRun:
    run: MethodRun
    n_tokens: int
    ppl: float
    mean_nll: float
    buckets: list[pplmath.Bucket]
    logprobs: list[float] = field(repr=False, default_factory=list)
    seconds: float = 0.0

    def to_json(self, with_logprobs: bool = False) -> dict[str, Any]:
        d = {"method": self.run.method, "n_tokens": self.n_tokens, "ppl": self.ppl, "mean_nll": self.mean_nll,
             "buckets": [b.to_json() for b in self.buckets], "seconds": round(self.seconds, 1),
             "run": self.run.to_json()}
        if with_logprobs:
            d["logprobs"] = [round(x, 5) for x in self.logprobs]
        return d


@dataclass
class PplReport:
    info: ModelInfo
    text: str  # the file's path
    n_ctx: int
    plan_ctx: int
    bucket: int
    methods: list[str]
    offset: int = 0
    runs: list[PplRun] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    path: Path | None = None

    def by_method(self, method: str) -> PplRun | None:
        return next((r for r in self.runs if r.run.method == method), None)

    def to_json(self, with_logprobs: bool = False) -> dict[str, Any]:
        data = _header("ppl", self.info)
        data.update({"params": {"file": self.text, "n_ctx": self.n_ctx, "plan_ctx": self.plan_ctx,
                                "bucket": self.bucket, "methods": self.methods, "offset_tokens": self.offset,
                                "window": "one window of n_ctx tokens from the text's first token (+offset)"},
                     "results": [r.to_json(with_logprobs) for r in self.runs], "seconds": round(self.seconds, 1),
                     "interrupted": self.interrupted, "results_file": str(self.path) if self.path else None})
        return data


def read_text(path: Path | str) -> str:
    import importlib.util

    p = Path(path)
    if not p.is_file():
        raise LocalctxError(f"{p}: no such file", "give a text file with --file")
    if importlib.util.find_spec("localctx.core.extract") is not None:
        from localctx.core.extract import extract

        return extract(p).text
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LocalctxError(f"{p}: not UTF-8 text") from None


def run_ppl(model: str | Path | None, text_file: Path | str, *, n_ctx: int, methods: Sequence[str] = ("auto",),
            bucket: int = 2048, plan_ctx: int | None = None, offset: int = 0, base: RuntimeSettings | None = None,
            flags: Any = None, progress: EvalProgress | None = None, save: bool = True,
            should_stop: Callable[[], bool] | None = None, force: bool = False) -> PplReport:
    """Perplexity of one window of ``n_ctx`` tokens of the text, per method, reported by position bucket.

    ``plan_ctx``: plan each method as if for that context but evaluate at ``n_ctx`` - what an
    extension's RoPE settings cost inside the trained window (e.g. an SWA model's global layers)."""
    from localctx.services.runtime import resolve_settings

    methods = check_methods(methods)
    if bucket <= 0:
        raise SettingsError(f"--bucket must be greater than 0 (got {bucket})")
    if n_ctx < 16:
        raise SettingsError(f"--ctx {n_ctx} is too small to measure perplexity")
    info = resolve(model)
    text = read_text(text_file)
    base = base or resolve_settings(info, flags)
    check_variants(info, base, methods, [n_ctx], plan_ctx, force=force)
    report = PplReport(info=info, text=str(text_file), n_ctx=n_ctx, plan_ctx=plan_ctx or n_ctx, bucket=bucket,
                       methods=methods, offset=offset)
    total = len(methods) * n_ctx
    t0 = time.monotonic()
    window: list[int] | None = None
    try:
        for mi, method in enumerate(methods):
            if should_stop and should_stop():
                raise KeyboardInterrupt
            engine, run = load_variant(info, base, method, n_ctx, plan_ctx, force=force)
            try:
                if window is None:  # every method scores the same tokens
                    tokens = engine.tokenize(text, add_bos=True, special=False)
                    if len(tokens) < offset + n_ctx:
                        raise LocalctxError(
                            f"{text_file} has {len(tokens):,} tokens; a window of {n_ctx:,} from token {offset:,} "
                            f"needs {offset + n_ctx:,}", "use a longer text or a smaller --ctx")
                    bos = engine.tokenize("", add_bos=True, special=False)
                    window = (bos + tokens[offset + len(bos):offset + n_ctx]) if offset else tokens[:n_ctx]
                start, label = mi * n_ctx, f"{method} @ {n_ctx}"

                def tick(k: int, _t: int = 0, s: int = start, lb: str = label) -> None:
                    if progress is not None:
                        progress(s + k, total, lb)

                ts = time.monotonic()
                se = self_extend_of(run)
                if se:
                    grouper = SelfExtend(engine, *se)
                    lps = engine.token_logprobs(window, progress=tick, before_batch=grouper.before_batch,
                                                should_stop=should_stop)
                else:
                    lps = engine.token_logprobs(window, progress=tick, should_stop=should_stop)
                report.runs.append(PplRun(run=run, n_tokens=len(lps), ppl=pplmath.perplexity(lps),
                                          mean_nll=-sum(lps) / len(lps), buckets=pplmath.buckets(lps, bucket),
                                          logprobs=lps, seconds=time.monotonic() - ts))
            finally:
                engine.close()
    except KeyboardInterrupt:
        report.interrupted = True
        if not (should_stop and should_stop()):
            raise
    finally:
        report.seconds = time.monotonic() - t0
        if save and (report.runs or report.interrupted):
            report.path = write_results("ppl", info, report.to_json(with_logprobs=True))
    return report
