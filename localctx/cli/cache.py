"""`localctx cache ls|clear`: the saved KV states that make reopening a long document instant, and
the checkpoints that let an interrupted `localctx summarize` resume."""

from __future__ import annotations

import time
from enum import Enum
from typing import Annotated, Any

import typer

from localctx.cli._options import JsonOpt


class ClearOnly(str, Enum):
    states = "states"
    summaries = "summaries"


def register(app: typer.Typer) -> None:
    cache_app = typer.Typer(help="Saved KV states of documents (what makes reopening a long document instant) "
                                 "and checkpoints of summaries (what lets an interrupted summarize resume).",
                            no_args_is_help=False)  # a bare `cache` is one error line, like `eval`
    app.add_typer(cache_app, name="cache")

    @cache_app.command("ls")
    def cache_ls(json_: JsonOpt = False) -> None:
        """List saved KV states, most recently used first, then the summary checkpoints."""
        from localctx.services.housekeeping import summary_checkpoints
        from localctx.services.state_cache import StateCache

        cache = StateCache()
        entries = cache.entries()
        summaries = summary_checkpoints()
        if json_:
            from localctx import paths
            from localctx.cli._output import emit_json

            emit_json({"dir": str(cache.root), "max_bytes": cache.max_bytes, "total_bytes": cache.total_bytes(),
                       "entries": [e.to_json() for e in entries],
                       "partials": [p.to_json() for p in cache.partials()],
                       "summaries_dir": str(paths.summaries_dir()),
                       "summary_bytes": sum(c.size for c in summaries),
                       "summaries": [c.to_json() for c in summaries]})
            return
        _cache_table(cache, entries)
        _partials_line(cache)
        _summaries_table(summaries)

    @cache_app.command("clear")
    def cache_clear(json_: JsonOpt = False, only: Annotated[ClearOnly | None, typer.Option(
            "--only", help="Clear only the KV states, or only the summary checkpoints (default: both).",
            show_default=False)] = None) -> None:
        """Delete every saved KV state and summary checkpoint (states are rebuilt on the next chat;
        a summary whose checkpoint is gone starts from its first step)."""
        from localctx.cli._output import emit_json, human_bytes, info
        from localctx.services.housekeeping import clear_summary_checkpoints
        from localctx.services.state_cache import StateCache

        n, freed = StateCache().clear() if only != ClearOnly.summaries else (0, 0)
        m, summary_freed = clear_summary_checkpoints() if only != ClearOnly.states else (0, 0)
        if json_:
            emit_json({"removed": n, "state_bytes": freed, "summaries_removed": m, "summary_bytes": summary_freed,
                       "freed_bytes": freed + summary_freed})
            return
        parts = []
        if only != ClearOnly.summaries:
            parts.append(f"{n} saved state{'s' if n != 1 else ''}")
        if only != ClearOnly.states:
            parts.append(f"{m} summary checkpoint{'s' if m != 1 else ''}")
        info(f"removed {' and '.join(parts)}, freed {human_bytes(freed + summary_freed)}")


def _partials_line(cache: Any) -> None:
    """Temporary files: saves in progress, and orphans of killed processes (evicted on the next save)."""
    from localctx.cli._output import human_bytes, info

    parts = cache.partials()
    orphans = [p for p in parts if not p.alive]
    if orphans:
        info(f"{len(orphans)} orphaned partial save{'s' if len(orphans) != 1 else ''} "
             f"({human_bytes(sum(p.size for p in orphans))}) left by killed processes; the next save or "
             "`localctx cache clear` removes them")
    if len(parts) > len(orphans):
        info(f"{len(parts) - len(orphans)} save(s) in progress")


def _cache_table(cache: Any, entries: list) -> None:
    from localctx.cli._output import human_bytes, info, stdout
    from localctx.cli._tables import Col, table

    if not entries:
        info(f"no saved KV states in {cache.root}")
        return
    cols = (Col("key", "key"), Col("model", "path"), Col("documents"), Col("tokens", "number", "right"),
            Col("n_ctx", "number", "right"), Col("size", "number", "right"), Col("last used", "number"))
    stdout.print(table(stdout, cols, [
        [e.key[:12], e.model, ", ".join(e.documents), f"{e.n_tokens:,}", f"{e.n_ctx:,}", human_bytes(e.size),
         time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))] for e in entries]))
    info(f"{human_bytes(cache.total_bytes())} of {human_bytes(cache.max_bytes)} "
         "(LOCALCTX_STATE_CACHE_MAX_BYTES) in " + str(cache.root))


def _summaries_table(summaries: list) -> None:
    """Resumable summaries: which file and model, how many steps are done, how big."""
    from localctx import paths
    from localctx.cli._output import human_bytes, info, stdout
    from localctx.cli._tables import Col, table

    if not summaries:
        info(f"no summary checkpoints in {paths.summaries_dir()}")
        return
    cols = (Col("summary of", "path"), Col("model", "path"), Col("steps", "number", "right"),
            Col("size", "number", "right"), Col("written", "number"))
    stdout.print(table(stdout, cols, [
        [c.name, c.model or "-", f"{c.steps_done:,}" + (" done" if c.complete else ""), human_bytes(c.size),
         time.strftime("%Y-%m-%d %H:%M", time.localtime(c.modified))] for c in summaries]))
    info(f"{len(summaries)} summary checkpoint{'s' if len(summaries) != 1 else ''}, "
         f"{human_bytes(sum(c.size for c in summaries))} in {paths.summaries_dir()} "
         "(`localctx cache clear --only summaries` removes them)")
