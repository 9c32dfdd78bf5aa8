"""`localctx cache ls|clear`: the saved KV states that make reopening a long document instant."""

from __future__ import annotations

import time
from typing import Any

import typer

from localctx.cli._options import JsonOpt


def register(app: typer.Typer) -> None:
    cache_app = typer.Typer(help="Saved KV states of documents (what makes reopening a long document instant).",
                            no_args_is_help=False)  # a bare `cache` is one error line, like `eval`
    app.add_typer(cache_app, name="cache")

    @cache_app.command("ls")
    def cache_ls(json_: JsonOpt = False) -> None:
        """List saved KV states, most recently used first."""
        from localctx.services.state_cache import StateCache

        cache = StateCache()
        entries = cache.entries()
        if json_:
            from localctx.cli._output import emit_json

            emit_json({"dir": str(cache.root), "max_bytes": cache.max_bytes, "total_bytes": cache.total_bytes(),
                       "entries": [e.to_json() for e in entries],
                       "partials": [p.to_json() for p in cache.partials()]})
            return
        _cache_table(cache, entries)
        _partials_line(cache)

    @cache_app.command("clear")
    def cache_clear(json_: JsonOpt = False) -> None:
        """Delete every saved KV state (they are rebuilt on the next chat)."""
        from localctx.cli._output import emit_json, human_bytes, info
        from localctx.services.state_cache import StateCache

        n, freed = StateCache().clear()
        if json_:
            emit_json({"removed": n, "freed_bytes": freed})
        else:
            info(f"removed {n} saved state{'s' if n != 1 else ''}, freed {human_bytes(freed)}")


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
