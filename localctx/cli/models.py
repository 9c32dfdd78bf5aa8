"""`localctx models`: list, add and remove catalog entries."""

from __future__ import annotations

from typing import Annotated

import typer

from localctx.cli._options import JsonOpt


def register(app: typer.Typer) -> None:
    from localctx.cli.app import LocalctxGroup

    models_app = typer.Typer(cls=LocalctxGroup, invoke_without_command=True, help="List, add and remove models.")
    app.add_typer(models_app, name="models")

    @models_app.callback()
    def models(ctx: typer.Context, json: JsonOpt = False) -> None:
        """List the models localctx can use: bundled, registered, pulled from the Hub."""
        if ctx.invoked_subcommand is not None:
            return
        from localctx.cli._output import emit_json, human_bytes, human_count, stdout
        from localctx.services.models import list_models

        rows = list_models()
        if json:
            emit_json([r.to_json() for r in rows])
            return
        from rich.table import Table

        t = Table(title="models")
        for col in ("name", "arch", "params", "quant", "size", "ctx", "source", "location"):
            t.add_column(col, overflow="fold")
        for r in rows:
            if r.error:
                t.add_row(r.name, "[red]error[/]", "", "", "", "", r.source, r.error)
                continue
            t.add_row(r.name, r.arch, human_count(r.n_params), r.quant, human_bytes(r.size_bytes),
                      str(r.ctx_train), r.source, str(r.path))
        stdout.print(t)

    @models_app.command("add")
    def add(
        path: Annotated[str, typer.Argument(help="Path to a .gguf file.")],
        name: Annotated[str, typer.Option("--name", help="Name to use for it.")],
    ) -> None:
        """Register a GGUF file under a name, e.g. `localctx models add ~/m/q.gguf --name qwen`."""
        from localctx.models.catalog import register_model
        from localctx.cli._output import info

        p = register_model(path, name)
        info(f"registered [bold]{name}[/] → {p}")

    @models_app.command("forget")
    def forget(name: Annotated[str, typer.Argument(help="A registered name.")]) -> None:
        """Remove a registered name (the file itself is left alone)."""
        from localctx.models.catalog import unregister_model
        from localctx.errors import LocalctxError

        if not unregister_model(name):
            raise LocalctxError(f"'{name}' is not a registered model", "see `localctx models`")
