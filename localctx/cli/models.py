"""`localctx models`: list, add and remove catalog entries."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from localctx.cli._options import JsonOpt


def _model_row(r: Any) -> list[str]:
    """A row of `localctx models`; an unreadable model says "error" (the error itself follows the table,
    a line of its own: squeezed into the location column it was cut)."""
    from localctx.cli._output import human_bytes, human_count

    if r.error:
        return [r.name, "error", "", "", "", "", r.source, str(r.path) if r.path else ""]
    return [r.name, r.arch, human_count(r.n_params), r.quant, human_bytes(r.size_bytes), f"{r.ctx_train:,}",
            r.source, str(r.path)]


def register(app: typer.Typer) -> None:
    from localctx.cli.app import LocalctxGroup

    models_app = typer.Typer(cls=LocalctxGroup, invoke_without_command=True, help="List, add and remove models.")
    app.add_typer(models_app, name="models")

    @models_app.callback()
    def models(ctx: typer.Context, json: JsonOpt = False) -> None:
        """List the models localctx can use: bundled, registered, pulled from the Hub."""
        if ctx.invoked_subcommand is not None:
            return
        from localctx.cli._output import emit_json, stdout
        from localctx.services.models import list_models

        rows = list_models()
        if json:
            emit_json([r.to_json() for r in rows])
            return
        from localctx.cli._tables import Col, table

        cols = (Col("name", "key"), Col("arch", "key"), Col("params", "number", "right"), Col("quant", "key"),
                Col("size", "number", "right"), Col("ctx", "number", "right"), Col("source", "key"),
                Col("location", "path"))
        stdout.print(table(stdout, cols, [_model_row(r) for r in rows]))
        for r in rows:
            if r.error:
                stdout.print(f"{r.name}: {r.error}", markup=False, soft_wrap=True)

    @models_app.command("add")
    def add(
        path: Annotated[str, typer.Argument(help="Path to a .gguf file.")],
        name: Annotated[str, typer.Option("--name", help="Name to use for it.")],
        force: Annotated[bool, typer.Option("--force", help="Re-point a name that is registered already, or "
                                            "take a preset's name (the preset is then reached as REPO:QUANT).")]
        = False,
    ) -> None:
        """Register a GGUF file under a name, e.g. `localctx models add ~/m/q.gguf --name qwen`."""
        from localctx.cli._output import info
        from localctx.models.catalog import register_model

        reg = register_model(path, name, replace=force)
        if reg.previous is not None:
            info(f"'{name}' pointed to {reg.previous}; it now points to {reg.path}")
        if reg.shadows is not None:
            info(f"'{name}' now names this file, not the preset {reg.shadows}")
        info(f"registered [bold]{name}[/] → {reg.path}")

    @models_app.command("forget")
    def forget(name: Annotated[str, typer.Argument(help="A registered name.")]) -> None:
        """Remove a registered name (the file itself is left alone)."""
        from localctx.cli._output import info
        from localctx.errors import LocalctxError
        from localctx.models.catalog import unregister_model

        was = unregister_model(name)
        if was is None:
            raise LocalctxError(f"'{name}' is not a registered model", "see `localctx models`")
        info(f"forgot '{name}' (it pointed to {was}; the file is left alone)")
