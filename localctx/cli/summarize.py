"""`localctx summarize FILE...`: a Markdown summary of files of any length (map-reduce past the context)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from localctx.cli._options import ChatTemplateOpt, ForceOpt, JsonOpt, ModelOpt
from localctx.cli._runtime_opts import runtime_options
from localctx.cli._sampling_opts import sampling_options
from localctx.core.flags import RuntimeFlags, SamplingFlags

LENGTH_CHOICES = ("short", "medium", "long")


def register(app: typer.Typer) -> None:
    @app.command()
    @runtime_options
    @sampling_options
    def summarize(
        files: Annotated[list[Path], typer.Argument(help="Text, Markdown, PDF, HTML or EPUB files.",
                                                    show_default=False)],
        model: ModelOpt = None,
        out: Annotated[Path | None, typer.Option("--out", "-o",
                                                 help="Write the Markdown here instead of stdout.")] = None,
        length: Annotated[str, typer.Option("--length", help="short | medium | long.")] = "medium",
        focus: Annotated[str | None, typer.Option("--focus",
                                                  help="A question or topic the summary should favour.")] = None,
        fresh: Annotated[bool, typer.Option("--fresh",
                                            help="Ignore saved progress of an earlier run and start over.")] = False,
        chat_template: ChatTemplateOpt = None,
        force: ForceOpt = False,
        json: JsonOpt = False,
        *,
        runtime: RuntimeFlags,
        sampling: SamplingFlags,
    ) -> None:
        """Summarize files longer than the context: chunks, per-chunk summaries, merges; resumable.

        Ctrl-C stops within about a second; finished steps are kept and the same command resumes.

        Example: localctx summarize book.txt --ctx 4k --length short --out book-summary.md
        """
        from localctx.cli._output import before_load
        from localctx.cli._stop import stop_on_sigint
        from localctx.core.chat_templates import resolve_template, template_origin
        from localctx.core.extract import extract
        from localctx.core.outpath import check_output_path
        from localctx.errors import LocalctxError
        from localctx.services.summarize import SummarizeOptions, SummaryCancelled, open_engine
        from localctx.services.summarize import summarize as run

        if out is None:
            from localctx.cli._streams import require_open

            require_open(1, why="the summary would be lost; give --out FILE")
        if length not in LENGTH_CHOICES:
            raise LocalctxError(f"unknown --length '{length}'", "use short, medium or long")
        if out is not None:
            check_output_path(out)
        template = resolve_template(chat_template)
        docs = [extract(f) for f in files]  # every bad input fails before the model loads
        opts = SummarizeOptions(length=length, focus=focus, fresh=fresh)
        engine = open_engine(model, runtime, force=force, on_plan=before_load, sampling=sampling)
        from dataclasses import replace

        from localctx.services.runtime import resolve_sampling

        try:  # summaries start from greedy: the model's saved sampling and the flags go on top
            opts = replace(opts, sampling=resolve_sampling(engine.path, sampling, base=opts.sampling).settings)
        except BaseException:
            engine.close()
            raise
        if template is not None:
            engine.set_chat_template(template, template_origin(chat_template))
        results = []
        try:
            with stop_on_sigint() as stop:
                for doc in docs:
                    with _Bar(doc.path.name) as bar:
                        try:
                            results.append(run(engine, doc, opts, on_event=bar.update, should_stop=stop.requested))
                        except SummaryCancelled:
                            bar.cancelled = True
                            raise KeyboardInterrupt from None
        finally:
            engine.close()
        _render(results, out, json)


def _render(results: list[Any], out: Path | None, as_json: bool) -> None:
    """The Markdown to ``--out`` (also with ``--json``) or else to stdout; ``--json``: the structured
    results on stdout."""
    from localctx.cli._output import emit_json, hint, info, shown, warn

    for r in results:
        for notice in r.notices:
            warn(notice)
        if r.resumed_steps:
            info(f"{shown(r.source)}: resumed {r.resumed_steps} finished steps from {shown(r.checkpoint)} "
                 "(--fresh to redo)")
    text = "\n".join(r.to_markdown() for r in results)
    if out is not None:
        from localctx.errors import LocalctxError

        try:
            out.write_text(text, "utf-8")
        except OSError as exc:
            raise LocalctxError(f"--out {out}: {exc.strerror or exc}") from None
        info(f"wrote {shown(out)}")
    if as_json:
        emit_json({"summaries": [r.to_json() for r in results]})
        return
    if out is None:
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
    if any(r.mode == "map-reduce" for r in results):
        hint("--json shows every chunk and intermediate summary")


class _Bar:
    """A summary's progress on stderr (core of it in cli/_progress): which step, reading or writing,
    tokens, speed and time left, from the service's events (resumed steps never count as speed)."""

    def __init__(self, name: str) -> None:
        from localctx.cli._progress import LongWork

        self.work = LongWork(f"summarize {name}")
        self._steps = "0 steps"
        self.cancelled = False

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.work.__exit__(*exc)
        if self.cancelled or (exc and exc[0] is KeyboardInterrupt):
            from localctx.cli._output import info

            info(f"finished steps are saved ({self._steps}); run the same command again to resume")

    def update(self, ev: Any) -> None:
        self._steps = f"{ev.steps_done}/{ev.steps_total} steps"
        step = f"step {min(ev.steps_done + 1, ev.steps_total)}/{ev.steps_total}"
        if ev.resumed:
            step += f" ({ev.resumed} reused)"
        if ev.phase == "write":
            self.work.show(ev.written, ev.write_cap, detail=f"{step} writing", rate=ev.write_rate,
                           left=ev.seconds_left)
        elif ev.phase in ("read", "plan", "step"):
            self.work.show(ev.tokens_done, ev.tokens_total, detail=f"{step} reading", rate=ev.read_rate,
                           left=ev.seconds_left)
