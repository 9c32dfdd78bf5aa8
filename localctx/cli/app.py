"""The `localctx` command: assembles the command modules and maps errors in one place."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from localctx.cli import (
    bench,
    cache,
    chat,
    doctor,
    estimate,
    inspect,
    models,
    plan,
    presets,
    pull,
    rpc_server,
    sessions,
    summarize,
    tui,
)
from localctx.cli import eval as eval_command
from localctx.errors import LocalctxError


class LocalctxGroup(TyperGroup):
    """Turns LocalctxError into one line on stderr and its exit code (2: bad input, 1: run failure)."""

    def invoke(self, ctx: Any) -> Any:
        from localctx.cli._output import error_line

        try:
            return super().invoke(ctx)
        except LocalctxError as exc:
            if os.environ.get("LOCALCTX_DEBUG"):
                traceback.print_exc()
            error_line(exc.one_line())
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            error_line("interrupted")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=LocalctxGroup,
    name="localctx",
    help="Run quantized long-context GGUF models locally: inspect, plan memory, extend context, chat, summarize.",
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: every command module, each with ``register(app)``, in the order `localctx --help` lists them.  Imported
#: by name: a missing module is a broken install and fails here, loudly.
COMMAND_MODULES = (
    models, inspect, doctor, estimate, plan, bench, presets, pull, chat, sessions, cache, summarize, eval_command,
    tui, rpc_server,
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """localctx: know before you load whether a context fits; run past the trained length and measure it."""
    if ctx.invoked_subcommand is None:
        if sys.stdout.isatty():
            tui.open_tui()
        else:
            typer.echo(ctx.get_help())


for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
