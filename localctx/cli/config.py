"""`localctx config path|show`: where the settings file is, and what is in effect from it and from the
built-in defaults (the file's format: docs/settings.md)."""

from __future__ import annotations

from typing import Any

import typer

from localctx.cli._options import JsonOpt

#: how a value that is not fixed ahead of the load reads in `config show`
_DECIDED_LATER = {
    "n_ctx": "(the model's trained context)",
    "n_threads": "(llama.cpp's choice for this CPU)",
    "n_gpu_layers": "(all layers with a GPU backend, else 0)",
    "flash_attn": "(where the backend has it)",
    "rpc": "(none: this machine only)",
    "tensor_split": "(none)",
    "rpc_mem": "(none)",
}


def _shown(key: str, value: Any) -> str:
    if value is None:
        return _DECIDED_LATER.get(key, "(not set)" if key == "default_model" else "(from the model)")
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def register(app: typer.Typer) -> None:
    from localctx.cli.app import LocalctxGroup

    config_app = typer.Typer(cls=LocalctxGroup, no_args_is_help=True,
                             help="Where the settings file is and what is in effect (default model, system prompt, "
                             "runtime and sampling defaults).")
    app.add_typer(config_app, name="config")

    @config_app.command("path")
    def path() -> None:
        """Print where the settings file is (it may not exist yet: `models default`, `plan --save` write it)."""
        from localctx.cli._output import stdout
        from localctx.models.settings_file import settings_file

        stdout.print(str(settings_file()), markup=False, highlight=False, soft_wrap=True)

    @config_app.command("show")
    def show(json: JsonOpt = False) -> None:
        """Print the settings in effect when no flag says otherwise, each marked file or built-in.

        Then the per-model tables of the file (they apply on top, for their model)."""
        from localctx.cli._output import emit_json, info, shown, stdout
        from localctx.models.settings_file import in_effect, model_tables, settings_file
        from localctx.services.prompt import DEFAULT_SYSTEM

        f = settings_file()
        rows = in_effect(builtin_system=DEFAULT_SYSTEM)
        per_model = model_tables()
        if json:
            emit_json({"file": str(f), "exists": f.exists(), "settings": [r.to_json() for r in rows],
                       "models": per_model})
            return
        from localctx.cli._tables import Col, table

        info(f"settings file: {shown(f)}" + ("" if f.exists() else " (not written yet: everything is built in)"))
        cols = (Col("setting", "key"), Col("value", "text"), Col("source", "key"))
        stdout.print(table(stdout, cols, [[r.key, _shown(r.key, r.value), r.source] for r in rows]))
        for name, values in per_model.items():
            sampling = values.pop("sampling", {})
            lines = [f"{k} = {_shown(k, v)}" for k, v in sorted(values.items())]
            lines += [f"sampling.{k} = {_shown(k, v)}" for k, v in sorted(sampling.items())]
            stdout.print(f'\n[models."{name}"]  (file; over the above for this model)', markup=False,
                         highlight=False)
            for line in lines:
                stdout.print(f"  {line}", markup=False, highlight=False)
