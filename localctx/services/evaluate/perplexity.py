"""Perplexity by position: how well the model predicts each token of one window of N tokens of a text,
per method, reported in buckets of positions so the cost of an extension shows where it starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core import ppl as pplmath
from localctx.core.extract import STDIN, extract
from localctx.core.model_info import ModelInfo
from localctx.core.settings import RuntimeSettings
from localctx.engine.self_extend import SelfExtend
from localctx.errors import LocalctxError, SettingsError
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
    from localctx.services.runtime import Flags


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
        data = header("ppl", self.info)
        data.update({"params": {"file": self.text, "n_ctx": self.n_ctx, "plan_ctx": self.plan_ctx,
                                "bucket": self.bucket, "methods": self.methods, "offset_tokens": self.offset,
                                "window": "one window of n_ctx tokens from the text's first token (+offset)"},
                     "results": [r.to_json(with_logprobs) for r in self.runs], "seconds": round(self.seconds, 1),
                     "interrupted": self.interrupted, "results_file": str(self.path) if self.path else None})
        return data


def read_text(path: Path | str) -> str:
    """The text of a document (plain text, Markdown, PDF, HTML, EPUB: whatever ``core.extract`` reads;
    ``-`` is standard input)."""
    if str(path) == STDIN:
        return extract(STDIN).text
    p = Path(path)
    if not p.is_file():
        raise LocalctxError(f"{p}: no such file", "give a text file with --file")
    return extract(p).text


def run_ppl(model: str | Path | None, text_file: Path | str, *, n_ctx: int, methods: Sequence[str] = ("auto",),
            bucket: int = 2048, plan_ctx: int | None = None, offset: int = 0, base: RuntimeSettings | None = None,
            flags: Flags = None, progress: EvalProgress | None = None, save: bool = True,
            force: bool = False, should_stop: Callable[[], bool] | None = None) -> PplReport:
    """Perplexity of one window of ``n_ctx`` tokens of the text, per method, reported by position bucket.

    ``plan_ctx``: plan each method as if for that context but evaluate at ``n_ctx`` - what an
    extension's RoPE settings cost inside the trained window (e.g. an SWA model's global layers).
    ``force``: load even if the memory plan says it does not fit (every method is checked before the
    first loads).  ``should_stop`` is polled inside llama.cpp's batches; when it ends the run, the
    partial report comes back (``interrupted``) instead of a KeyboardInterrupt."""
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
