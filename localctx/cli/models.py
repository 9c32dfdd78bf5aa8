"""`localctx models`: list the catalog, name models (files and aliases), forget names, and choose the
default model of every command given no MODEL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from localctx.cli._options import JsonOpt, complete_model


def _model_row(r: Any) -> list[str]:
    """A row of `localctx models`; an unreadable model says "error" (the error itself follows the table,
    a line of its own: squeezed into the location column it was cut)."""
    from localctx.cli._output import human_bytes, human_count

    where = f"→ {r.refers_to}" if r.refers_to else str(r.path)
    if r.error:
        return [r.name, "error", "", "", "", "", r.source, str(r.path) if r.path else ""]
    return [r.name, r.arch, human_count(r.n_params), r.quant, human_bytes(r.size_bytes), f"{r.ctx_train:,}",
            r.source, where]


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
        target: Annotated[str, typer.Argument(
            help="A .gguf file, or a model to alias: a pulled owner/repo:QUANT, a preset, "
            "a bundled or registered name.", autocompletion=complete_model)],
        name: Annotated[str, typer.Option("--name", help="Name to use for it.")],
        force: Annotated[bool, typer.Option("--force", help="Re-point a name that is registered already, or "
                                            "take a preset's name (the preset is then reached as REPO:QUANT).")]
        = False,
    ) -> None:
        """Name a GGUF file or alias a model, usable wherever a model is named.

        Examples: localctx models add ~/m/q.gguf --name qwen;  localctx models add bartowski/X-GGUF:Q4_K_M --name x
        """
        from localctx.cli._output import info, shown
        from localctx.models.catalog import register_model

        reg = register_model(target, name, replace=force)
        now = reg.alias_of or str(reg.path)
        if reg.previous is not None:
            info(f"'{shown(name)}' pointed to {shown(reg.previous)}; it now points to {shown(now)}")
        if reg.shadows is not None:
            info(f"'{shown(name)}' now names {'this file' if reg.alias_of is None else shown(reg.alias_of)}, "
                 f"not the preset {shown(reg.shadows)}")
        if reg.alias_of is not None:
            info(f"alias [bold]{shown(name)}[/] → {shown(reg.alias_of)} ({shown(reg.path)})")
        else:
            info(f"registered [bold]{shown(name)}[/] → {shown(reg.path)}")

    @models_app.command("default")
    def default(
        model: Annotated[str | None, typer.Argument(
            help="The model to use when a command is given none (omitted: print the current one).",
            show_default=False, autocompletion=complete_model)] = None,
        clear: Annotated[bool, typer.Option("--clear", help="Forget the default model you set.")] = False,
    ) -> None:
        """Show or set the default model: what ask, chat, plan, serve, the TUI, ... use when given no MODEL.

        Example: localctx models default qwen;  then: localctx ask "What is in it?" -f notes.txt
        """
        from localctx.cli._output import info, shown, stdout
        from localctx.errors import LocalctxError
        from localctx.models import catalog
        from localctx.models.settings_file import default_model, set_top_level, settings_file

        if clear and model is not None:
            raise LocalctxError("give a MODEL or --clear, not both", "see `localctx models default --help`")
        if clear:
            was = default_model()
            set_top_level("default_model", None)
            info(f"forgot the default model {shown(was)}" if was else "no default model was set")
        elif model is not None:
            path = catalog.resolve_model(model)  # a model that is not here is refused now, not at its first use
            ref = str(path) if Path(model).expanduser().exists() else model
            set_top_level("default_model", ref)
            info(f"default model: [bold]{shown(ref)}[/] ({shown(path)}); set in {shown(settings_file())}")
            return
        chosen = default_model()
        if chosen is not None:
            stdout.print(chosen, markup=False, highlight=False)
            return
        try:
            builtin = catalog.default_reference()
        except LocalctxError:
            raise LocalctxError("no default model is set", "set one: `localctx models default NAME`") from None
        stdout.print(builtin, markup=False, highlight=False)
        info("(built in: set your own with `localctx models default NAME`)")

    @models_app.command("forget")
    def forget(name: Annotated[str, typer.Argument(help="A registered name or alias.")]) -> None:
        """Remove a registered name or alias (the file itself is left alone)."""
        from localctx.cli._output import info, shown
        from localctx.errors import LocalctxError
        from localctx.models.catalog import unregister_model

        was = unregister_model(name)
        if was is None:
            raise LocalctxError(f"'{name}' is not a registered model", "see `localctx models`")
        info(f"forgot '{shown(name)}' (it pointed to {shown(was)}; the file is left alone)")
