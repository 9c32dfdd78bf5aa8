"""`localctx eval passkey|ppl`: measure what a context extension costs on YOUR model and settings.

Both commands take several ``--method`` values and print one comparison table (rows: method); the
exact plan of each run is written with the numbers to a results file under the data directory.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from localctx.cli._options import ForceOpt, JsonOpt, ModelArg
from localctx.cli._runtime_opts import runtime_options
from localctx.core.flags import RuntimeFlags

MethodOpt = Annotated[list[str] | None, typer.Option(
    "--method", help="Extension method(s) to compare: auto, none, linear, ntk, yarn, kobold, self-extend; "
    "repeat or comma-separate (default: auto, or --extend).", show_default=False)]


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _methods(method: list[str] | None, runtime: RuntimeFlags) -> list[str]:
    from localctx.errors import SettingsError

    methods = _split(method)
    if methods and runtime.extend is not None:
        raise SettingsError("give --method or --extend, not both", "--method takes several methods to compare")
    return methods or [runtime.extend or "auto"]


def _ctx_list(text: str | None) -> list[int]:
    from localctx.core.units import parse_tokens

    return [parse_tokens(v) for v in _split([text] if text else [])]


class _Bar:
    """The evaluation's progress on stderr (cli/_progress: a live bar on a terminal, plain lines elsewhere);
    the service reports tokens done of an estimated total.  It appears with the first report, so a refusal
    before any work stays one line."""

    def __enter__(self) -> _Bar:
        from localctx.cli._progress import LongWork

        self.work = LongWork("eval", transient=False)
        return self

    def __call__(self, done: int, total: int, label: str) -> None:
        self.work.count(done, total, label=label)

    def __exit__(self, *exc: Any) -> None:
        self.work.__exit__(*exc)


def _base(model: str | None, runtime: RuntimeFlags) -> tuple[Any, Any]:
    """The model's header and the settings (flags > saved > defaults); names the saved ones applied."""
    from localctx.cli._output import info as say
    from localctx.services.evaluate import resolve
    from localctx.services.runtime import resolve_settings, saved_in_effect, saved_line

    info = resolve(model)
    line = saved_line(saved_in_effect(info, runtime))
    if line:
        say(line)
    return info, resolve_settings(info, runtime)


def _interrupted(report: Any) -> None:
    """A run stopped with Ctrl-C: its partial results were shown and saved; exit 130 as for any interrupt."""
    if report.interrupted:
        from localctx.cli._output import warn

        warn("stopped: the results above are partial" + (f" (saved in {report.path})" if report.path else ""))
        raise typer.Exit(130)


def _plan_lines(runs: list[Any]) -> list[str]:
    seen: set[tuple[str, int]] = set()
    out = []
    for r in runs:
        if (r.method, r.n_ctx) in seen:
            continue
        seen.add((r.method, r.n_ctx))
        params = r.plan.get("parameters") or {}
        se = r.plan.get("self_extend")
        p = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        if se:
            p = (p + ", " if p else "") + f"group={se['group']} window={se['window']}"
        applied = r.applied
        got = f"llama.cpp: n_ctx={applied.get('n_ctx')} freq_base={applied.get('freq_base')} " \
              f"freq_scale={applied.get('freq_scale')}"
        out.append(f"{r.method} @ {r.plan_ctx}: {r.plan.get('method')} ({p or 'model defaults'}); {got}")
    return out


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Measure quality at a context: passkey retrieval and perplexity by position.",
                        no_args_is_help=False)
    app.add_typer(group, name="eval")

    @group.command()
    @runtime_options
    def passkey(
        model: ModelArg = None,
        depths: Annotated[str, typer.Option("--depths",
                                            help="Where the key hides, 0..1 of the filler.")] = "0.1,0.5,0.9",
        trials: Annotated[int, typer.Option("--trials", "-k", min=1, help="Keys per cell.")] = 1,
        method: MethodOpt = None,
        lengths: Annotated[str | None, typer.Option(
            "--lengths", help="Several prompt lengths, e.g. 4k,8k,16k (default: --ctx).", show_default=False)] = None,
        force: ForceOpt = False,
        json: JsonOpt = False,
        *,
        runtime: RuntimeFlags,
    ) -> None:
        """Passkey retrieval accuracy per method x length x depth.

        A random 5-digit key (from --seed) is hidden at each depth of filler that fills the context,
        then asked for; greedy decoding.

        Example: localctx eval passkey smollm2 --ctx 16384 --depths 0.25,0.75 --method none,yarn,ntk
        """
        from localctx.cli._output import emit_json, hint, shown, stdout, warn
        from localctx.cli._stop import stop_on_sigint
        from localctx.core.passkey import parse_depths
        from localctx.errors import SettingsError
        from localctx.services.evaluate import run_passkey

        try:
            depth_list = parse_depths(depths)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        methods = _methods(method, runtime)
        info, base = _base(model, runtime)
        lens = _ctx_list(lengths) or [base.n_ctx or info.ctx_train]
        with stop_on_sigint() as stop, _Bar() as bar:
            report = run_passkey(info.path, lengths=lens, depths=depth_list, trials=trials, methods=methods,
                                 seed=base.seed, base=base, progress=bar, force=force, should_stop=stop.requested)
        if json:
            emit_json(report.to_json())
            _interrupted(report)
            return
        from localctx.cli._tables import Col, side_by_side

        heads = [Col(f"{n:,} @{d:.0%}", "number", "right") for n in report.lengths for d in report.depths]
        body = []
        for m in report.methods:
            cells, ok, tot = [], 0, 0
            for n in report.lengths:
                for d in report.depths:
                    c = report.cell(m, n, d)
                    ok, tot = ok + c.correct, tot + c.trials
                    colour = "green" if c.trials and c.correct == c.trials else "red" if c.correct == 0 else "yellow"
                    cells.append(f"[{colour}]{c.label()}[/]")
            body.append([m, *cells, f"{ok}/{tot}"])
        stdout.print(side_by_side(stdout, Col("method"), [*heads, Col("all", "number", "right")], body,
                                  title=f"passkey retrieval: {shown(info.path.name)}",
                                  caption=f"trained context {info.ctx_train:,}", markup=True, boxed=True))
        for line in _plan_lines(report.runs):
            stdout.print(line, markup=False)
        for r in report.runs:
            w = r.plan.get("warning")
            if w:
                warn(f"{r.method} @ {r.n_ctx}: {w}")
        hint(f"{report.seconds:.0f} s" + (f"; results with the exact settings: {report.path}" if report.path else ""))
        _interrupted(report)

    @group.command()
    @runtime_options
    def ppl(
        model: ModelArg = None,
        file: Annotated[str, typer.Option(
            "--file", "-f", help="The text to score (plain text, Markdown, PDF, HTML, EPUB; - reads stdin).",
            show_default=False)] = "",
        method: MethodOpt = None,
        bucket: Annotated[int, typer.Option("--bucket", min=1,
                                            help="Report perplexity per this many positions.")] = 2048,
        plan_ctx: Annotated[str | None, typer.Option(
            "--plan-ctx", help="Plan each method for this context but evaluate at --ctx: the cost of the RoPE "
            "settings inside the window.", show_default=False)] = None,
        offset: Annotated[int, typer.Option("--offset", min=0,
                                            help="Start the window this many tokens into the text.")] = 0,
        force: ForceOpt = False,
        json: JsonOpt = False,
        *,
        runtime: RuntimeFlags,
    ) -> None:
        """Perplexity of a text in one window of --ctx tokens, by position bucket.

        No sliding window: token i is predicted from all i before it, so you see where quality falls
        off past the trained length.

        Example: localctx eval ppl smollm2 --file book.txt --ctx 16384 --method none,yarn --bucket 2048
        """
        from localctx.cli._output import emit_json, hint, shown, stdout, warn
        from localctx.cli._stop import stop_on_sigint
        from localctx.errors import SettingsError
        from localctx.services.evaluate import run_ppl

        if not file:
            raise SettingsError("no text given", "use --file PATH (a long text: at least --ctx tokens)")
        methods = _methods(method, runtime)
        info, base = _base(model, runtime)
        n_ctx = base.n_ctx or info.ctx_train
        pc = _ctx_list(plan_ctx)
        with stop_on_sigint() as stop, _Bar() as bar:
            report = run_ppl(info.path, file, n_ctx=n_ctx, methods=methods, bucket=bucket,
                             plan_ctx=pc[0] if pc else None, offset=offset, base=base, progress=bar, force=force,
                             should_stop=stop.requested)
        if json:
            emit_json(report.to_json())
            _interrupted(report)
            return
        from localctx.cli._tables import Col, side_by_side

        first = report.runs[0].buckets if report.runs else []
        heads = [*(Col(b.label(), "number", "right") for b in first), Col("all", "number", "right")]
        body = [[r.run.method, *[f"{b.ppl:.2f}" for b in r.buckets], f"{r.ppl:.2f}"] for r in report.runs]
        stdout.print(side_by_side(stdout, Col("method"), heads, body, title=f"perplexity by position: "
                                  f"{shown(info.path.name)}", boxed=True))
        about = f"one window of {n_ctx:,} tokens (trained context {info.ctx_train:,})"
        if report.plan_ctx != n_ctx:
            about += f", methods planned for {report.plan_ctx:,}"
        stdout.print(about, markup=False)
        noise = [b.ppl_range for b in first if b.ppl_range]
        if noise:
            rel = max((hi / lo - 1) / 2 for lo, hi in noise)
            stdout.print(f"noise: one standard error moves a bucket by up to ±{rel:.1%} (batch means over 128 tokens)",
                         markup=False)
        for line in _plan_lines([r.run for r in report.runs]):
            stdout.print(line, markup=False)
        for r in report.runs:
            w = r.run.plan.get("warning")
            if w:
                warn(f"{r.run.method}: {w}")
        hint(f"{report.seconds:.0f} s" + (f"; results with the exact settings: {report.path}" if report.path else ""))
        _interrupted(report)
