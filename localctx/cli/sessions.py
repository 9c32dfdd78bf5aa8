"""`localctx sessions`: the saved chat sessions (continue one with `localctx chat --resume ID`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from localctx.cli._options import JsonOpt


def register(app: typer.Typer) -> None:
    @app.command()
    def sessions(json_: JsonOpt = False,
                 limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 50) -> None:
        """Saved chat sessions, most recent first (continue one with `localctx chat --resume ID`)."""
        from localctx.store import Store

        with Store() as store:
            rows = store.sessions(limit)
        if json_:
            from localctx.cli._output import emit_json

            emit_json([{"id": s.id, "created_at": s.created_at, "updated_at": s.updated_at, "model": s.model,
                        "system": s.system, "overflow": s.overflow, "turns": s.n_turns, "title": s.title,
                        "documents": [{"name": d.name, "path": d.path, "sha256": d.sha256} for d in s.documents],
                        "n_ctx": s.settings.get("n_ctx")} for s in rows])
            return
        _sessions_table(rows)


def _sessions_table(rows: list) -> None:
    from localctx.cli._output import info, stdout
    from localctx.cli._tables import Col, table

    if not rows:
        info("no saved sessions yet: start one with `localctx chat MODEL --file F`")
        return
    from localctx.models.catalog import short_reference

    cols = (Col("id", "key"), Col("updated", "number"), Col("model", "key"), Col("documents"),
            Col("turns", "number", "right"), Col("question"))
    stdout.print(table(stdout, cols, [
        [s.id, time.strftime("%m-%d %H:%M", time.localtime(s.updated_at)), Path(short_reference(Path(s.model))).name,
         ", ".join(d.name for d in s.documents) or "-", str(s.n_turns), s.title or "-"] for s in rows]))
