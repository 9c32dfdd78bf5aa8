"""`localctx sessions [rm]`: the saved chat sessions (continue one with `localctx chat --resume ID`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from localctx.cli._options import JsonOpt

_RM_HELP = (
    "Remove saved sessions: by ID (or a unique ID prefix), or every session last used before an age.\n\n"
    "Several IDs go together or not at all: when one is unknown or ambiguous, nothing is removed (one line "
    "names it, exit 2). The saved KV states of their documents go too unless something else needs them: a "
    "state another saved session matches, or one used after these sessions' last turn (by ask, serve or a "
    "chat that saved no turn), stays; `localctx cache clear` removes every state. Prints what was removed "
    "and the room freed (KV states, and the text SQLite reuses for new sessions).\n\n"
    "Examples: localctx sessions rm 1a2b3c4d 5e6f · localctx sessions rm --older-than 30d --dry-run"
)


def register(app: typer.Typer) -> None:
    sessions_app = typer.Typer(help="Saved chat sessions, most recent first (continue one with "
                                    "`localctx chat --resume ID`; remove with `localctx sessions rm`).",
                               invoke_without_command=True, no_args_is_help=False)
    app.add_typer(sessions_app, name="sessions")

    @sessions_app.callback()
    def sessions(ctx: typer.Context, json_: JsonOpt = False,
                 limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 50) -> None:
        """Saved chat sessions, most recent first (continue one with `localctx chat --resume ID`)."""
        if ctx.invoked_subcommand is not None:
            return
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

    @sessions_app.command("rm", help=_RM_HELP)
    def sessions_rm(
        ids: Annotated[list[str] | None, typer.Argument(help="Session IDs (or unique prefixes), as `localctx "
                                                        "sessions` lists them.", metavar="ID",
                                                        show_default=False)] = None,
        older_than: Annotated[str | None, typer.Option(
            "--older-than", help="Every session last used longer ago than this: a number and s, m, h, d or w "
                                 "(30d, 12h, 2w).", show_default=False)] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")]
        = False,
        json_: JsonOpt = False,
    ) -> None:
        from localctx.errors import LocalctxError
        from localctx.services import housekeeping
        from localctx.store import Store

        if ids and older_than is not None:
            raise LocalctxError("give session IDs or --older-than, not both",
                                "e.g. `localctx sessions rm --older-than 30d`")
        if not ids and older_than is None:
            raise LocalctxError("say which sessions to remove: their IDs or --older-than AGE",
                                "e.g. `localctx sessions rm --older-than 30d --dry-run`")
        with Store() as store:
            if ids:
                chosen = housekeeping.resolve_sessions(store, ids)
            else:
                from localctx.core.durations import parse_age

                chosen = store.sessions(used_before=housekeeping.age_cutoff(parse_age(str(older_than))))
            plan = housekeeping.plan_removal(store, chosen, dry_run=dry_run)
            housekeeping.remove_sessions(store, plan)
        if json_:
            from localctx.cli._output import emit_json

            emit_json(plan.to_json())
            return
        _removal_report(plan, older_than)


def _removal_report(plan: object, older_than: str | None) -> None:
    from localctx.cli._output import human_bytes, info
    from localctx.services.housekeeping import SessionRemoval

    assert isinstance(plan, SessionRemoval)
    if not plan.sessions:
        info(f"no sessions last used more than {older_than} ago: nothing to remove")
        return
    if plan.dry_run:
        _sessions_table(plan.sessions)
    n, k = len(plan.sessions), len(plan.states)
    verb = "would remove" if plan.dry_run else "removed"
    ids = "" if plan.dry_run else f" ({', '.join(s.id for s in plan.sessions)})"
    states = f" and {k} saved KV state{'s' if k != 1 else ''}" if k else ""
    info(f"{verb} {n} session{'s' if n != 1 else ''}{ids}{states}, "
         f"{'freeing' if plan.dry_run else 'freed'} {human_bytes(plan.freed_bytes)}")
    for why in sorted({kept.why for kept in plan.kept}):
        same = [kept for kept in plan.kept if kept.why == why]
        info(f"kept {len(same)} saved KV state{'s' if len(same) != 1 else ''} "
             f"({human_bytes(sum(s.size for s in same))}): {why}")


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
